"""How a model's decoder is conditioned: the hybrid design, or the baseline it is measured against.

- "blueprint" (the design, and the default): prior tokens from the AR stage,
  glyph embeddings of the prompt's quoted text, and the typeset glyph layer
  (blueprint.models.glyph_layer) when the decoder has input channels for it.
- "prompt" (the pure-diffusion baseline of the ablation in docs/RESULTS.md):
  the same decoder with no prior tokens (every prior token dropped), no glyph
  layer, and the whole prompt, not just its quotes, through the glyph text encoder.
- "noglyph" (an ablation row): the design without the typeset glyph layer
  (prior tokens and glyph embeddings only, as GLM-Image conditions its DiT).

The choice is made when the decoder is trained (`blueprint train dit
--conditioning prompt`) and recorded in MODEL_DIR/blueprint.json, a file
diffusers ignores. A folder without it (an official GLM-Image folder, say) is
"blueprint".
"""

from __future__ import annotations

from pathlib import Path

from blueprint.choices import CONDITIONINGS
from blueprint.errors import BlueprintError
from blueprint.models.settings import read_settings, update_settings



def check_conditioning(conditioning: str) -> str:
    if conditioning not in CONDITIONINGS:
        raise BlueprintError(f"unknown conditioning {conditioning!r}; expected one of {', '.join(CONDITIONINGS)}")
    return conditioning


def read_conditioning(model_dir: str | Path) -> str:
    return check_conditioning(read_settings(model_dir).get("conditioning", "blueprint"))


def write_conditioning(model_dir: str | Path, conditioning: str) -> None:
    update_settings(model_dir, conditioning=check_conditioning(conditioning))
