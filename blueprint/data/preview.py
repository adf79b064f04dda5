"""A contact sheet of samples with their captions, for eyes (and the README)."""

from __future__ import annotations

import math
import textwrap

from PIL import Image, ImageDraw

from blueprint.data.dataset import spec_at
from blueprint.data.engine import check_kinds
from blueprint.data.fonts import get_font
from blueprint.data.render import render
from blueprint.data.words import check_split
from blueprint.errors import BlueprintError
from blueprint.sizes import check_size

CAPTION_FONT = ("sans", 12)
CAPTION_LINES = 9
GUTTER = 12


def wrap(text: str, width_px: int, font) -> list[str]:
    """Greedy word wrap to a pixel width."""
    chars = max(10, int(width_px / (font.getlength("abcdefghij") / 10)))
    return textwrap.wrap(text, chars)


def preview_grid(n: int = 12, width: int = 256, height: int = 256, kinds=None, seed: int = 0,
                 split: str = "train", columns: int | None = None, progress: bool = False,
                 caption_style: str = "exact") -> Image.Image:
    """n samples in a grid, each with its caption wrapped underneath (kinds may be "all")."""
    if not isinstance(n, int) or not 1 <= n <= 256:
        raise BlueprintError(f"--n must be between 1 and 256, got {n!r}")
    check_size(width, height)
    kinds = check_kinds(kinds)
    check_split(split)
    columns = columns or min(n, max(1, round(math.sqrt(n * height / width * 1.3))))
    rows = math.ceil(n / columns)
    font = get_font(*CAPTION_FONT)
    line_h = font.size + 3
    cell_w, cell_h = width, height + 6 + CAPTION_LINES * line_h
    sheet = Image.new("RGB", (GUTTER + columns * (cell_w + GUTTER), GUTTER + rows * (cell_h + GUTTER)), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    indices = range(n)
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc="preview", unit="img")
    for i in indices:
        spec = spec_at(i, width, height, kinds=kinds, split=split, seed=seed, caption_style=caption_style)
        x = GUTTER + (i % columns) * (cell_w + GUTTER)
        y = GUTTER + (i // columns) * (cell_h + GUTTER)
        sheet.paste(render(spec).image, (x, y))
        draw.rectangle((x - 1, y - 1, x + width, y + height), outline=(200, 200, 200))
        lines = wrap(f"[{spec.kind}/{spec.layout}] {spec.caption}", cell_w, font)
        if len(lines) > CAPTION_LINES:
            lines = lines[:CAPTION_LINES]
            lines[-1] = lines[-1][: max(0, len(lines[-1]) - 3)] + "..."
        for j, line in enumerate(lines):
            draw.text((x, y + height + 6 + j * line_h), line, font=font, fill=(30, 30, 30))
    return sheet
