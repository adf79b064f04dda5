"""The model folder a run trains into, and which stages have trained it.

One folder per run: it starts as `build_components(config)` saved in diffusers
layout, and each stage writes back the component(s) it trains. `trained.json`
at its root records which stages finished (with their configuration and step
count) so a later stage can refuse to start on an untrained prerequisite.
diffusers and Blueprint loaders ignore the extra file.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from blueprint.errors import BlueprintError
from blueprint.models.settings import read_json_object, update_json_object

TRAINED_FILE = "trained.json"


def check_config(config: str) -> None:
    from blueprint.models import CONFIGS

    if config not in CONFIGS:
        raise BlueprintError(f"unknown model configuration {config!r}; expected one of {', '.join(CONFIGS)}")


def ensure_model_dir(model_dir: Path, config: str, seed: int) -> None:
    """Create the model folder from the configuration unless it already holds one."""
    check_config(config)
    model_dir = Path(model_dir)
    if (model_dir / "model_index.json").is_file():
        recorded = read_trained(model_dir).get("_config")
        if recorded is not None and recorded != config:
            raise BlueprintError(
                f"model folder {model_dir} was built with configuration {recorded!r}, not {config!r}"
            )
        return
    if model_dir.exists() and not model_dir.is_dir():
        raise BlueprintError(f"model folder {model_dir} exists and is not a folder")
    from blueprint.models import build_components, save_components

    model_dir.mkdir(parents=True, exist_ok=True)
    save_components(build_components(config, seed=seed), model_dir)
    _update_trained(model_dir, lambda record: record.update({"_config": config}))


def read_trained(model_dir: Path) -> dict:
    return read_json_object(Path(model_dir) / TRAINED_FILE)


def mark_trained(model_dir: Path, stage: str, config: str, steps: int) -> None:
    def record_stage(record: dict) -> None:
        record.setdefault("_config", config)
        record[stage] = {"config": config, "steps": steps, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    _update_trained(model_dir, record_stage)


def _update_trained(model_dir: Path, change) -> None:
    """Apply `change(record)` to the folder's record (locked: stages may finish together)."""
    update_json_object(Path(model_dir) / TRAINED_FILE, change)


def require_trained(model_dir: Path, stage: str, needs: tuple[str, ...], config: str) -> None:
    """Refuse to train `stage` on untrained prerequisites.

    `tiny` is for tests and smoke runs, where an untrained (random) component is
    a legitimate stand-in, so there it is a warning; otherwise an error.
    """
    done = read_trained(model_dir)
    missing = [n for n in needs if n not in done]
    if not missing:
        return
    message = (
        f"stage {stage!r} needs the trained {', '.join(missing)} in {model_dir}; "
        f"run `blueprint train {missing[0]} --config {config} --model-dir {model_dir}` first"
    )
    if config == "tiny":
        warnings.warn(message + " (continuing with untrained components: tiny configuration)", stacklevel=2)
        return
    raise BlueprintError(message)


# --- one component at a time ---------------------------------------------------

def _component_class(name: str):
    if name == "vae":
        from diffusers import AutoencoderKL
        return AutoencoderKL
    if name == "transformer":
        from diffusers import GlmImageTransformer2DModel
        return GlmImageTransformer2DModel
    if name == "text_encoder":
        from transformers import T5EncoderModel
        return T5EncoderModel
    raise ValueError(f"no loader for component {name!r}")


def load_component(model_dir: Path, name: str, device: str = "cpu"):
    """One weight-bearing component of the folder (vae, transformer, text_encoder), fp32, eval mode."""
    path = Path(model_dir) / name
    if not (path / "config.json").is_file():
        raise BlueprintError(f"model folder is missing {path / 'config.json'}")
    try:
        module = _component_class(name).from_pretrained(path, use_safetensors=True)
    except (OSError, ValueError, KeyError) as e:
        raise BlueprintError(f"cannot load {path}: {e}") from None
    return module.to(device).float().eval()


