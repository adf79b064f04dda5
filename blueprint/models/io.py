"""Model folders: save and load the seven components in diffusers' layout.

A model folder is exactly what `GlmImagePipeline.save_pretrained` writes:
`model_index.json` plus one sub-folder per component, weights as safetensors.
So diffusers' `GlmImagePipeline.from_pretrained(dir)` loads a Blueprint folder,
and `load_components` loads an official GLM-Image folder.

Loading checks the folder before trusting it: every component folder and file
must be there, every weight in the files must match the config (no silently
random-initialised layers), and the components must fit together (the DiT's
glyph width is the T5 width, its latent channels the VAE's, its codebook
covers the VQ's). Any failure is a `BlueprintError` naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from blueprint.errors import BlueprintError
from blueprint.models.build import COMPONENT_NAMES, MODULE_NAMES

# What the libraries raise on unreadable or inconsistent files.
LOAD_ERRORS = (OSError, ValueError, RuntimeError, KeyError, AttributeError, TypeError, SafetensorError)

# Files each component folder must contain; a tuple lists alternatives
# (single-file or sharded weights).
REQUIRED_FILES = {
    "tokenizer": ("tokenizer_config.json",),
    # transformers 5 writes processor_config.json; older folders a preprocessor_config.json
    "processor": (("processor_config.json", "preprocessor_config.json"), "tokenizer_config.json"),
    "text_encoder": ("config.json", ("model.safetensors", "model.safetensors.index.json")),
    "vision_language_encoder": ("config.json", ("model.safetensors", "model.safetensors.index.json")),
    "vae": ("config.json", ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")),
    "transformer": (
        "config.json", ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"),
    ),
    "scheduler": ("scheduler_config.json",),
}


def save_components(components: dict[str, object], model_dir: str | Path) -> Path:
    """Write all seven components as a diffusers-layout folder (safetensors)."""
    from diffusers import GlmImagePipeline

    missing = [n for n in COMPONENT_NAMES if n not in components]
    if missing:
        raise BlueprintError(f"cannot save a model folder without component(s): {', '.join(missing)}")
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    pipe = GlmImagePipeline(**{n: components[n] for n in COMPONENT_NAMES})
    pipe.save_pretrained(model_dir, safe_serialization=True)
    return model_dir


def check_model_dir(model_dir: str | Path) -> Path:
    """Raise BlueprintError naming the first missing or unreadable file."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise BlueprintError(f"model folder {model_dir} does not exist")
    index_path = model_dir / "model_index.json"
    if not index_path.is_file():
        raise BlueprintError(f"{index_path} is missing: {model_dir} is not a model folder")
    try:
        index = json.loads(index_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BlueprintError(f"{index_path} is not valid JSON: {e}") from None
    for name in COMPONENT_NAMES:
        if name not in index:
            raise BlueprintError(f"{index_path} lists no {name!r} component")
        for entry in REQUIRED_FILES[name]:
            options = entry if isinstance(entry, tuple) else (entry,)
            if not any((model_dir / name / f).is_file() for f in options):
                raise BlueprintError(f"{model_dir / name / options[0]} is missing")
    return model_dir


def _check_loading_info(info: dict, path: Path) -> None:
    # Both libraries fill weights missing from the file with random values and
    # only warn; a folder whose config does not match its weights is an error.
    for kind in ("missing_keys", "mismatched_keys", "unexpected_keys"):
        bad = sorted(str(k) for k in (info.get(kind) or []))
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            raise BlueprintError(
                f"{path / 'config.json'} does not match the weights: {kind.replace('_', ' ')}: {bad[:3]}{more}"
            )


def _weights_numel(path: Path) -> int:
    """Number of weight values in a component folder, read from safetensors headers only."""
    files = sorted(path.glob("*.safetensors"))
    total = 0
    for f in files:
        try:
            with safe_open(f, framework="pt") as st:
                total += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())
        except (SafetensorError, OSError) as e:
            raise BlueprintError(f"{f} is not a readable safetensors file: {e}") from None
    return total


def _check_size_before_loading(cls, path: Path, dtype_arg: str) -> None:
    """Refuse a config that describes a far bigger model than the weights hold.

    Loading allocates the model from config.json first; a config edited or
    truncated back to the class defaults (the 7-10B official sizes) would
    exhaust memory before any weight is compared. Shapes are checked on the
    `meta` device, which allocates nothing.
    """
    try:
        if dtype_arg == "dtype":  # transformers
            config = cls.config_class.from_pretrained(path, local_files_only=True)
            with torch.device("meta"):
                model = cls(config)
        else:  # diffusers
            with torch.device("meta"):
                model = cls.from_config(cls.load_config(path, local_files_only=True))
    except LOAD_ERRORS as e:
        raise BlueprintError(f"cannot read {path / 'config.json'}: {e}") from None
    described = sum(p.numel() for p in model.parameters())
    stored = _weights_numel(path)
    if described > 1.1 * stored + 10_000:  # slack for tied weights and buffers
        raise BlueprintError(
            f"{path / 'config.json'} does not match the weights: it describes {described / 1e6:.1f}M "
            f"parameters but the weight files hold {stored / 1e6:.1f}M"
        )


