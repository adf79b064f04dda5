"""The named colour palette: the single source of truth for colour names.

The data engine draws only these colours, captions name them, and the
evaluation harness classifies measured pixels back to a name with
`nearest_color`. The RGB values are chosen far apart (every pair is at least
~90 apart in RGB) so that a slightly-off generated colour still maps back to
the intended name. The first ten are GenEval's colours; gray is extra.
"""

from __future__ import annotations

import functools

import numpy as np

from blueprint.errors import BlueprintError

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (250, 225, 40),
    "green": (30, 150, 60),
    "blue": (35, 80, 220),
    "purple": (130, 45, 175),
    "pink": (245, 140, 200),
    "brown": (125, 75, 35),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "gray": (135, 135, 135),
}

COLOR_NAMES = tuple(PALETTE)
PALETTE_RGB = np.array([PALETTE[n] for n in COLOR_NAMES], dtype=np.float32)  # rows in COLOR_NAMES order

# WCAG contrast ratio text must reach against whatever is behind it: 4.5, the
# WCAG threshold for body text. Lower (3.0 was tried) makes OCR miss ground
# truth on coloured backgrounds. Every palette colour keeps at least one
# readable text colour (red takes white; orange, green, pink, gray take black).
MIN_CONTRAST = 4.5


# OCR binarises a whole image with one threshold, so every surface that
# carries text in one design sits on the same side of it: all light (dark
# text) or all dark (light text). Green and gray sit near the middle and are
# used only where no text goes.
LIGHT = ("white", "yellow", "pink", "orange")
DARK = ("black", "blue", "purple", "brown", "red")


def rgb(name: str) -> tuple[int, int, int]:
    try:
        return PALETTE[name]
    except KeyError:
        raise BlueprintError(f"unknown colour {name!r}; expected one of {', '.join(PALETTE)}") from None


def nearest_color(value) -> str:
    """Name of the palette colour closest (Euclidean RGB) to an (r, g, b) value."""
    r, g, b = (float(v) for v in value[:3])
    return min(PALETTE, key=lambda n: (PALETTE[n][0] - r) ** 2 + (PALETTE[n][1] - g) ** 2 + (PALETTE[n][2] - b) ** 2)


def nearest_color_index(pixels: np.ndarray) -> np.ndarray:
    """`nearest_color` for a whole array of pixels (..., 3): indices into COLOR_NAMES."""
    p = pixels.astype(np.float32)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every c, so it is left out
    # (and no (..., n_colours, 3) array is built: 1024^2 images stay cheap).
    d = (PALETTE_RGB ** 2).sum(axis=1) - 2.0 * (p @ PALETTE_RGB.T)
    return d.argmin(axis=-1)


def luminance(color: str | tuple[int, int, int]) -> float:
    """WCAG relative luminance of a palette name or an RGB triple."""
    values = rgb(color) if isinstance(color, str) else color

    def channel(v: float) -> float:
        v = v / 255.0
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in values)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@functools.lru_cache(maxsize=4096)
def contrast(a: str | tuple[int, int, int], b: str | tuple[int, int, int]) -> float:
    """WCAG contrast ratio between two colours, 1 (same) .. 21 (black on white)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def channel_gap(a: str, b: str) -> int:
    """Largest difference between two palette colours in any one RGB channel."""
    return max(abs(x - y) for x, y in zip(rgb(a), rgb(b)))


@functools.lru_cache(maxsize=4096)
def _readable_on(backgrounds: tuple[str, ...], min_contrast: float) -> tuple[str, ...]:
    return tuple(n for n in PALETTE if all(contrast(n, bg) >= min_contrast for bg in backgrounds))


def readable_on(*backgrounds: str, min_contrast: float = MIN_CONTRAST) -> list[str]:
    """Palette colours that contrast enough with every given background colour."""
    return list(_readable_on(tuple(sorted(set(backgrounds))), min_contrast))
