"""OCR engines behind one interface: tesseract (primary) and RapidOCR (second opinion).

Every engine offers

- `read_image(image) -> list[OcrWord]`: every word found in a whole image,
  with its box (in the image's pixels) and a confidence in [0, 1];
- `read_line(crop) -> str`: the single line of text in a crop;
- `read(image, boxes) -> (words, lines)`: both at once, `lines[i]` being the
  line read in `boxes[i]` (with a margin); the harness calls this one.

Crops are turned into dark ink on white by `ink_image`, which removes the
effect of the design's colours and of light-on-dark text.

Tesseract: whole images are not given to tesseract's page layout analysis
(it drops text inside panels and next to shapes); two detectors find
candidate lines instead, and tesseract reads every one: `detect.find_text_lines`
(classical, from colours and letter shapes) and RapidOCR's learned detector
(`RapidOcrEngine.find_lines`, PP-OCR's DB network, detection only). Each
misses lines the other finds: the classical one drops bold text that fills
its box, text that touches a panel's border and letters cut by a colour edge;
the learned one sometimes joins a chart's labels into one box. Where their
lines overlap, the reading with more confident characters is kept
(`better_reading`), so every region is read once. The candidate lines of an image
are scaled to one height (about 2x for small text, down for huge letters,
which tesseract cannot read), stacked into one image and read in a single
tesseract call (`--psm 6`, a uniform block of text): a tesseract call has a
fixed start-up cost, so one call per image instead of one per line is what
keeps a benchmark run short. The spec's boxes (for exact match)
are read in a second call, so what is read from the image alone never
depends on the reference.

RapidOCR (PP-OCR detection + recognition) reads whole images itself; crops
go to its recogniser only. It loads three ONNX models, which is slow, so build
one engine and reuse it: `get_engine` caches one instance per name.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from blueprint.errors import BlueprintError
from blueprint.eval.detect import find_text_lines

ENGINES = ("tesseract", "rapidocr")

# Every line is scaled to this height before tesseract reads it (cap height
# ~30 px, where tesseract is most accurate), with half of it as gap between lines.
LINE_HEIGHT = 48
TESSERACT_PSM_BLOCK = 6
# Words read with less confidence than this are mostly shapes, frame corners
# and noise read as letters; clean words read with far higher confidence.
TESSERACT_MIN_CONFIDENCE = 0.6
RAPIDOCR_MIN_CONFIDENCE = 0.5
# RapidOCR's detector misses small text: whole images are upscaled to this short side.
RAPIDOCR_MIN_SIDE = 512
# Margin around a line's box before it is read: a share of its height, at
# least a few pixels, so a line slightly off its box is still whole while
# neighbouring lines (at least ~half a line away) stay out.
CROP_MARGIN_SHARE = 0.25
CROP_MARGIN_MIN = 3


@dataclass
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the input image's pixels
    confidence: float               # 0..1


def margin_box(image: Image.Image, box) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    margin = max(CROP_MARGIN_MIN, round(CROP_MARGIN_SHARE * (y1 - y0)))
    return max(0, x0 - margin), max(0, y0 - margin), min(image.width, x1 + margin), min(image.height, y1 + margin)


def crop_with_margin(image: Image.Image, box) -> Image.Image:
    return image.crop(margin_box(image, box))


def ink_image(crop: Image.Image) -> Image.Image:
    """Grey image of the crop's ink: white where it matches the crop's border colour.

    The border of a crop taken with a margin is the text's local background,
    so the colour distance to it separates ink from background whatever the
    two colours are (red on green has almost no luminance contrast).
    """
    a = np.asarray(crop.convert("RGB"), dtype=np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = np.median(border, axis=0)
    distance = np.linalg.norm(a - background, axis=2)
    peak = max(float(distance.max()), 1.0)
    grey = 255.0 - np.clip(distance / peak, 0.0, 1.0) * 255.0
    return Image.fromarray(grey.astype(np.uint8), mode="L")


def line_strip(crop: Image.Image, height: int = LINE_HEIGHT) -> Image.Image:
    """The crop's ink, scaled to `height` pixels tall."""
    ink = ink_image(crop)
    width = max(1, round(ink.width * height / ink.height))
    return ink.resize((width, height), Image.Resampling.LANCZOS)


