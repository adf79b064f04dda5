"""Placing elements on a canvas: the `Builder` every design kind uses.

A kind cuts the canvas into disjoint rectangles ("slots") and asks the builder
to put one element in each. Text is fitted: the largest font size whose ink
fits the slot, never below the legibility floor; text that does not fit even
then is drawn again shorter, so nothing is ever clipped. Because slots are
disjoint and inside the canvas, text boxes never overlap or leave the canvas.

The element's box is the ink box of its text (`fonts.text_bbox` moved to the
text origin), which is all `render` needs to redraw it: origin = box corner
minus the bbox offset.
"""

from __future__ import annotations

import random
from typing import Callable

from blueprint.data import colors
from blueprint.data.fonts import text_bbox
from blueprint.data.spec import Element
from blueprint.data.words import TextMaker

# Legibility floor: 14 px at a 256-pixel short side, scaled with the canvas.
MIN_FONT_AT_256 = 14
MIN_FONT_ABSOLUTE = 10
# Ceiling: OCR (tesseract) stops finding lines whose glyphs are very large, so
# even a headline stays below this share of the short side.
MAX_FONT_SHARE = 0.14


def min_font_size(width: int, height: int) -> int:
    return max(MIN_FONT_ABSOLUTE, round(MIN_FONT_AT_256 * min(width, height) / 256))


def fit_size(text: str, face: str, w: int, h: int, lo: int, hi: int) -> int | None:
    """Largest size in [lo, hi] at which `text` fits a w x h box, or None.

    Ink grows about linearly with the size, so one measurement at `lo` gives a
    close guess; a few exact measurements around it settle the answer.
    """
    def fits(size: int) -> bool:
        x0, y0, x1, y1 = text_bbox(face, size, text)
        return x1 - x0 <= w and y1 - y0 <= h

    if hi < lo or not fits(lo):
        return None
    x0, y0, x1, y1 = text_bbox(face, lo, text)
    guess = int(lo * min(w / max(1, x1 - x0), h / max(1, y1 - y0)))
    size = max(lo, min(hi, guess))
    while size > lo and not fits(size):
        size -= 1
    while size < hi and fits(size + 1):
        size += 1
    return size


class Builder:
    """Collects the elements of one design and hands out ids in drawing order."""

    def __init__(self, width: int, height: int, rng: random.Random, split: str, background: str):
        self.width, self.height = width, height
        self.rng = rng
        self.text = TextMaker(rng, split)
        self.background = background
        self.layout = ""
        self.elements: list[Element] = []
        self.min_font = min_font_size(width, height)
        self.max_font = max(self.min_font, round(MAX_FONT_SHARE * min(width, height)))

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    def _add(self, **fields) -> Element:
        element = Element(id=len(self.elements) + 1, **fields)
        self.elements.append(element)
        return element

    def panel(self, box, color: str, role: str = "panel", shape: str | None = None,
              material: str | None = None) -> Element:
        return self._add(kind="panel", role=role, box=[int(v) for v in box], color=color,
                         rgb=list(colors.rgb(color)), shape=shape, material=material)

    def shape(self, box, shape: str, color: str, role: str | None = None) -> Element:
        return self._add(kind="shape", role=role or shape, box=[int(v) for v in box], color=color,
                         rgb=list(colors.rgb(color)), shape=shape)

    def bar(self, box, color: str, value: float) -> Element:
        return self._add(kind="bar", role="bar", box=[int(v) for v in box], color=color,
                         rgb=list(colors.rgb(color)), value=value)

    @property
    def surfaces(self) -> tuple[str, ...]:
        """Colours text may sit on in this design: the background's class, light or dark."""
        return colors.LIGHT if self.background in colors.LIGHT else colors.DARK

    def backdrop(self, *avoid: str) -> str:
        """A colour for a panel that carries text: same class as the background, but not it.

        Preferably close to the background in every channel: OCR thresholds
        each colour channel, and a channel that tells panel from background
        apart turns the panel into a blob it will not read text inside.
        """
        options = [c for c in self.surfaces if c != self.background and c not in avoid]
        close = [c for c in options if colors.channel_gap(c, self.background) <= 110]
        if close:
            return self.rng.choice(close)
        return min(options, key=lambda c: (colors.channel_gap(c, self.background), c))

    def text_color(self, *backdrops: str) -> str:
        """A colour of the opposite class that is readable on every backdrop."""
        ink = colors.DARK if self.surfaces == colors.LIGHT else colors.LIGHT
        options = [c for c in colors.readable_on(*backdrops) if c in ink]
        if not options:
            raise RuntimeError(f"no readable text colour on {backdrops}")
        return self.rng.choice(options)

    def text_in(
        self,
        slot,
        make: Callable[[int], str | None],
        role: str,
        face: str,
        color: str,
        align: str = "center",
        max_size: int | None = None,
        min_size: int | None = None,
    ) -> Element | None:
        """Fit a text made by `make(max_chars)` into slot [x0, y0, x1, y1].

        Tries shorter texts until one fits at >= min_size; returns None (adds
        nothing) if the slot is too small for even a three-letter word.
        """
        x0, y0, x1, y1 = self.inset(slot)
        w, h = x1 - x0, y1 - y0
        lo = min_size or self.min_font
        hi = max(lo, min(max_size or h * 2, self.max_font))
        # Widest glyphs are ~0.75 em; start from what could fit, then shorten.
        max_chars = max(3, int(w / (0.62 * lo)))
        for _ in range(30):
            text = make(max_chars)
            if text and face == "mono" and any(c in text for c in ".,'"):
                # Monospace punctuation leaves a wide gap that OCR splits words at.
                face = "sans"
            # Ink may take 80% of the slot's height: a line gap OCR can see.
            size = fit_size(text, face, w, int(h * 0.8), lo, hi) if text else None
            if size is not None:
                break
            max_chars = max(3, max_chars - 2) if text is None or len(text) <= max_chars else max_chars
            if text is not None:
                max_chars = min(max_chars, max(3, len(text) - 1))
        else:
            return None
        e = self._add(kind="text", role=role, box=[0, 0, 1, 1], color=color, rgb=list(colors.rgb(color)),
                      text=text, font=face, font_size=size)
        self.place(e, slot, size, align)
        return e

    def line_height(self, size: int | None = None) -> int:
        """Smallest slot height that holds a line at `size` (default: the floor) in text_in."""
        size = size or self.min_font
        return int(size * 1.25 / 0.8) + 2 * max(1, self.min_font // 5) + 1

    def inset(self, slot) -> tuple[int, int, int, int]:
        """The part of a slot text may use: an inset keeps texts in neighbouring
        slots apart (OCR merges lines and words that touch)."""
        d = max(1, self.min_font // 5)
        x0, y0, x1, y1 = (int(v) for v in slot)
        return x0 + d, y0 + d, x1 - d, y1 - d

    def place(self, e: Element, slot, size: int, align: str = "center") -> None:
        """(Re)position text element `e` at font `size` inside slot; the size must fit."""
        x0, y0, x1, y1 = self.inset(slot)
        bx0, by0, bx1, by1 = text_bbox(e.font, size, e.text)
        tw, th = bx1 - bx0, by1 - by0
        if tw > x1 - x0 or th > y1 - y0:
            raise ValueError(f"{e.text!r} at {size}px does not fit slot {slot}")
        if align == "left":
            left = x0
        elif align == "right":
            left = x1 - tw
        else:
            left = x0 + (x1 - x0 - tw) // 2
        top = y0 + (y1 - y0 - th) // 2
        e.font_size = size
        e.box = [left, top, left + tw, top + th]
