"""Font faces -> font files, and a cache of loaded fonts.

The set-up (`scripts/setup.sh`) installs Debian's `fonts-dejavu-core` and
`fonts-liberation2`; each face the engine knows maps to one of those files.
On a machine without those packages, `BLUEPRINT_FONT_DIR` names a folder
holding the same files, searched before the system folders.
Loading a TrueType font costs far more than drawing with it, so fonts are
cached per (face, size).

Text is laid out with Pillow's BASIC layout engine, never raqm: raqm may or may
not be installed, and the two place glyphs differently, so BASIC is what keeps
`render(spec)` byte-identical across machines.
"""

from __future__ import annotations

import functools
import os

from PIL import ImageFont

from blueprint.data.spec import FONT_FACES
from blueprint.errors import BlueprintError

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation2")
FONT_DIR_ENV = "BLUEPRINT_FONT_DIR"

FACE_FILES: dict[str, str] = {
    "sans": "DejaVuSans.ttf",
    "serif": "LiberationSerif-Regular.ttf",
    "mono": "DejaVuSansMono.ttf",
    "bold": "DejaVuSans-Bold.ttf",
}
assert tuple(FACE_FILES) == FONT_FACES
# Faces only the opt-in kinds use (notes on a whiteboard): kept out of
# FONT_FACES, which other code samples from and must not change.
FACE_FILES["hand"] = "LiberationSans-Italic.ttf"

# How captions describe each face.
FACE_WORDS: dict[str, str] = {
    "sans": "sans-serif",
    "serif": "serif",
    "mono": "monospace",
    "bold": "bold",
    "hand": "handwritten",
}


@functools.cache
def font_path(face: str) -> str:
    """Absolute path of the file for `face`, or a BlueprintError saying how to get it."""
    if face not in FACE_FILES:
        raise BlueprintError(f"unknown font face {face!r}; expected one of {', '.join(FACE_FILES)}")
    name = FACE_FILES[face]
    folders = font_dirs()
    for folder in folders:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise BlueprintError(
        f"font file {name} (face {face!r}) not found in {' or '.join(folders)}; "
        "install the fonts with scripts/setup.sh (Debian packages fonts-dejavu-core fonts-liberation2), "
        f"or name a folder holding them in {FONT_DIR_ENV}"
    )


def font_dirs() -> tuple[str, ...]:
    """The folders searched for font files: $BLUEPRINT_FONT_DIR first when set."""
    own = os.environ.get(FONT_DIR_ENV)
    return ((own,) if own else ()) + FONT_DIRS


@functools.cache
def get_font(face: str, size: int) -> ImageFont.FreeTypeFont:
    """The loaded font for (face, size), cached: loading is slow, drawing is not."""
    if size < 1:
        raise BlueprintError(f"font size must be positive, got {size}")
    return ImageFont.truetype(font_path(face), size, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=65536)
def text_bbox(face: str, size: int, text: str) -> tuple[int, int, int, int]:
    """Ink box of `text` relative to its left-ascender origin (cached: layouts re-measure a lot)."""
    return get_font(face, size).getbbox(text)


@functools.lru_cache(maxsize=65536)
def char_offsets(face: str, size: int, text: str) -> tuple[int, ...]:
    """x offset of each character from the text origin (for the per-character map)."""
    font = get_font(face, size)
    return tuple(int(round(font.getlength(text[:i]))) for i in range(len(text)))
