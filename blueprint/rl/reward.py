"""Semantic-alignment reward of a sampled token grid, read from the tokens alone.

The AR prior writes semantic tokens; the image tokenizer's semantic head says,
per token, what its 32-px cell holds (element kind, foreground and background
colour, which 8-px sub-cells hold characters). This module turns a sampled
full grid into those cells (`CodeTable`, a lookup of the head's answer for
every code, since the head reads one code at a time) and compares them with
the prompt's spec (`token_reward`). It is the low-frequency, AR-side reward of
GLM-Image's decoupled GRPO: no decoder runs, so it costs almost nothing.

What it must not do is reward the training sample's exact layout: the prompt
does not state boxes, so any layout that says what the prompt says scores 1.
Every check therefore compares *relations* (which kinds and colours appear,
how many shapes, which side of which, which bar is longer, how many text
lines, their colours in reading order) and never a box. Each check scores in
[0, 1]; the reward is their mean.

- `background`: the most common colour of the background cells; where a
  design covers every cell (a framed plaque), some cell must have it behind.
- `color` (one per distinct kind + colour of the spec's elements): some cell
  of that kind has that foreground colour. Panels that leave less than one
  cell's area uncovered by later elements (rules, axes, a tag's hole) are not
  asked for: a 32-px cell cannot show them.
- `extra`: the share of non-background cells whose kind + colour the spec
  asks for (so painting every colour everywhere does not pass the above).
- `text_lines`: one text line per quoted text (lines are runs of inked
  sub-cells, joined across one-sub-cell gaps in a row, as the glyph layer
  finds them); min/max of the two counts.
- `text_colors`: the k-th line in reading order has the k-th text's colour.
- `count` (one per shape colour): connected groups of that colour's shape
  cells; the head has no shape class, so shapes are counted by colour.
- `position` (one per consecutive pair of shape colours): the centroid of one
  colour's shape cells lies on the side of the other's that the spec's
  boxes imply, along the axis on which they are furthest apart.
- `bar_order`: bar cells per column (vertical chart) or row (horizontal),
  against the value of the bar at that relative place in the bars' span:
  their correlation must exceed BAR_CORRELATION (cells are too coarse to
  tell neighbouring bars apart, so bars are not matched one by one).

User-style prompts (`spec.stated`) are checked only on what they state.

`cell_scores` is the per-cell part of the same comparison, for credit within a
grid (`blueprint rl --cell-credit`): whether each cell's colour is one the
prompt gives an element of that cell's kind. It says nothing of the kind
itself (whether a cell should be text or background is a question of layout,
which only the whole-grid checks may judge).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from blueprint.data.spec import Element, Spec
from blueprint.errors import BlueprintError
from blueprint.models.glyph_layer import INK_PROBABILITY, reading_order
from blueprint.models.image_tokenizer import CHAR_SUBGRID, SemanticHead, SemanticVocab, codebook_readings
from blueprint.sizes import PX_PER_TOKEN

# Correlation of bar cells with values from which the bars are in order.
BAR_CORRELATION = 0.5
# The share of foreground cells that may carry a kind + colour the spec does not
# ask for before `extra` drops below 1 (the head's border cells are not exact).
EXTRA_SLACK = 0.1
# Values this close (smallest / largest) are bars of about one length at cell resolution.
NEAR_EQUAL = 0.8
JOIN_LINES = True
SUB = PX_PER_TOKEN // CHAR_SUBGRID  # px per ink sub-cell


@dataclass
class Cells:
    """What the semantic head says of each cell of one grid (indices into its vocab)."""

    kind: np.ndarray  # (gh, gw) int
    fg: np.ndarray    # (gh, gw) int
    bg: np.ndarray    # (gh, gw) int
    ink: np.ndarray   # (gh, gw, S*S) bool, sub-cells row-major

    @classmethod
    def from_targets(cls, targets: dict) -> "Cells":
        """From per-cell classes (`blueprint.train.semantic_targets.cell_targets`): the exact answer."""
        return cls(targets["kind"], targets["fg"], targets["bg"], targets["ink"].astype(bool))


class CodeTable:
    """The semantic head's answer for every code of the codebook, looked up by id.

    The head reads a code's unit-normalised codebook vector, as the tokenizer
    hands it over in training (`blueprint.models.glyph_layer.text_presence`)."""

    def __init__(self, kind: np.ndarray, fg: np.ndarray, bg: np.ndarray, ink: np.ndarray):
        self.kind, self.fg, self.bg, self.ink = kind, fg, bg, ink

    @classmethod
    def from_model(cls, vle, head: SemanticHead) -> "CodeTable":
        out = codebook_readings(vle, head)
        kind, fg, bg = (out[k].argmax(-1).numpy() for k in ("kind", "fg", "bg"))
        ink = (out["ink"].softmax(-1)[..., 1] > INK_PROBABILITY).numpy()
        return cls(kind, fg, bg, ink)

    def cells(self, ids, grid_h: int, grid_w: int) -> Cells:
        ids = np.asarray(ids.cpu() if torch.is_tensor(ids) else ids).reshape(grid_h, grid_w)
        if ids.min() < 0 or ids.max() >= len(self.kind):
            raise BlueprintError(f"token ids must lie in [0, {len(self.kind)})")
        return Cells(self.kind[ids], self.fg[ids], self.bg[ids], self.ink[ids])


@dataclass
class RewardCheck:
    name: str      # background | color | extra | text_lines | text_colors | count | position | bar_order
    target: str    # what the spec asks for
    score: float   # in [0, 1]
    measured: str  # what the cells show

    def to_dict(self) -> dict:
        return {"name": self.name, "target": self.target, "score": round(self.score, 4), "measured": self.measured}


@dataclass
class Reward:
    score: float
    checks: list[RewardCheck] = field(default_factory=list)

    def by_name(self) -> dict[str, float]:
        """Mean score per check name (for logs)."""
        names: dict[str, list[float]] = {}
        for c in self.checks:
            names.setdefault(c.name, []).append(c.score)
        return {k: float(np.mean(v)) for k, v in names.items()}


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _mode(values) -> int | None:
    values = list(np.asarray(values).ravel())
    return Counter(values).most_common(1)[0][0] if values else None


def _name(names: tuple[str, ...], index) -> str:
    return "none" if index is None else names[int(index)]


def visible_area(element: Element, later: list[Element]) -> int:
    """Pixels of an element's box that no later element's box covers, in the spec's own
    design: it decides which panels are asked for at all, never where they must be."""
    x0, y0, x1, y1 = element.box
    free = np.ones((y1 - y0, x1 - x0), bool)
    for e in later:
        free[max(0, e.box[1] - y0):max(0, e.box[3] - y0), max(0, e.box[0] - x0):max(0, e.box[2] - x0)] = False
    return int(free.sum())


def text_lines(cells: Cells, joined: bool = True) -> list[list[int]]:
    """Pixel boxes [x0, y0, x1, y1] of the text lines, in reading order.

    `joined`: runs are joined across one-sub-cell gaps in a row, as the glyph layer
    does; without it, only touching sub-cells make one line."""
    gh, gw, _ = cells.ink.shape
    S = CHAR_SUBGRID
    presence = cells.ink.reshape(gh, gw, S, S).transpose(0, 2, 1, 3).reshape(gh * S, gw * S)
    if joined:
        presence = ndimage.binary_closing(presence, structure=np.ones((1, 3), bool)) | presence
    labels, _ = ndimage.label(presence)
    boxes = [[xs.start * SUB, ys.start * SUB, xs.stop * SUB, ys.stop * SUB] for ys, xs in ndimage.find_objects(labels)]
    return reading_order(boxes)


def _line_color(cells: Cells, box, text_kind: int) -> int | None:
    """Majority foreground of the text cells under a line (any cells if none are text)."""
    y0, y1 = box[1] // PX_PER_TOKEN, -(-box[3] // PX_PER_TOKEN)
    x0, x1 = box[0] // PX_PER_TOKEN, -(-box[2] // PX_PER_TOKEN)
    kind, fg = cells.kind[y0:y1, x0:x1], cells.fg[y0:y1, x0:x1]
    return _mode(fg[kind == text_kind] if (kind == text_kind).any() else fg)


def _check_texts(cells: Cells, texts: list[Element], vocab: SemanticVocab, joined: bool) -> list[RewardCheck]:
    lines = text_lines(cells, joined)
    n, m = len(texts), len(lines)
    checks = [RewardCheck("text_lines", f"{n} text lines", min(n, m) / max(n, m), f"{m} lines")]
    kind = vocab.kinds.index("text")
    found = [_name(vocab.colors, _line_color(cells, b, kind)) for b in lines]
    wanted = [t.color for t in texts]
    if m == n:  # lines and texts pair up in reading order
        right = sum(f == w for f, w in zip(found, wanted))
    else:       # they do not: compare the colours as multisets
        right = sum((Counter(found) & Counter(wanted)).values())
    checks.append(RewardCheck("text_colors", "line colours " + " ".join(wanted), right / max(n, m),
                              " ".join(found) or "no lines"))
    return checks


def max_cells(e: Element) -> int:
    """The most cells a shape of this size can touch, wherever it stands."""
    return (-(-(e.box[2] - e.box[0]) // PX_PER_TOKEN) + 1) * (-(-(e.box[3] - e.box[1]) // PX_PER_TOKEN) + 1)


def _check_shapes(cells: Cells, shapes: list[Element], vocab: SemanticVocab, positions: bool) -> list[RewardCheck]:
    kind = vocab.kinds.index("shape")
    groups: dict[str, list[Element]] = {}
    for e in shapes:
        groups.setdefault(e.color, []).append(e)
    masks = {c: (cells.kind == kind) & (cells.fg == vocab.colors.index(c)) for c in groups}
    checks = []
    for color, members in groups.items():
        # Shapes closer than a cell share cells, so the groups of cells may be fewer than
        # the shapes; there may not be more, and each shape needs between 1 and `max_cells`.
        _, blobs = ndimage.label(masks[color])  # 4-connected groups of cells
        n, area = len(members), int(masks[color].sum())
        ok = 1 <= blobs <= n <= area <= sum(max_cells(e) for e in members)
        checks.append(RewardCheck("count", f"{n} {color} shapes", float(ok), f"{blobs} groups, {area} cells"))
    if not positions:
        return checks
    colors = list(groups)
    for first, second in zip(colors, colors[1:]):
        a = np.mean([_centre(e.box) for e in groups[first]], axis=0)
        b = np.mean([_centre(e.box) for e in groups[second]], axis=0)
        axis = 0 if abs(b[0] - a[0]) >= abs(b[1] - a[1]) else 1
        want = b[axis] - a[axis]
        relation = ("left of" if want > 0 else "right of") if axis == 0 else ("above" if want > 0 else "below")
        target = f"{first} shapes {relation} {second} shapes"
        if not masks[first].any() or not masks[second].any():
            checks.append(RewardCheck("position", target, 0.0, "a colour is missing"))
            continue
        # centroids in (x, y) cell units
        pa = np.argwhere(masks[first]).mean(0)[::-1]
        pb = np.argwhere(masks[second]).mean(0)[::-1]
        got = pb[axis] - pa[axis]
        checks.append(RewardCheck("position", target, float(got * want > 0), f"offset {got:+.2f} cells"))
    return checks


def _check_bars(cells: Cells, bars: list[Element], vocab: SemanticVocab) -> RewardCheck:
    # Horizontal charts' bars share their left edge (as in blueprint.eval.adherence.is_horizontal).
    horizontal = len({b.box[0] for b in bars}) == 1 and len({b.box[3] for b in bars}) > 1
    mask = cells.kind == vocab.kinds.index("bar")
    # bars are listed in the order they stand (left to right, or top to bottom)
    profile = mask.sum(1) if horizontal else mask.sum(0)
    values = [float(b.value) for b in bars]
    target = "bar cells follow the values " + " ".join(f"{v:g}" for v in values)
    span = np.flatnonzero(profile)
    if len(span) < 2:
        return RewardCheck("bar_order", target, 0.0, f"bars in {len(span)} lines")
    # each line's place in the bars' span says which bar it is; empty lines are gaps between bars
    places = (span - span[0] + 0.5) / (span[-1] - span[0] + 1)
    heights = profile[span].astype(float)
    expected = np.array([values[min(int(p * len(values)), len(values) - 1)] for p in places])
    measured = "cells " + " ".join(str(int(h)) for h in heights)
    if min(values) >= NEAR_EQUAL * max(values):
        # bars this close differ by less than a cell: lines of one length are right
        return RewardCheck("bar_order", target, float(np.ptp(heights) <= 1), measured)
    corr = 0.0 if heights.std() == 0 or expected.std() == 0 else float(np.corrcoef(heights, expected)[0, 1])
    return RewardCheck("bar_order", target, float(corr > BAR_CORRELATION), measured + f" (r {corr:+.2f})")


def _check_background(cells: Cells, spec: Spec, vocab: SemanticVocab) -> RewardCheck:
    target = f"background {spec.background}"
    empty = cells.kind == 0
    if empty.any():
        got = _name(vocab.colors, _mode(cells.bg[empty]))
        return RewardCheck("background", target, float(got == spec.background), got)
    # A design that covers every cell (a framed plaque) shows its background only
    # behind its panels: it must be behind some cell.
    seen = bool((cells.bg == vocab.colors.index(spec.background)).any())
    return RewardCheck("background", target, float(seen), "behind panels" if seen else "not behind any cell")


def cell_scores(cells: Cells, spec: Spec, vocab: SemanticVocab) -> np.ndarray:
    """(gh, gw) float: 1 where a cell's colour is one the prompt gives its kind (the
    background colour for background cells, an element's colour for a cell of that
    element's kind), 0 where it is another, NaN where the prompt states no colour for
    its kind (a kind it does not ask for, or a user prompt that leaves colours out)."""
    stated = spec.stated
    colored = None if stated is None else set(stated.get("colors", {}))
    allowed: dict[int, set[int]] = {}
    if stated is None or "background" in stated:
        allowed[0] = {vocab.colors.index(spec.background)}
    for e in spec.elements:
        if colored is None or str(e.id) in colored:
            allowed.setdefault(vocab.kinds.index(e.kind), set()).add(vocab.colors.index(e.color))
    scores = np.full(cells.kind.shape, np.nan)
    for kind, colors in allowed.items():
        here = cells.kind == kind
        color = cells.bg if kind == 0 else cells.fg
        scores[here] = np.isin(color[here], list(colors))
    return scores


def token_reward(cells: Cells, spec: Spec, vocab: SemanticVocab) -> Reward:
    """The reward of one grid's cells against the spec of its prompt (see the module docstring)."""
    gh, gw = cells.kind.shape
    if (gw * PX_PER_TOKEN, gh * PX_PER_TOKEN) != (spec.width, spec.height):
        raise BlueprintError(f"a {gw}x{gh} grid is not a {spec.width}x{spec.height} spec's")
    stated = spec.stated
    checks = []
    if stated is None or "background" in stated:
        checks.append(_check_background(cells, spec, vocab))

    colored = None if stated is None else set(stated.get("colors", {}))
    elements = [e for i, e in enumerate(spec.elements) if (colored is None or str(e.id) in colored)
                and (e.kind != "panel" or visible_area(e, spec.elements[i + 1:]) >= PX_PER_TOKEN ** 2)]
    wanted = dict.fromkeys((e.kind, e.color) for e in elements)
    for kind, color in wanted:
        hit = (cells.kind == vocab.kinds.index(kind)) & (cells.fg == vocab.colors.index(color))
        checks.append(RewardCheck("color", f"a {color} {kind}", float(hit.any()), f"{int(hit.sum())} cells"))
    foreground = cells.kind != 0
    if wanted and stated is None:
        asked = {(vocab.kinds.index(e.kind), vocab.colors.index(e.color)) for e in spec.elements}
        pairs = list(zip(cells.kind[foreground].tolist(), cells.fg[foreground].tolist()))
        share = sum(p in asked for p in pairs) / len(pairs) if pairs else 0.0
        checks.append(RewardCheck("extra", "only the asked kinds and colours", min(1.0, share / (1 - EXTRA_SLACK)),
                                  f"{share:.2f} of {len(pairs)} cells asked for"))

    texts = [e for e in spec.elements if e.kind == "text"]
    if texts and (stated is None or "texts" in stated):
        checks += _check_texts(cells, texts, vocab, JOIN_LINES)
    shapes = [e for e in spec.elements if e.kind == "shape"]
    if shapes and (stated is None or stated.get("shapes")):
        checks += _check_shapes(cells, shapes, vocab, positions=stated is None or bool(stated.get("positions")))
    bars = [e for e in spec.elements if e.kind == "bar"]
    if len(bars) >= 2 and (stated is None or "values" in stated):
        checks.append(_check_bars(cells, bars, vocab))
    score = float(np.mean([c.score for c in checks])) if checks else 0.0
    return Reward(score, checks)
