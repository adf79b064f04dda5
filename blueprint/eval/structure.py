"""Per-kind structure checks and material checks of user-style rows.

- `structure` (one per design of a kind that has one): found where the image
  draws each part, from the OCR reading of the whole image
  (`blueprint.eval.drawn_structure`), since a user's prompt leaves the layout
  to the model;
- `material` (one per textured surface, or per stated one): the uncovered part of
  its box names the material's colour and is not flat (a texture, not paint).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from blueprint.data.spec import Element, Spec
from blueprint.eval.adherence import Check, dominant_color, uncovered
from blueprint.eval.drawn_structure import check_drawn_structure
from blueprint.eval.ocr import OcrWord

# A textured surface's luminance varies at least this much (std, 0..255).
MIN_TEXTURE_STD = 1.5


def check_material(a, e: Element, later: list[Element]) -> Check:
    mask = uncovered(a, e, later)
    if mask.sum() < 16:
        return Check("material", f"{e.role} {e.id} is {e.material}", True, "covered")
    pixels = a[mask]
    color = dominant_color(pixels)
    std = float((pixels @ np.array([0.299, 0.587, 0.114], np.float32)).std())
    ok = color == e.color and std >= MIN_TEXTURE_STD
    return Check("material", f"{e.role} {e.id} is {e.material} ({e.color}, textured)", ok,
                 f"{color}, std {std:.1f}")


def check_structure(image: Image.Image, spec: Spec, words: list[OcrWord]) -> list[Check]:
    """The structure check of the spec's kind (if any), from `words` (the OCR reading of
    the whole image), and its material checks."""
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    checks = check_drawn_structure(a, words, spec)
    stated = None if spec.stated is None else spec.stated.get("materials", {})
    for i, e in enumerate(spec.elements):
        if e.material and (stated is None or str(e.id) in stated):
            checks.append(check_material(a, e, spec.elements[i + 1:]))
    return checks
