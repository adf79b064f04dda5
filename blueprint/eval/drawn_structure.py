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
  starting under each label or right of it; where the prompt gives values, each
  bar is measured from its label outward (`bar_order`, `bar_ratio`: the
  held-out benchmark's checks, on the bars found instead of the spec's boxes);
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
from scipy import ndimage

from blueprint.data.colors import COLOR_NAMES, nearest_color_index as palette_index
from blueprint.data.spec import Spec
from blueprint.eval.adherence import BAR_GAP, Check, length_checks
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
    order of its first and last word (tesseract's words have boxes of their own; RapidOCR's
    words of one line share the line's box)."""

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


def check_book(_a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
    title, author = find_role(found, spec, "title"), find_role(found, spec, "author")
    problems = missing(title, "title") + missing(author, "author")
    if not problems and not title[0].box[3] <= author[0].box[1] + 2:
        problems.append("the title is not above the author")
    return [Check("structure", "title above author", not problems, "; ".join(problems) or "ok")]


def in_order(found: list[Found], axis: str = "y") -> bool:
    centres = [f.cy if axis == "y" else f.cx for f in found]
    return all(p < q for p, q in zip(centres, centres[1:]))


def check_notes(_a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
    notes = find_role(found, spec, "note")
    problems = missing(notes, "note")
    if not problems and not in_order(notes):
        problems.append("notes out of order")
    return [Check("structure", f"{len(notes)} notes, top to bottom", not problems, "; ".join(problems) or "ok")]


def check_menu_rows(_a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
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
    return [Check("structure", f"{len(items)} rows of item + price, top to bottom", not problems,
                  "; ".join(problems) or "ok")]


def background_index(a: np.ndarray, box) -> int:
    """Palette index most common in a box: the ground that its text is written on."""
    return top_indices(a, box)[0]


def top_indices(a: np.ndarray, box) -> list[int]:
    """Palette indices in a box, most common first."""
    x0, y0, x1, y1 = box
    counts = np.bincount(palette_index(a[y0:y1, x0:x1].reshape(-1, 3)), minlength=len(COLOR_NAMES))
    return [int(i) for i in np.argsort(-counts) if counts[i]]


def bar_run(line: np.ndarray, skip: set[int], reach: int) -> tuple[int, int] | None:
    """(start, length) of the bar in `line` (pixels walked from a label outward): the colour most
    common outside `skip` within `reach` of the start is the bar's; it runs from its first pixel
    to its last before BAR_GAP pixels of another colour (a texture's speck does not end it).
    None if no such colour is within reach."""
    index = palette_index(line)
    near = index[:reach][~np.isin(index[:reach], list(skip))]
    if near.size == 0:
        return None
    on = index == np.bincount(near).argmax()
    start = int(np.flatnonzero(on[:reach])[0])
    end, gap = start, 0
    for i in range(start, len(on)):
        if on[i]:
            end, gap = i, 0
        else:
            gap += 1
            if gap >= BAR_GAP:
                break
    return start, end - start + 1


def lying_bar(a: np.ndarray, label: Found, skip: set[int], where: str) -> int:
    """Length of the bar beside a label in a column of labels, 0 if none starts within the
    label's height of it: under it running right (labels above their bars; the longest run in
    the rows down to twice the label's height under it), or right of it on its own row."""
    x0, y0, x1, y1 = label.box
    height = y1 - y0
    if where == "below":
        rows = [a[y, max(0, x0 - height):] for y in range(y1, min(a.shape[0], y1 + 2 * height))]
    else:
        rows = [a[int(label.cy), x1:]]
    found = [bar_run(row, skip, height) for row in rows]
    return max((n for start, n in filter(None, found) if start <= height), default=0)


def standing_bar(a: np.ndarray, labels: list[Found], skip: set[int], centre: float) -> int:
    """Length of the bar standing at column `centre` on a row of labels, walked up from the
    labels' top. Its axis, a few pixels under the bars, is crossed: the bar's colour is the one
    most common near the labels outside `skip`."""
    top = min(f.box[1] for f in labels)
    height = max(f.box[3] - f.box[1] for f in labels)
    found = bar_run(a[:top, int(centre)][::-1], skip, 2 * height)
    return 0 if found is None else found[1]


def bars_found(a: np.ndarray, labels: list[Found]) -> tuple[list[str], list[int]]:
    """(problems, lengths) of a chart whose labels were all read: the labels in order along one
    axis, and one bar beside each; a label without its bar measures 0."""
    column = np.ptp([f.cy for f in labels]) > np.ptp([f.cx for f in labels])  # labels stacked: bars run right
    problems = [] if in_order(labels, "y" if column else "x") else ["labels out of order"]
    skip = set(top_indices(a, labels[0].box)[:2])  # the ground the labels stand on, and their ink
    if column:
        measured = [[lying_bar(a, f, skip, where) for f in labels] for where in ("below", "right")]
        lengths = max(measured, key=lambda ns: (all(ns), sum(ns)))
        if not all(lengths):
            problems.append("not every label has a bar beside it")
        return problems, lengths
    centres = standing_bars(a, labels, skip)  # bars stand on the labels: one run per label above them
    if not one_over_each(centres, labels):
        problems.append(f"{len(centres)} bars over {len(labels)} labels")
        return problems, [0] * len(labels)
    return problems, [standing_bar(a, labels, skip, c) for c in centres]


def check_bars(a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
    """The chart's structure and, where the prompt gives values, its bars' order and ratio."""
    labels = find_role(found, spec, "bar_label")
    target = f"one bar per label ({len(labels)}), in label order"
    problems = missing(labels, "label")
    lengths = [0] * len(labels)
    if not problems:
        problems, lengths = bars_found(a, labels)
    checks = [Check("structure", target, not problems, "; ".join(problems) or "ok")]
    if spec.stated is None or "values" in spec.stated:
        checks += length_checks(lengths, [float(e.value) for e in spec.elements if e.kind == "bar"])
    return checks


def ink_runs(line: np.ndarray, skip: set[int]) -> list[tuple[int, int]]:
    """(start, end) of the runs of pixels of any colour outside `skip`, across gaps of up to
    two pixels (a painted bar's texture changes colour within it), at least MIN_RUN long."""
    on = ~np.isin(palette_index(line), list(skip))
    on = ndimage.binary_closing(on, structure=np.ones(3, bool)) | on
    labels, _ = ndimage.label(on)
    return [(sl.start, sl.stop) for (sl,) in ndimage.find_objects(labels) if sl.stop - sl.start >= MIN_RUN]


def one_over_each(centres: list[float], labels: list[Found]) -> bool:
    """One centre per label, each nearest its own label."""
    return len(centres) == len(labels) and all(int(np.argmin([abs(c - f.cx) for f in labels])) == i
                                               for i, c in enumerate(centres))


def standing_bars(a: np.ndarray, labels: list[Found], skip: set[int]) -> list[float]:
    """Centres of the bars standing on a row of labels: the runs crossing the lowest row, within
    two label heights above the labels, where one stands over each label; else those of the
    lowest row that has any (an axis, or a smear of one, under the bars spans them all)."""
    top = min(f.box[1] for f in labels)
    lo, hi = min(f.box[0] for f in labels), max(f.box[2] for f in labels)
    height = max(f.box[3] - f.box[1] for f in labels)
    lowest = []
    for y in range(top - 1, max(0, top - 2 * height), -1):
        centres = [lo + (s + e) / 2 for s, e in ink_runs(a[y, lo:hi], skip)]
        if one_over_each(centres, labels):
            return centres
        lowest = lowest or centres
    return lowest


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


def check_stages(a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
    stages = find_role(found, spec, "stage")
    problems = missing(stages, "stage")
    if not problems:
        skip = {border_index(a)} | {background_index(a, f.box) for f in stages}
        problems = [f"no arrow from stage {i + 1} to {i + 2}" for i, (s, e) in enumerate(zip(stages, stages[1:]))
                    if arrow_ink(a, s, e, skip) < MIN_RUN]
    return [Check("structure", f"{len(stages)} stages joined in order", not problems,
                  "; ".join(problems) or "ok")]


def extent(line: np.ndarray, start: int, step: int, board: int) -> int | None:
    """Where the board ends walking from `start` by `step` (+1 or -1): the first of MIN_RUN
    pixels in a row that are not `board` (letters' ink is crossed); None at the edge."""
    path = line[start::step] if step > 0 else line[start::-1]
    off = palette_index(path) != board
    for i in range(len(off) - MIN_RUN + 1):
        if off[i:i + MIN_RUN].all():
            return start + step * i
    return None


def check_wall(a: np.ndarray, found: dict, spec: Spec) -> list[Check]:
    texts = [f for f in found.values() if f is not None]
    if not texts:
        return [Check("structure", "a wall around the sign", False, "no text read")]
    x0, y0 = min(f.box[0] for f in texts), min(f.box[1] for f in texts)
    x1, y1 = max(f.box[2] for f in texts), max(f.box[3] for f in texts)
    board = background_index(a, (x0, y0, x1, y1))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    ends = {"left": extent(a[cy], x0 - 1, -1, board), "right": extent(a[cy], x1, 1, board),
            "above": extent(a[:, cx], y0 - 1, -1, board), "below": extent(a[:, cx], y1, 1, board)}
    if any(v is None for v in ends.values()):
        return [Check("structure", "a wall around the sign", False,
                      "the board reaches the edge: " + ", ".join(k for k, v in ends.items() if v is None))]
    d = max(3, min(a.shape[:2]) // 40)
    left, right, top, bottom = ends["left"], ends["right"], ends["above"], ends["below"]
    # the d pixels past each end, on the lines walked: what lies beyond the board there
    beyond = [a[cy, max(0, left - d + 1):left + 1], a[cy, right:right + d],
              a[max(0, top - d + 1):top + 1, cx], a[bottom:bottom + d, cx]]
    colours = {top_indices(side[None], (0, 0, len(side), 1))[0] for side in beyond if side.size}
    ok = len(colours) == 1 and board not in colours
    return [Check("structure", "a wall around the sign", ok,
                  f"board {COLOR_NAMES[board]}, around it {', '.join(COLOR_NAMES[c] for c in sorted(colours))}")]


KIND_CHECKS = {"menu": check_menu_rows, "chalkboard": check_menu_rows, "book": check_book,
               "whiteboard": check_notes, "chart": check_bars, "infographic": check_stages, "wallsign": check_wall}
# Kinds whose check needs a role that some of their layouts do not have.
NEEDED_ROLE = {"menu": "item", "chalkboard": "item", "chart": "bar_label"}


def check_drawn_structure(a: np.ndarray, words: list[OcrWord], spec: Spec) -> list[Check]:
    """The structure check of the spec's kind, if it has one, from the words read off the image."""
    kind = spec.kind
    if kind not in KIND_CHECKS or kind in NEEDED_ROLE and NEEDED_ROLE[kind] not in {e.role for e in spec.elements}:
        return []
    return KIND_CHECKS[kind](a, find_all(words, spec), spec)
