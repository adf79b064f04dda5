"""Signs and storefronts: a board with the shop's name, maybe a tagline and a note.

Layouts:
- board:  a framed board in the upper part of a wall, extra lines on the wall below it;
- banner: a stripe across the canvas holding the name, extra lines above and below;
- plaque: a bordered plaque filling most of the canvas, all lines on it.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, join_and, position, text_phrase
from blueprint.data.words import text_split_ok

LAYOUTS = ("board", "banner", "plaque")
TEXT_RANGE = (1, 3)


def max_texts(b) -> int:
    return TEXT_RANGE[1]


def default_texts(rng, most: int) -> int:
    return rng.randint(1, most)


def shop_name(b, max_chars):
    """'Anna's Bakery', 'Golden Pantry', 'Zemora': a storefront's name."""
    r = b.rng.random()
    if r < 0.35:
        text = f"{b.text.name()}'s {b.text.word('shop')}"
        # A possessive is a token of its own: keep it only if it is in the split too.
        if len(text) <= max_chars and text_split_ok(text, b.text.split):
            return b.text.styled(text)
    if r < 0.8:
        return b.text.styled(b.text.words(b.rng.randint(1, 2), ("common", "shop"), max_chars))
    return b.text.styled(b.text.pseudo(max_chars))


def note(b, max_chars):
    r = b.rng.random()
    if r < 0.4:
        return b.text.styled(b.text.words(b.rng.randint(2, 3), ("common", "shop"), max_chars))
    if r < 0.7:
        return b.text.price(max_chars)
    return b.text.styled(b.text.words(1, ("shop",), max_chars))


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    wall = b.background
    board = b.backdrop()
    name_face = rng.choice(("bold", "serif", "sans"))
    extra_face = rng.choice(("sans", "mono", "serif"))
    pad = max(4, b.short // 32)
    if layout == "board":
        bx0, by0, bx1, by1 = W // 12, H // 10, W - W // 12, H // 10 + H * (36 if n_texts > 1 else 48) // 100
        frame = b.panel([bx0, by0, bx1, by1], board, role="board")
        on_board = [(bx0 + pad, by0 + pad, bx1 - pad, by1 - pad)]
        below_y0 = by1 + pad
        below = [(W // 12, below_y0 + i * (H - pad - below_y0) // 2, W - W // 12,
                  below_y0 + (i + 1) * (H - pad - below_y0) // 2) for i in range(2)]
        slots = [(on_board[0], board)] + [(s, wall) for s in below[: n_texts - 1]]
    elif layout == "banner":
        sy0, sy1 = H * 35 // 100, H * 65 // 100
        frame = b.panel([0, sy0, W, sy1], board, role="banner")
        slots = [((pad * 2, sy0 + pad, W - pad * 2, sy1 - pad), board)]
        if n_texts > 1:
            slots.insert(0, ((pad * 2, pad * 2, W - pad * 2, sy0 - pad), wall))
        if n_texts > 2:
            slots.append(((pad * 2, sy1 + pad, W - pad * 2, H - pad * 2), wall))
    else:  # plaque: a border colour around the plaque itself
        frame = b.panel([pad, pad, W - pad, H - pad], board, role="plaque")
        inner = b.backdrop(board)
        b.panel([pad * 3, pad * 3, W - pad * 3, H - pad * 3], inner, role="plaque_face")
        top, bottom = pad * 4, H - pad * 4
        heights = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.25, 0.25]}[n_texts]
        slots, y = [], top
        for frac in heights:
            y1 = y + int((bottom - top) * frac)
            slots.append(((pad * 4, y, W - pad * 4, y1), inner))
            y = y1
    colors_used = {}
    texts = []
    for i, (slot, backdrop) in enumerate(slots):
        if i == 0 and layout != "banner" or (layout == "banner" and backdrop == board):
            make, role, face = (lambda m: shop_name(b, m)), "name", name_face
        else:
            make, role, face = (lambda m: note(b, m)), "note", extra_face
        color = colors_used.get(backdrop) or b.text_color(backdrop)
        colors_used[backdrop] = color
        e = b.text_in(slot, make, role, face, color, max_size=int(b.short * 0.3))
        if e is None:
            raise RuntimeError(f"sign slot {slot} too small for any text at {W}x{H}")
        texts.append(e)

    name = next(e for e in texts if e.role == "name")
    thing = {"board": "shop sign", "banner": "storefront banner", "plaque": "sign plaque"}[layout]
    if layout == "plaque":
        face_color = b.elements[1].color
        opening = f"{an(thing)} with {an(frame.color)} border around {an(face_color)} face, on {an(wall)} background"
    else:
        opening = rng.choice((
            f"{an(thing)} in {board} on {an(wall)} wall",
            f"{an(board)} {thing} against {an(wall)} background",
            f"{an(thing)}, painted {board}, on {an(wall)} background",
        ))
    parts = []
    for e in texts:  # reading order: the order of the quoted strings
        if e is name:
            parts.append(f"it reads {text_phrase(e, rng)}")
        else:
            parts.append(f"{text_phrase(e, rng, position(e.box, W, H))}")
    return capitalize(opening) + ". " + capitalize(join_and(parts)) + "."
