"""Data-engine speed: images per second on one core, with and without maps.

    python -m bench.data [--n 300] [--sizes 256x256 512x512 384x256 256x512] [--ocr N]

Each row draws fresh samples (new seeds, so text-measurement caches help only
as much as they would in training) through `sample_at`-equivalent steps:
make the spec, render it, and (with maps) build the element and char maps.
The engine has to outpace training: a GPU step on a batch of 256x256 images
waits on rendering when this falls short of the batch rate (see
`blueprint train report`'s data time).

--ocr N also reads N held-out renders per kind at 256x256 with tesseract
(2x upscale, --psm 11) and prints the share of ground-truth words found.
"""

from __future__ import annotations

import argparse
import sys
import time

import pytesseract
import torch
from PIL import Image

from bench import run_main
from blueprint.data import KINDS, make_spec, render
from blueprint.data.dataset import spec_at
from blueprint.errors import BlueprintError
from blueprint.sizes import parse_size

WARM_UP = 50  # renders before timing: fonts and word lists load once, as in a long-running loader


def time_row(start: int, n: int, width: int, height: int, with_maps: bool) -> tuple[float, float]:
    """Seconds spent making specs and rendering them, over samples [start, start + n)."""
    spec_s = render_s = 0.0
    for index in range(start, start + n):
        t0 = time.perf_counter()
        spec = spec_at(index, width, height)
        t1 = time.perf_counter()
        render(spec, with_maps=with_maps)
        t2 = time.perf_counter()
        spec_s += t1 - t0
        render_s += t2 - t1
    return spec_s, render_s


def speed_table(n_base: int, sizes: list[str]) -> None:
    print(f"{'size':>9} {'maps':>5} {'images':>7} {'spec ms':>8} {'render ms':>10} {'img/s':>7}")
    start = 0
    for text in sizes:
        width, height = parse_size(text)
        n = max(20, n_base * 256 * 256 // (width * height))  # about the same pixels per row
        for with_maps in (False, True):
            spec_s, render_s = time_row(start, n, width, height, with_maps)
            start += n
            print(f"{text:>9} {'yes' if with_maps else 'no':>5} {n:>7} {1e3 * spec_s / n:>8.2f} "
                  f"{1e3 * render_s / n:>10.2f} {n / (spec_s + render_s):>7.0f}")


def ocr_table(n: int) -> None:
    """Word accuracy of tesseract on ground-truth renders, per kind."""
    print(f"\n{'kind':>8} {'words':>6} {'exact':>6} {'any case':>9}")
    all_words = all_exact = all_nocase = 0
    for kind in KINDS:
        words = exact = nocase = 0
        for seed in range(n):
            spec = make_spec(kind, seed, 256, 256, split="heldout", n_texts=1 if kind == "scene" else None)
            image = render(spec).image.resize((512, 512), Image.Resampling.LANCZOS)
            read = pytesseract.image_to_string(image, config="--psm 11").split()
            lower = {w.lower() for w in read}
            for w in " ".join(spec.texts).split():
                words += 1
                exact += w in read
                nocase += w.lower() in lower
        print(f"{kind:>8} {words:>6} {exact / words:>6.3f} {nocase / words:>9.3f}")
        all_words, all_exact, all_nocase = all_words + words, all_exact + exact, all_nocase + nocase
    print(f"{'all':>8} {all_words:>6} {all_exact / all_words:>6.3f} {all_nocase / all_words:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="images per row at 256x256 (fewer for larger sizes)")
    parser.add_argument("--sizes", nargs="+", default=["256x256", "512x512", "384x256", "256x512"])
    parser.add_argument("--ocr", type=int, default=0, help="also measure OCR word accuracy on N renders per kind")
    args = parser.parse_args(argv)
    if args.n < 1 or args.ocr < 0:
        raise BlueprintError("--n must be a positive integer and --ocr a whole number")
    for text in args.sizes:
        parse_size(text)  # every size checked before any timing

    torch.set_num_threads(1)
    for i in range(WARM_UP):
        render(spec_at(10_000_000 + i, 256, 256))
    speed_table(args.n, args.sizes)
    if args.ocr:
        ocr_table(args.ocr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("bench.data", main))
