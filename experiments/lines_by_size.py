"""Text read by OCR, by the font size the benchmark row asks for.

    python experiments/lines_by_size.py out/e168-true-ft-edge [out/eval-gt-2 ...]

Each DIR is an evaluation folder (`report.json`, from `blueprint eval`) over rows of the benchmark. Every text element of every
scored image is put in a bucket by its `font_size` in the row's spec. Two tables:

- words read: the share of the line's words found among the words OCR read
  from the whole image (the scorer's word accuracy, split by line). It does not
  depend on where the image puts the line;
- lines read exactly: the share of lines read exactly in a crop of their spec
  box (the scorer's per-line `match`). A line the image sets larger than, or
  beside, its spec box is cut by that crop, so this one only describes images
  laid out as the spec: ground truth, or its autoencoder round trip. The
  typeset glyph layer sets lines as large as its text boxes allow, so even
  the layer itself reads far fewer exact lines than words (docs/RESULTS.md, Ceilings).

Sizes describe the image only when its layout follows the spec: ground truth,
or a decoder given the true blueprint (`blueprint eval --model DIR --true-blueprint`).
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from blueprint.eval import load_benchmark
from blueprint.eval.text import words_of

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout.jsonl"
BUCKETS = ((0, 16), (16, 24), (24, 36), (36, 10_000))  # font sizes in pixels, [low, high)


def bucket_name(low: int, high: int) -> str:
    return f"{low} px and up" if high >= 10_000 else f"{low}-{high - 1} px"


def bucket_of(size: int) -> int:
    return next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= size < hi)


def checked_reading(image: dict, texts: dict, engine: str) -> dict:
    if image["id"] not in texts:
        raise SystemExit(f"error: image {image['id']!r} is not a row of the benchmark")
    if engine not in image["text"]:
        raise SystemExit(f"error: image {image['id']!r} was not read by {engine!r}")
    return image["text"][engine]


def word_reads(report: dict, texts: dict[str, list], engine: str) -> list[list[bool]]:
    """Per bucket, whether each word of each text line was among the words read from the image.

    A word read once counts for one target word only (the scorer's multiset), taken
    by the lines in spec order."""
    out = [[] for _ in BUCKETS]
    for image in report["images"]:
        left = Counter(words_of(checked_reading(image, texts, engine)["words_read"]))
        for element in texts[image["id"]]:
            for word in words_of(element.text):
                out[bucket_of(element.font_size)].append(left[word] > 0)
                left[word] -= left[word] > 0
    return out


def line_reads(report: dict, texts: dict[str, list], engine: str) -> list[list[bool]]:
    """Per bucket, whether each text line of the report's images was read exactly in its box."""
    out = [[] for _ in BUCKETS]
    for image in report["images"]:
        reading = checked_reading(image, texts, engine)
        sizes = {e.id: e.font_size for e in texts[image["id"]]}
        for line in reading["lines"]:
            out[bucket_of(sizes[line["element_id"]])].append(bool(line["match"]))
    return out


def table(title: str, per_folder: dict[Path, list[list[bool]]]) -> None:
    print(f"\n{title}\n")
    print("| evaluation | " + " | ".join(bucket_name(*b) for b in BUCKETS) + " |")
    print("|---" * (len(BUCKETS) + 1) + "|")
    for folder, reads in per_folder.items():
        cells = [f"{sum(r) / len(r):.2f} ({len(r)})" if r else "-" for r in reads]
        print(f"| {folder} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK)
    parser.add_argument("--engine", default="tesseract")
    args = parser.parse_args()
    rows, _ = load_benchmark(args.benchmark)
    texts = {r.id: [e for e in r.spec.elements if e.kind == "text"] for r in rows}

    missing = [str(d / "report.json") for d in args.dirs if not (d / "report.json").is_file()]
    if missing:
        print(f"error: no such report: {', '.join(missing)}", file=sys.stderr)
        return 1
    reports = {d: json.loads((d / "report.json").read_text()) for d in args.dirs}
    # the same images in every row: a ground-truth report over the whole benchmark beside
    # a model's over some of its rows compares only the rows both have
    common = set.intersection(*({image["id"] for image in r["images"]} for r in reports.values()))
    reports = {d: {"images": [i for i in r["images"] if i["id"] in common]} for d, r in reports.items()}
    print(f"{len(common)} images, those in every report")
    table("Words read from the whole image, by the font size of their line (count of words)",
          {d: word_reads(r, texts, args.engine) for d, r in reports.items()})
    table("Lines read exactly in their spec box, by font size (count of lines; only for images laid out as the spec)",
          {d: line_reads(r, texts, args.engine) for d, r in reports.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
