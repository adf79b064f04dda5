"""Per-kind structure checks that look for each part where the image drew it.

A user-style prompt ("A book cover with the title "X" and the author name
"Y"") states the parts of a design, not where they go, so a generated image
may place them anywhere. These checks find each quoted text through the
harness's OCR reading of the whole image (the words and their line boxes)
and then ask what the kind needs of the parts, relative to each other:

- book: the title's line sits above the author's;
- whiteboard: every note is read, notes top to bottom in the prompt's order;
- menu, chalkboard: every item and its price are read on one row, the price
  right of the item, rows top to bottom in the prompt's order;
- chart: every bar label is read, labels in the prompt's order along one axis,
  and a bar beside each: for labels in a row, one run of bar colour per label
  just above them, nearest its own label; for labels in a column, a run
  starting under each label or right of it;
- infographic: every stage is read, and the straight path from each stage to
  the next crosses ink of a colour that is neither the page's nor a node's
  (an arrow);
- wallsign: the sign's text lies on a board whose colour stops on all four
  sides before the image edge (walking out from the text's centre lines), and
  past each of those ends lies one same other colour, the wall.

A part that is not read fails its check: a structure that cannot be read is
not one a user sees. (Until 2026-12-07 these checks looked at the spec's own
boxes, the engine's hidden layout, so an image with the right structure in
another layout failed.)
"""

from __future__ import annotations

import numpy as np

from blueprint.data.colors import COLOR_NAMES, nearest_color_index as palette_index
from blueprint.data.spec import Spec
from blueprint.eval.adherence import Check
from blueprint.eval.ocr import OcrWord
from blueprint.eval.text import normalize_word, similarity, words_of

# A read word stands for a target word at this similarity (1 - normalised edit distance).
WORD_MATCH = 0.75
# Share of an element's words that must be read for it to be found.
FOUND_SHARE = 0.5
# A bar's run, an arrow's ink on a path and a colour change at a board's edge are at
# least this many pixels.
MIN_RUN = 3


class Found:
    """Where an element's text was read: the union of its words' boxes, and the reading
    order of its first and last word (words of one line share the line's box)."""

    def __init__(self, box, first: int, last: int):
        self.box, self.first, self.last = box, first, last

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2


def find(words: list[OcrWord], text: str, taken: set[int]) -> Found | None:
    """The read words that spell `text` (each word used once per image, in `taken`)."""
    read = [normalize_word(w.text) for w in words]
    hits = []
    for target in words_of(text):
        scores = [similarity(target, r) if i not in taken and r else 0.0 for i, r in enumerate(read)]
        index = int(np.argmax(scores)) if scores else 0  # the first of the best
        if scores and scores[index] >= WORD_MATCH:
            hits.append(index)
            taken.add(index)
    if not hits or len(hits) < FOUND_SHARE * len(words_of(text)):
        return None
    boxes = np.array([words[i].box for i in hits])
    box = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    return Found(tuple(int(v) for v in box), min(hits), max(hits))


def find_all(words: list[OcrWord], spec: Spec) -> dict[int, Found | None]:
    """Every text element found, in the spec's order (a title before the labels that may
    share its words), each read word used once: {element id: Found or None}."""
    taken: set[int] = set()
    return {e.id: find(words, e.text, taken) for e in spec.elements if e.kind == "text"}


def find_role(found: dict[int, Found | None], spec: Spec, role: str) -> list[Found | None]:
    return [found[e.id] for e in spec.elements if e.kind == "text" and e.role == role]


def missing(found: list, name: str) -> list[str]:
    return [f"{name} {i + 1} not read" for i, f in enumerate(found) if f is None]


def check_book(_a: np.ndarray, found: dict, spec: Spec) -> Check:
    title, author = find_role(found, spec, "title"), find_role(found, spec, "author")
    problems = missing(title, "title") + missing(author, "author")
    if not problems and not title[0].box[3] <= author[0].box[1] + 2:
        problems.append("the title is not above the author")
    return Check("structure", "title above author", not problems, "; ".join(problems) or "ok")


def in_order(found: list[Found], axis: str = "y") -> bool:
    centres = [f.cy if axis == "y" else f.cx for f in found]
    return all(p < q for p, q in zip(centres, centres[1:]))


def check_notes(_a: np.ndarray, found: dict, spec: Spec) -> Check:
    notes = find_role(found, spec, "note")
    problems = missing(notes, "note")
    if not problems and not in_order(notes):
        problems.append("notes out of order")
    return Check("structure", f"{len(notes)} notes, top to bottom", not problems, "; ".join(problems) or "ok")


