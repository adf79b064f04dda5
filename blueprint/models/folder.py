"""Model folders: the one place where components are loaded and saved.

A model folder is exactly what `GlmImagePipeline.save_pretrained` writes:
`model_index.json` plus one sub-folder per component, weights as safetensors.
So diffusers' `GlmImagePipeline.from_pretrained(dir)` loads a Blueprint folder,
and `load_components` loads an official GLM-Image folder. Blueprint adds three
things diffusers ignores: `semantic_head/` (blueprint.models.image_tokenizer),
`blueprint.json` (settings: blueprint.models.settings) and, in a folder that
training wrote, `trained.json` (blueprint.train.model_dir).

Sampling and training load through the same functions with the same checks:
every component folder and file must be there, every weight in the files must
match the config (no silently random-initialised layers), and the components
must fit together (the DiT's glyph width is the T5 width, its latent channels
the VAE's, its codebook covers the VQ's). Any failure is a `BlueprintError`
naming the file. Writes replace files atomically (blueprint.files): a reader
never sees a torn file, and a kill leaves the old component or the new one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, GlmImagePipeline, GlmImageTransformer2DModel
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from transformers import ByT5Tokenizer, GlmImageForConditionalGeneration, T5EncoderModel

from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json, replace_folder_files
from blueprint.models.build import COMPONENT_NAMES
from blueprint.models.grid import vae_scale_factor
from blueprint.sizes import PX_PER_DIT_TOKEN
from blueprint.models.image_tokenizer import HEAD_DIR, SemanticHead, SemanticVocab
from blueprint.models.processor import BlueprintProcessor
from blueprint.models.settings import read_preview_grid

# The embedded default model, installed with the package (`blueprint export`).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "weights" / "default"

# Each component's class, and the name its `from_pretrained` gives the dtype argument
# (transformers takes `dtype`, diffusers `torch_dtype`; None: not a torch module).
COMPONENT_CLASSES = {
    "tokenizer": (ByT5Tokenizer, None),
    "processor": (BlueprintProcessor, None),
    "scheduler": (FlowMatchEulerDiscreteScheduler, None),
    "text_encoder": (T5EncoderModel, "dtype"),
    "vision_language_encoder": (GlmImageForConditionalGeneration, "dtype"),
    "vae": (AutoencoderKL, "torch_dtype"),
    "transformer": (GlmImageTransformer2DModel, "torch_dtype"),
}

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




def resolve_model_dir(model: str | Path | None) -> Path:
    """`model` as a path; None (or "default") is the embedded model."""
    if model is not None and str(model) != "default":
        return Path(model)
    if (DEFAULT_MODEL_DIR / "model_index.json").is_file():
        return DEFAULT_MODEL_DIR
    raise BlueprintError(
        "no default model is installed yet: pass --model DIR, a model folder "
        "(e.g. one written by `blueprint train`, or a diffusers GLM-Image folder)"
    )


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



def _check_component_files(model_dir: Path, name: str) -> Path:
    for entry in REQUIRED_FILES[name]:
        options = entry if isinstance(entry, tuple) else (entry,)
        if not any((model_dir / name / f).is_file() for f in options):
            raise BlueprintError(f"model folder is missing {model_dir / name / options[0]}")
    return model_dir / name


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



def load_component(model_dir: str | Path, name: str, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32):
    """One component of a folder, checked; torch modules in eval mode, on `device`, in `dtype`."""
    if name not in COMPONENT_CLASSES:
        raise BlueprintError(f"unknown component {name!r}; expected one of {', '.join(COMPONENT_CLASSES)}")
    model_dir = Path(model_dir)
    path = _check_component_files(model_dir, name)
    cls, dtype_arg = COMPONENT_CLASSES[name]
    if dtype_arg is not None:
        return _load_model(cls, path, dtype, dtype_arg).to(device).eval()
    try:
        component = cls.from_pretrained(path, local_files_only=True)
    except LOAD_ERRORS as e:
        raise BlueprintError(f"cannot load {path}: {e}") from None
    if name == "processor":
        component.preview_grid = read_preview_grid(model_dir)  # "official" unless blueprint.json says
        if component.chat_template is None:
            raise BlueprintError(f"{path / 'chat_template.jinja'} is missing: the processor has no chat template")
    return component


def load_components(model_dir: str | Path, dtype: torch.dtype = torch.float32) -> dict[str, object]:
    """Load and check all seven components of a diffusers-layout GLM-Image folder."""
    model_dir = check_model_dir(model_dir)
    components = {name: load_component(model_dir, name, dtype=dtype) for name in COMPONENT_NAMES}
    _check_fit(components, model_dir)
    return components


def _check_fit(c: dict[str, object], model_dir: Path) -> None:
    dit, vae = c["transformer"].config, c["vae"].config
    t5, ar = c["text_encoder"].config, c["vision_language_encoder"].config
    where = model_dir / "transformer" / "config.json"
    if dit.text_embed_dim != t5.d_model:
        raise BlueprintError(f"{where}: text_embed_dim {dit.text_embed_dim} != text_encoder d_model {t5.d_model}")
    vae_scale = vae_scale_factor(c["vae"])
    glyph = dit.in_channels - dit.out_channels  # the typeset glyph layer (blueprint.models.glyph_layer)
    if dit.out_channels != vae.latent_channels or glyph not in (0, vae_scale ** 2, 2 * vae_scale ** 2):
        raise BlueprintError(
            f"{where}: in/out channels {dit.in_channels}/{dit.out_channels} do not fit vae latent_channels "
            f"{vae.latent_channels} (in_channels may add a glyph layer of one or two planes of "
            f"{vae_scale ** 2} channels: letters, shapes)"
        )
    if dit.patch_size * vae_scale != PX_PER_DIT_TOKEN:
        raise BlueprintError(f"{where}: patch_size x VAE scale factor must be {PX_PER_DIT_TOKEN} (the AR grid x2)")
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



def save_component(component, model_dir: str | Path, name: str) -> Path:
    """Write one component (config + safetensors weights) into `model_dir/name`, file by file atomically."""
    return replace_folder_files(Path(model_dir) / name,
                                lambda tmp: component.save_pretrained(tmp, safe_serialization=True))


def save_component_parts(model_dir: str | Path, name: str, parts: dict[str, torch.nn.Module]) -> Path:
    """Overwrite some submodules of a folder's component (e.g. "model.visual" of the AR model);
    every other weight stays as it is in the folder."""
    component = load_component(model_dir, name)
    for attribute, module in parts.items():
        component.get_submodule(attribute).load_state_dict(
            {k: v.detach().cpu() for k, v in module.state_dict().items()})
    return save_component(component, model_dir, name)


def save_components(components: dict[str, object], model_dir: str | Path) -> Path:
    """Write all seven components as a diffusers-layout folder (safetensors).

    `model_index.json` goes in last: a folder with it is a complete model folder."""
    missing = [n for n in COMPONENT_NAMES if n not in components]
    if missing:
        raise BlueprintError(f"cannot save a model folder without component(s): {', '.join(missing)}")
    pipe = GlmImagePipeline(**{n: components[n] for n in COMPONENT_NAMES})
    return replace_folder_files(Path(model_dir), lambda tmp: pipe.save_pretrained(tmp, safe_serialization=True),
                                last="model_index.json")


# --- the semantic head (blueprint.models.image_tokenizer) ----------------------------

def has_semantic_head(model_dir: str | Path) -> bool:
    return (Path(model_dir) / HEAD_DIR).is_dir()


def save_semantic_head(head: SemanticHead, model_dir: str | Path) -> Path:
    config = {"embed_dim": head.body[0].normalized_shape[0], "num_codes": int(head.last_used.numel()),
              "hidden": head.body[1].out_features, "vocab": head.vocab.to_dict()}
    tensors = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_file(tensors, str(tmp / "model.safetensors"))
        atomic_write_json(tmp / "config.json", config)

    return replace_folder_files(Path(model_dir) / HEAD_DIR, write)


def load_semantic_head(model_dir: str | Path) -> SemanticHead:
    path = Path(model_dir) / HEAD_DIR
    for name in ("config.json", "model.safetensors"):
        if not (path / name).is_file():
            raise BlueprintError(f"no trained semantic head: missing {path / name}")
    try:
        cfg = json.loads((path / "config.json").read_text())
        v = cfg["vocab"]
        vocab = SemanticVocab(tuple(v["kinds"]), tuple(v["colors"]), tuple(v["roles"]), v["chars"])
        head = SemanticHead(cfg["embed_dim"], cfg["num_codes"], vocab, cfg["hidden"])
        weights = load_file(str(path / "model.safetensors"))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise BlueprintError(f"cannot load the semantic head in {path}: {e}") from None
    try:
        head.load_state_dict(weights)  # strict: every key, every shape
    except RuntimeError as e:
        raise BlueprintError(f"{path / 'config.json'} does not match the weights: {e}") from None
    return head.eval()
