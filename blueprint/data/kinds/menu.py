"""Menu boards: a title and rows of items with prices in aligned columns.

Item names are left-aligned in one column and prices right-aligned in
another. An odd number of texts means a title plus (n-1)/2 items, an even
number means n/2 items without a title.

Layouts:
- board: a dark board filling the canvas (a chalkboard or a wall menu);
- card:  a light card with a border, on the background;
- ruled: the title sits over a rule line, items below it.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, count_word, join_and, quoted
from blueprint.data.fonts import FACE_WORDS

LAYOUTS = ("board", "card", "ruled")
TEXT_RANGE = (2, 13)


def max_texts(b) -> int:
    """Title + as many rows as fit the canvas (at most 6)."""
    pad = max(4, b.short // 24)
    rows_h = (b.height - 4 * pad) * 0.8  # the title takes about a fifth
    return min(TEXT_RANGE[1], 1 + 2 * int(rows_h // b.line_height()))


def default_texts(rng, most: int) -> int:
    return 1 + 2 * rng.randint(min(3, most // 2), most // 2)


def item_name(b, m):
    t = b.text
    return t.styled(t.words(b.rng.randint(1, 2), ("shop", "common"), m), b.rng.choice(("title", "lower", "upper")))


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 24)
    has_title = n_texts % 2 == 1
    n_items = n_texts // 2
    x0, y0, x1, y1 = pad, pad, W - pad, H - pad
    surface = bg
    if layout in ("board", "card"):
        surface = b.backdrop()
        b.panel([x0, y0, x1, y1], surface, role=layout)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 - pad, y1 - pad
    ink = b.text_color(surface)
    price_ink = ink if rng.random() < 0.5 else b.text_color(surface)
    face = rng.choice(("sans", "serif", "mono"))
    texts = []
    if has_title:
        title_h = int((y1 - y0) * (0.3 if n_items <= 2 else 0.2))
        title = b.text_in((x0, y0, x1, y0 + title_h), lambda m: b.text.title(2, m), "title",
                          rng.choice(("bold", "serif")), ink, max_size=int(b.short * 0.2))
        if title is None:
            raise RuntimeError(f"menu title does not fit at {W}x{H}")
        texts.append(title)
        y0 += title_h
        if layout == "ruled":
            rule_h = max(2, b.short // 100)
            rule_color = price_ink if price_ink != ink else ink
            b.panel([x0, y0 + pad // 2, x1, y0 + pad // 2 + rule_h], rule_color, role="rule")
            y0 += pad // 2 + rule_h + pad // 2
    row_h = (y1 - y0) // n_items
    gap = max(4, b.short // 32)
    price_w = (x1 - x0) * 35 // 100
    row_size = min(int(row_h * 0.8), int(b.short * 0.12))
    placed = []
    for i in range(n_items):
        top = y0 + i * row_h
        name_slot, price_slot = (x0, top, x1 - price_w - gap, top + row_h), (x1 - price_w, top, x1, top + row_h)
        name = b.text_in(name_slot, lambda m: item_name(b, m), "item", face, ink, align="left", max_size=row_size)
        price = b.text_in(price_slot, b.text.price, "price", face, price_ink, align="right", max_size=row_size)
        if name is None or price is None:
            raise RuntimeError(f"menu row does not fit at {W}x{H}")
        texts += [name, price]
        placed += [(name, name_slot, "left"), (price, price_slot, "right")]
    # One type size for every row, the largest that fits them all, so columns look even.
    size = min(e.font_size for e, _, _ in placed)
    for e, slot, align in placed:
        b.place(e, slot, size, align)

    what = {"board": f"{an(surface)} menu board", "card": f"{an(surface)} menu card",
            "ruled": "a menu"}[layout]
    opening = rng.choice((
        f"{what} on {an(bg)} background.",
        f"{what}, with {bg} all around it.",
    ))
    if has_title:
        opening += rng.choice((f" Its title {quoted(texts[0])} is in {texts[0].color} letters at the top",
                               f" The heading {quoted(texts[0])} is written in {texts[0].color}"))
        opening += " over a rule line." if layout == "ruled" else "."
    items = texts[1:] if has_title else texts
    rows = [f"{quoted(items[k])} for {quoted(items[k + 1])}" for k in range(0, len(items), 2)]
    price_words = "" if price_ink == ink else f", prices in {price_ink}"
    listing = rng.choice((
        f"It lists {count_word(n_items)} {'item' if n_items == 1 else 'items'} in {ink} {FACE_WORDS[face]} letters{price_words}: ",
        f"{capitalize(count_word(n_items))} {'row' if n_items == 1 else 'rows'} in {ink}{price_words}, names on the left and prices on the right: ",
    ))
    return capitalize(opening) + " " + listing + join_and(rows) + "."