def check_menu_rows(_a: np.ndarray, found: dict, spec: Spec) -> Check:
    items, prices = find_role(found, spec, "item"), find_role(found, spec, "price")
    problems = missing(items, "item") + missing(prices, "price")
    for i, (item, price) in enumerate(zip(items, prices)):
        if item is None or price is None:
            continue
        same_row = item.box[1] < price.box[3] and price.box[1] < item.box[3]
        same_line = item.box == price.box
        right = price.first > item.last if same_line else price.box[0] >= item.box[2] - 2
        if not (same_row and right):
            problems.append(f"row {i + 1}: price not on the item's row, right of it")
    if not problems and not in_order(items):
        problems.append("rows out of order")
    return Check("structure", f"{len(items)} rows of item + price, top to bottom", not problems,
                 "; ".join(problems) or "ok")


def background_index(a: np.ndarray, box) -> int:
    """Palette index most common in a box: the ground that its text is written on."""
    return top_indices(a, box)[0]


def top_indices(a: np.ndarray, box) -> list[int]:
    """Palette indices in a box, most common first."""
    x0, y0, x1, y1 = box
    counts = np.bincount(palette_index(a[y0:y1, x0:x1].reshape(-1, 3)), minlength=len(COLOR_NAMES))
    return [int(i) for i in np.argsort(-counts) if counts[i]]


def runs(line: np.ndarray, skip: set[int]) -> list[tuple[int, int]]:
    """(start, end) of the runs of one palette colour outside `skip`, at least MIN_RUN long."""
    if len(line) == 0:
        return []
    index = palette_index(line)
    on = ~np.isin(index, list(skip))
    breaks = np.flatnonzero((np.diff(index) != 0) | (np.diff(on) != 0)) + 1  # where a run must end
    starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(index)]])
    return [(int(s), int(e)) for s, e in zip(starts, ends) if on[s] and e - s >= MIN_RUN]


def bar_beside(a: np.ndarray, label: Found, skip: set[int], where: str) -> bool:
    """A run of bar colour starting next to the label: under it running right (horizontal bars
    with their labels above), or right of it on its own row (labels left of the bars)."""
    x0, y0, x1, y1 = label.box
    height = y1 - y0
    if where == "below":
        band = range(y1, min(a.shape[0], y1 + height))
        return any(s <= height for y in band for s, _ in runs(a[y, max(0, x0 - height):], skip))
    return any(s <= height for s, _ in runs(a[int(label.cy), x1:], skip))


def check_bars(a: np.ndarray, found: dict, spec: Spec) -> Check:
    labels = find_role(found, spec, "bar_label")
    target = f"one bar per label ({len(labels)}), in label order"
    problems = missing(labels, "label")
    if problems:
        return Check("structure", target, False, "; ".join(problems))
    column = np.ptp([f.cy for f in labels]) > np.ptp([f.cx for f in labels])  # labels stacked: bars run right
    if not in_order(labels, "y" if column else "x"):
        problems.append("labels out of order")
    skip = set(top_indices(a, labels[0].box)[:2])  # the ground the labels stand on, and their ink
    if column:
        if not any(all(bar_beside(a, f, skip, where) for f in labels) for where in ("below", "right")):
            problems.append("not every label has a bar beside it")
    else:  # bars stand on the labels: one run per label along the row just above them
        bars = standing_bars(a, labels, skip)
        if len(bars) != len(labels) or any(int(np.argmin([abs(b - f.cx) for f in labels])) != i
                                           for i, b in enumerate(bars)):
            problems.append(f"{len(bars)} bars over {len(labels)} labels")
    return Check("structure", target, not problems, "; ".join(problems) or "ok")


def standing_bars(a: np.ndarray, labels: list[Found], skip: set[int]) -> list[float]:
    """Centres of the runs crossing the first row above the labels that has any, a few rows
    higher still (an axis line under the bars spans them all)."""
    top = min(f.box[1] for f in labels)
    lo, hi = min(f.box[0] for f in labels), max(f.box[2] for f in labels)
    height = max(f.box[3] - f.box[1] for f in labels)
    for y in range(top - 1, max(0, top - 2 * height), -1):
        if runs(a[y, lo:hi], skip):
            y = max(0, y - 3)
            return [lo + (s + e) / 2 for s, e in runs(a[y, lo:hi], skip)]
    return []


def border_index(a: np.ndarray) -> int:
    """Palette index most common along the image's edge: the page behind everything."""
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return int(np.bincount(palette_index(edge), minlength=len(COLOR_NAMES)).argmax())


