"""Prompt adherence, GenEval style, measured from pixels against the spec.

The spec says what the prompt asked for (which colours, shapes, counts,
positions, bar values). Everything about the image is measured from its
pixels only, never from the engine's element or character maps, so the same
code scores a ground-truth render and a generated image.

Checks (each passes or fails; the image's adherence is the share passed):

- `background`: the most common colour on the image border names the spec's
  background colour.
- `color` (one per text, shape, bar and panel element): the dominant colour
  inside the element's box, not counting the local background, names the
  element's colour (`nearest_color`). A user-style prompt leaves a scene's
  layout to the model, so there the k-th shape of a colour passes if k blobs
  of that colour are found anywhere (`check_shape_colors`). A panel's colour
  is measured on the part of its box no later element covers (a frame under
  its face).
- `count` (one per colour+shape group of a scene): the pixels whose nearest
  palette colour is the group's colour are split into connected components
  (`scipy.ndimage.label`), blobs much smaller than the expected shapes are
  dropped, the rest are classified by geometry (`classify_blob`), and the
  number classified as the group's shape must equal the spec's count.
  Pixels inside the spec's text boxes are left out, so letters are not shapes.
- `position` (one per consecutive pair of colour+shape groups): the mean
  centre of one group's blobs must lie on the side of the other's that the
  spec's boxes imply, along the axis on which the groups are furthest apart
  ("on the left", "above").
- `bar_order` and `bar_ratio` (one each per chart of exact captions; a
  user-style row's are found where the image draws them, by
  `drawn_structure`): each bar's length is measured in its band (vertical
  bars: rows above the baseline; horizontal bars: columns right of the
  shared left edge) as the run of lines mostly of the bar's colour that
  starts at that edge; the order of lengths must match the order of values,
  and every length / longest must be within BAR_RATIO_TOLERANCE of value /
  largest value.

Colour names come from the data engine's palette (`PALETTE`); `palette_index`
is its `nearest_color_index`, `nearest_color` vectorised (checked by a test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from blueprint.data.colors import COLOR_NAMES
from blueprint.data.colors import nearest_color_index as palette_index
from blueprint.data.spec import Element, Spec


# Pixels further than this (RGB distance) from the local background are ink.
# Palette colours are at least ~90 apart, so anti-aliased halos mostly fall below.
INK_DISTANCE = 60.0
# Of the ink pixels, those at least this share of the strongest distance vote
# on the colour: the blended edge pixels of thin strokes name the wrong colour.
STRONG_INK_SHARE = 0.7
# Margin (px) around a box: the ring that gives the local background colour.
RING = 3
# A blob counts as a shape if its area is at least this share of the smallest
# expected shape's area (letters and specks of the same colour are smaller).
MIN_BLOB_SHARE = 0.3
# Geometry thresholds of `classify_blob`.
STAR_MAX_SOLIDITY = 0.8
SQUARE_MIN_FILL = 0.88
CIRCLE_MIN_FILL = 0.66
# Expected share of its box that each shape fills (used for the blob size floor).
SHAPE_FILL = {"circle": 0.785, "square": 1.0, "triangle": 0.5, "star": 0.33}
# A row of a bar's column is bar if this share of its pixels has the bar's colour.
BAR_ROW_SHARE = 0.5
BAR_RATIO_TOLERANCE = 0.1
# This many non-bar lines in a row end a bar.
BAR_GAP = 3
# Two bars whose values differ by less than this share of the largest value
# may come out in either order.
BAR_TIE_SHARE = 0.05


@dataclass
class Check:
    name: str      # background | color | count | position | bar_order | bar_ratio
    target: str    # what the spec asked for, e.g. "text 2 'SALE' is red"
    passed: bool
    measured: str  # what the pixels showed

    def __post_init__(self):
        self.passed = bool(self.passed)  # numpy comparisons give numpy bools, which JSON refuses

    def to_dict(self) -> dict:
        return {"name": self.name, "target": self.target, "passed": self.passed, "measured": self.measured}


def clip_box(box, width: int, height: int, margin: int = 0) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


def local_background(a: np.ndarray, box) -> np.ndarray:
    """Median colour of the ring of RING pixels just outside `box`."""
    h, w = a.shape[:2]
    outer = clip_box(box, w, h, RING)
    inner = clip_box(box, w, h)
    mask = np.zeros((h, w), bool)
    mask[outer[1]:outer[3], outer[0]:outer[2]] = True
    mask[inner[1]:inner[3], inner[0]:inner[2]] = False
    if not mask.any():  # the box covers the whole image
        mask[[0, -1], :] = True
        mask[:, [0, -1]] = True
    return np.median(a[mask], axis=0)


def dominant_color(pixels: np.ndarray) -> str:
    """Most common palette name among some pixels (N, 3)."""
    counts = np.bincount(palette_index(pixels), minlength=len(COLOR_NAMES))
    return COLOR_NAMES[int(counts.argmax())]


def ink_color(a: np.ndarray, box) -> str | None:
    """Dominant colour of the ink inside `box`; None if nothing stands out from the background."""
    h, w = a.shape[:2]
    x0, y0, x1, y1 = clip_box(box, w, h)
    region = a[y0:y1, x0:x1].reshape(-1, 3)
    if region.size == 0:
        return None
    distance = np.linalg.norm(region - local_background(a, box), axis=1)
    ink = distance > INK_DISTANCE
    if not ink.any():
        return None
    strong = distance >= STRONG_INK_SHARE * distance[ink].max()
    return dominant_color(region[ink & strong])


def uncovered(a: np.ndarray, element: Element, later: list[Element]) -> np.ndarray:
    """(H, W) bool: the part of an element's box that no later element's box covers.

    Elements are drawn in id order, so a frame's box is mostly covered by the
    face drawn on it; only the uncovered part shows the frame itself.
    """
    h, w = a.shape[:2]
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = clip_box(element.box, w, h)
    mask[y0:y1, x0:x1] = True
    for e in later:
        ex0, ey0, ex1, ey1 = clip_box(e.box, w, h)
        mask[ey0:ey1, ex0:ex1] = False
    return mask


def panel_color(a: np.ndarray, panel: Element, later: list[Element]) -> str | None:
    """Dominant colour of the part of a panel that later elements leave uncovered."""
    mask = uncovered(a, panel, later)
    return dominant_color(a[mask]) if mask.any() else None


def check_color(a: np.ndarray, element: Element, later: list[Element]) -> Check | None:
    """Colour check of one element; None for a panel wholly covered by later elements."""
    label = f"{element.kind} {element.id}" + (f" {element.text!r}" if element.text else "")
    if element.kind == "panel" and element.role != "arrow":  # an arrow is a stroke: measured as ink
        found = panel_color(a, element, later)
        if found is None:
            return None
    else:
        found = ink_color(a, element.box)
    return Check("color", f"{label} is {element.color}", found == element.color, found or "no ink")


def check_background(a: np.ndarray, spec: Spec) -> Check:
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    found = dominant_color(border)
    return Check("background", f"background is {spec.background}", found == spec.background, found)


def classify_blob(mask: np.ndarray) -> str:
    """circle / square / triangle / star from a blob's fill of its bounding box and its solidity."""
    ys, xs = np.nonzero(mask)
    area = len(xs)
    fill = area / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    try:
        # Pixel corners, so a 1-pixel-wide blob still has a 2-D hull.
        points = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
        solidity = area / ConvexHull(points).volume  # in 2-D, .volume is the area
    except QhullError:
        solidity = 1.0
    if solidity < STAR_MAX_SOLIDITY:
        return "star"
    if fill >= SQUARE_MIN_FILL:
        return "square"
    if fill >= CIRCLE_MIN_FILL:
        return "circle"
    return "triangle"


