"""Generate the held-out benchmark's prompts with a model, then score the images.

    python scripts/eval_model.py --model DIR --out out/eval-model \
        [--per-kind 8] [--sizes 256x256,384x256] [--steps 20] [--guidance 1.5]

Without --model the embedded default model is used. Images go to OUT/images/
(`{id}.png`, so `blueprint eval --images OUT/images` can re-score them), the
report to OUT/ (report.json, report.md, metrics.png, grid.png). The command
line is written into the report folder so each number can be traced back.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from blueprint.errors import BlueprintError
from blueprint.eval import evaluate, load_benchmark
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.cli import resolve_model_dir
from blueprint.sizes import parse_size


def pick_rows(rows, per_kind: int, sizes: set[tuple[int, int]]):
    """The first `per_kind` rows of each kind at each requested size (file order: deterministic)."""
    picked, taken = [], {}
    for row in rows:
        key = (row.kind, (row.width, row.height))
        if key[1] in sizes and taken.get(key, 0) < per_kind:
            taken[key] = taken.get(key, 0) + 1
            picked.append(row)
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--benchmark", type=Path, default=Path("benchmarks/heldout.jsonl"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--sizes", default="256x256,384x256")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=1.5)
    parser.add_argument("--engine", default="tesseract")
    args = parser.parse_args()

    try:
        sizes = {parse_size(s) for s in args.sizes.split(",")}
        rows, _ = load_benchmark(args.benchmark)
        rows = pick_rows(rows, args.per_kind, sizes)
        if not rows:
            raise BlueprintError(f"no benchmark rows at sizes {args.sizes}")
        pipe = BlueprintPipeline.from_pretrained(resolve_model_dir(args.model))
    except BlueprintError as e:
        print(f"eval_model: error: {e}", file=sys.stderr)
        return 2

    image_dir = args.out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, seconds = {}, []
    for i, row in enumerate(rows):
        start = time.perf_counter()
        out = pipe(row.prompt, height=row.height, width=row.width, seed=row.seed,
                   num_inference_steps=args.steps, guidance_scale=args.guidance)
        seconds.append(time.perf_counter() - start)
        images[row.id] = out.images[0]
        out.images[0].save(image_dir / f"{row.id}.png")
        print(f"[{i + 1}/{len(rows)}] {row.id} {row.width}x{row.height} {seconds[-1]:.2f}s", flush=True)

    report = evaluate(images, rows, engines=args.engine, progress=True)
    report.write(args.out, images=images)
    run = {"command": " ".join(sys.argv), "torch_threads": torch.get_num_threads(),
           "mean_seconds_per_image": sum(seconds) / len(seconds), "n": len(rows)}
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(report.markdown())
    print(f"mean generation time {run['mean_seconds_per_image']:.2f}s per image; report in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
