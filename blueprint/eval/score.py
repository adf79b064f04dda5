"""Score one image against its spec: text read by OCR, and prompt adherence.

For each OCR engine asked for, `score_image` reads

- the whole image once (word accuracy and NED against all of the spec's texts), and
- each text element's box, with a margin, as one line (exact match per element)

and measures the adherence checks once from pixels (they need no OCR).
The metric definitions live in `text.py` and `adherence.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PIL import Image

from blueprint.data.spec import Spec
from blueprint.eval import text as textmetrics
from blueprint.eval.adherence import Check, adherence_score, check_adherence
from blueprint.eval.ocr import OcrWord, get_engine
from blueprint.eval.structure import check_structure

@dataclass
class LineRead:
    element_id: int
    target: str
    read: str
    match: bool


@dataclass
class TextScores:
    engine: str
    words_read: list[str]
    word_accuracy: float | None   # None when the spec has no text
    ned: float | None
    exact: float | None           # share of text elements read exactly on their box
    lines: list[LineRead] = field(default_factory=list)


@dataclass
class ImageResult:
    id: str
    kind: str
    width: int
    height: int
    text: dict[str, TextScores]   # by engine name
    checks: list[Check]
    adherence: float | None
    seconds: float
    resized_from: tuple[int, int] | None = None  # the image's own size, if it was resized


def read_text(image: Image.Image, spec: Spec, engine_name: str) -> tuple[TextScores, list[OcrWord]]:
    """The engine's scores, and the words it read off the whole image (with their boxes)."""
    texts = [e for e in spec.elements if e.kind == "text"]
    found, reads = get_engine(engine_name).read(image, [e.box for e in texts])
    words = [w.text for w in found]
    lines = [LineRead(e.id, e.text, read, textmetrics.exact_match(e.text, read)) for e, read in zip(texts, reads)]
    return TextScores(
        engine=engine_name,
        words_read=words,
        word_accuracy=textmetrics.word_accuracy(spec.texts, words),
        ned=textmetrics.ned(spec.texts, words),
        exact=sum(line.match for line in lines) / len(lines) if lines else None,
        lines=lines,
    ), found


def score_image(image: Image.Image, spec: Spec, engines: tuple[str, ...] = ("tesseract",),
                image_id: str = "", resized_from: tuple[int, int] | None = None) -> ImageResult:
    """Scores of one image, which must already have the spec's size."""
    if image.size != (spec.width, spec.height):
        raise ValueError(f"image {image_id!r} is {image.size}, its spec is {spec.width}x{spec.height}")
    start = time.perf_counter()
    image = image.convert("RGB")
    reads = {name: read_text(image, spec, name) for name in engines}
    text = {name: scores for name, (scores, _) in reads.items()}
    checks = check_adherence(image, spec)
    if spec.stated is not None:  # user-style rows; the held-out benchmark keeps its checks as they were
        checks += check_structure(image, spec, reads[engines[0]][1])  # where the primary engine read the parts
    return ImageResult(
        id=image_id, kind=spec.kind, width=spec.width, height=spec.height,
        text=text, checks=checks, adherence=adherence_score(checks),
        seconds=time.perf_counter() - start, resized_from=resized_from,
    )
