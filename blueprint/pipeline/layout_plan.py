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
copies the plan. A background colour the prompt states outright is the
plan's (`write_plans`): the planner sometimes wrote another, and the rest of
a plan follows its start.

A plan can also be given: one a person wrote, or the planner's edited (the
web page's plan box, `blueprint generate --plan`). A given plan is checked
whole (`plan_text.check_plan`) before any model runs, and followed as
written: copied (GIVEN_PLAN_STRENGTH) unless the caller asks for another
strength. A planner's plan whose words do not parse loses only those
elements; one that does not even name a design and a background leaves its
prompt unplanned (its row of codes is -1), and the prior samples that prompt
freely.
"""

from __future__ import annotations

import numpy as np
import torch

from blueprint.data.plan_text import check_plan, normal_plan, quotes_of, spec_of_plan
from blueprint.data.render import Rendered, render
from blueprint.errors import BlueprintError
from blueprint.models.grid import image_grid
from blueprint.models.image_tokenizer import image_tokens
from blueprint.pipeline.plan import read_plan

# A given plan is meant to be followed: at this strength the prior writes the plan's codes.
GIVEN_PLAN_STRENGTH = 100.0
LAYOUT_NEEDS_PLANNER = "a layout plan needs a model folder with a trained planner (blueprint train planner)"


def plan_strength(requested: float | None, default: float, given: str | None) -> float:
    """The strength a row is steered with: the caller's, else the model's; a given plan is
    copied when neither asks for a strength, and refused where the caller turned planning off."""
    if given is None:
        return default if requested is None else requested
    if requested == 0:
        raise BlueprintError("a layout plan was given with layout_plan 0, which would ignore it")
    return requested or default or GIVEN_PLAN_STRENGTH


def check_given_plan(plan: str, prompt: str, width: int, height: int) -> str:
    """The plan in the planner's form (`plan_text.normal_plan`); BlueprintError, saying what is
    wrong, unless `plan` is a whole plan of `prompt` at that size."""
    if not isinstance(plan, str) or not plan.strip():
        raise BlueprintError("a layout plan must be non-empty text")
    check_plan(plan, quotes_of(prompt), width, height)
    return normal_plan(plan)


def given_plans(plan: str | list[str] | None, prompts: list[str], width: int, height: int) -> list[str | None]:
    """One given plan (or None) per prompt, each checked; one plan for several prompts is each one's."""
    if plan is None:
        return [None] * len(prompts)
    plans = [plan] * len(prompts) if isinstance(plan, str) else list(plan)
    if len(plans) != len(prompts):
        raise BlueprintError(f"{len(plans)} layout plans for {len(prompts)} prompts")
    return [None if p is None else check_given_plan(p, prompt, width, height) for p, prompt in zip(plans, prompts)]


def draw_plans(plans: list[str | None], prompts: list[str], width: int, height: int) -> list[Rendered | None]:
    """Each plan drawn by the data engine's renderer, with its maps; None where there is no plan
    or it does not parse. A given plan was checked whole before (`given_plans`, `check_given_plan`),
    so it draws as it was checked."""
    drawings = []
    for plan, prompt in zip(plans, prompts):
        try:
            spec = spec_of_plan(plan, quotes_of(prompt), width, height) if plan is not None else None
        except BlueprintError:
            spec = None
        drawings.append(None if spec is None else render(spec, with_maps=True))
    return drawings


def planned_codes(vle, processor, drawings: list[Rendered | None], width: int, height: int) -> torch.Tensor:
    """(B, preview + full grid) codes of the drawings, in the order the AR stage writes them; -1 rows
    for prompts without a drawing."""
    token_h, token_w, prev_h, prev_w = image_grid(width, height, getattr(processor, "preview_grid", "official"))
    codes = torch.full((len(drawings), prev_h * prev_w + token_h * token_w), -1, dtype=torch.long)
    drawn = [i for i, d in enumerate(drawings) if d is not None]
    if drawn:
        images = [np.asarray(drawings[i].image.convert("RGB")) for i in drawn]
        preview = image_tokens(vle, processor.image_processor, images, prev_h, prev_w)
        full = image_tokens(vle, processor.image_processor, images, token_h, token_w)
        codes[drawn] = torch.cat([preview, full], dim=1).cpu()
    return codes


def planned_shapes(drawings: list[Rendered | None]) -> list[torch.Tensor | None]:
    """(1, H, W) each drawing's bars, arrows, shapes and rules (`render.inked_shape`), for the
    glyph layer's shape plane: the blueprint's 16-px cells are too coarse to hold them; None for
    a prompt without a drawing."""
    return [None if d is None else torch.from_numpy(d.shape_ink).float()[None] for d in drawings]


def write_plans(planner, prompts: list[str], width: int, height: int) -> list[str]:
    """The planner's plan of each prompt, with the background colour the prompt states outright
    (`plan.read_plan`, which reads it right on every benchmark row that states one) as the plan's."""
    return planner.write(prompts, width, height, backgrounds=[read_plan(p).background for p in prompts])


def plan_rows(planner, vle, processor, prompts: list[str], width: int, height: int,
              strengths: list[float], given: list[str | None]):
    """(plans, (codes, strengths), shapes): the codes for the AR stage to lean toward
    (`prior.generate_prior_tokens`'s `planned`) and each plan's shapes for the glyph layer
    (`planned_shapes`); (None, None, None) when no row is steered. A row with a given plan
    follows it; a row with a strength and no plan gets the planner's (`models.planner.Planner`);
    a row of strength 0 is unplanned."""
    if not any(strengths):
        return None, None, None
    plans = list(given)
    wanted = [i for i, (s, g) in enumerate(zip(strengths, given)) if s and g is None]
    if wanted:
        if planner is None:
            raise BlueprintError(LAYOUT_NEEDS_PLANNER)
        for i, plan in zip(wanted, write_plans(planner, [prompts[i] for i in wanted], width, height)):
            plans[i] = plan
    drawings = draw_plans(plans, prompts, width, height)
    codes = planned_codes(vle, processor, drawings, width, height)
    return plans, (codes, torch.tensor(strengths, dtype=torch.float32)), planned_shapes(drawings)
