"""Component configurations and builders: the seven official GLM-Image classes,
sized by name (`tiny`, `small`, `official`), saved and loaded as a
diffusers-layout model folder (`folder.py`, the one place that loads and saves
them), plus what sampling and training must share: the image tokenizer and its
semantic head (`image_tokenizer.py`), glyph embeddings (`glyph_encoder.py`),
the typeset glyph layer (`glyph_layer.py`), token grids and latent
normalisation (`grid.py`), the AR prompt (`processor.py`).

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
from blueprint.models.glyph_encoder import MAX_GLYPH_TOKENS, encode_glyphs, get_glyph_texts
from blueprint.models.grid import (
    denormalize_latents,
    image_grid,
    normalize_latents,
    shift_mu,
    upsample_prior_tokens,
    vae_scale_factor,
)
from blueprint.models.folder import (
    DEFAULT_MODEL_DIR,
    check_model_dir,
    load_component,
    load_components,
    resolve_model_dir,
    save_component,
    save_components,
)

__all__ = [
    "CONFIGS", "ModelConfig", "COMPONENT_NAMES", "MODULE_NAMES", "SCHEDULER_CONFIG",
    "build_components", "count_parameters", "get_config",
    "save_components", "load_components", "check_model_dir", "save_component", "load_component",
    "DEFAULT_MODEL_DIR", "resolve_model_dir",
    "get_glyph_texts", "encode_glyphs", "MAX_GLYPH_TOKENS",
    "image_grid", "upsample_prior_tokens", "normalize_latents", "denormalize_latents",
    "vae_scale_factor", "shift_mu",
    "CONDITIONINGS", "read_conditioning", "write_conditioning",
]
