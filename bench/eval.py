"""Time the evaluation harness on ground-truth renders of a benchmark and print a table.

    python -m bench.eval [--benchmark benchmarks/heldout.jsonl] [--n 24]
                         [--engines tesseract rapidocr] [--workers 1 2]

For each engine and worker count it scores the first N rows (spread over the
kinds) and reports seconds per image (wall clock, rendering excluded), the
projected time for the whole benchmark, and the scores, so a speed change can
be checked against the accuracy it costs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import run_main
from blueprint.data import render
from blueprint.errors import BlueprintError
from blueprint.eval import evaluate, load_benchmark
from blueprint.eval.harness import check_engines


def spread(rows, n):
    """Up to n rows, taking the kinds in turn."""
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    picked = []
    while len(picked) < n and any(by_kind.values()):
        for kind_rows in by_kind.values():
            if kind_rows and len(picked) < n:
                picked.append(kind_rows.pop(0))
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default=os.path.join("benchmarks", "heldout.jsonl"))
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--engines", nargs="+", default=["tesseract", "rapidocr"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args(argv)
    if args.n < 1 or min(args.workers) < 1:
        raise BlueprintError("--n and every --workers count must be positive integers")
    for engine in args.engines:
        check_engines(engine)  # before anything is rendered or printed

    all_rows, _ = load_benchmark(args.benchmark)
    rows = spread(all_rows, args.n)
    images = {row.id: render(row.spec).image for row in rows}  # rendered once, not timed

    print(f"{len(rows)} ground-truth images from {args.benchmark} ({len(all_rows)} rows in all), "
          f"{os.cpu_count()} CPUs")
    print("| engine | workers | s/image | whole benchmark | word acc | NED | exact | adherence |")
    print("|---|---|---|---|---|---|---|---|")
    for engine in args.engines:
        evaluate(dict(list(images.items())[:1]), rows[:1], engines=engine, workers=1)  # load models
        for workers in args.workers:
            start = time.perf_counter()
            report = evaluate(images, rows, engines=engine, workers=workers)
            per_image = (time.perf_counter() - start) / len(rows)
            s = report.summary()["overall"]
            m = s[engine]
            print(f"| {engine} | {workers} | {per_image:.3f} | {per_image * len(all_rows) / 60:.1f} min | "
                  f"{m['word_accuracy']:.3f} | {m['ned']:.3f} | {m['exact']:.3f} | {s['adherence']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("bench.eval", main))
