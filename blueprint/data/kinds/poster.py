"""Posters: a big title, a subtitle, a date or number, and small print.

Layouts:
- stacked: all lines on the background, title at the top, small print at the bottom;
- banded:  the title sits in a coloured band across the top;
- framed:  a coloured frame around an inner card that holds every line.
A decorative shape may sit in the empty space of a one- or two-line poster.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, join_and, position, text_phrase

LAYOUTS = ("stacked", "banded", "framed")
TEXT_RANGE = (1, 4)

# Share of the text area each line gets, top to bottom, by number of lines.
HEIGHTS = {1: [0.45], 2: [0.4, 0.3], 3: [0.38, 0.26, 0.2], 4: [0.32, 0.24, 0.2, 0.18]}
ROLES = ("title", "subtitle", "date", "small_print")


def max_texts(b) -> int:
    return TEXT_RANGE[1]


def default_texts(rng, most: int) -> int:
    return rng.randint(1, most)


def line_maker(b, role):
    t = b.text
    if role == "title":
        return lambda m: t.title(2, m)
    if role == "subtitle":
        return lambda m: t.styled(t.words(b.rng.randint(2, 3), ("common", "names", "common"), m))
    if role == "date":
        return lambda m: b.rng.choice((t.number, t.price, t.letters))(m)
    return lambda m: t.styled(t.words(b.rng.randint(2, 4), ("common",), m), "lower")


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 24)
    x0, y0, x1, y1 = pad, pad, W - pad, H - pad
    backdrops = [bg] * n_texts
    band = frame = None
    if layout == "framed":
        card = b.backdrop()
        frame = b.panel([pad, pad, W - pad, H - pad], card, role="card")
        x0, y0, x1, y1 = pad * 2, pad * 2, W - pad * 2, H - pad * 2
        backdrops = [card] * n_texts
    heights = HEIGHTS[n_texts]
    area_h = y1 - y0
    ys, y = [], y0
    for frac in heights:
        ys.append((y, y + int(area_h * frac)))
        y += int(area_h * frac)  # lines stack from the top; what is left may hold a shape
    if layout == "banded":
        band_color = b.backdrop()
        band_y1 = ys[0][1] + pad
        band = b.panel([0, 0, W, band_y1], band_color, role="band")
        ys[0] = (pad, band_y1 - pad)
        backdrops[0] = band_color
        for i in range(1, n_texts):
            ys[i] = (ys[i][0] + pad, ys[i][1] + pad)
    free_y0 = max(y for _, y in ys) + pad
    texts = []
    faces = [rng.choice(("bold", "serif", "sans")), rng.choice(("sans", "serif", "mono")),
             rng.choice(("mono", "sans")), rng.choice(("sans", "serif"))]
    title_color = b.text_color(backdrops[0])
    body_color = b.text_color(*set(backdrops[1:] or [bg]))
    for i in range(n_texts):
        role = ROLES[i] if n_texts > 1 or i == 0 else "title"
        color = title_color if i == 0 else body_color
        max_size = int(b.short * (0.28 if i == 0 else 0.14))
        e = b.text_in((x0, ys[i][0], x1, ys[i][1]), line_maker(b, role), role, faces[i], color, max_size=max_size)
        if e is None:
            raise RuntimeError(f"poster line {i} does not fit at {W}x{H}")
        texts.append(e)
    shape = None
    if y1 - free_y0 > b.short // 4:  # room for a decoration below the text
        side = min(y1 - free_y0 - pad, (x1 - x0) // 2)
        sx0 = rng.randint(x0, x1 - side)
        # The background's side of light/dark, so OCR does not read the shape as ink.
        shape_color = rng.choice([c for c in b.surfaces if c not in backdrops])
        shape = b.shape([sx0, y1 - side, sx0 + side, y1], rng.choice(("circle", "star", "triangle", "square")), shape_color)

    opening = rng.choice((
        f"a poster with {an(bg)} background",
        f"{an(bg)} poster",
        f"a minimalist poster on {an(bg)} background",
    ))
    if frame is not None:
        opening += f" with {an(frame.color)} card in the middle"
    if band is not None:
        opening += f" with {an(band.color)} band across the top"
    parts = []
    for e in texts:
        label = {"title": "the title", "subtitle": "the subtitle", "date": "the line",
                 "small_print": "small print"}[e.role]
        parts.append(f"{label} {text_phrase(e, rng, position(e.box, W, H))}")
    sentence = capitalize(opening) + ". " + capitalize(join_and(parts)) + "."
    if shape is not None:
        sentence += f" {capitalize(an(shape.color))} {shape.shape} {position(shape.box, W, H)}."
    return sentence
