"""Ground-truth renders must be readable by OCR (the evaluation harness scores with it)."""

import shutil

import pytest
from PIL import Image

from blueprint.data import KINDS, make_spec, render

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


def test_tesseract_reads_ground_truth_words():
    import pytesseract

    found = total = 0
    for kind in KINDS:
        for seed in range(1):
            spec = make_spec(kind, 500 + seed, 256, 256, split="heldout", n_texts=1 if kind == "scene" else None)
            image = render(spec).image.resize((512, 512), Image.Resampling.LANCZOS)
            read = pytesseract.image_to_string(image, config="--psm 11").split()
            words = " ".join(spec.texts).split()
            found += sum(w in read for w in words)
            total += len(words)
    # The full check (python -m bench.data --ocr N) reads ~0.97 of words over hundreds
    # of renders; six renders leave room for a miss or two.
    assert total >= 15 and found / total >= 0.85, (found, total)
