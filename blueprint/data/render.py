"""Draw a `Spec`: the RGB image and, on request, the per-pixel semantic maps.

Everything needed is in the spec: elements are drawn in id order (later on
top), text at origin = box corner minus the font's bbox offset. The maps are
drawn with antialiasing off so every pixel holds an exact id:

- `element_map[y, x]`: id of the topmost element there (0 = background). Text
  counts only where its ink is.
- `char_map[y, x]`: `CHARSET.index(ch)` of the character whose ink is there.
  CHARSET is printable ASCII starting with the space, so 0 (space) also means
  "no character": a space has no ink. A text's ink is split between its
  characters at their advance boundaries (vectorised; drawing every glyph
  alone would be several times slower).
- `shape_ink[y, x]`: True where a bar, an arrow, a shape or a thin rule is
  the topmost element (`INKED_ROLES`): what the glyph layer may carry
  besides letters (blueprint/models/glyph_layer.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from blueprint.data.fonts import char_offsets, get_font, text_bbox
from blueprint.data.materials import texture
from blueprint.data.spec import MATERIALS, Element, Spec
from blueprint.errors import BlueprintError

CHARSET = "".join(chr(c) for c in range(32, 127))
# Panels drawn as lines: thinner than the blueprint's 16-px cells, like bars, arrows and shapes.
INKED_ROLES = ("arrow", "axis", "rule")


@dataclass
class Rendered:
    image: Image.Image                    # RGB, spec.width x spec.height
    element_map: np.ndarray | None = None  # uint8 (H, W)
    char_map: np.ndarray | None = None     # uint8 (H, W)
    # uint8 (H, W): 1 + MATERIALS.index(material) of the topmost element there, 0 = none.
    material_map: np.ndarray | None = None
    shape_ink: np.ndarray | None = None     # bool (H, W): bars, arrows, shapes, rules (`inked_shape`)


def star_points(box) -> list[tuple[float, float]]:
    """A five-pointed star filling `box`, point up (deterministic float maths)."""
    x0, y0, x1, y1 = box
    cx, rx = (x0 + x1 - 1) / 2, (x1 - x0 - 1) / 2
    # The top point is one radius above the centre, the lowest points
    # sin(54 deg) of a radius below it: choose the radius so both touch the box.
    ry = (y1 - 1 - y0) / (1 + math.sin(math.radians(54)))
    cy = y0 + ry
    points = []
    for i in range(10):
        r = 1.0 if i % 2 == 0 else 0.42
        a = math.radians(-90 + 36 * i)
        points.append((round(cx + rx * r * math.cos(a), 3), round(cy + ry * r * math.sin(a), 3)))
    return points


def arrow_width(width: int, height: int) -> int:
    """Shaft width of the arrows of a canvas. An arrow's box is its segment's
    bounding box grown by 2 x this on every side (room for the head), so the
    box and the canvas size fix the drawing."""
    return max(2, round(min(width, height) / 96))


def arrow_points(box, shape: str, t: int) -> list[tuple[float, float]]:
    """Outline of a block arrow (shaft t wide + head) inside box, pointing as `shape` says."""
    x0, y0, x1, y1 = box
    r = 2 * t
    left, top, right, bottom = x0 + r, y0 + r, x1 - 1 - r, y1 - 1 - r
    cx, cy = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2
    d = shape[len("arrow_"):]
    sx = left if "e" in d else right if "w" in d else cx
    ex = right if "e" in d else left if "w" in d else cx
    sy = top if "s" in d else bottom if "n" in d else cy
    ey = bottom if "s" in d else top if "n" in d else cy
    length = max(1e-6, math.hypot(ex - sx, ey - sy))
    ux, uy = (ex - sx) / length, (ey - sy) / length
    nx, ny = -uy, ux
    head = min(r * 1.5, length * 0.6)
    bx, by = ex - ux * head, ey - uy * head
    half = t / 2
    points = [(sx + nx * half, sy + ny * half), (bx + nx * half, by + ny * half), (bx + nx * r, by + ny * r),
              (ex, ey), (bx - nx * r, by - ny * r), (bx - nx * half, by - ny * half), (sx - nx * half, sy - ny * half)]
    return [(round(px, 3), round(py, 3)) for px, py in points]


def draw_area(draw: ImageDraw.ImageDraw, e: Element, fill, arrow_t: int = 2) -> None:
    """Draw a panel, shape or bar (everything but text) filling its box (arrows: shaft arrow_t wide)."""
    x0, y0, x1, y1 = e.box
    box = (x0, y0, x1 - 1, y1 - 1)  # PIL boxes are inclusive
    shape = e.shape if e.kind in ("shape", "panel") else None
    if shape and shape.startswith("arrow_"):
        draw.polygon(arrow_points(e.box, shape, arrow_t), fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=fill)
    elif shape == "star":
        draw.polygon(star_points(e.box), fill=fill)
    else:  # square shapes, rectangular panels, bars
        draw.rectangle(box, fill=fill)


def text_origin(e: Element) -> tuple[int, int]:
    bx0, by0, _, _ = text_bbox(e.font, e.font_size, e.text)
    return e.box[0] - bx0, e.box[1] - by0


def render(spec: Spec, with_maps: bool = False) -> Rendered:
    """Draw `spec`; with_maps adds the element and character maps."""
    size = (spec.width, spec.height)
    image = Image.new("RGB", size, tuple(spec.background_rgb))
    draw = ImageDraw.Draw(image)
    if with_maps:
        emap = Image.new("L", size, 0)
        edraw = ImageDraw.Draw(emap)
        edraw.fontmode = "1"  # no antialiasing: exact ids
    if len(spec.elements) > 255:
        raise BlueprintError(f"spec has {len(spec.elements)} elements; the uint8 element map holds 255")
    texts = []
    t = arrow_width(spec.width, spec.height)
    for e in spec.elements:
        if e.kind != "text":
            draw_area(draw, e, tuple(e.rgb), t)
            if e.material:
                paste_material(image, e, spec.seed)
            if with_maps:
                draw_area(edraw, e, e.id, t)
            continue
        if any(not (32 <= ord(c) < 127) for c in e.text):
            raise BlueprintError(f"element {e.id}: text {e.text!r} has characters outside printable ASCII")
        font = get_font(e.font, e.font_size)
        origin = text_origin(e)
        draw.text(origin, e.text, font=font, fill=tuple(e.rgb))
        if with_maps:
            paste_text_ink(emap, e, font, origin)
            texts.append((e, origin))
    if not with_maps:
        return Rendered(image)
    element_map = np.asarray(emap, dtype=np.uint8).copy()
    return Rendered(image, element_map, char_map(element_map, texts), material_map(element_map, spec),
                    shape_ink_map(element_map, spec))


def inked_shape(e: Element) -> bool:
    """Whether the glyph layer may carry e's ink: a bar, a shape, an arrow or a rule, drawn
    finer than the blueprint's cells hold (a panel is a surface: its cells draw it)."""
    return e.kind in ("shape", "bar") or e.role in INKED_ROLES


