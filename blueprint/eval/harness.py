"""Score a set of images against benchmark rows: `evaluate(images, rows) -> Report`.

Images come from a folder (`{id}.png` per row), from a dict of PIL images
(the pipeline scores its own outputs in-process), or from the data engine
(`RenderedImages`: the ground-truth renders, the scorer's self-check).

A row whose image is missing or unreadable is skipped and listed in the
report; an image whose size differs from its row's size is resized to the
row's size (Lanczos), so boxes in the spec line up, and the report lists it
with its original size. The spec's boxes are the only place information
about layout comes from, so scoring an image at another size would measure
the wrong pixels.

Images are scored in a thread pool: tesseract runs as a subprocess per call
and RapidOCR inside onnxruntime, both outside the GIL, so threads keep two
cores busy without copying images between processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from blueprint.data import render
from blueprint.errors import BlueprintError
from blueprint.eval.benchmark import BenchmarkRow
from blueprint.eval.ocr import ENGINES, get_engine
from blueprint.eval.report import Report, SkippedImage
from blueprint.eval.score import ImageResult, score_image


class RenderedImages(Mapping):
    """Ground-truth renders of the rows' specs, drawn by the data engine when asked for."""

    def __init__(self, rows: list[BenchmarkRow]):

        self._render = render
        self._specs = {row.id: row.spec for row in rows}

    def __getitem__(self, key: str) -> Image.Image:
        return self._render(self._specs[key]).image

    def __contains__(self, key) -> bool:
        # Mapping's default would render the image just to answer.
        return key in self._specs

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def check_engines(engines) -> tuple[str, ...]:
    if isinstance(engines, str):
        engines = ENGINES if engines == "both" else (engines,)
    engines = tuple(engines)
    if not engines:
        raise BlueprintError("no OCR engine given")
    for name in engines:
        if name not in ENGINES:
            raise BlueprintError(f"unknown OCR engine {name!r}; expected one of {', '.join(ENGINES)} or both")
    return engines


def check_image_dir(path: Path) -> None:
    if not path.exists():
        raise BlueprintError(f"image folder {path} does not exist")
    if not path.is_dir():
        raise BlueprintError(f"{path} is not a folder")
    if not any(path.glob("*.png")):
        raise BlueprintError(f"image folder {path} has no .png images (expected one {{id}}.png per benchmark row)")


def load_image(source, row: BenchmarkRow) -> tuple[Image.Image, tuple[int, int] | None]:
    """The row's image at the row's size, and its original size if it was resized.

    Raises LookupError (missing) or OSError (unreadable), which the caller
    turns into a skipped row.
    """
    if isinstance(source, Path):
        path = source / f"{row.id}.png"
        if not path.is_file():
            raise LookupError(f"no file {path.name}")
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
            raise OSError(f"cannot read {path.name}: {e}") from None
    else:
        if row.id not in source:
            raise LookupError("no image given")
        image = source[row.id]
        if not isinstance(image, Image.Image):
            raise OSError(f"not a PIL image but {type(image).__name__}")
        image = image.convert("RGB")
    size = (row.width, row.height)
    if image.size == size:
        return image, None
    return image.resize(size, Image.Resampling.LANCZOS), image.size


def _score_row(source, row: BenchmarkRow, engines) -> ImageResult | SkippedImage:
    try:
        image, resized_from = load_image(source, row)
    except LookupError as e:
        return SkippedImage(row.id, "missing", str(e))
    except OSError as e:
        return SkippedImage(row.id, "unreadable", str(e))
    return score_image(image, row.spec, engines, image_id=row.id, resized_from=resized_from)


def evaluate(images: Mapping[str, Image.Image] | str | Path, rows: list[BenchmarkRow],
             engines: str | tuple[str, ...] = ("tesseract",), workers: int = 2,
             progress: bool = False) -> Report:
    """Score every row's image; rows without a usable image are skipped and reported."""
    engines = check_engines(engines)
    if not rows:
        raise BlueprintError("no benchmark rows to evaluate")
    if isinstance(images, (str, Path)):
        images = Path(images)
        check_image_dir(images)
    if workers < 1:
        raise BlueprintError(f"workers must be at least 1, got {workers}")
    for name in engines:
        get_engine(name)  # build once, up front: a missing engine fails before any work

    results: dict[str, ImageResult | SkippedImage] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_score_row, images, row, engines): row.id for row in rows}
        done = as_completed(futures)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc="eval", unit="img")
        for future in done:
            results[futures[future]] = future.result()

    ordered = [results[row.id] for row in rows]
    scored = [r for r in ordered if isinstance(r, ImageResult)]
    skipped = [r for r in ordered if isinstance(r, SkippedImage)]
    if not scored:
        where = f"folder {images}" if isinstance(images, Path) else "the images given"
        raise BlueprintError(
            f"none of the {len(rows)} benchmark rows has a usable image in {where} "
            f"(expected names like {rows[0].id}.png); first problem: {skipped[0].reason}: {skipped[0].detail}"
        )
    return Report(engines=engines, results=scored, skipped=skipped)
