"""`blueprint eval`: score images (or the ground-truth renders) against a benchmark.

    blueprint eval --images DIR --benchmark benchmarks/heldout.jsonl --out REPORT_DIR
    blueprint eval --ground-truth --benchmark benchmarks/heldout.jsonl --out REPORT_DIR

Images are `{id}.png` in DIR, one per benchmark row. Missing or unreadable
images are skipped, and the console and the report say which; images of
another size are resized to the row's size, and the report lists them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blueprint.errors import BlueprintError


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="score images against a benchmark (OCR text metrics and prompt adherence)",
                              description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, metavar="DIR", help="folder of {id}.png images to score")
    source.add_argument("--ground-truth", action="store_true",
                        help="render the benchmark's specs with the data engine and score those (the scorer's self-check)")
    p.add_argument("--benchmark", type=Path, required=True, metavar="JSONL", help="benchmark file, one row per line")
    p.add_argument("--out", type=Path, required=True, metavar="REPORT_DIR", help="folder for report.json/.md and plots")
    p.add_argument("--engine", choices=("tesseract", "rapidocr", "both"), default="tesseract", help="OCR engine(s)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N rows (after --kinds)")
    p.add_argument("--kinds", nargs="+", metavar="KIND", help="score only these design kinds")
    p.add_argument("--workers", type=int, default=2, help="images scored in parallel (default 2)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed benchmark rows instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def select_rows(rows, kinds: list[str] | None, limit: int | None):
    if kinds:
        from blueprint.data.spec import KINDS

        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise BlueprintError(f"unknown kind(s) {', '.join(unknown)}; expected some of {', '.join(KINDS)}")
        rows = [r for r in rows if r.kind in kinds]
        if not rows:
            raise BlueprintError(f"the benchmark has no rows of kind {', '.join(kinds)}")
    if limit is not None:
        if limit < 1:
            raise BlueprintError(f"--limit must be at least 1, got {limit}")
        rows = rows[:limit]
    return rows


def grid_images(report, source) -> dict:
    """The first images of the report (for the OCR grid), from a folder or a mapping."""
    from PIL import Image

    from blueprint.eval.report import GRID_MAX

    images = {}
    for r in report.results[:GRID_MAX]:
        if isinstance(source, Path):
            with Image.open(source / f"{r.id}.png") as im:
                images[r.id] = im.convert("RGB").resize((r.width, r.height))
        else:
            images[r.id] = source[r.id]
    return images


def run(args) -> int:
    from blueprint.eval.benchmark import load_benchmark
    from blueprint.eval.harness import RenderedImages, evaluate

    if args.out.exists() and not args.out.is_dir():
        raise BlueprintError(f"--out {args.out} exists and is not a folder")
    if args.workers < 1:
        raise BlueprintError(f"--workers must be at least 1, got {args.workers}")
    rows, bad = load_benchmark(args.benchmark, skip_bad_rows=args.skip_bad_rows)
    for s in bad:
        print(f"skipped bad row: {args.benchmark}, line {s.line}: {s.problem}", file=sys.stderr)
    rows = select_rows(rows, args.kinds, args.limit)
    source = RenderedImages(rows) if args.ground_truth else args.images

    report = evaluate(source, rows, engines=args.engine, workers=args.workers, progress=not args.no_progress)
    report.bad_rows = [{"line": s.line, "problem": s.problem} for s in bad]
    paths = report.write(args.out, images=grid_images(report, source))

    print(report.markdown())
    if report.skipped:
        print(f"partial evaluation: {len(report.skipped)} of {len(rows)} images skipped "
              f"({', '.join(s.id for s in report.skipped[:10])}{' ...' if len(report.skipped) > 10 else ''})",
              file=sys.stderr)
    if bad:
        print(f"{len(bad)} bad benchmark row(s) skipped", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
