"""Per-kind structure checks and material checks, measured from pixels against the spec.

Like `adherence`, the spec's boxes say where to look and the pixels say what
is there (never the engine's maps), so a ground-truth render and a generated
image are scored by the same code. Checks (each passes or fails):

- `structure` (one per design of a kind that has one):
  chart: one run of bar colour per labelled value along the baseline, in label order;
  menu, chalkboard: every item has ink with its price on the same row, right of it, rows top to bottom;
  infographic: every stage's node shows its colour and every arrow's line joins them in order;
  book: the title's ink sits above the author's;
  wallsign: wall colour on all four sides of the board, the board's own colour inside;
  whiteboard: every note has ink, notes top to bottom.
- `material` (one per textured surface, or per stated one): the uncovered part of
  its box names the material's colour and is not flat (a texture, not paint).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from blueprint.data.colors import COLOR_NAMES
from blueprint.data.render import arrow_points, arrow_width
from blueprint.data.spec import Element, Spec
from blueprint.eval.adherence import (INK_DISTANCE, Check, clip_box, dominant_color, local_background,
                                      palette_index, panel_color, uncovered)

# A textured surface's luminance varies at least this much (std, 0..255).
MIN_TEXTURE_STD = 1.5
# Share of an arrow's centre line that must show the arrow's colour.
ARROW_LINE_SHARE = 0.6


def ink_extent(a: np.ndarray, box):
    """(x0, y0, x1, y1) of the ink inside box (pixels far from the local background), or None."""
    h, w = a.shape[:2]
    x0, y0, x1, y1 = clip_box(box, w, h, 2)
    region = a[y0:y1, x0:x1]
    ink = np.linalg.norm(region - local_background(a, box), axis=2) > INK_DISTANCE
    if not ink.any():
        return None
    ys, xs = np.nonzero(ink)
    return x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1


def texts(spec: Spec, *roles: str) -> list[Element]:
    return [e for e in spec.elements if e.kind == "text" and e.role in roles]


def check_rows(a, spec: Spec) -> Check:
    items, prices = texts(spec, "item"), texts(spec, "price")
    last_y, problems = -1.0, []
    for i, (name, price) in enumerate(zip(items, prices)):
        n, p = ink_extent(a, name.box), ink_extent(a, price.box)
        if n is None or p is None:
            problems.append(f"row {i + 1} has no {'name' if n is None else 'price'}")
            continue
        if not (n[1] < p[3] and p[1] < n[3]) or p[0] < n[2]:
            problems.append(f"row {i + 1}: price not on the name's row, right of it")
        centre = (n[1] + n[3]) / 2
        if centre <= last_y:
            problems.append(f"row {i + 1} out of order")
        last_y = centre
    return Check("structure", f"{len(items)} rows of item + price, top to bottom", not problems,
                 "; ".join(problems) or "ok")


def check_bar_runs(index: np.ndarray, spec: Spec) -> Check:
    bars = [e for e in spec.elements if e.kind == "bar"]
    labels = texts(spec, "bar_label")
    horizontal = len({b.box[0] for b in bars}) == 1 and len({b.box[3] for b in bars}) > 1
    colours = [COLOR_NAMES.index(c) for c in {b.color for b in bars}]
    if horizontal:  # the column just right of the shared left edge, over the plot
        x = bars[0].box[0] + 1
        line = index[min(b.box[1] for b in bars):max(b.box[3] for b in bars), x]
        offset, centres = min(b.box[1] for b in bars), [(lb.box[1] + lb.box[3]) / 2 for lb in labels]
    else:  # the row just above the baseline, across the plot
        y = max(b.box[3] for b in bars) - 2
        line = index[y, min(b.box[0] for b in bars):max(b.box[2] for b in bars)]
        offset, centres = min(b.box[0] for b in bars), [(lb.box[0] + lb.box[2]) / 2 for lb in labels]
    on = np.isin(line, colours).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on, [0]])))
    runs = [(offset + s + offset + e) / 2 for s, e in zip(edges[::2], edges[1::2])]
    ok = len(runs) == len(labels) and all(
        int(np.argmin([abs(r - c) for c in centres])) == i for i, r in enumerate(runs))
    return Check("structure", f"one bar per label ({len(labels)}), in label order", ok, f"{len(runs)} bars")


def arrow_line(box, shape: str, t: int):
    """Centre line (start, end) of an arrow panel, as `render.arrow_points` draws it."""
    points = arrow_points(box, shape, t)
    start = ((points[0][0] + points[-1][0]) / 2, (points[0][1] + points[-1][1]) / 2)
    return start, points[3]


def check_stages(a, index, spec: Spec) -> Check:
    nodes = [e for e in spec.elements if e.role == "node"]
    arrows = [e for e in spec.elements if e.role == "arrow"]
    later = [e for e in spec.elements if e.kind == "text"]
    problems = [f"node {i + 1}" for i, n in enumerate(nodes) if panel_color(a, n, later) != n.color]
    t = arrow_width(spec.width, spec.height)
    for i, arrow in enumerate(arrows):
        (sx, sy), (ex, ey) = arrow_line(arrow.box, arrow.shape, t)
        steps = np.linspace(0.0, 0.8, 24)  # short of the head's tip
        xs = np.clip(np.round(sx + (ex - sx) * steps).astype(int), 0, spec.width - 1)
        ys = np.clip(np.round(sy + (ey - sy) * steps).astype(int), 0, spec.height - 1)
        if (index[ys, xs] == COLOR_NAMES.index(arrow.color)).mean() < ARROW_LINE_SHARE:
            problems.append(f"arrow {i + 1}")
    return Check("structure", f"{len(nodes)} stages joined in order by {len(arrows)} arrows", not problems,
                 "missing: " + ", ".join(problems) if problems else "ok")


def check_above(a, spec: Spec, upper: str, lower: str) -> Check:
    u, l_ = texts(spec, upper), texts(spec, lower)
    eu, el = (ink_extent(a, u[0].box) if u else None), (ink_extent(a, l_[0].box) if l_ else None)
    ok = eu is not None and el is not None and eu[3] <= el[1] + 2
    return Check("structure", f"{upper} above {lower}", ok, "ok" if ok else "not found above")


def check_in_order(a, spec: Spec, role: str) -> Check:
    extents = [ink_extent(a, e.box) for e in texts(spec, role)]
    centres = [(x[1] + x[3]) / 2 for x in extents if x is not None]
    ok = len(centres) == len(extents) and all(p < q for p, q in zip(centres, centres[1:]))
    return Check("structure", f"{len(extents)} {role}s, top to bottom", ok, f"{len(centres)} with ink")


def check_wall(a, spec: Spec) -> Check:
    wall = spec.elements[0]
    board = next(e for e in spec.elements if e.role == "board")
    h, w = a.shape[:2]
    d = max(3, min(w, h) // 40)
    x0, y0, x1, y1 = board.box
    sides = {"left": a[y0:y1, max(0, x0 - d):x0], "right": a[y0:y1, x1:x1 + d],
             "above": a[max(0, y0 - d):y0, x0:x1], "below": a[y1:y1 + d, x0:x1]}
    found = {k: dominant_color(v.reshape(-1, 3)) if v.size else "edge" for k, v in sides.items()}
    inside = panel_color(a, board, [e for e in spec.elements if e.kind == "text"])
    ok = all(v == wall.color for v in found.values()) and inside == board.color
    return Check("structure", f"{wall.color} wall around a {board.color} sign", ok,
                 f"sides {', '.join(f'{k} {v}' for k, v in found.items())}; sign {inside}")


def check_material(a, e: Element, later: list[Element]) -> Check:
    mask = uncovered(a, e, later)
    if mask.sum() < 16:
        return Check("material", f"{e.role} {e.id} is {e.material}", True, "covered")
    pixels = a[mask]
    color = dominant_color(pixels)
    std = float((pixels @ np.array([0.299, 0.587, 0.114], np.float32)).std())
    ok = color == e.color and std >= MIN_TEXTURE_STD
    return Check("material", f"{e.role} {e.id} is {e.material} ({e.color}, textured)", ok,
                 f"{color}, std {std:.1f}")


def check_structure(image: Image.Image, spec: Spec) -> list[Check]:
    """The structure check of the spec's kind (if any) and its material checks."""
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    checks = []
    kind = spec.kind
    if kind in ("menu", "chalkboard") and texts(spec, "item"):
        checks.append(check_rows(a, spec))
    elif kind == "chart" and texts(spec, "bar_label"):
        checks.append(check_bar_runs(palette_index(a), spec))
    elif kind == "infographic":
        checks.append(check_stages(a, palette_index(a), spec))
    elif kind == "book":
        checks.append(check_above(a, spec, "title", "author"))
    elif kind == "wallsign":
        checks.append(check_wall(a, spec))
    elif kind == "whiteboard":
        checks.append(check_in_order(a, spec, "note"))
    stated = None if spec.stated is None else spec.stated.get("materials", {})
    for i, e in enumerate(spec.elements):
        if e.material and (stated is None or str(e.id) in stated):
            checks.append(check_material(a, e, spec.elements[i + 1:]))
    return checks
