"""Settings a model folder carries beside its components, in MODEL_DIR/blueprint.json
(a file diffusers ignores), and the locked JSON update that writes them.

Keys:

- `conditioning`, written by the decoder stage: how the DiT is conditioned
  (blueprint.models.conditioning);
- `prior_guidance`: the classifier-free guidance scale the pipeline's AR stage
  uses by default (blueprint.pipeline.prior). No stage writes it: guidance trades
  legible text for prompt adherence (docs/notebook/2026-12-02-prior-guidance.md), so it stays off
  (1) unless the folder's owner sets it after measuring. An official GLM-Image
  folder has no such file, and its AR stage has no guidance.
- `color_plan`: how strongly the AR stage leans toward the background colour a
  prompt states (blueprint.pipeline.plan), 0 (off) unless set after measuring.
- `layout_plan`: how strongly the AR stage leans, cell by cell, toward the codes of
  the layout the folder's planner writes for the prompt (blueprint.pipeline.layout_plan),
  0 (off) unless set after measuring.
- `preview_grid`, written by the prior stage: the preview grid its AR model writes
  before the full grid, "official" (GLM-Image's) or "half" (blueprint.models.grid).

A missing file means every default.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json, locked
from blueprint.models.grid import check_preview_grid

SETTINGS_FILE = "blueprint.json"


def read_json_object(path: Path) -> dict:
    """The JSON object in `path`, {} when there is no file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BlueprintError(f"cannot read {path}: {e}") from None
    if not isinstance(value, dict):
        raise BlueprintError(f"{path} must hold a JSON object")
    return value


def update_json_object(path: Path, change: Callable[[dict], None]) -> None:
    """Apply `change(value)` to the JSON object in `path` and write it back atomically.

    Stages may train side by side into one folder and finish together
    (scripts/train_cpu.sh), so the read-modify-write holds an exclusive lock."""
    path = Path(path)
    with locked(path):
        value = read_json_object(path)
        change(value)
        atomic_write_json(path, value)


def read_settings(model_dir: str | Path) -> dict:
    return read_json_object(Path(model_dir) / SETTINGS_FILE)


def update_settings(model_dir: str | Path, **values) -> None:
    update_json_object(Path(model_dir) / SETTINGS_FILE, lambda settings: settings.update(values))


def _check_number(value, what: str, off: float) -> float:
    """A finite number >= `off`, the value that turns the setting off."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < off:
        raise BlueprintError(f"{what} must be a finite number >= {off:g} ({off:g} turns it off), got {value!r}")
    return float(value)


def _read_number(model_dir: str | Path, key: str, check: Callable[[object], float], off: float) -> float:
    try:
        return check(read_settings(model_dir).get(key, off))
    except BlueprintError as e:
        raise BlueprintError(f"{Path(model_dir) / SETTINGS_FILE}: {e}") from None


def check_prior_guidance(value) -> float:
    return _check_number(value, "prior guidance", 1.0)


def read_prior_guidance(model_dir: str | Path) -> float:
    return _read_number(model_dir, "prior_guidance", check_prior_guidance, 1.0)


def check_color_plan(value) -> float:
    return _check_number(value, "color plan", 0.0)


def read_color_plan(model_dir: str | Path) -> float:
    return _read_number(model_dir, "color_plan", check_color_plan, 0.0)


def check_layout_plan(value) -> float:
    return _check_number(value, "layout plan", 0.0)


def read_layout_plan(model_dir: str | Path) -> float:
    return _read_number(model_dir, "layout_plan", check_layout_plan, 0.0)


def read_preview_grid(model_dir: str | Path) -> str:
    where = f"{Path(model_dir) / SETTINGS_FILE}: preview_grid"
    return check_preview_grid(read_settings(model_dir).get("preview_grid", "official"), where)
