"""Scenes of simple shapes: counts, colours and positions (GenEval-style).

Shapes of one group sit in their own region, each in its own grid cell, so
they never touch and can be counted. An optional text sits in a band at the top.

Layouts:
- left_right: one group on the left half, another on the right half;
- top_bottom: one group in the upper half, another in the lower half;
- row:        a single group in a row across the middle.
"""

from __future__ import annotations

import math

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, count_word, plural, text_phrase
from blueprint.data.spec import SHAPES

LAYOUTS = ("left_right", "top_bottom", "row")
TEXT_RANGE = (0, 1)


def max_texts(b) -> int:
    return TEXT_RANGE[1]


def default_texts(rng, most: int) -> int:
    return rng.randint(0, most)


def place(b, region, count: int, shape: str, color: str) -> None:
    """`count` shapes in a grid over region, one per randomly chosen cell."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    cols = max(1, min(count, round(math.sqrt(count * w / h))))
    rows = math.ceil(count / cols)
    cw, ch = w // cols, h // rows
    cells = b.rng.sample(range(cols * rows), count)
    for cell in sorted(cells):
        r, c = divmod(cell, cols)
        side = int(min(cw, ch) * b.rng.uniform(0.5, 0.8))
        sx = x0 + c * cw + b.rng.randint(0, cw - side)
        sy = y0 + r * ch + b.rng.randint(0, ch - side)
        b.shape([sx, sy, sx + side, sy + side], shape, color)


def group_phrase(count: int, color: str, shape: str) -> str:
    return f"{count_word(count)} {color} {plural(shape, count)}"


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 24)
    top = pad
    text = None
    if n_texts:
        band = int(H * 0.2)
        text = b.text_in((pad, pad, W - pad, pad + band), lambda m: b.text.title(2, m), "title",
                         rng.choice(("bold", "sans", "serif")), b.text_color(bg), max_size=int(b.short * 0.15))
        if text is None:
            raise RuntimeError(f"scene text does not fit at {W}x{H}")
        top = pad + band + pad
    x0, y0, x1, y1 = pad, top, W - pad, H - pad
    options = [c for c in colors.COLOR_NAMES if c != bg and colors.contrast(c, bg) > 1.5]
    if text is not None:
        # With a word to read, shapes keep to the background's side of light/dark:
        # OCR gives up on a picture full of large blobs of the text's brightness.
        options = [c for c in b.surfaces if c != bg]
    first = (rng.choice(options), rng.choice(SHAPES), rng.randint(1, 4))
    second = first
    while second[:2] == first[:2]:  # the two groups must differ in colour or shape
        second = (rng.choice(options), rng.choice(SHAPES), rng.randint(1, 4))
    if layout == "left_right":
        mid = (x0 + x1) // 2
        place(b, (x0, y0, mid - pad // 2, y1), first[2], first[1], first[0])
        place(b, (mid + pad // 2, y0, x1, y1), second[2], second[1], second[0])
        words = rng.choice(("{a} on the left and {b} on the right", "{a} on the left, {b} on the right"))
        sentence = words.format(a=group_phrase(first[2], *first[:2]), b=group_phrase(second[2], *second[:2]))
    elif layout == "top_bottom":
        mid = (y0 + y1) // 2
        place(b, (x0, y0, x1, mid - pad // 2), first[2], first[1], first[0])
        place(b, (x0, mid + pad // 2, x1, y1), second[2], second[1], second[0])
        words = rng.choice(("{a} at the top and {b} at the bottom", "{a} above {b}"))
        sentence = words.format(a=group_phrase(first[2], *first[:2]), b=group_phrase(second[2], *second[:2]))
    else:
        count = rng.randint(1, 6)
        side = min((x1 - x0) // count, y1 - y0)
        cy = (y0 + y1) // 2
        place(b, (x0, cy - side // 2, x1, cy - side // 2 + side), count, first[1], first[0])
        sentence = f"{group_phrase(count, first[0], first[1])} in a row"
    sentence = capitalize(sentence) + rng.choice((f", on {an(bg)} background.", f". The background is {bg}."))
    if text is not None:
        noun = "the words" if " " in text.text else "the word"
        sentence += f" {capitalize(noun)} {text_phrase(text, rng, 'at the top')}."
    return sentence