def shape_ink_map(element_map: np.ndarray, spec: Spec) -> np.ndarray:
    """Per pixel, whether the topmost element there is an `inked_shape` (text on it wins)."""
    table = np.zeros(256, bool)
    for e in spec.elements:
        table[e.id] = inked_shape(e)
    return table[element_map]


def paste_material(image: Image.Image, e: Element, seed: int) -> None:
    """Cover element e's shape (drawn flat just before) with its material's texture."""
    x0, y0, x1, y1 = e.box
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    moved = Element(id=e.id, kind=e.kind, role=e.role, box=[0, 0, x1 - x0, y1 - y0], color=e.color,
                    rgb=e.rgb, shape=e.shape)
    draw_area(ImageDraw.Draw(mask), moved, 255)
    tile = Image.fromarray(texture(e.material, x1 - x0, y1 - y0, seed, e.id), "RGB")
    image.paste(tile, (x0, y0), mask)


def material_map(element_map: np.ndarray, spec: Spec) -> np.ndarray:
    """Per pixel, 1 + the material index of the element there (0: no material).

    Text on a material counts as text, not material: the map follows the
    element map, where the topmost element wins.
    """
    table = np.zeros(256, np.uint8)
    for e in spec.elements:
        if e.material:
            table[e.id] = 1 + MATERIALS.index(e.material)
    return table[element_map]


def paste_text_ink(emap: Image.Image, e: Element, font, origin) -> None:
    """Write e.id where the text's (non-antialiased) ink is, within its box.

    Unhinted monochrome glyphs can reach a pixel past the antialiased ink box;
    drawing into a box-sized mask keeps the map inside the element's box.
    """
    x0, y0, x1, y1 = e.box
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(mask)
    draw.fontmode = "1"  # no antialiasing: exact ids
    draw.text((origin[0] - x0, origin[1] - y0), e.text, font=font, fill=255)
    emap.paste(e.id, (x0, y0, x1, y1), mask)


def char_map(element_map: np.ndarray, texts) -> np.ndarray:
    """Label each text's ink pixels with the CHARSET index of the character at that column."""
    out = np.zeros_like(element_map)
    height, width = element_map.shape
    for e, (ox, oy) in texts:
        x0, y0, x1, y1 = max(0, e.box[0] - 2), max(0, e.box[1] - 2), min(width, e.box[2] + 2), min(height, e.box[3] + 2)
        starts = np.asarray(char_offsets(e.font, e.font_size, e.text)) + ox
        codes = np.frombuffer(e.text.encode("ascii"), dtype=np.uint8) - 32
        column_char = np.searchsorted(starts, np.arange(x0, x1), side="right") - 1
        column_code = codes[np.clip(column_char, 0, len(codes) - 1)]
        ink = element_map[y0:y1, x0:x1] == e.id
        region = out[y0:y1, x0:x1]
        region[ink] = np.broadcast_to(column_code, ink.shape)[ink]
    return out