def _load_model(cls, path: Path, dtype: torch.dtype, dtype_arg: str):
    _check_size_before_loading(cls, path, dtype_arg)
    try:
        model, info = cls.from_pretrained(
            path, local_files_only=True, output_loading_info=True, **{dtype_arg: dtype}
        )
    except LOAD_ERRORS as e:
        if "mismatch" in str(e):
            raise BlueprintError(f"{path / 'config.json'} does not match the weights: tensor shapes differ") from None
        raise BlueprintError(f"cannot load {path}: {e}") from None
    _check_loading_info(info, path)
    return model


def scale_of(vae_config) -> int:
    return 2 ** (len(vae_config.block_out_channels) - 1)


def _check_fit(c: dict[str, object], model_dir: Path) -> None:
    dit, vae = c["transformer"].config, c["vae"].config
    t5, ar = c["text_encoder"].config, c["vision_language_encoder"].config
    where = model_dir / "transformer" / "config.json"
    if dit.text_embed_dim != t5.d_model:
        raise BlueprintError(f"{where}: text_embed_dim {dit.text_embed_dim} != text_encoder d_model {t5.d_model}")
    glyph = dit.in_channels - dit.out_channels  # the typeset glyph layer (blueprint.models.glyph_layer)
    if dit.out_channels != vae.latent_channels or glyph not in (0, scale_of(vae) ** 2):
        raise BlueprintError(
            f"{where}: in/out channels {dit.in_channels}/{dit.out_channels} do not fit vae latent_channels "
            f"{vae.latent_channels} (in_channels may add a glyph layer of {scale_of(vae) ** 2} channels)"
        )
    if dit.patch_size * 2 ** (len(vae.block_out_channels) - 1) != 16:
        raise BlueprintError(f"{where}: patch_size x VAE scale factor must be 16 (the AR grid x2)")
    if dit.prior_vq_quantizer_codebook_size < ar.vq_config.num_embeddings:
        raise BlueprintError(
            f"{where}: prior codebook {dit.prior_vq_quantizer_codebook_size} is smaller than the "
            f"vision_language_encoder's VQ codebook {ar.vq_config.num_embeddings}"
        )
    tok_vocab = len(c["processor"].tokenizer)
    if tok_vocab > ar.text_config.vocab_size:
        raise BlueprintError(
            f"{model_dir / 'processor' / 'tokenizer.json'}: {tok_vocab} tokens do not fit the "
            f"vision_language_encoder's vocabulary of {ar.text_config.vocab_size}"
        )


def load_components(model_dir: str | Path, dtype: torch.dtype = torch.float32) -> dict[str, object]:
    """Load and check a diffusers-layout GLM-Image folder; modules in eval mode."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, GlmImageTransformer2DModel
    from transformers import ByT5Tokenizer, GlmImageForConditionalGeneration, T5EncoderModel

    from blueprint.models.processor import BlueprintProcessor
    from blueprint.models.settings import read_preview_grid

    model_dir = check_model_dir(model_dir)
    c: dict[str, object] = {}
    for name, cls in (("tokenizer", ByT5Tokenizer), ("processor", BlueprintProcessor),
                      ("scheduler", FlowMatchEulerDiscreteScheduler)):
        try:
            c[name] = cls.from_pretrained(model_dir / name, local_files_only=True)
        except LOAD_ERRORS as e:
            raise BlueprintError(f"cannot load {model_dir / name}: {e}") from None
    c["processor"].preview_grid = read_preview_grid(model_dir)  # "official" unless blueprint.json says
    if c["processor"].chat_template is None:
        where = model_dir / "processor" / "chat_template.jinja"
        raise BlueprintError(f"{where} is missing: the processor has no chat template")
    # transformers takes `dtype`, diffusers `torch_dtype`.
    c["text_encoder"] = _load_model(T5EncoderModel, model_dir / "text_encoder", dtype, "dtype")
    c["vision_language_encoder"] = _load_model(
        GlmImageForConditionalGeneration, model_dir / "vision_language_encoder", dtype, "dtype"
    )
    c["vae"] = _load_model(AutoencoderKL, model_dir / "vae", dtype, "torch_dtype")
    c["transformer"] = _load_model(GlmImageTransformer2DModel, model_dir / "transformer", dtype, "torch_dtype")
    for name in MODULE_NAMES:
        c[name].eval()
    _check_fit(c, model_dir)
    return c
