"""Chalkboard menus: a dark slate in a wooden frame, chalk-coloured items and prices.

An odd number of texts is a title plus (n-1)/2 items, an even number n/2
items without a title (as in `menu`). The wall around the board is dark
(sometimes brick): OCR binarises the image once, so all surfaces carrying
text stay dark.

Layouts:
- framed: a wooden frame around the slate, title on the slate;
- aframe: a sidewalk A-frame: the framed slate on two wooden legs;
- plank:  the title on a wooden plank above the slate (without a title: framed).
"""

from __future__ import annotations

from blueprint.data.captions import an, capitalize, count_word, join_and, quoted
from blueprint.data.fonts import FACE_WORDS
from blueprint.data.kinds.common import item_rows, rows_fit, set_background

LAYOUTS = ("framed", "aframe", "plank")
TEXT_RANGE = (2, 13)
WALLS = ("black", "blue", "purple", "red")
CHALK = ("white", "yellow", "pink")


def max_texts(b) -> int:
    pad = max(4, b.short // 24)
    frame = max(3, b.short // 28)
    # The slate's inner height on the shortest layout (aframe), less a title's share.
    rows = rows_fit(b, int((b.height * 0.84 - 4 * pad - 2 * frame) * 0.7))
    return max(TEXT_RANGE[0], min(TEXT_RANGE[1], 1 + 2 * rows))


def default_texts(rng, most: int) -> int:
    return 1 + 2 * rng.randint(min(2, most // 2), min(5, most // 2))


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    wall = set_background(b, WALLS)
    pad = max(4, b.short // 24)
    has_title = n_texts % 2 == 1
    n_items = n_texts // 2
    if layout == "plank" and not has_title:
        layout = b.layout = "framed"
    brick = wall == "red" and rng.random() < 0.6
    if brick:
        b.panel([0, 0, W, H], "red", role="wall", material="brick")
    bottom = H - pad if layout != "aframe" else int(H * 0.84)
    top = pad
    texts = []
    chalk = rng.choice(CHALK)
    price_chalk = chalk if rng.random() < 0.5 else rng.choice([c for c in CHALK if c != chalk])
    face = rng.choice(("hand", "sans", "bold"))
    if layout == "plank":
        plank_h = int(H * 0.2)
        b.panel([pad, pad, W - pad, pad + plank_h], "brown", role="plank", material="wood")
        title = b.text_in((pad * 2, pad, W - pad * 2, pad + plank_h), lambda m: b.text.title(2, m), "title",
                          "bold", "white" if chalk == "pink" else chalk, max_size=int(b.short * 0.13))
        texts.append(title)
        top = pad * 2 + plank_h
    b.panel([pad, top, W - pad, bottom], "brown", role="frame", material="wood")
    frame_w = max(3, b.short // 28)
    sx0, sy0, sx1, sy1 = pad + frame_w, top + frame_w, W - pad - frame_w, bottom - frame_w
    b.panel([sx0, sy0, sx1, sy1], "black", role="chalkboard", material="chalkboard")
    if layout == "aframe":
        leg_w = max(4, W // 24)
        for lx in (W // 5, W - W // 5 - leg_w):
            b.panel([lx, bottom, lx + leg_w, H - pad // 2], "brown", role="leg", material="wood")
    inner = (sx0 + pad, sy0 + pad // 2, sx1 - pad, sy1 - pad // 2)
    if has_title and layout != "plank":
        title_h = int((inner[3] - inner[1]) * (0.3 if n_items <= 2 else 0.2))
        title = b.text_in((inner[0], inner[1], inner[2], inner[1] + title_h), lambda m: b.text.title(2, m), "title",
                          rng.choice(("bold", "hand")), chalk, max_size=int(b.short * 0.14))
        texts.append(title)
        inner = (inner[0], inner[1] + title_h, inner[2], inner[3])
    if any(e is None for e in texts):
        raise RuntimeError(f"chalkboard title does not fit at {W}x{H}")
    texts += item_rows(b, inner, n_items, face, chalk, price_chalk)
    return caption(b, layout, texts, has_title, brick, chalk, price_chalk, face)


def caption(b, layout, texts, has_title, brick, chalk, price_chalk, face) -> str:
    wall = "a brick wall" if brick else f"{an(b.background)} wall"
    what = {"framed": "A chalkboard menu in a wooden frame", "aframe": "A chalkboard A-frame sign on wooden legs",
            "plank": "A chalkboard menu under a wooden plank"}[layout]
    out = f"{what}, in front of {wall}."
    if has_title:
        where = "on the plank" if layout == "plank" else "at the top"
        out += f" The heading {quoted(texts[0])} is written in {texts[0].color} chalk {where}."
    items = texts[1:] if has_title else texts
    n = len(items) // 2
    rows = [f"{quoted(items[k])} for {quoted(items[k + 1])}" for k in range(0, len(items), 2)]
    prices = "" if price_chalk == chalk else f", prices in {price_chalk}"
    out += (f" It lists {count_word(n)} {'item' if n == 1 else 'items'} in {chalk} {FACE_WORDS[face]} "
            f"letters{prices}: " + join_and(rows) + ".")
    return capitalize(out)
