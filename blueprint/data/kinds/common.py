"""Helpers the newer kinds share: walls, boards, rows of items, arrows, people's names."""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.fonts import text_bbox
from blueprint.data.materials import MATERIAL_COLORS
from blueprint.data.render import arrow_width
from blueprint.data.words import text_split_ok


def set_background(b, options: tuple[str, ...]) -> str:
    """Make the design's background (wall) one of `options` (kept if it already is).

    OCR binarises a whole image with one threshold, so a kind whose text sits on
    dark boards picks a dark wall, and one with light boards a light wall.
    """
    if b.background not in options:
        b.background = b.rng.choice(options)
    return b.background


def surface(b, material: str | None, *avoid: str) -> tuple[str, str | None]:
    """(colour, material) for a text-carrying board: the material's colour, or a backdrop."""
    if material is not None:
        return MATERIAL_COLORS[material], material
    return b.backdrop(*avoid), None


def contrast_color(b, against: str, *avoid: str) -> str:
    """A colour of the background's class that stands out from `against` (arrows, frames)."""
    options = [c for c in b.surfaces if c not in (against,) + avoid]
    return max(options, key=lambda c: (colors.channel_gap(c, against), c))


def person_name(b, max_chars: int) -> str | None:
    """'Anna Berg': two names from the split's list (an author)."""
    for _ in range(20):
        text = b.text.words(2, ("names",), max_chars)
        if text and " " in text and text_split_ok(text, b.text.split):
            return b.text.styled(text, b.rng.choice(("title", "upper")))
    return b.text.name(max_chars)


def item_name(b, m: int) -> str | None:
    t = b.text
    return t.styled(t.words(b.rng.randint(1, 2), ("shop", "common"), m), b.rng.choice(("title", "lower")))


def item_rows(b, region, n_items: int, face: str, ink: str, price_ink: str) -> list:
    """n_items rows of name (left) and price (right) in region; one type size for all rows.

    The menu kind keeps its own older copy of this loop (a narrower price column):
    its samples are part of the default training stream, which must not change."""
    x0, y0, x1, y1 = region
    row_h = (y1 - y0) // n_items
    gap = max(4, b.short // 32)
    widest = text_bbox(face, b.min_font, "$99.99")
    # The widest price must fit at the floor, even on a narrow canvas.
    price_w = max((x1 - x0) * 35 // 100, widest[2] - widest[0] + 2 * max(1, b.min_font // 5) + 2)
    row_size = min(int(row_h * 0.8), int(b.short * 0.11))
    texts, placed = [], []
    for i in range(n_items):
        top = y0 + i * row_h
        name_slot, price_slot = (x0, top, x1 - price_w - gap, top + row_h), (x1 - price_w, top, x1, top + row_h)
        name = b.text_in(name_slot, lambda m: item_name(b, m), "item", face, ink, align="left", max_size=row_size)
        price = b.text_in(price_slot, b.text.price, "price", face, price_ink, align="right", max_size=row_size)
        if name is None or price is None:
            raise RuntimeError(f"item row does not fit at {b.width}x{b.height}")
        texts += [name, price]
        placed += [(name, name_slot, "left"), (price, price_slot, "right")]
    size = min(e.font_size for e, _, _ in placed)
    for e, slot, align in placed:
        b.place(e, slot, size, align)
    return texts


def rows_fit(b, height: int) -> int:
    """How many text rows fit in `height` pixels at the legibility floor."""
    return max(0, height // b.line_height())


def clip_to_box(cx, cy, dx, dy, box, gap):
    """Where the ray from (cx, cy) along (dx, dy) leaves `box`, plus `gap` further."""
    x0, y0, x1, y1 = box
    ts = []
    if dx:
        ts.append(((x1 if dx > 0 else x0) - cx) / dx)
    if dy:
        ts.append(((y1 if dy > 0 else y0) - cy) / dy)
    t = min(v for v in ts if v >= 0)
    norm = (dx * dx + dy * dy) ** 0.5
    return cx + dx * t + dx / norm * gap, cy + dy * t + dy / norm * gap


def arrow_between(b, a_box, z_box, color: str):
    """An arrow panel from the edge of box a to the edge of box z (8 directions by slope)."""
    t = arrow_width(b.width, b.height)
    r = 2 * t
    ax, ay = (a_box[0] + a_box[2]) / 2, (a_box[1] + a_box[3]) / 2
    zx, zy = (z_box[0] + z_box[2]) / 2, (z_box[1] + z_box[3]) / 2
    dx, dy = zx - ax, zy - ay
    # Axis-aligned when nearly so: a straight arrow between neighbours in a row or column.
    if abs(dx) < 0.15 * abs(dy):
        dx = 0.0
    if abs(dy) < 0.15 * abs(dx):
        dy = 0.0
    # The head is r wide on each side of the line: a gap of r + t keeps a
    # slanted arrow's head off the corners of the boxes it joins (an arrow
    # touching a box merges with the box's label for a reader, and for OCR).
    sx, sy = clip_to_box(ax, ay, dx, dy, a_box, r + t)
    ex, ey = clip_to_box(zx, zy, -dx, -dy, z_box, r + t)
    if dx == 0:
        sx = ex = ax
    if dy == 0:
        sy = ey = ay
    direction = ("s" if dy > 0 else "n" if dy < 0 else "") + ("e" if dx > 0 else "w" if dx < 0 else "")
    box = [round(min(sx, ex) - r), round(min(sy, ey) - r), round(max(sx, ex) + r) + 1, round(max(sy, ey) + r) + 1]
    return b.panel(box, color, role="arrow", shape="arrow_" + direction)
