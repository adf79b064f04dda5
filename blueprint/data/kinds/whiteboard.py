"""Whiteboards and notice boards: handwritten-style notes, one per line, maybe a heading.

Texts are the heading (if any: by chance, when more than one text is asked
for) then the notes, top to bottom. Notes are in the "hand" face (an italic
standing in for handwriting), each after a bullet dot or on its own paper
card. All writing sits on light surfaces on a light wall (one OCR threshold).

Layouts:
- whiteboard: a white board in a gray frame on a light wall, marker-coloured lines;
- corkboard:  a cork board in a wooden frame, each note on a pinned paper card;
- flipchart:  a paper sheet on an easel, marker lines.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, count_word, join_and, quoted
from blueprint.data.kinds.common import rows_fit, set_background

LAYOUTS = ("whiteboard", "corkboard", "flipchart")
TEXT_RANGE = (1, 6)
WALLS = ("white", "yellow", "pink")


def max_texts(b) -> int:
    return max(TEXT_RANGE[0], min(TEXT_RANGE[1], rows_fit(b, int(b.height * 0.75))))


def default_texts(rng, most: int) -> int:
    return rng.randint(min(2, most), most)


def note(b, m):
    return b.text.styled(b.text.words(b.rng.randint(1, 3), ("common", "shop"), m), b.rng.choice(("lower", "title")))


def board(b, layout: str):
    """Draw the board; returns (writing area, surface colour it carries text on)."""
    W, H = b.width, b.height
    pad = max(4, b.short // 24)
    if layout == "whiteboard":
        b.panel([pad, pad, W - pad, H - pad * 3], "gray", role="frame")
        f = max(3, b.short // 40)
        b.panel([pad + f, pad + f, W - pad - f, H - pad * 3 - f], "white", role="board")
        b.panel([W // 4, H - pad * 3, W - W // 4, H - pad * 2], "gray", role="tray")
        return (pad * 3, pad * 2, W - pad * 3, H - pad * 4), "white"
    if layout == "corkboard":
        b.panel([pad, pad, W - pad, H - pad], "brown", role="frame", material="wood")
        f = max(4, b.short // 28)
        b.panel([pad + f, pad + f, W - pad - f, H - pad - f], "orange", role="board", material="cork")
        return (pad + f * 2, pad + f * 2, W - pad - f * 2, H - pad - f * 2), "white"
    leg = max(3, W // 40)
    for lx in (W // 4, W - W // 4 - leg):
        b.panel([lx, H * 3 // 4, lx + leg, H - pad // 2], "brown", role="leg", material="wood")
    b.panel([W // 10, pad, W - W // 10, H * 85 // 100], "white", role="sheet", material="paper")
    return (W // 10 + pad, pad * 2, W - W // 10 - pad, H * 85 // 100 - pad), "white"


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    set_background(b, WALLS)
    area, paper = board(b, layout)
    x0, y0, x1, y1 = area
    has_heading = n_texts > 1 and rng.random() < 0.7
    n_notes = n_texts - 1 if has_heading else n_texts
    markers = colors.readable_on("white", "orange" if layout == "corkboard" else "white")
    markers = [c for c in markers if c in ("black", "blue", "red", "purple", "brown")]
    pen, heading_pen = rng.choice(markers), rng.choice(markers)
    texts = []
    pitch = (y1 - y0) / (n_texts + (0.4 if has_heading else 0))
    y = y0
    if has_heading:
        h = int(pitch * 1.4)
        heading = b.text_in((x0, y, x1, y + h), lambda m: b.text.title(2, m), "heading", "bold", heading_pen,
                            max_size=int(b.short * 0.11))
        texts.append(heading)
        y += h
    gap = max(2, b.short // 64)
    slots = []
    for i in range(n_notes):
        top, bottom = int(y + i * pitch), int(y + (i + 1) * pitch)
        if layout == "corkboard":
            card = b.panel([x0, top + gap, x1, bottom - gap], paper, role="card", material="paper")
            # Writing starts well inside the card, clear of the cork around it.
            margin = max(gap, (card.box[3] - card.box[1]) // 3)
            slot = (card.box[0] + margin, card.box[1], card.box[2] - margin, card.box[3])
        else:
            dot = max(4, (bottom - top) // 5)
            cy = (top + bottom) // 2
            b.panel([x0, cy - dot // 2, x0 + dot, cy - dot // 2 + dot], pen, role="bullet", shape="circle")
            slot = (x0 + dot * 2, top, x1, bottom)
        slots.append(slot)
        texts.append(b.text_in(slot, lambda m: note(b, m), "note", "hand", pen, align="left",
                               max_size=int(b.short * 0.08)))
    if any(e is None for e in texts):
        raise RuntimeError(f"{layout} notes do not fit at {W}x{H}")
    notes = texts[len(texts) - n_notes:]
    size = min(e.font_size for e in notes)
    for e, slot in zip(notes, slots):  # one handwriting size for every note
        b.place(e, slot, size, "left")
    return caption(b, layout, texts, has_heading, pen)


def caption(b, layout, texts, has_heading, pen) -> str:
    thing = {"whiteboard": "A whiteboard in a gray frame", "corkboard": "A cork notice board in a wooden frame",
             "flipchart": "A paper flip chart on an easel"}[layout]
    out = f"{thing}, on {an(b.background)} wall."
    notes = texts[1:] if has_heading else texts
    if has_heading:
        out += f" The heading {quoted(texts[0])} is written at the top in {texts[0].color} marker."
    how = "each on a paper card" if layout == "corkboard" else f"in {pen} handwriting, one per bullet"
    noun = "note" if len(notes) == 1 else "notes"
    out += f" {capitalize(count_word(len(notes)))} {noun} {how}: " + join_and([quoted(e) for e in notes]) + "."
    return out
