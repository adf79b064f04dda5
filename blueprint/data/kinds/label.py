"""Labels, badges and price tags.

Layouts:
- tag:   a price tag (a card with a hole) holding a product name and a price;
- badge: a round badge with one short word inside, more lines beside it;
- jar:   a product label with a coloured stripe: brand, product, weight, price.
"""

from __future__ import annotations

import math

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, join_and, position, text_phrase

LAYOUTS = ("tag", "badge", "jar")
TEXT_RANGE = (1, 4)


def max_texts(b) -> int:
    return TEXT_RANGE[1]


def default_texts(rng, most: int) -> int:
    return rng.randint(1, most)


def maker(b, role):
    t = b.text
    if role == "price":
        return t.price
    if role == "weight":
        return lambda m: t.number(m)
    if role == "badge":
        return lambda m: t.styled(t.word(b.rng.choice(("shop", "common")), min(m, 6)), "upper")
    if role == "brand":
        return lambda m: t.styled(b.rng.choice((t.pseudo, t.name, lambda k: t.word("shop", k)))(m))
    return lambda m: t.styled(t.words(b.rng.randint(1, 2), ("shop", "common"), m))


def roles_for(layout: str, n: int) -> list[str]:
    order = {"tag": ["product", "price", "brand", "weight"],
             "badge": ["badge", "product", "price", "brand"],
             "jar": ["brand", "product", "price", "weight"]}[layout]
    if layout == "tag" and n == 1:
        return ["price"]
    return order[:n]


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 24)
    card_color = b.backdrop()
    roles = roles_for(layout, n_texts)
    slots = []  # (slot, backdrop) per role, in reading order
    shapes = []
    if layout == "badge":
        d = min(W, H * 60 // 100 if n_texts > 1 else H) - 2 * pad
        d = min(d, W - 2 * pad)
        cx = W // 2
        # A rectangular badge: OCR takes any circle around a word (filled or a
        # ring) for a picture and skips the word inside it.
        bh = int(d * 0.75)
        top = pad + (d - bh) // 2
        b.panel([pad, top, W - pad, top + bh], card_color, role="badge")
        slots.append(((pad * 2, top + pad, W - pad * 2, top + bh - pad), card_color))
        rest = roles[1:]
        top = pad + d + pad
        for i in range(len(rest)):
            h = (H - pad - top) // max(1, len(rest))
            slots.append(((pad, top + i * h, W - pad, top + (i + 1) * h), bg))
        opening = f"{an(card_color)} badge on {an(bg)} background"
    else:
        x0, y0, x1, y1 = pad, pad, W - pad, H - pad
        card = b.panel([x0, y0, x1, y1], card_color, role="tag" if layout == "tag" else "label")
        inner_x0, inner_y0 = x0 + pad, y0 + pad
        if layout == "tag":
            hole = max(4, b.short // 20)
            hx, hy = x0 + pad + hole, y0 + pad + hole
            b.panel([hx - hole // 2, hy - hole // 2, hx + hole // 2, hy + hole // 2], bg, role="hole", shape="circle")
            inner_y0 = hy + hole
            opening = f"{an(card_color)} price tag on {an(bg)} background"
        else:
            stripe_color = b.backdrop(card_color)
            stripe_y1 = y0 + (y1 - y0) * 40 // 100
            b.panel([x0, y0, x1, stripe_y1], stripe_color, role="stripe")
            slots.append(((inner_x0, y0 + pad // 2, x1 - pad, stripe_y1 - pad // 2), stripe_color))
            inner_y0 = stripe_y1 + pad // 2
            opening = f"{an(card_color)} product label with {an(stripe_color)} stripe at the top, on {an(bg)} background"
        need = len(roles) - len(slots)
        fracs = {0: [], 1: [1.0], 2: [0.55, 0.45], 3: [0.4, 0.33, 0.27], 4: [0.3, 0.26, 0.22, 0.22]}[need]
        y = inner_y0
        avail = y1 - pad - inner_y0
        for f in fracs:
            h = int(avail * f)
            slots.append(((inner_x0, y, x1 - pad, y + h), card_color))
            y += h
    texts = []
    color_for = {}
    for role, (slot, backdrop) in zip(roles, slots):
        color = color_for.setdefault(backdrop, b.text_color(backdrop))
        face = {"price": "bold", "badge": "bold", "weight": "mono"}.get(role) or rng.choice(("sans", "serif", "bold"))
        max_size = int(b.short * (0.3 if role in ("price", "badge", "product") else 0.15))
        e = b.text_in(slot, maker(b, role), role, face, color, max_size=max_size)
        if e is None:
            raise RuntimeError(f"label {role} does not fit at {W}x{H}")
        texts.append(e)

    parts = []
    for e in texts:
        label = {"price": "the price", "badge": "the badge says", "weight": "the number",
                 "brand": "the brand", "product": "the product name"}[e.role]
        parts.append(f"{label} {text_phrase(e, rng, position(e.box, W, H))}")
    return capitalize(opening) + ". " + capitalize(join_and(parts)) + "."
