"""Named model configurations: `tiny`, `small`, `official`.

A `ModelConfig` holds every size that differs between configurations; the
builders in `blueprint.models.build` turn it into the seven official component
classes. The token layout is the real model's, scaled down:

- the AR prompt vocabulary starts with the image tokens `<|dit_token_i|>` for
  `i < codebook_size + 2` (the codebook, then image start and image end), so a
  generated id *is* a codebook index with no offset;
- the AR head predicts `vision_vocab_size` ids. In Blueprint's own
  configurations that equals `codebook_size`, so the model cannot emit the
  start/end tokens and every generated id fits the decoder's embedding table
  (the official checkpoint has 16512 = 16384 codes + 128 spare ids);
- the decoder (DiT) patch size times the VAE scale factor is 16, so the AR
  grid (H/32 x W/32) upsampled 2x is the DiT patch grid.

`tiny` trains on a CPU in minutes and is what the tests use. `small` is the
embedded default model: 256x256 end to end in a few seconds on two CPU cores,
under 80 MB at fp16. `official` is GLM-Image's real shape and is only ever
built on the `meta` device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelConfig:
    name: str
    # semantic codebook (VQ in the AR model; prior-token embedding in the DiT)
    codebook_size: int
    # AR language model (GLM-4 style text decoder inside GlmImageForConditionalGeneration)
    ar_hidden: int
    ar_layers: int
    ar_heads: int
    ar_kv_heads: int
    ar_intermediate: int
    ar_mrope_section: tuple[int, int, int]  # sums to head_dim * partial_rotary_factor / 2
    ar_partial_rotary: float
    ar_max_positions: int
    # vision tower + VQ (the semantic tokenizer); the VQ latent width is the tower's width
    vision_depth: int
    vision_hidden: int
    vision_heads: int
    vision_intermediate: int
    vision_image_size: int  # learned position table covers (image_size / 16)^2 patches
    vq_embed_dim: int
    # glyph encoder (T5 encoder over ByT5 bytes)
    t5_d_model: int
    t5_d_kv: int
    t5_d_ff: int
    t5_layers: int
    t5_heads: int
    t5_buckets: int
    # decoder (DiT)
    dit_layers: int
    dit_heads: int
    dit_head_dim: int
    dit_time_embed_dim: int
    dit_condition_dim: int
    # typeset glyph layer (blueprint.models.glyph_layer): ink channels the DiT reads beside the
    # latents, (VAE factor)^2 = 64 for a full-resolution ink image; 0 = no glyph layer
    glyph_channels: int
    # VAE (x8 downsampling: four blocks)
    vae_channels: tuple[int, int, int, int]
    vae_layers_per_block: int
    vae_latent_channels: int
    vae_norm_groups: int
    # sizes this configuration is meant for (blueprint.sizes.check_size range)
    min_side: int = 128
    max_side: int = 1024
    # AR sampling defaults, written into the AR model's generation_config.json
    # (the pipeline's step count and guidance live in blueprint.pipeline.limits)
    default_temperature: float = 0.9
    default_top_p: float = 0.75

    @property
    def image_start_id(self) -> int:
        return self.codebook_size

    @property
    def image_end_id(self) -> int:
        return self.codebook_size + 1

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, ModelConfig] = {
    # The tested offline recipe: ~0.1M-parameter components, trains in minutes on a CPU.
    "tiny": ModelConfig(
        name="tiny",
        codebook_size=128,
        ar_hidden=32, ar_layers=2, ar_heads=2, ar_kv_heads=1, ar_intermediate=64,
        ar_mrope_section=(4, 2, 2), ar_partial_rotary=1.0, ar_max_positions=2048,
        vision_depth=2, vision_hidden=32, vision_heads=2, vision_intermediate=64,
        vision_image_size=512, vq_embed_dim=32,
        t5_d_model=32, t5_d_kv=8, t5_d_ff=64, t5_layers=2, t5_heads=4, t5_buckets=8,
        dit_layers=2, dit_heads=2, dit_head_dim=8, dit_time_embed_dim=16, dit_condition_dim=8,
        glyph_channels=64,
        vae_channels=(4, 8, 16, 16), vae_layers_per_block=1, vae_latent_channels=4, vae_norm_groups=4,
    ),
    # The embedded default model, sized for latency on a 2-core CPU at 256x256.
    # The AR stage decodes its tokens one at a time and is bound by reading its
    # weights each step, so it stays small; the DiT runs each step as one batched
    # cond+uncond forward over the patch tokens. `python -m bench.pipeline` times both.
    "small": ModelConfig(
        name="small",
        codebook_size=1024,
        ar_hidden=256, ar_layers=6, ar_heads=4, ar_kv_heads=2, ar_intermediate=768,
        ar_mrope_section=(8, 12, 12), ar_partial_rotary=1.0, ar_max_positions=4096,
        vision_depth=4, vision_hidden=192, vision_heads=4, vision_intermediate=512,
        vision_image_size=512, vq_embed_dim=64,
        t5_d_model=192, t5_d_kv=32, t5_d_ff=512, t5_layers=4, t5_heads=6, t5_buckets=32,
        dit_layers=8, dit_heads=5, dit_head_dim=64, dit_time_embed_dim=128, dit_condition_dim=64,
        glyph_channels=64,
        vae_channels=(32, 64, 128, 128), vae_layers_per_block=1, vae_latent_channels=16, vae_norm_groups=16,
    ),
    # GLM-Image's real shapes (see the component configs of the released checkpoint).
    "official": ModelConfig(
        name="official",
        codebook_size=16384,
        ar_hidden=4096, ar_layers=40, ar_heads=32, ar_kv_heads=2, ar_intermediate=13696,
        ar_mrope_section=(8, 12, 12), ar_partial_rotary=0.5, ar_max_positions=131072,
        vision_depth=40, vision_hidden=1536, vision_heads=16, vision_intermediate=6144,
        vision_image_size=2048, vq_embed_dim=2048,
        t5_d_model=1472, t5_d_kv=64, t5_d_ff=3584, t5_layers=12, t5_heads=6, t5_buckets=32,
        dit_layers=30, dit_heads=32, dit_head_dim=128, dit_time_embed_dim=512, dit_condition_dim=256,
        glyph_channels=0,
        vae_channels=(128, 512, 1024, 1024), vae_layers_per_block=3, vae_latent_channels=16, vae_norm_groups=32,
        min_side=512, max_side=2048,
    ),
}
