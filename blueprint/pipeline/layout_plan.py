"""The layout plan in the pipeline: the planner's plan, drawn, as the codes the AR stage leans to.

The folder's planner (blueprint.models.planner) reads each prompt and writes
a plan: every element's kind, colour and box (blueprint.data.plan_text). The
plan is drawn with the data engine's renderer, quoted texts and all, and the
model's own image tokenizer reads the drawing at the preview and the full
grid, exactly as it made the prior's training targets. Those codes are what
a prior that followed the plan would write; while the grid is sampled, each
position's planned code gains `strength` in logits (`prior._PlannedCodes`).
At a strength of a few nats the prior keeps its say where it is confident
(it may still write its own text lines, texture, edges); a large strength
copies the plan.

A plan whose words do not parse loses only those elements; a plan that does
not even name a design and a background leaves its prompt unplanned (its
row of codes is -1), and the prior samples that prompt freely.
"""

from __future__ import annotations

import numpy as np
import torch

from blueprint.data.plan_text import quotes_of, spec_of_plan
from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.models.grid import image_grid
from blueprint.models.image_tokenizer import image_tokens


def draw_plans(plans: list[str], prompts: list[str], width: int, height: int) -> list[np.ndarray | None]:
    """Each plan drawn as an RGB array by the data engine's renderer; None where it does not parse."""
    drawings = []
    for plan, prompt in zip(plans, prompts):
        try:
            spec = spec_of_plan(plan, quotes_of(prompt), width, height)
        except BlueprintError:
            drawings.append(None)
            continue
        drawings.append(np.asarray(render(spec).image.convert("RGB")))
    return drawings


def planned_codes(vle, processor, drawings: list[np.ndarray | None], width: int, height: int) -> torch.Tensor:
    """(B, preview + full grid) codes of the drawings, in the order the AR stage writes them; -1 rows
    for prompts without a drawing."""
    token_h, token_w, prev_h, prev_w = image_grid(width, height, getattr(processor, "preview_grid", "official"))
    codes = torch.full((len(drawings), prev_h * prev_w + token_h * token_w), -1, dtype=torch.long)
    drawn = [i for i, d in enumerate(drawings) if d is not None]
    if drawn:
        images = [drawings[i] for i in drawn]
        preview = image_tokens(vle, processor.image_processor, images, prev_h, prev_w)
        full = image_tokens(vle, processor.image_processor, images, token_h, token_w)
        codes[drawn] = torch.cat([preview, full], dim=1).cpu()
    return codes


def plan_prompts(planner, vle, processor, prompts: list[str], width: int, height: int):
    """(plans, codes): the planner's plan of each prompt (`models.planner.Planner`) and the codes
    the AR stage is steered to."""
    plans = planner.write(prompts, width, height)
    return plans, planned_codes(vle, processor, draw_plans(plans, prompts, width, height), width, height)
