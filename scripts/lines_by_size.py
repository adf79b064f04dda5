"""How many text lines OCR read exactly, by the font size the benchmark row asks for.

    python scripts/lines_by_size.py out/e168-true-ft-edge [out/eval-gt-2 ...]

Each DIR is an evaluation folder (`report.json`, from `blueprint eval` or
scripts/eval_model.py) over rows of the benchmark. Every text element of every
scored image is put in a bucket by its `font_size` in the row's spec, and the
table gives the share of them read exactly (the scorer's per-line `match`).
Sizes only describe the image when its layout is the spec's: ground truth, or
a decoder given the true blueprint (`eval_model.py --true-blueprint`).
"""

import argparse
import json
import sys
from pathlib import Path

from blueprint.eval import load_benchmark

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout.jsonl"
BUCKETS = ((0, 16), (16, 24), (24, 36), (36, 10_000))  # font sizes in pixels, [low, high)


def bucket_name(low: int, high: int) -> str:
    return f"{low} px and up" if high >= 10_000 else f"{low}-{high - 1} px"


def line_reads(report: dict, fonts: dict[str, dict[int, int]], engine: str) -> list[list[bool]]:
    """Per bucket, whether each text line of the report's images was read exactly."""
    out = [[] for _ in BUCKETS]
    for image in report["images"]:
        if image["id"] not in fonts:
            raise SystemExit(f"error: image {image['id']!r} is not a row of the benchmark")
        if engine not in image["text"]:
            raise SystemExit(f"error: image {image['id']!r} was not read by {engine!r}")
        for line in image["text"][engine]["lines"]:
            size = fonts[image["id"]][line["element_id"]]
            out[next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= size < hi)].append(bool(line["match"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK)
    parser.add_argument("--engine", default="tesseract")
    args = parser.parse_args()
    rows, _ = load_benchmark(args.benchmark)
    fonts = {r.id: {e.id: e.font_size for e in r.spec.elements if e.kind == "text"} for r in rows}

    missing = [str(d / "report.json") for d in args.dirs if not (d / "report.json").is_file()]
    if missing:
        print(f"error: no such report: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("| evaluation | " + " | ".join(bucket_name(*b) for b in BUCKETS) + " |")
    print("|---" * (len(BUCKETS) + 1) + "|")
    for folder in args.dirs:
        reads = line_reads(json.loads((folder / "report.json").read_text()), fonts, args.engine)
        cells = [f"{sum(r) / len(r):.2f} ({len(r)})" if r else "-" for r in reads]
        print(f"| {folder} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
