"""Build the seven components of a configuration from the official classes.

`component_configs(cfg)` gives the per-component configs (cheap, works for
`official`); `build_components(name, seed)` instantiates fresh random
components in eval mode. The names are diffusers' `GlmImagePipeline` names,
so the dict can be passed straight to that pipeline or saved as a model folder.
"""

from __future__ import annotations

import dataclasses

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, GlmImageTransformer2DModel
from transformers import ByT5Tokenizer, GlmImageConfig, GlmImageForConditionalGeneration, T5Config, T5EncoderModel

from blueprint.errors import BlueprintError
from blueprint.models.configs import CONFIGS, ModelConfig
from blueprint.models.processor import build_processor, special_token_ids, vocab_size

COMPONENT_NAMES = (
    "tokenizer", "processor", "text_encoder", "vision_language_encoder", "vae", "transformer", "scheduler",
)
# Components that are torch modules (the rest are tokenizers / processor / scheduler).
MODULE_NAMES = ("text_encoder", "vision_language_encoder", "vae", "transformer")

# GLM-Image's scheduler: resolution-dependent "linear" shift of the sigmas, whose
# strength mu = sqrt(seq / 256) * 0.75 + 0.25 the pipeline computes per size.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    use_dynamic_shifting=True,
    time_shift_type="linear",
    base_shift=0.25,
    max_shift=0.75,
    base_image_seq_len=256,
    max_image_seq_len=4096,
)


def get_config(name: str) -> ModelConfig:
    if name not in CONFIGS:
        raise BlueprintError(f"unknown model configuration {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name]


def ar_config(cfg: ModelConfig, prompt_merges: int = 0) -> GlmImageConfig:
    if cfg.name == "official":
        # The released checkpoint: GLM-4's text vocabulary and 128 spare visual ids.
        text_vocab, vision_vocab, pad_id, image_token_id = 168064, 16512, 167841, 167855
    else:
        ids = special_token_ids(cfg.codebook_size)
        text_vocab, vision_vocab = vocab_size(cfg.codebook_size, prompt_merges), cfg.codebook_size
        pad_id, image_token_id = ids["<|endoftext|>"], ids["<|image|>"]
    return GlmImageConfig(
        text_config=dict(
            vocab_size=text_vocab,
            vision_vocab_size=vision_vocab,
            hidden_size=cfg.ar_hidden,
            intermediate_size=cfg.ar_intermediate,
            num_hidden_layers=cfg.ar_layers,
            num_attention_heads=cfg.ar_heads,
            num_key_value_heads=cfg.ar_kv_heads,
            max_position_embeddings=cfg.ar_max_positions,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": cfg.ar_partial_rotary,
                "mrope_section": list(cfg.ar_mrope_section),
            },
            pad_token_id=pad_id,
            eos_token_id=cfg.image_end_id,
        ),
        vision_config=dict(
            depth=cfg.vision_depth,
            hidden_size=cfg.vision_hidden,
            num_heads=cfg.vision_heads,
            intermediate_size=cfg.vision_intermediate,
            image_size=cfg.vision_image_size,
            patch_size=16,
        ),
        vq_config=dict(
            embed_dim=cfg.vq_embed_dim,
            num_embeddings=cfg.codebook_size,
            latent_channels=cfg.vision_hidden,  # the VQ quantises the vision tower's output
        ),
        image_token_id=image_token_id,
        image_start_token_id=cfg.image_start_id,
        image_end_token_id=cfg.image_end_id,
    )


def t5_config(cfg: ModelConfig) -> T5Config:
    return T5Config(
        vocab_size=384,  # ByT5: 256 bytes + 3 specials + 125 extra ids
        d_model=cfg.t5_d_model,
        d_kv=cfg.t5_d_kv,
        d_ff=cfg.t5_d_ff,
        num_layers=cfg.t5_layers,
        num_heads=cfg.t5_heads,
        relative_attention_num_buckets=cfg.t5_buckets,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.1,
        is_encoder_decoder=False,
        use_cache=False,
    )


def dit_kwargs(cfg: ModelConfig) -> dict:
    return dict(
        patch_size=2,
        in_channels=cfg.vae_latent_channels + cfg.glyph_channels,  # latents, then the glyph layer
        out_channels=cfg.vae_latent_channels,
        num_layers=cfg.dit_layers,
        attention_head_dim=cfg.dit_head_dim,
        num_attention_heads=cfg.dit_heads,
        text_embed_dim=cfg.t5_d_model,
        time_embed_dim=cfg.dit_time_embed_dim,
        condition_dim=cfg.dit_condition_dim,
        prior_vq_quantizer_codebook_size=cfg.codebook_size,
    )


def vae_kwargs(cfg: ModelConfig) -> dict:
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=tuple(cfg.vae_channels),
        layers_per_block=cfg.vae_layers_per_block,
        latent_channels=cfg.vae_latent_channels,
        norm_num_groups=cfg.vae_norm_groups,
        mid_block_add_attention=False,
        use_quant_conv=False,
        use_post_quant_conv=False,
        # Identity normalisation until the VAE stage measures its latents' statistics.
        latents_mean=[0.0] * cfg.vae_latent_channels,
        latents_std=[1.0] * cfg.vae_latent_channels,
    )


def build_components(config_name: str, seed: int = 0, device: str | torch.device = "cpu",
                     glyph_layer: bool = True, prompt_merges: list[tuple[str, str]] = ()) -> dict[str, object]:
    """Fresh random components of a named configuration, in eval mode.

    `device="meta"` builds the shapes without allocating weights (the only way
    `official` is meant to be built here). `glyph_layer=False` builds the DiT
    without the typeset glyph layer's input channels, as GLM-Image's own is
    (diffusers' `GlmImagePipeline` can only drive such a DiT). `prompt_merges`
    (BPE merges, `learn_prompt_merges`) extend the AR prompt vocabulary, and
    the AR model's input embeddings with it.
    """
    cfg = get_config(config_name)
    if prompt_merges and cfg.name == "official":
        raise BlueprintError("the official configuration has its own prompt vocabulary")
    if not glyph_layer:
        cfg = dataclasses.replace(cfg, glyph_channels=0)
    torch.manual_seed(seed)
    with torch.device(device):
        text_encoder = T5EncoderModel(t5_config(cfg))
        vision_language_encoder = GlmImageForConditionalGeneration(ar_config(cfg, len(prompt_merges)))
        vae = AutoencoderKL(**vae_kwargs(cfg))
        transformer = GlmImageTransformer2DModel(**dit_kwargs(cfg))
    # Sampling defaults live with the AR model, as in the released checkpoint:
    # the README's temperature 0.9 and top-p 0.75, no top-k. No EOS: the
    # pipeline always emits the full grid (a random model would stop early).
    gen = vision_language_encoder.generation_config
    gen.do_sample, gen.temperature, gen.top_p, gen.top_k = True, cfg.default_temperature, cfg.default_top_p, 0
    gen.eos_token_id = None
    components = dict(
        tokenizer=ByT5Tokenizer(),
        processor=build_processor(cfg.codebook_size, cfg.min_side, cfg.max_side, prompt_merges),
        text_encoder=text_encoder,
        vision_language_encoder=vision_language_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG),
    )
    for name in MODULE_NAMES:
        components[name].eval()  # fresh modules start in train mode (T5 dropout 0.1)
    return components


def count_parameters(components: dict[str, object]) -> dict[str, int]:
    return {name: sum(p.numel() for p in components[name].parameters()) for name in MODULE_NAMES}