@dataclass
class Blob:
    color: str
    shape: str
    area: int
    centroid: tuple[float, float]  # x, y


def find_blobs(index: np.ndarray, color: str, min_area: float, ignore: np.ndarray) -> list[Blob]:
    """Connected regions of `color` (in a `palette_index` map) at least `min_area` pixels large.

    Pixels where `ignore` is set are left out: the boxes of the spec's texts,
    whose letters (an "I", an "O") would otherwise count as squares and rings.
    """
    mask = (index == COLOR_NAMES.index(color)) & ~ignore
    labels, n = ndimage.label(mask)
    blobs = []
    for i, region in enumerate(ndimage.find_objects(labels), 1):
        blob = labels[region] == i
        area = int(blob.sum())
        if area < min_area:
            continue
        cy, cx = ndimage.center_of_mass(blob)
        centroid = (cx + region[1].start, cy + region[0].start)
        blobs.append(Blob(color, classify_blob(blob), area, centroid))
    return blobs


def _expected_area(e: Element) -> float:
    x0, y0, x1, y1 = e.box
    return (x1 - x0) * (y1 - y0) * SHAPE_FILL[e.shape]


def text_mask(shape: tuple[int, int], texts: list[Element]) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), bool)
    for e in texts:
        x0, y0, x1, y1 = clip_box(e.box, w, h, RING)
        mask[y0:y1, x0:x1] = True
    return mask


