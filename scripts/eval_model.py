"""Generate the held-out benchmark's prompts with a model, then score the images.

    python scripts/eval_model.py --model DIR --out out/eval-model \
        [--per-kind 8] [--sizes 256x256,384x256] [--steps N] [--guidance G] \
        [--temperature T] [--top-p P] [--prior-guidance S] [--precision auto] [--batch 1] [--device cpu] [--no-score]
        [--true-blueprint [--true-ink]] [--compile]

Without --model the embedded default model is used. Images go to OUT/images/
(`{id}.png`, so `blueprint eval --images OUT/images` can re-score them), the
typeset glyph layer (if the model has one) to OUT/ink/, the report to OUT/
(report.json, report.md, metrics.png, grid.png). The command line is written
into the report folder so each number can be traced back.

--batch N generates up to N rows of one size per pipeline call (fast on a
GPU); a batch uses the seed of its first row, so images depend on N.
--no-score only generates (for a machine without OCR; score the folder later
with `blueprint eval --images OUT/images`).

--compile compiles the AR decode step and the DiT (`BlueprintPipeline.compile`):
the first image at each size compiles (tens of seconds on a CPU), the rest
run faster; images match the eager ones to within float rounding.

--true-blueprint skips the AR prior: the decoder gets the model's own
tokenizer's codes of the ground-truth render, the blueprint a perfect prior
would write. Set beside a normal run, it splits the error between the prior
and the decoder. --true-ink, with it, also replaces the typeset glyph layer by
the data engine's exact character ink (what the decoder trained on), which
takes the typesetting out too.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.eval import evaluate, load_benchmark
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.pipeline import check_sampling
from blueprint.choices import PRECISIONS
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS
from blueprint.cli.generate import resolve_model_dir
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


def batches(rows, n: int):
    """Runs of up to n consecutive rows of one size."""
    by_size: dict[tuple[int, int], list] = {}
    for row in rows:
        by_size.setdefault((row.width, row.height), []).append(row)
    for group in by_size.values():
        for i in range(0, len(group), n):
            yield group[i:i + n]


def true_ink(renders) -> torch.Tensor:
    """(B, 1, H, W) the character ink of ground-truth renders (`render(spec, with_maps=True)`, one size)."""
    from blueprint.models.glyph_layer import ink_from_char_map

    return ink_from_char_map(torch.stack([torch.from_numpy(r.char_map.astype("int64")) for r in renders]))


def true_blueprint(pipe, renders) -> torch.Tensor:
    """Prior ids for ground-truth renders of one size: the pipeline's tokenizer's codes of each."""
    import numpy as np

    from blueprint.train.prior import perfect_prior_ids

    images = [np.asarray(r.image.convert("RGB")) for r in renders]
    height, width = images[0].shape[:2]
    return perfect_prior_ids(pipe.vision_language_encoder, pipe.processor.image_processor, images, width, height)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--benchmark", type=Path, default=Path("benchmarks/heldout.jsonl"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--sizes", default="256x256,384x256")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--temperature", type=float, default=None, help="AR sampling (default: the model's)")
    parser.add_argument("--top-p", type=float, default=None, help="AR sampling (default: the model's)")
    parser.add_argument("--prior-guidance", type=float, default=None,
                        help="AR classifier-free guidance, 1 = off (default: the model's)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="dtype of the DiT and the VAE (blueprint.models.precision)")
    parser.add_argument("--engine", default="tesseract")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--score", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--true-blueprint", action="store_true",
                        help="feed the decoder the tokenizer's codes of the ground truth instead of the prior's")
    parser.add_argument("--true-ink", action="store_true",
                        help="with --true-blueprint: the engine's character ink as the glyph layer, not typeset text")
    parser.add_argument("--compile", action="store_true",
                        help="compile the AR decode step and the DiT (faster after the first image of each size)")
    args = parser.parse_args()

    try:
        sizes = {parse_size(s) for s in args.sizes.split(",")}
        rows, _ = load_benchmark(args.benchmark)
        rows = pick_rows(rows, args.per_kind, sizes)
        if not rows:
            raise BlueprintError(f"no benchmark rows at sizes {args.sizes}")
        if args.true_ink and not args.true_blueprint:
            raise BlueprintError("--true-ink goes with --true-blueprint (the engine's ink sits where its blueprint puts text)")
        if args.batch < 1:
            raise BlueprintError(f"--batch must be a positive integer, got {args.batch}")
        # before any output exists
        check_sampling(args.steps, args.guidance, args.temperature, args.top_p, 0, args.prior_guidance)
        pipe = BlueprintPipeline.from_pretrained(resolve_model_dir(args.model), device=args.device,
                                                 precision=args.precision)
        if args.compile:
            pipe.compile()
    except BlueprintError as e:
        print(f"eval_model: error: {e}", file=sys.stderr)
        return 2

    image_dir, ink_dir = args.out / "images", args.out / "ink"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, seconds = {}, []
    for chunk in batches(rows, args.batch):
        first = chunk[0]
        ids = ink = None  # the ground truth's blueprint and ink: not part of the timed generation
        if args.true_blueprint:
            renders = [render(row.spec, with_maps=args.true_ink) for row in chunk]
            ids = true_blueprint(pipe, renders)
            ink = true_ink(renders) if args.true_ink else None
        start = time.perf_counter()
        out = pipe([row.prompt for row in chunk], height=first.height, width=first.width, seed=first.seed,
                   num_inference_steps=args.steps, guidance_scale=args.guidance,
                   temperature=args.temperature, top_p=args.top_p, prior_token_ids=ids,
                   prior_guidance=args.prior_guidance, glyph_ink=ink)
        seconds += [(time.perf_counter() - start) / len(chunk)] * len(chunk)
        for k, row in enumerate(chunk):
            images[row.id] = out.images[k]
            out.images[k].save(image_dir / f"{row.id}.png")
            if out.glyph_ink is not None:
                ink_dir.mkdir(exist_ok=True)
                Image.fromarray(255 - 255 * out.glyph_ink[k, 0].numpy().astype("uint8")).save(ink_dir / f"{row.id}.png")
        print(f"[{len(images)}/{len(rows)}] {first.width}x{first.height} {seconds[-1]:.2f}s per image", flush=True)
    if not args.score:
        print(f"generated {len(images)} images into {image_dir}")
        return 0

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
