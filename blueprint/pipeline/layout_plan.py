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
copies the plan. What the prompt states outright is the plan's
(`write_plans`): its background colour (the planner sometimes wrote another,
and the rest of a plan follows its start), a chart's values as its bars'
lengths (the planner places the bars but draws them all alike: it reads the
numbers, yet has never learnt to scale a box by one), and a scene's counted
shapes ("two pink triangles") as the colours and shapes of the plan's shapes,
in order (the planner places shapes well and miscounts and mixes up their
colours often).

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

import re

import numpy as np
import torch

from blueprint.data.colors import COLOR_NAMES
from blueprint.data.plan_text import SEPARATOR, check_plan, normal_plan, quotes_of, spec_of_plan
from blueprint.data.render import Rendered, render
from blueprint.data.spec import SHAPES, Spec
from blueprint.errors import BlueprintError
from blueprint.models.glyph_layer import typeset
from blueprint.models.grid import image_grid
from blueprint.models.image_tokenizer import image_tokens
from blueprint.pipeline.plan import read_plan

# A given plan is meant to be followed: at this strength the prior writes the plan's codes.
GIVEN_PLAN_STRENGTH = 100.0
LAYOUT_NEEDS_PLANNER = "a layout plan needs a model folder with a trained planner (blueprint train planner)"
# A value as prompts state one: a quoted label, then its number ("Apples" 5, "Apples": 5, "A" 30%).
_NUMBER_WORDS = ("a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# A counted group of shapes as prompts state one: "two pink triangles", "3 red circles", "a blue star".
_GROUP = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\s+(" + "|".join(COLOR_NAMES + ("grey",)) + r")\s+("
                    + "|".join(SHAPES) + r")s?\b", re.IGNORECASE)
# A plan's background when the planner's is the colour of one of its elements and the prompt
# names no background: the first of these that no element has.
BACKGROUNDS = ("white", "black", "yellow", "blue", "gray", "purple", "pink", "red", "green", "orange", "brown")
_QUOTED_TEXT = re.compile(r'"[^"]*"|\u201c[^\u201c\u201d]*\u201d')
_VALUE = re.compile(r'(?:"[^"]*"|\u201c[^\u201c\u201d]*\u201d)\s*:?\s*(\d+(?:\.\d+)?)%?(?!\w|\.\d)')


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


def plan_specs(plans: list[str | None], prompts: list[str], width: int, height: int) -> list[Spec | None]:
    """Each plan read as the data engine's spec; None where there is no plan or it does not
    parse. A given plan was checked whole before (`given_plans`, `check_given_plan`), so it
    reads as it was checked."""
    specs = []
    for plan, prompt in zip(plans, prompts):
        try:
            specs.append(spec_of_plan(plan, quotes_of(prompt), width, height) if plan is not None else None)
        except BlueprintError:
            specs.append(None)
    return specs


def draw_plans(plans: list[str | None], prompts: list[str], width: int, height: int) -> list[Rendered | None]:
    """Each plan drawn by the data engine's renderer, with its maps; None where there is no plan
    or it does not parse."""
    return [None if s is None else render(s, with_maps=True) for s in plan_specs(plans, prompts, width, height)]


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


def planned_ink(specs: list[Spec | None], drawings: list[Rendered | None]) -> list[torch.Tensor | None]:
    """(2, H, W) each plan's glyph layer: its quoted texts typeset into its text boxes (`typeset`:
    the legibility floor of the letters set from tokens, where the plan's design sizes can be
    too small to read), then its bars, arrows, shapes and rules as drawn (`render.inked_shape`:
    the blueprint's 16-px cells are too coarse to hold them); None for a prompt without a plan."""
    planes = []
    for spec, drawing in zip(specs, drawings):
        if spec is None:
            planes.append(None)
            continue
        texts = [e for e in spec.elements if e.kind == "text"]
        letters = typeset([e.text for e in texts], [e.font for e in texts], [e.box for e in texts],
                          spec.width, spec.height)
        planes.append(torch.from_numpy(np.stack([letters, drawing.shape_ink])).float())
    return planes


def stated_values(prompt: str) -> list[float]:
    """The numbers the prompt gives its quoted labels, in order ("Apples" 5, "Pears" 3 -> [5, 3])."""
    return [float(m.group(1)) for m in _VALUE.finditer(prompt)]


def bars_at_values(plan: str, values: list[float]) -> str:
    """A chart plan whose bars, in order, have lengths in proportion to `values`: grown from the
    edge they share (horizontal bars their left, vertical ones their base) as far as the plan's
    furthest bar reaches for the largest value. Any other plan, or one without a bar per value,
    comes back as it was."""
    groups = [g.split() for g in plan.split(SEPARATOR)]
    bars = [g for g in groups[1:] if g[:1] == ["bar"] and len(g) >= 7 and all(w.isdigit() for w in g[-4:])]
    if groups[0][:1] != ["chart"] or len(bars) != len(values) or len(values) < 2 or max(values) <= 0:
        return plan
    boxes = [[int(w) for w in g[-4:]] for g in bars]
    top = max(values)
    if len({b[0] for b in boxes}) == 1:      # horizontal: x1 moves
        reach = max(b[2] for b in boxes) - boxes[0][0]
        for g, b, v in zip(bars, boxes, values):
            g[-2] = str(b[0] + max(1, round(reach * v / top)))
    elif len({b[3] for b in boxes}) == 1:    # vertical: y0 moves
        reach = boxes[0][3] - min(b[1] for b in boxes)
        for g, b, v in zip(bars, boxes, values):
            g[-3] = str(b[3] - max(1, round(reach * v / top)))
    else:
        return plan
    return f" {SEPARATOR} ".join(" ".join(g) for g in groups)


def stated_shapes(prompt: str) -> list[tuple[int, str, str]]:
    """(count, colour, shape) of each group of shapes the prompt counts, outside its quotes."""
    groups = []
    for m in _GROUP.finditer(_QUOTED_TEXT.sub('""', prompt)):
        word = m.group(1).lower()
        count = int(word) if word.isdigit() else max(1, _NUMBER_WORDS.index(word) - 1)
        groups.append((count, m.group(2).lower().replace("grey", "gray"), m.group(3).lower()))
    return groups


def shapes_as_stated(plan: str, groups: list[tuple[int, str, str]]) -> str:
    """A scene plan whose shapes, in order, are the stated groups' (the first `count` shapes the
    first group's colour and shape, and so on); shapes past the stated ones are dropped. Any other
    plan, or one with fewer shapes than stated, comes back as it was."""
    parts = [g.split() for g in plan.split(SEPARATOR)]
    shapes = [g for g in parts[1:] if g[:1] == ["shape"] and len(g) >= 8]
    wanted = [(color, shape) for count, color, shape in groups for _ in range(count)]
    if parts[0][:1] != ["scene"] or not wanted or len(shapes) < len(wanted):
        return plan
    for g, (color, shape) in zip(shapes, wanted):
        g[1], g[2], g[-5] = shape, color, shape
    dropped = {id(g) for g in shapes[len(wanted):]}
    return f" {SEPARATOR} ".join(" ".join(g) for g in parts if id(g) not in dropped)


def background_apart(plan: str) -> str:
    """A plan whose background is not the colour of any of its shapes (white triangles on white
    are not drawn at all): else the first of BACKGROUNDS that none of its elements has."""
    parts = [g.split() for g in plan.split(SEPARATOR)]
    colors = {g[2] for g in parts[1:] if len(g) > 2}
    shades = {g[2] for g in parts[1:] if g[:1] == ["shape"] and len(g) > 2}
    free = [c for c in BACKGROUNDS if c not in colors]
    if len(parts[0]) != 2 or parts[0][1] not in shades or not free:
        return plan
    parts[0][1] = free[0]
    return f" {SEPARATOR} ".join(" ".join(g) for g in parts)


def write_plans(planner, prompts: list[str], width: int, height: int) -> list[str]:
    """The planner's plan of each prompt, with what the prompt states outright as the plan's: its
    background colour (`plan.read_plan`, which reads it right on every benchmark row that states
    one), a chart's values (`bars_at_values`) and a scene's counted shapes (`shapes_as_stated`,
    on a background apart from them where the prompt names none: `background_apart`)."""
    stated = [read_plan(p).background for p in prompts]
    plans = planner.write(prompts, width, height, backgrounds=stated)
    plans = [shapes_as_stated(bars_at_values(plan, stated_values(prompt)), stated_shapes(prompt))
             for plan, prompt in zip(plans, prompts)]
    return [plan if background else background_apart(plan) for plan, background in zip(plans, stated)]


def plan_rows(planner, vle, processor, prompts: list[str], width: int, height: int,
              strengths: list[float], given: list[str | None]):
    """(plans, (codes, strengths), ink): the codes for the AR stage to lean toward
    (`prior.generate_prior_tokens`'s `planned`) and each plan's letters and shapes for the glyph
    layer (`planned_ink`); (None, None, None) when no row is steered. A row with a given plan
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
    specs = plan_specs(plans, prompts, width, height)
    drawings = [None if s is None else render(s, with_maps=True) for s in specs]
    codes = planned_codes(vle, processor, drawings, width, height)
    return plans, (codes, torch.tensor(strengths, dtype=torch.float32)), planned_ink(specs, drawings)