def blobs_by_color(index: np.ndarray, shapes: list[Element], texts: list[Element]) -> dict[str, list[Blob]]:
    """{colour: its blobs} for each colour of the spec's shapes, outside the spec's texts."""
    ignore = text_mask(index.shape, texts)
    blobs: dict[str, list[Blob]] = {}
    for color in dict.fromkeys(e.color for e in shapes):
        smallest = min(_expected_area(e) for e in shapes if e.color == color)
        blobs[color] = find_blobs(index, color, MIN_BLOB_SHARE * smallest, ignore)
    return blobs


def check_shape_colors(index: np.ndarray, shapes: list[Element], texts: list[Element]) -> list[Check]:
    """`color` per shape where the prompt leaves the layout to the model: the k-th shape of a
    colour is there if k blobs of that colour are, anywhere, of any geometry (`count` asks for
    the geometry too)."""
    blobs = blobs_by_color(index, shapes, texts)
    checks, seen = [], {}
    for e in shapes:
        seen[e.color] = seen.get(e.color, 0) + 1
        n = len(blobs[e.color])
        checks.append(Check("color", f"shape {e.id} is {e.color}", n >= seen[e.color], f"{n} {e.color} blobs"))
    return checks


def check_shapes(index: np.ndarray, shapes: list[Element], texts: list[Element]) -> list[Check]:
    """`count` per colour+shape group, `position` per consecutive pair of groups."""
    blobs = blobs_by_color(index, shapes, texts)
    groups: dict[tuple[str, str], list[Element]] = {}
    for e in shapes:
        groups.setdefault((e.color, e.shape), []).append(e)
    found = {key: [b for b in blobs[key[0]] if b.shape == key[1]] for key in groups}
    checks = []
    for (color, shape), members in groups.items():
        n = len(found[(color, shape)])
        checks.append(Check("count", f"{len(members)} {color} {shape}", n == len(members), f"{n} found"))
    keys = list(groups)
    for first, second in zip(keys, keys[1:]):
        checks.append(_check_position(first, second, groups, found))
    return checks


def _mean_point(points) -> tuple[float, float]:
    points = list(points)
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _check_position(first, second, groups, found) -> Check:
    """Group `first` must be on the same side of group `second` as in the spec.

    Sides are compared by mean centre, along the axis on which the spec's two
    groups are furthest apart (the caption says "on the left", "above").
    """
    ax, ay = _mean_point(((e.box[0] + e.box[2]) / 2, (e.box[1] + e.box[3]) / 2) for e in groups[first])
    bx, by = _mean_point(((e.box[0] + e.box[2]) / 2, (e.box[1] + e.box[3]) / 2) for e in groups[second])
    horizontal = abs(bx - ax) >= abs(by - ay)
    delta = (bx - ax) if horizontal else (by - ay)
    relation = ("left of" if delta > 0 else "right of") if horizontal else ("above" if delta > 0 else "below")
    target = f"{' '.join(first)}s {relation} {' '.join(second)}s"
    if not found[first] or not found[second]:
        return Check("position", target, False, "a group was not found")
    pa = _mean_point(b.centroid for b in found[first])
    pb = _mean_point(b.centroid for b in found[second])
    axis = 0 if horizontal else 1
    offset = pb[axis] - pa[axis]
    return Check("position", target, offset * delta > 0, f"offset {offset:+.0f} px")


def is_horizontal(bars: list[Element]) -> bool:
    """Horizontal charts' bars share their left edge; vertical charts' bars their bottom."""
    return len({b.box[0] for b in bars}) == 1 and len({b.box[3] for b in bars}) > 1


