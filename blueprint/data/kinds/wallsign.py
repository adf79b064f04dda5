"""A sign as an object in a scene: a board on a wall or a storefront, wall all around it.

The first element is the wall (full canvas, often brick or wood); the sign's
board never touches the canvas edge, so wall shows on every side of it (the
evaluation checks that from pixels). Texts (a name, maybe a note) sit on the
board. Dark walls carry dark boards with light letters, light walls light
boards with dark letters: OCR binarises the image once.

Layouts:
- mounted:    a board in the middle of the wall;
- storefront: a fascia board above a shop window and a door;
- hanging:    a board hanging from two rods.
"""

from __future__ import annotations

from blueprint.data.captions import an, capitalize, text_phrase
from blueprint.data.kinds.common import set_background, surface
from blueprint.data.kinds.sign import note, shop_name
from blueprint.data.materials import MATERIAL_WORDS

LAYOUTS = ("mounted", "storefront", "hanging")
TEXT_RANGE = (1, 2)
DARK_WALLS = {"red": ("brick", None), "brown": ("wood", None), "blue": (None,), "purple": (None,)}
LIGHT_WALLS = ("white", "yellow", "pink")
DARK_BOARDS = ("wood", "chalkboard", None)
LIGHT_BOARDS = ("metal", "paper", None)


def max_texts(b) -> int:
    # A note under the name needs two lines on the fascia, the flattest board.
    return TEXT_RANGE[1] if b.height * 0.3 >= 2.2 * b.line_height() else TEXT_RANGE[0]


def default_texts(rng, most: int) -> int:
    return rng.randint(1, most)


def wall(b) -> tuple[str | None, bool]:
    """Draw the wall; returns (its material, whether it is dark)."""
    rng = b.rng
    dark = rng.random() < 0.6
    if dark:
        color = set_background(b, tuple(DARK_WALLS))
        material = rng.choice(DARK_WALLS[color])
    else:
        color = set_background(b, LIGHT_WALLS)
        material = None
    b.panel([0, 0, b.width, b.height], color, role="wall", material=material)
    return material, dark


def board_box(layout: str, W: int, H: int, n_texts: int) -> list[int]:
    if layout == "storefront":
        return [W // 10, H // 12, W - W // 10, H // 12 + H * (32 if n_texts > 1 else 26) // 100]
    if layout == "hanging":
        return [W // 6, H * 30 // 100, W - W // 6, H * (70 if n_texts > 1 else 62) // 100]
    return [W // 8, H * 25 // 100, W - W // 8, H * (75 if n_texts > 1 else 65) // 100]


def fixtures(b, layout: str, board, wall_color: str) -> None:
    """Rods above a hanging board; window and door under a fascia. No text goes on them."""
    W, H = b.width, b.height
    x0, y0, x1, y1 = board
    options = [c for c in b.surfaces if c not in (wall_color,)]
    if layout == "hanging":
        rod = max(2, W // 96)
        for rx in (x0 + (x1 - x0) // 6, x1 - (x1 - x0) // 6 - rod):
            b.panel([rx, 0, rx + rod, y0], "gray", role="rod")
    elif layout == "storefront":
        window = b.rng.choice(options)
        b.panel([W // 10, H * 45 // 100, W * 55 // 100, H * 88 // 100], window, role="window")
        b.panel([W * 63 // 100, H * 45 // 100, W * 85 // 100, H], "brown" if wall_color != "brown" else "black",
                role="door")


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    wall_material, dark = wall(b)
    wall_color = b.background
    board_material = rng.choice(DARK_BOARDS if dark else LIGHT_BOARDS)
    if board_material == "wood" and wall_material == "wood":
        board_material = "chalkboard"
    color, material = surface(b, board_material, wall_color)
    if color == wall_color:  # a white metal sign on a white wall would vanish: paint it
        color, material = surface(b, None, wall_color)
    box = board_box(layout, W, H, n_texts)
    border = max(2, b.short // 64)
    b.panel(box, color, role="board", material=material)
    fixtures(b, layout, box, wall_color)
    # A calm margin between the lettering and the board's edge, as a sign
    # painter leaves: letters that touch the edge read as part of the board.
    margin = max(border * 2, b.short // 24)
    x0, y0, x1, y1 = box[0] + margin, box[1] + border, box[2] - margin, box[3] - border
    ink = b.text_color(color)
    if n_texts == 1:
        slots = [(x0, y0, x1, y1)]
    else:
        mid = y0 + (y1 - y0) * 62 // 100
        slots = [(x0, y0, x1, mid), (x0, mid, x1, y1)]
    texts = [b.text_in(slots[0], lambda m: shop_name(b, m), "name", rng.choice(("bold", "serif")), ink,
                       max_size=int(b.short * 0.14))]
    if n_texts > 1:
        texts.append(b.text_in(slots[1], lambda m: note(b, m), "note", rng.choice(("sans", "serif")), ink,
                               max_size=int(b.short * 0.08)))
    if any(e is None for e in texts):
        raise RuntimeError(f"wall sign text does not fit at {W}x{H}")
    return caption(b, layout, texts, color, material, wall_material)


def caption(b, layout, texts, color, material, wall_material) -> str:
    board = f"{MATERIAL_WORDS[material]} sign" if material else f"{color} sign"
    wall_words = f"{MATERIAL_WORDS[wall_material]} wall" if wall_material else "wall"
    wall_words = f"{an(b.background)} {wall_words}" if wall_material != "brick" else f"a {wall_words}"
    where = {"mounted": f"mounted on {wall_words}", "storefront": f"above the window of a shop with {wall_words}",
             "hanging": f"hanging from two rods in front of {wall_words}"}[layout]
    out = f"{an(board)} {where}."
    out += f" It reads {text_phrase(texts[0], b.rng)}"
    if len(texts) > 1:
        out += f", with {text_phrase(texts[1], b.rng, 'underneath')}"
    return capitalize(out) + "."
