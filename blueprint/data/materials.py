"""Procedural surface materials: wood, chalkboard, paper, brick, metal, cork.

A panel with `material` set is drawn flat in its palette colour, then the
material's texture is pasted over the panel's shape. Each texture stays close
to one palette colour (`MATERIAL_COLORS`), so the colour a caption names and
the colour the evaluation measures (`nearest_color`) still agree, and text
drawn on it keeps its contrast. Closeness is measured from the palette colour
itself, not from the base: the text detector takes every pixel further than
INK_MARGIN from its surface's palette colour for ink, so a surface that
strays further (a slate too green, a sheet of metal too gray) turns into one
big blob of "ink" that swallows the letters on it. Only the mortar of a brick
wall is allowed to stray (nothing is written on a wall).

Textures are pure numpy on a generator seeded by (design seed, element id):
the same spec gives the same pixels on any machine.
"""

from __future__ import annotations

import numpy as np

from blueprint.data.spec import MATERIALS
from blueprint.errors import BlueprintError

# The palette colour each material reads as, and its base RGB (near that colour).
MATERIAL_COLORS = {"wood": "brown", "chalkboard": "black", "paper": "white", "brick": "red",
                   "metal": "white", "cork": "orange"}
BASE = {"wood": (128, 78, 38), "chalkboard": (28, 33, 30), "paper": (242, 240, 232), "brick": (182, 52, 40),
        "metal": (232, 234, 238), "cork": (238, 138, 40)}
# The most any texture pixel of a text-carrying material may differ from its
# palette colour (RGB distance): under the detector's ink level
# (`blueprint.eval.detect`: INK_LEVEL x FULL_INK_DISTANCE), with room to spare.
INK_MARGIN = 40.0
MORTAR = (200, 196, 186)
# How captions describe a surface of each material.
MATERIAL_WORDS = {"wood": "wooden", "chalkboard": "chalkboard", "paper": "paper", "brick": "brick",
                  "metal": "metal", "cork": "cork"}


def check_material(material: str) -> str:
    if material not in MATERIALS:
        raise BlueprintError(f"unknown material {material!r}; expected one of {', '.join(MATERIALS)}")
    return material


def _grid(w: int, h: int):
    return np.mgrid[0:h, 0:w].astype(np.float32)


def wood(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Horizontal planks with wavy grain and dark seams between them."""
    y, x = _grid(w, h)
    plank = max(8, h // rng.integers(3, 6))
    phase = rng.uniform(0, 6.28, size=h // plank + 2).astype(np.float32)
    row = (y // plank).astype(int)
    grain = np.sin((y + 4 * np.sin(x / (17 + 5 * phase[row]) + phase[row])) * 0.9) * 9
    shade = (phase[row] - 3.14) * 3  # each plank a little lighter or darker
    value = grain + shade
    value[(y % plank) < max(1, plank // 14)] = -26  # seam
    return np.asarray(BASE["wood"], np.float32) + value[..., None] * np.array([1.0, 0.7, 0.45], np.float32)


def chalkboard(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Slate with fine grain and faint wiped smudges."""
    y, x = _grid(w, h)
    fx, fy, p = rng.uniform(0.01, 0.03), rng.uniform(0.01, 0.03), rng.uniform(0, 6.28)
    smudge = 5 * np.sin(x * fx + p) * np.sin(y * fy - p)
    grain = np.clip(rng.normal(0, 2.5, size=(h, w)), -6, 6).astype(np.float32)
    return np.asarray(BASE["chalkboard"], np.float32) + (smudge + grain)[..., None]


def paper(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Off-white sheet with a little fibre noise."""
    fibre = np.clip(rng.normal(0, 3.0, size=(h, w)), -8, 8).astype(np.float32)
    return np.asarray(BASE["paper"], np.float32) + fibre[..., None]


def brick(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Running-bond bricks, each its own shade, with light mortar joints."""
    y, x = _grid(w, h)
    course = max(8, min(w, h) // 14)
    length = course * 3
    joint = max(1, course // 7)
    row = (y // course).astype(int)
    shifted = x + (row % 2) * (length // 2)
    col = (shifted // length).astype(int)
    shades = rng.uniform(-14, 14, size=(row.max() + 1, col.max() + 2)).astype(np.float32)
    out = np.asarray(BASE["brick"], np.float32) + shades[row, col][..., None]
    mortar = ((y % course) < joint) | ((shifted % length) < joint)
    out[mortar] = MORTAR
    return out


def metal(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Brushed sheet: thin horizontal streaks and a soft highlight."""
    y, x = _grid(w, h)
    streaks = np.clip(rng.normal(0, 3.0, size=(h, 1)), -7, 7).astype(np.float32)
    highlight = 6 * np.cos((x / max(1, w) - 0.35) * 3.0)
    return np.asarray(BASE["metal"], np.float32) + (streaks + highlight)[..., None]


def cork(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Speckled cork: granules a little darker or lighter than the base."""
    speck = rng.normal(0, 6.0, size=(h, w)).astype(np.float32)
    return np.asarray(BASE["cork"], np.float32) + np.clip(speck, -14, 14)[..., None]


TEXTURES = {"wood": wood, "chalkboard": chalkboard, "paper": paper, "brick": brick, "metal": metal, "cork": cork}
assert tuple(TEXTURES) == MATERIALS


def texture(material: str, w: int, h: int, seed: int, element_id: int) -> np.ndarray:
    """The material's pixels for a w x h box: uint8 (h, w, 3)."""
    rng = np.random.default_rng([seed, element_id, MATERIALS.index(check_material(material))])
    return np.clip(TEXTURES[material](w, h, rng), 0, 255).astype(np.uint8)