def bar_length(index: np.ndarray, bar: Element, start: int, horizontal: bool) -> int:
    """Length of a bar measured in its band (the inner 60 % of its thickness).

    Lines of the band (rows for vertical bars, columns for horizontal ones)
    in which most pixels have the bar's colour are bar lines. The length is
    the run of bar lines that begins near the shared edge `start` and ends at
    the first BAR_GAP non-bar lines, so text of the bar's colour further along
    the band (a title above the bars) does not count.
    """
    x0, y0, x1, y1 = bar.box
    if horizontal:
        inset = (y1 - y0) // 5
        band = index[y0 + inset:max(y1 - inset, y0 + inset + 1), start:].T
    else:
        inset = (x1 - x0) // 5
        band = index[:start, x0 + inset:max(x1 - inset, x0 + inset + 1)][::-1]  # from the baseline up
    if band.size == 0:
        return 0
    lines = (band == COLOR_NAMES.index(bar.color)).mean(axis=1) >= BAR_ROW_SHARE
    first = np.flatnonzero(lines[:2 * RING + 2])
    if len(first) == 0:
        return 0
    length, gap = 0, 0
    for i in range(first[0], len(lines)):
        if lines[i]:
            length, gap = i - first[0] + 1, 0
        else:
            gap += 1
            if gap >= BAR_GAP:
                break
    return length


def check_bars(index: np.ndarray, bars: list[Element]) -> list[Check]:
    # Bars grow from one shared edge; measure from just beyond it (RING pixels)
    # so a generated bar that starts a little off is still measured whole.
    horizontal = is_horizontal(bars)
    if horizontal:
        start = max(0, bars[0].box[0] - RING)
    else:
        start = min(index.shape[0], max(b.box[3] for b in bars) + RING)
    lengths = [bar_length(index, b, start, horizontal) for b in bars]
    return length_checks(lengths, [float(b.value) for b in bars])


def length_checks(lengths: list[int], values: list[float]) -> list[Check]:
    """`bar_order` and `bar_ratio` of bars measured `lengths` long that stand for `values`."""
    measured = "lengths " + " ".join(str(n) for n in lengths)
    tie = BAR_TIE_SHARE * max(max(values), 1e-9)
    order_ok = all(
        (lengths[i] - lengths[j]) * (values[i] - values[j]) > 0
        for i in range(len(values)) for j in range(i + 1, len(values))
        if abs(values[i] - values[j]) > tie
    )
    checks = [Check("bar_order", "bar lengths in the order of values " + " ".join(f"{v:g}" for v in values),
                    order_ok, measured)]

    longest, largest = max(lengths), max(values)
    ratio_ok = longest > 0 and largest > 0 and all(
        abs(n / longest - v / largest) <= BAR_RATIO_TOLERANCE for n, v in zip(lengths, values)
    )
    checks.append(Check("bar_ratio", f"bar lengths in proportion to values (within {BAR_RATIO_TOLERANCE})",
                        ratio_ok, measured))
    return checks


def check_adherence(image: Image.Image, spec: Spec) -> list[Check]:
    """All checks the spec implies, measured on `image` (which must have the spec's size)."""
    if image.size != (spec.width, spec.height):
        raise ValueError(f"image is {image.size}, spec is {(spec.width, spec.height)}")
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    # A user-style prompt states only some attributes (spec.stated): check only those.
    stated = spec.stated
    checks = [check_background(a, spec)] if stated is None or "background" in stated else []
    colored = None if stated is None else set(stated.get("colors", {}))
    for i, e in enumerate(spec.elements):
        if colored is not None and (str(e.id) not in colored or e.kind == "shape"):
            continue  # a user-style row's shapes may be anywhere: their colours are found below
        check = check_color(a, e, spec.elements[i + 1:])
        if check is not None:
            checks.append(check)
    shapes = [e for e in spec.elements if e.kind == "shape" and (stated is None or stated.get("shapes"))]
    tinted = [e for e in spec.elements if e.kind == "shape" and colored is not None and str(e.id) in colored]
    # a user-style row's bars are measured where the image draws them (`drawn_structure`)
    bars = [e for e in spec.elements if e.kind == "bar" and stated is None]
    if shapes or tinted or len(bars) >= 2:
        index = palette_index(a)
        texts = [e for e in spec.elements if e.kind == "text"]
        if tinted:
            checks += check_shape_colors(index, tinted, texts)
        if shapes:
            found = check_shapes(index, shapes, texts)
            checks += [c for c in found if c.name != "position" or stated is None or stated.get("positions")]
        if len(bars) >= 2:
            checks += check_bars(index, bars)
    return checks


def adherence_score(checks: list[Check]) -> float | None:
    return sum(c.passed for c in checks) / len(checks) if checks else None