def load_glyph_tokenizer(model_dir: Path):
    from transformers import ByT5Tokenizer

    path = Path(model_dir) / "tokenizer"
    if not (path / "tokenizer_config.json").is_file():
        raise BlueprintError(f"model folder is missing {path / 'tokenizer_config.json'}")
    return ByT5Tokenizer.from_pretrained(path, local_files_only=True)


def save_component(module, model_dir: Path, name: str) -> Path:
    """Write one component's config + safetensors weights into `model_dir/name`.

    Saved to a temporary sibling folder first, then each file is moved into
    place with `os.replace`, so a reader never sees a truncated file.
    """
    import shutil

    path = Path(model_dir) / name
    tmp = path.with_name(f"{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    module.save_pretrained(tmp, safe_serialization=True)
    path.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        os.replace(f, path / f.name)
    tmp.rmdir()
    return path


def _check_restartable(model_dir: Path, stage: str) -> Path:
    """A model folder whose `stage` can start again from fresh weights: no checkpoints of it,
    which a rerun would otherwise resume over them."""
    model_dir = Path(model_dir)
    if not (model_dir / "model_index.json").is_file():
        raise BlueprintError(f"{model_dir} is not a model folder (no model_index.json)")
    checkpoints = model_dir / "checkpoints" / stage
    if checkpoints.is_dir() and any(checkpoints.iterdir()):
        raise BlueprintError(f"{checkpoints} holds checkpoints of a {stage} run; remove them first")
    return model_dir


def fresh_decoder(model_dir: Path, config: str, seed: int = 0) -> None:
    """Replace the folder's DiT by a freshly initialised one and forget that the decoder trained.

    For an ablation at equal budget: every row's decoder starts from the same random
    weights over the same trained vae, tokenizer, glyph encoder (and prior), so only
    the conditioning differs. Refuses a folder that holds decoder checkpoints, which
    would otherwise resume the old run over the fresh weights.
    """
    from blueprint.models import build_components

    check_config(config)
    model_dir = _check_restartable(model_dir, "decoder")
    save_component(build_components(config, seed=seed)["transformer"], model_dir, "transformer")
    _update_trained(model_dir, lambda record: record.pop("decoder", None))


# Engine captions (training split) the prompt merges of `fresh_prior` are learned from.
MERGE_CAPTIONS = 20000


def fresh_prior(model_dir: Path, config: str, seed: int = 0, prompt_merges: int = 0) -> None:
    """Replace the folder's AR language model by a freshly initialised one and forget that the prior trained.

    The AR model's vision tower and VQ (the trained semantic tokenizer, which
    makes the prior's targets) are kept. With `prompt_merges` > 0 the prompt
    vocabulary also gains that many BPE merges, learned from the engine's
    training captions (`blueprint.models.processor`), and the processor in the
    folder is replaced to match; 0 keeps the byte-level prompt. For comparing
    priors at equal budget from the same start. Refuses a folder that holds
    prior checkpoints, which would otherwise resume the old run.
    """
    from blueprint.data.dataset import spec_at
    from blueprint.models import build_components
    from blueprint.models.processor import learn_prompt_merges
    from blueprint.train.tokenizer import load_vle

    check_config(config)
    if not isinstance(prompt_merges, int) or prompt_merges < 0:
        raise BlueprintError(f"prompt merges must be a whole number >= 0, got {prompt_merges!r}")
    model_dir = _check_restartable(model_dir, "prior")
    merges = []
    if prompt_merges:
        captions = [spec_at(i, 256, 256, split="train", seed=seed).caption for i in range(MERGE_CAPTIONS)]
        merges = learn_prompt_merges(captions, prompt_merges)
    built = build_components(config, seed=seed, prompt_merges=merges)
    vle, trained = built["vision_language_encoder"], load_vle(model_dir)
    for part in ("model.visual", "model.vqmodel"):
        vle.get_submodule(part).load_state_dict(trained.get_submodule(part).state_dict())
    # The record first: a call killed half way leaves a folder that says its prior is
    # untrained, and running it again finishes the job.
    _update_trained(model_dir, lambda record: record.pop("prior", None))
    save_component(vle, model_dir, "vision_language_encoder")
    save_component(built["processor"], model_dir, "processor")