def arrow_ink(a: np.ndarray, start: Found, end: Found, skip: set[int]) -> int:
    """Pixels on the straight path between two found texts, outside both, of a colour in
    neither `skip` (the page and the node colours): an arrow's ink."""
    steps = int(max(abs(end.cx - start.cx), abs(end.cy - start.cy))) + 1
    t = np.linspace(0.0, 1.0, steps)
    xs = np.round(start.cx + (end.cx - start.cx) * t).astype(int)
    ys = np.round(start.cy + (end.cy - start.cy) * t).astype(int)
    inside = np.zeros_like(t, dtype=bool)
    for f in (start, end):
        inside |= (xs >= f.box[0]) & (xs < f.box[2]) & (ys >= f.box[1]) & (ys < f.box[3])
    return int((~np.isin(palette_index(a[ys[~inside], xs[~inside]]), list(skip))).sum())


def check_stages(a: np.ndarray, found: dict, spec: Spec) -> Check:
    stages = find_role(found, spec, "stage")
    problems = missing(stages, "stage")
    if not problems:
        skip = {border_index(a)} | {background_index(a, f.box) for f in stages}
        problems = [f"no arrow from stage {i + 1} to {i + 2}" for i, (s, e) in enumerate(zip(stages, stages[1:]))
                    if arrow_ink(a, s, e, skip) < MIN_RUN]
    return Check("structure", f"{len(stages)} stages joined in order", not problems,
                 "; ".join(problems) or "ok")


def extent(line: np.ndarray, start: int, step: int, board: int) -> int | None:
    """Where the board ends walking from `start` by `step` (+1 or -1): the first of MIN_RUN
    pixels in a row that are not `board` (letters' ink is crossed); None at the edge."""
    path = line[start::step] if step > 0 else line[start::-1]
    off = palette_index(path) != board
    for i in range(len(off) - MIN_RUN + 1):
        if off[i:i + MIN_RUN].all():
            return start + step * i
    return None


def check_wall(a: np.ndarray, found: dict, spec: Spec) -> Check:
    texts = [f for f in found.values() if f is not None]
    if not texts:
        return Check("structure", "a wall around the sign", False, "no text read")
    x0, y0 = min(f.box[0] for f in texts), min(f.box[1] for f in texts)
    x1, y1 = max(f.box[2] for f in texts), max(f.box[3] for f in texts)
    board = background_index(a, (x0, y0, x1, y1))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    ends = {"left": extent(a[cy], x0 - 1, -1, board), "right": extent(a[cy], x1, 1, board),
            "above": extent(a[:, cx], y0 - 1, -1, board), "below": extent(a[:, cx], y1, 1, board)}
    if any(v is None for v in ends.values()):
        return Check("structure", "a wall around the sign", False,
                     "the board reaches the edge: " + ", ".join(k for k, v in ends.items() if v is None))
    d = max(3, min(a.shape[:2]) // 40)
    left, right, top, bottom = ends["left"], ends["right"], ends["above"], ends["below"]
    # the d pixels past each end, on the lines walked: what lies beyond the board there
    beyond = [a[cy, max(0, left - d + 1):left + 1], a[cy, right:right + d],
              a[max(0, top - d + 1):top + 1, cx], a[bottom:bottom + d, cx]]
    colours = {top_indices(side[None], (0, 0, len(side), 1))[0] for side in beyond if side.size}
    ok = len(colours) == 1 and board not in colours
    return Check("structure", "a wall around the sign", ok,
                 f"board {COLOR_NAMES[board]}, around it {', '.join(COLOR_NAMES[c] for c in sorted(colours))}")


KIND_CHECKS = {"menu": check_menu_rows, "chalkboard": check_menu_rows, "book": check_book,
               "whiteboard": check_notes, "chart": check_bars, "infographic": check_stages, "wallsign": check_wall}
# Kinds whose check needs a role that some of their layouts do not have.
NEEDED_ROLE = {"menu": "item", "chalkboard": "item", "chart": "bar_label"}


def check_drawn_structure(a: np.ndarray, words: list[OcrWord], spec: Spec) -> list[Check]:
    """The structure check of the spec's kind, if it has one, from the words read off the image."""
    kind = spec.kind
    if kind not in KIND_CHECKS or kind in NEEDED_ROLE and NEEDED_ROLE[kind] not in {e.role for e in spec.elements}:
        return []
    return [KIND_CHECKS[kind](a, find_all(words, spec), spec)]
