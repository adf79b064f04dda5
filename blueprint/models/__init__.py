"""Component configurations and builders: the seven official GLM-Image classes,
sized by name (`tiny`, `small`, `official`), saved and loaded as a
diffusers-layout model folder, plus the small helpers that sampling and
training must share (glyph embeddings, token grids, latent normalisation).

    from blueprint.models import build_components, save_components, load_components
    components = build_components("tiny", seed=0)
    save_components(components, "runs/tiny")
    components = load_components("runs/tiny")
"""

from blueprint.models.build import (
    COMPONENT_NAMES,
    MODULE_NAMES,
    SCHEDULER_CONFIG,
    build_components,
    count_parameters,
    get_config,
)
from blueprint.models.conditioning import CONDITIONINGS, read_conditioning, write_conditioning
from blueprint.models.configs import CONFIGS, ModelConfig
from blueprint.models.glyph import MAX_GLYPH_TOKENS, encode_glyphs, get_glyph_texts
from blueprint.models.grid import (
    denormalize_latents,
    image_grid,
    normalize_latents,
    shift_mu,
    shift_sigmas,
    upsample_prior_tokens,
    vae_scale_factor,
)
from blueprint.models.io import check_model_dir, load_components, save_components

__all__ = [
    "CONFIGS", "ModelConfig", "COMPONENT_NAMES", "MODULE_NAMES", "SCHEDULER_CONFIG",
    "build_components", "count_parameters", "get_config",
    "save_components", "load_components", "check_model_dir",
    "get_glyph_texts", "encode_glyphs", "MAX_GLYPH_TOKENS",
    "image_grid", "upsample_prior_tokens", "normalize_latents", "denormalize_latents",
    "vae_scale_factor", "shift_mu", "shift_sigmas",
    "CONDITIONINGS", "read_conditioning", "write_conditioning",
]
