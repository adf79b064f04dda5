"""The training stages by name: which module trains each, and names retired.

Light on purpose (no torch): the command line builds its help from it.
"""

from __future__ import annotations

import importlib

from blueprint.errors import BlueprintError

# Stage name -> module exposing `make_stage(StageArgs) -> Stage` (imported lazily).
STAGES = {
    "vae": "blueprint.train.vae",
    "vae-decoder": "blueprint.train.vae_decoder",
    "image-tokenizer": "blueprint.train.image_tokenizer",
    "glyph-encoder": "blueprint.train.glyph_encoder",
    "dit": "blueprint.train.dit",
    "prior": "blueprint.train.prior",
    "planner": "blueprint.train.planner",
}


# Old stage names, each of which meant more than one thing (a folder's trained.json may still
# hold them: blueprint.train.model_dir reads them under the new names).
RENAMED_STAGES = {"tokenizer": "image-tokenizer", "glyph": "glyph-encoder", "decoder": "dit"}

# Stages whose batches may change size from step to step (blueprint.train.data.TrainImages).
MULTI_SIZE_STAGES = ("vae-decoder", "dit", "prior", "planner")


def resolve_stage(name: str):
    """The module of a stage name (it exposes `make_stage`, and `NEEDS` if it has prerequisites)."""
    if name in RENAMED_STAGES:
        raise BlueprintError(f"training stage {name!r} is now called {RENAMED_STAGES[name]!r}")
    if name not in STAGES:
        raise BlueprintError(f"unknown training stage {name!r}; expected one of {', '.join(STAGES)}")
    try:
        module = importlib.import_module(STAGES[name])
    except ModuleNotFoundError as e:
        if e.name != STAGES[name]:
            raise
        raise BlueprintError(f"training stage {name!r} is not available in this installation") from None
    return module
