"""Put the ablation's rows side by side: one table, one plot, one image grid.

    python experiments/ablation_report.py --out docs/ablation \
        hybrid=out/ablation/hybrid prompt=out/ablation/prompt noglyph=out/ablation/noglyph

Each NAME=DIR is a folder written by `blueprint eval --model DIR` (report.json and
images/) for one row, all from the same benchmark rows and flags. Writes
OUT/ablation.md (the table: overall, by size, and word accuracy for one text
vs two to four, the split the quality floors use), OUT/ablation.png (bars)
and OUT/ablation_grid.jpg (the same prompts across the rows).
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from blueprint.eval import load_benchmark  # noqa: E402

ENGINE = "tesseract"
GRID_ROWS = 8  # prompts in the image grid


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def fmt(v):
    return "–" if v is None else f"{v:.3f}"


def row_stats(report: dict, n_texts: dict[str, int]) -> dict:
    images = report["images"]
    acc = lambda ims: mean(im["text"][ENGINE]["word_accuracy"] for im in ims)
    stats = {
        "n": len(images),
        "word_accuracy": acc(images),
        "ned": mean(im["text"][ENGINE]["ned"] for im in images),
        "exact": mean(im["text"][ENGINE]["exact"] for im in images),
        "adherence": mean(im["adherence"] for im in images),
        "acc_1_text": acc([im for im in images if n_texts.get(im["id"]) == 1]),
        "acc_2_4_texts": acc([im for im in images if 2 <= n_texts.get(im["id"], 0) <= 4]),
    }
    for size in sorted({(im["width"], im["height"]) for im in images}):
        at = [im for im in images if (im["width"], im["height"]) == size]
        stats[f"word_accuracy {size[0]}x{size[1]}"] = acc(at)
        stats[f"adherence {size[0]}x{size[1]}"] = mean(im["adherence"] for im in at)
    return stats


def write_table(rows: dict[str, dict], path: Path) -> None:
    keys = list(next(iter(rows.values())))
    lines = ["| row | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, stats in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(stats[k]) if k == "n" else fmt(stats[k]) for k in keys) + " |")
    path.write_text("\n".join(lines) + "\n")


def write_plot(rows: dict[str, dict], path: Path) -> None:
    metrics = ["word_accuracy", "acc_1_text", "acc_2_4_texts", "ned", "adherence"]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(rows)
    for i, (name, stats) in enumerate(rows.items()):
        xs = [m + i * width for m in range(len(metrics))]
        ax.bar(xs, [stats[m] or 0 for m in metrics], width, label=name)
    ax.set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"held-out benchmark, OCR {ENGINE}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_grid(dirs: dict[str, Path], ids: list[str], path: Path, cell: int = 128) -> None:
    names = list(dirs)
    label_h = 18
    grid = Image.new("RGB", (cell * len(names), (cell + label_h) * len(ids) + label_h), "white")
    draw = ImageDraw.Draw(grid)
    for c, name in enumerate(names):
        draw.text((c * cell + 4, 2), name, fill="black")
    for r, image_id in enumerate(ids):
        y = label_h + r * (cell + label_h)
        for c, name in enumerate(names):
            file = dirs[name] / "images" / f"{image_id}.png"
            if file.is_file():
                image = Image.open(file).convert("RGB")
                image.thumbnail((cell, cell))
                grid.paste(image, (c * cell, y))
        draw.text((4, y + cell + 2), image_id, fill="black")
    grid.save(path, quality=85)  # JPEG: generated images compress badly as PNG


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help="NAME=DIR, one per row, in table order")
    parser.add_argument("--benchmark", default="benchmarks/heldout.jsonl")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    dirs = {}
    for item in args.rows:
        name, _, folder = item.partition("=")
        if not folder or not (Path(folder) / "report.json").is_file():
            print(f"ablation_report: error: {item!r} is not NAME=DIR with DIR/report.json", file=sys.stderr)
            return 2
        dirs[name] = Path(folder)
    rows, _ = load_benchmark(args.benchmark)
    n_texts = {row.id: row.n_texts for row in rows}
    reports = {name: json.loads((d / "report.json").read_text()) for name, d in dirs.items()}
    stats = {name: row_stats(report, n_texts) for name, report in reports.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(stats, args.out / "ablation.md")
    write_plot(stats, args.out / "ablation.png")
    first = next(iter(reports.values()))["images"]
    ids = [im["id"] for im in first if n_texts.get(im["id"], 0) >= 1][:: max(1, len(first) // GRID_ROWS)][:GRID_ROWS]
    write_grid(dirs, ids, args.out / "ablation_grid.jpg")
    print((args.out / "ablation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
