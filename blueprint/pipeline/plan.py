"""A colour plan read from the prompt, and the codes it lets the AR stage write.

The prior places the quoted text but mostly ignores the colours a prompt
names: asked for a red background it often writes a grid of another colour.
The semantic head says what every code of the codebook stands for (kind of
cell, colour of its element, colour behind it), so what a prompt states
about colour can be enforced while the grid is sampled, without training:
codes that agree with the plan are preferred and those that contradict it
are never drawn (`code_bias`).

The plan is read by rule, as the glyph layer reads the quoted texts: only
what a prompt states plainly. A background stated as such ("on a red
background", "the background is black", "a blue poster", "on a pink wall")
fixes the colour of every background cell. Element colours are not enforced:
a prompt that names one colour for its text leaves every other element's
colour free, so forbidding the colours it does not name would be wrong.
A prompt with no such phrase gets no constraint at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from blueprint.data.colors import COLOR_NAMES

_COLOR = "(" + "|".join(COLOR_NAMES + ("grey",)) + ")"
_QUOTED = re.compile(r'"[^"]*"')
# Phrases that state the colour of the whole field behind the design.
_BACKGROUND = [re.compile(p, re.IGNORECASE) for p in (
    r"\b" + _COLOR + r"\s+(?:background|backdrop|wall)\b",
    r"\bbackground\s+(?:is|of)\s+(?:an?\s+)?" + _COLOR + r"\b",
    r"\b(?:with\s+)?" + _COLOR + r"\s+(?:all\s+around|behind)\s+it\b",
    r"\bagainst\s+(?:an?\s+)?" + _COLOR + r"\b",
    # designs that fill the image: their colour is the background's
    r"\ban?\s+" + _COLOR + r"\s+(?:\w+\s+)?(?:poster|page|book\s+cover)\b",
    r"^\s*" + _COLOR + r"\s+(?:\w+\s+)?(?:poster|page|book\s+cover)\b",
    r"\bon\s+" + _COLOR + r"\s*(?:[.,;]|$)",
)]


@dataclass(frozen=True)
class ColorPlan:
    background: str | None  # the colour every background cell must have; None: free

    @property
    def empty(self) -> bool:
        return self.background is None


def read_plan(prompt: str) -> ColorPlan:
    """What `prompt` states about colour, outside its quoted texts."""
    text = _QUOTED.sub('""', prompt)
    found = []
    for pattern in _BACKGROUND:
        found += [m.group(1).lower().replace("grey", "gray") for m in pattern.finditer(text)]
    # two different background colours stated: the prompt is ambiguous, so nothing is enforced
    background = found[0] if found and len(set(found)) == 1 else None
    return ColorPlan(background)


def code_bias(plans: list[ColorPlan], kind: torch.Tensor, bg: torch.Tensor,
              kinds: tuple[str, ...], colors: tuple[str, ...], strength: float,
              forbid: bool = False) -> torch.Tensor | None:
    """(B, codebook) logit bias toward what each plan states, or None where no plan does.

    `kind` and `bg` are the semantic head's reading of every code (indices into
    `kinds` and `colors`). Codes with the stated background colour behind them
    (background cells, and elements standing on the background) gain `strength`;
    with `forbid`, background cells of any other colour are ruled out."""
    if all(p.empty for p in plans):
        return None
    background = kind == kinds.index("background")
    rows = []
    for plan in plans:
        bias = torch.zeros(kind.shape)
        if plan.background is not None:
            behind = bg == colors.index(plan.background)
            bias[behind] = strength
            if forbid and (behind & background).any():
                bias[background & ~behind] = -float("inf")
        rows.append(bias)
    return torch.stack(rows)
