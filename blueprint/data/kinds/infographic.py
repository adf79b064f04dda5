"""Infographics: 3-6 labelled stages (nodes) joined in order by arrows, maybe a title.

Texts are the title (if any) then the stage labels in order; stage i's node
is the i-th "node" panel and the i-th "arrow" panel leads from it to the next.
An odd text count that leaves 3..6 stages has a title only if asked by
chance: 3 texts are 3 stages, 7 texts are a title and 6 stages.

Layouts:
- cycle: nodes around an ellipse, arrows from each to the next and back to the first;
- flow:  nodes in a column, top to bottom, arrows pointing down;
- steps: nodes in two rows, left to right then right to left (a snake).
"""

from __future__ import annotations

import math

from blueprint.data.captions import an, capitalize, count_word, join_and, quoted
from blueprint.data.kinds.common import arrow_between, contrast_color

LAYOUTS = ("cycle", "flow", "steps")
TEXT_RANGE = (3, 7)


def max_texts(b) -> int:
    return TEXT_RANGE[1]


def default_texts(rng, most: int) -> int:
    return rng.randint(3, most)


def split_texts(rng, n_texts: int) -> tuple[bool, int]:
    """(has a title, number of stages) for n_texts."""
    if n_texts == 3:
        return False, 3
    if n_texts == 7:
        return True, 6
    has_title = rng.random() < 0.7
    return has_title, n_texts - 1 if has_title else n_texts


def stage_label(b, m, used: set):
    """A one-word stage name not used yet in this design (stages must be told apart)."""
    for _ in range(20):
        text = b.text.styled(b.text.word(b.rng.choice(("common", "shop")), min(m, 11)), "title")
        if text not in used:
            used.add(text)
            return text
    return None


def node_boxes(layout: str, n: int, region, nw: int, nh: int) -> list:
    """Node boxes (nw x nh) for n stages in region, in stage order."""
    x0, y0, x1, y1 = region
    centres = []
    if layout == "cycle":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        rx, ry = (x1 - x0 - nw) / 2, (y1 - y0 - nh) / 2
        for i in range(n):
            a = -math.pi / 2 + 2 * math.pi * i / n
            centres.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
    elif layout == "flow":
        pitch = (y1 - y0) / n
        centres = [((x0 + x1) / 2, y0 + pitch * (i + 0.5)) for i in range(n)]
    else:
        cols = math.ceil(n / 2)
        pitch_x, mid = (x1 - x0) / cols, (y0 + y1) / 2
        for i in range(n):
            col = i if i < cols else cols - 1 - (i - cols)
            row_y = (y0 + mid) / 2 if i < cols else (mid + y1) / 2
            centres.append((x0 + pitch_x * (col + 0.5), row_y))
    return [[round(cx - nw / 2), round(cy - nh / 2), round(cx - nw / 2) + nw, round(cy - nh / 2) + nh]
            for cx, cy in centres]


def node_size(layout: str, n: int, region, b) -> tuple[int, int]:
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    if layout == "cycle":
        return int(w * (0.42 if n <= 4 else 0.36)), max(b.line_height(), int(h * (0.2 if n <= 4 else 0.16)))
    if layout == "flow":
        return int(w * 0.6), max(b.line_height(), int(h / n * 0.55))
    cols = math.ceil(n / 2)
    return int(w / cols * 0.72), max(b.line_height(), int(h * 0.24))


def fits(layout: str, n: int, region, b) -> bool:
    nw, nh = node_size(layout, n, region, b)
    x0, y0, x1, y1 = region
    if layout == "flow":
        return nh * n * 1.6 <= y1 - y0 and nw >= 4 * b.min_font
    if layout == "steps":
        return nw >= 3.5 * b.min_font and nh * 2 * 1.5 <= y1 - y0
    return nw >= 3.5 * b.min_font and nh * 3 <= y1 - y0


def label_inset(b, shape, nw: int, nh: int) -> tuple[int, int]:
    """(x, y) inset of a stage label in its node: a calm band of node colour
    all around the label, so it is read as text on the node, clear of the
    background and the arrows beyond the node's edge."""
    if shape == "circle":
        return nw // 7, nh // 6
    return max(2, nw // 20), max(0, min(nh // 6, (nh - b.line_height()) // 2))


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 24)
    has_title, n = split_texts(rng, n_texts)
    ink_title = b.text_color(bg)
    top = pad
    title = None
    if has_title:
        title_h = int(H * 0.16)
        title = b.text_in((pad, pad, W - pad, pad + title_h), lambda m: b.text.title(3, m), "title",
                          rng.choice(("bold", "serif")), ink_title, max_size=int(b.short * 0.12))
        if title is None:
            raise RuntimeError(f"infographic title does not fit at {W}x{H}")
        top = pad + title_h + pad
    region = (pad, top, W - pad, H - pad)
    for option in (layout, "steps", "cycle", "flow"):  # the first that fits this canvas
        if fits(option, n, region, b):
            layout = b.layout = option
            break
    nw, nh = node_size(layout, n, region, b)
    node_color = b.backdrop()
    arrow_color = contrast_color(b, bg, node_color)
    ink = b.text_color(node_color)
    shape = "circle" if layout == "cycle" and rng.random() < 0.3 else None
    boxes = node_boxes(layout, n, region, nw, nh)
    labels, used = [], set()
    for box in boxes:
        b.panel(box, node_color, role="node", shape=shape)
        x0, y0, x1, y1 = box
        inset = label_inset(b, shape, nw, nh)
        slot = (x0 + inset[0], y0 + inset[1], x1 - inset[0], y1 - inset[1])
        e = b.text_in(slot, lambda m: stage_label(b, m, used), "stage", rng.choice(("sans", "bold")), ink,
                      max_size=int(b.short * 0.07))
        if e is None:
            raise RuntimeError(f"infographic stage does not fit at {W}x{H}")
        labels.append(e)
    size = min(e.font_size for e in labels)
    for e, box in zip(labels, boxes):
        x0, y0, x1, y1 = box
        inset = label_inset(b, shape, nw, nh)
        b.place(e, (x0 + inset[0], y0 + inset[1], x1 - inset[0], y1 - inset[1]), size)
    pairs = list(zip(boxes, boxes[1:])) + ([(boxes[-1], boxes[0])] if layout == "cycle" else [])
    for a, z in pairs:
        arrow_between(b, a, z, arrow_color)
    what = {"cycle": "a cycle", "flow": "a flow from top to bottom", "steps": "a sequence of steps"}[layout]
    opening = f"An infographic on {an(bg)} background showing {what} of {count_word(n)} stages"
    if title is not None:
        opening += f", titled {quoted(title)} in {title.color}"
    boxes_word = "circles" if shape == "circle" else "boxes"
    body = (f"The stages are in {node_color} {boxes_word} with {ink} labels, joined by {arrow_color} arrows: "
            + join_and([quoted(e) for e in labels]))
    return capitalize(opening) + ". " + body + "."
