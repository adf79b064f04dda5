"""The model folder a run trains into, and which stages have trained it.

One folder per run: it starts as `build_components(config)` saved in diffusers
layout, and each stage writes back the component(s) it trains (through
blueprint.models.folder, like every load and save). `trained.json` at its root
records which stages finished (with their configuration and step count) so a
later stage can refuse to start on an untrained prerequisite. diffusers and
Blueprint loaders ignore the extra file.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from blueprint.data.dataset import spec_at
from blueprint.errors import BlueprintError
from blueprint.models.build import build_components, get_config
from blueprint.models.folder import load_component, save_component, save_components
from blueprint.models.processor import learn_prompt_merges
from blueprint.models.settings import read_json_object, update_json_object
from blueprint.train.registry import RENAMED_STAGES

TRAINED_FILE = "trained.json"


def ensure_model_dir(model_dir: Path, config: str, seed: int) -> None:
    """Create the model folder from the configuration unless it already holds one."""
    get_config(config)
    model_dir = Path(model_dir)
    if (model_dir / "model_index.json").is_file():
        recorded = read_trained(model_dir).get("_config")
        if recorded is not None and recorded != config:
            raise BlueprintError(
                f"model folder {model_dir} was built with configuration {recorded!r}, not {config!r}"
            )
        check_no_renamed_checkpoints(model_dir)
        return
    if model_dir.exists() and not model_dir.is_dir():
        raise BlueprintError(f"model folder {model_dir} exists and is not a folder")
    save_components(build_components(config, seed=seed), model_dir)
    _update_trained(model_dir, lambda record: record.update({"_config": config}))


def check_no_renamed_checkpoints(model_dir: Path) -> None:
    """Checkpoints or logs under a stage's old name would be silently ignored by a resume: say so."""
    for old, new in RENAMED_STAGES.items():
        for found, wanted in ((model_dir / "checkpoints" / old, model_dir / "checkpoints" / new),
                              (model_dir / "logs" / f"{old}.jsonl", model_dir / "logs" / f"{new}.jsonl")):
            if found.exists() and not wanted.exists():
                raise BlueprintError(
                    f"{found} is from before stage {old!r} was renamed {new!r}; rename it to {wanted} to resume it"
                )


def read_trained(model_dir: Path) -> dict:
    """The folder's record of trained stages, with stages of their old names under the new ones."""
    record = read_json_object(Path(model_dir) / TRAINED_FILE)
    for old, new in RENAMED_STAGES.items():
        if old in record:
            record.setdefault(new, record.pop(old))
    return record


def mark_trained(model_dir: Path, stage: str, config: str, steps: int) -> None:
    def record_stage(record: dict) -> None:
        record.setdefault("_config", config)
        record[stage] = {"config": config, "steps": steps, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    _update_trained(model_dir, record_stage)


def _update_trained(model_dir: Path, change) -> None:
    """Apply `change(record)` to the folder's record (locked: stages may finish together)."""
    def renamed_then(record: dict) -> None:
        for old, new in RENAMED_STAGES.items():
            if old in record:
                record.setdefault(new, record.pop(old))
        change(record)

    update_json_object(Path(model_dir) / TRAINED_FILE, renamed_then)


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


# --- fresh components, for comparisons at equal budget ------------------------------

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


def fresh_dit(model_dir: Path, config: str, seed: int = 0) -> None:
    """Replace the folder's DiT by a freshly initialised one and forget that the dit stage trained.

    For an ablation at equal budget: every row's DiT starts from the same random
    weights over the same trained vae, image tokenizer, glyph encoder (and prior), so only
    the conditioning differs. Refuses a folder that holds dit checkpoints, which
    would otherwise resume the old run over the fresh weights.
    """
    get_config(config)
    model_dir = _check_restartable(model_dir, "dit")
    save_component(build_components(config, seed=seed)["transformer"], model_dir, "transformer")
    _update_trained(model_dir, lambda record: record.pop("dit", None))


# Engine captions (training split) the prompt merges of `fresh_prior` are learned from.
MERGE_CAPTIONS = 20000


def fresh_prior(model_dir: Path, config: str, seed: int = 0, prompt_merges: int = 0) -> None:
    """Replace the folder's AR language model by a freshly initialised one and forget that the prior trained.

    The AR model's vision tower and VQ (the trained image tokenizer, which
    makes the prior's targets) are kept. With `prompt_merges` > 0 the prompt
    vocabulary also gains that many BPE merges, learned from the engine's
    training captions (`blueprint.models.processor`), and the processor in the
    folder is replaced to match; 0 keeps the byte-level prompt. For comparing
    priors at equal budget from the same start. Refuses a folder that holds
    prior checkpoints, which would otherwise resume the old run.
    """
    get_config(config)
    if not isinstance(prompt_merges, int) or prompt_merges < 0:
        raise BlueprintError(f"prompt merges must be a whole number >= 0, got {prompt_merges!r}")
    model_dir = _check_restartable(model_dir, "prior")
    merges = []
    if prompt_merges:
        captions = [spec_at(i, 256, 256, split="train", seed=seed).caption for i in range(MERGE_CAPTIONS)]
        merges = learn_prompt_merges(captions, prompt_merges)
    built = build_components(config, seed=seed, prompt_merges=merges)
    vle, trained = built["vision_language_encoder"], load_component(model_dir, "vision_language_encoder")
    for part in ("model.visual", "model.vqmodel"):
        vle.get_submodule(part).load_state_dict(trained.get_submodule(part).state_dict())
    # The record first: a call killed half way leaves a folder that says its prior is
    # untrained, and running it again finishes the job.
    _update_trained(model_dir, lambda record: record.pop("prior", None))
    save_component(vle, model_dir, "vision_language_encoder")
    save_component(built["processor"], model_dir, "processor")