class TesseractEnviron(Mapping):
    """This process's environment as it is at each call, with OMP_THREAD_LIMIT=1 unless set:
    what pytesseract hands to the tesseract processes it starts (its module's `environ`)."""

    def _env(self) -> dict[str, str]:
        return {"OMP_THREAD_LIMIT": "1", **os.environ}

    def __getitem__(self, key: str) -> str:
        return self._env()[key]

    def __iter__(self):
        return iter(self._env())

    def __len__(self) -> int:
        return len(self._env())


class TesseractEngine:
    name = "tesseract"

    def __init__(self):
        import pytesseract

        try:
            pytesseract.get_tesseract_version()
        except pytesseract.TesseractNotFoundError:
            raise BlueprintError(
                "tesseract is not installed (apt-get install tesseract-ocr), or not on PATH"
            ) from None
        # Tesseract is built with OpenMP and otherwise starts one thread per core
        # for every call; with several calls in parallel that oversubscribes the
        # CPU and runs slower than one thread per call. The limit goes to
        # tesseract's own environment only: set in this process's, it would reach
        # every other program started from it (a torch subprocess with it crawls).
        pytesseract.pytesseract.environ = TesseractEnviron()
        self._tesseract = pytesseract

    def read_strips(self, crops: list[Image.Image]) -> list[list[tuple[str, float, float, float]]]:
        """(word, confidence, x0, x1) of the words read in each crop, left to right, x in the
        crop's pixels; one tesseract call."""
        if not crops:
            return []
        strips = [line_strip(c) for c in crops]
        gap = LINE_HEIGHT // 2
        canvas = Image.new("L", (max(s.width for s in strips) + 2 * gap, len(strips) * (LINE_HEIGHT + gap) + gap), 255)
        for i, strip in enumerate(strips):
            canvas.paste(strip, (gap, gap + i * (LINE_HEIGHT + gap)))
        data = self._tesseract.image_to_data(
            canvas, config=f"--psm {TESSERACT_PSM_BLOCK}", output_type=self._tesseract.Output.DICT
        )
        found: list[list[tuple[float, str, float, float]]] = [[] for _ in strips]
        for i, text in enumerate(data["text"]):
            if not text.strip():
                continue
            # The strip whose span (with half the gap each side) holds the word's centre.
            centre = data["top"][i] + data["height"][i] / 2
            k = int((centre - gap / 2) // (LINE_HEIGHT + gap))
            if 0 <= k < len(strips):
                scale = crops[k].height / LINE_HEIGHT  # strip pixels -> crop pixels
                left = (data["left"][i] - gap) * scale
                found[k].append((left, text.strip(), float(data["conf"][i]) / 100.0,
                                 left + data["width"][i] * scale))
        return [[(t, c, x0, x1) for x0, t, c, x1 in sorted(words)] for words in found]

    def read(self, image: Image.Image, boxes: list) -> tuple[list[OcrWord], list[str]]:
        image = image.convert("RGB")
        # Two calls, not one: tesseract reads a stacked strip differently
        # depending on the strips around it, so the whole-image words must not
        # share a canvas with the spec's boxes. (Sharing one let the reference
        # change what was read from the image: on 25 of 96 generated images,
        # the crop of a box where the model had put no text, its faint noise
        # stretched to full contrast by `ink_image`, made words appear or vanish.)
        words = self.read_image(image)
        lines = [" ".join(w[0] for w in line)
                 for line in self.read_strips([crop_with_margin(image, b) for b in boxes])]
        return words, lines

    def read_image(self, image: Image.Image) -> list[OcrWord]:
        """Lines found by both detectors, each read once; where the two disagree on a region,
        the reading tesseract is surer of (`better_reading`). Each word's box is its own span
        of its line's box."""
        image = image.convert("RGB")
        classical = find_text_lines(image)
        learned = get_engine("rapidocr").find_lines(image)
        reads = self.read_strips([crop_with_margin(image, b) for b in classical + learned])
        kept = [(box, [w for w in line if w[1] >= TESSERACT_MIN_CONFIDENCE])
                for box, line in zip(classical + learned, reads)]
        chosen = better_reading(kept[:len(classical)], kept[len(classical):])
        words = []
        for box, line in chosen:
            left = margin_box(image, box)[0]
            for text, confidence, x0, x1 in line:
                span = (max(box[0], round(left + x0)), min(box[2], round(left + x1)))
                words.append(OcrWord(text, (span[0], box[1], max(span[0] + 1, span[1]), box[3]), confidence))
        return words

    def read_line(self, crop: Image.Image) -> str:
        line = self.read_strips([crop])[0]
        return " ".join(w[0] for w in line)


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _evidence(lines) -> float:
    """How much text a reading holds that tesseract is sure of: confident characters."""
    return sum(word[1] * len(word[0]) for _, line in lines for word in line)


def better_reading(first: list, second: list) -> list:
    """Two readings of one image, each a list of (line box, [(word, confidence)]), merged: where
    lines of the two overlap (a group joined by overlaps), the side with more `_evidence` is
    kept, the first on a tie; lines that overlap none of the other's are kept as they are. Each
    region is read once, so a word is not counted twice."""
    n = len(first)
    lines = first + second
    group = list(range(len(lines)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(n):
        for j in range(n, len(lines)):
            if _overlap(lines[i][0], lines[j][0]):
                group[root(j)] = root(i)
    chosen = []
    for g in dict.fromkeys(root(i) for i in range(len(lines))):
        members = [i for i in range(len(lines)) if root(i) == g]
        a = [lines[i] for i in members if i < n]
        b = [lines[i] for i in members if i >= n]
        chosen += a if _evidence(a) >= _evidence(b) else b
    return chosen


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR

        # The models ship inside the package: nothing is downloaded.
        self._ocr = RapidOCR()
        # The wrapper keeps per-call state on the instance, so calls are serialised.
        self._lock = threading.Lock()

    def _run(self, array: np.ndarray, **kwargs):
        with self._lock:
            result, _ = self._ocr(array, **kwargs)
        return result or []

    def find_lines(self, image: Image.Image) -> list[tuple[int, int, int, int]]:
        """Text-line boxes (x0, y0, x1, y1) from the detector alone (no recognition)."""
        big, factor = _upscaled(image)
        boxes = []
        for points in self._run(np.asarray(big.convert("RGB")), use_cls=False, use_rec=False):
            xs, ys = [p[0] / factor for p in points], [p[1] / factor for p in points]
            boxes.append((max(0, int(min(xs))), max(0, int(min(ys))),
                          min(image.width, int(max(xs)) + 1), min(image.height, int(max(ys)) + 1)))
        return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]

    def read_image(self, image: Image.Image) -> list[OcrWord]:
        image, factor = _upscaled(image)
        words = []
        for points, text, confidence in self._run(np.asarray(image.convert("RGB"))):
            confidence = float(confidence)
            if confidence < RAPIDOCR_MIN_CONFIDENCE:
                continue
            xs = [p[0] / factor for p in points]
            ys = [p[1] / factor for p in points]
            box = (int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1)
            # RapidOCR returns text lines; split them so both engines give words.
            words += [OcrWord(word, box, confidence) for word in text.split()]
        return words

    def read_line(self, crop: Image.Image) -> str:
        # Recognition only: the crop is already one line, and the detector would
        # first resize it to 736 px on its short side, which is slow for one line.
        strip = line_strip(crop).convert("RGB")
        result = self._run(np.asarray(strip), use_det=False, use_cls=False)
        return " ".join(result[0][0].split()) if result else ""

    def read(self, image: Image.Image, boxes: list) -> tuple[list[OcrWord], list[str]]:
        image = image.convert("RGB")
        return self.read_image(image), [self.read_line(crop_with_margin(image, b)) for b in boxes]


def _upscaled(image: Image.Image) -> tuple[Image.Image, int]:
    """The image scaled up by a whole factor (at most 4) to RAPIDOCR_MIN_SIDE, and the factor."""
    factor = max(1, min(4, -(-RAPIDOCR_MIN_SIDE // min(image.size))))
    if factor == 1:
        return image, 1
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS), factor


_CACHE: dict[str, TesseractEngine | RapidOcrEngine] = {}
_CACHE_LOCK = threading.Lock()


def get_engine(name: str) -> TesseractEngine | RapidOcrEngine:
    """The process-wide engine called `name` (built on first use)."""
    if name not in ENGINES:
        raise BlueprintError(f"unknown OCR engine {name!r}; expected one of {', '.join(ENGINES)}")
    with _CACHE_LOCK:
        if name not in _CACHE:
            _CACHE[name] = TesseractEngine() if name == "tesseract" else RapidOcrEngine()
        return _CACHE[name]
