"""`blueprint eval --model DIR`: generate benchmark rows with a model folder, for scoring.

It lives in the command-line layer because it joins the sampling pipeline and
the evaluation harness, which never import each other. `blueprint.cli.eval`
imports it inside its handler, so `blueprint --help` does not load torch.

Images go to OUT/images/ (`{id}.png`, so `blueprint eval --images
OUT/images` can score them again), the typeset glyph layer (when the model
has one) to OUT/ink/. `--batch N` generates up to N rows of one size per
pipeline call; a batch uses the seed of its first row, so images depend on N.

--true-blueprint skips the AR prior: the decoder gets the model's own
tokenizer's codes of the ground-truth render, the blueprint a perfect prior
would write. Set beside a normal run, it splits the error between the prior
and the decoder. --true-plan keeps the AR stage but has it follow each row's
plan written from its spec, in place of the planner's: set beside a run at
--layout-plan, it splits the error between the planner and the rest.
--true-ink, with --true-blueprint, also replaces the typeset glyph layer by
the data engine's exact character ink (what the decoder trained on), which
takes the typesetting out too.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from blueprint.data.plan_text import plan_of, quotes_of
from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json
from blueprint.models.folder import resolve_model_dir
from blueprint.models.glyph_layer import ink_from_char_map
from blueprint.models.image_tokenizer import perfect_prior_ids
from blueprint.models.precision import resolve_precision
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.checks import check_sampling


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
    return ink_from_char_map(torch.stack([torch.from_numpy(r.char_map.astype("int64")) for r in renders]))


def true_blueprint(pipe, renders) -> torch.Tensor:
    """Prior ids for ground-truth renders of one size: the pipeline's tokenizer's codes of each."""
    images = [np.asarray(r.image.convert("RGB")) for r in renders]
    height, width = images[0].shape[:2]
    return perfect_prior_ids(pipe.vision_language_encoder, pipe.processor.image_processor, images, width, height)


def true_plans(rows) -> list[str]:
    """Each row's layout plan written from its spec: what a perfect planner would give.

    BlueprintError naming the first row whose spec draws a text its prompt does not quote."""
    plans = []
    for row in rows:
        try:
            plans.append(plan_of(row.spec, quotes_of(row.prompt)))
        except BlueprintError as e:
            raise BlueprintError(f"--true-plan: row {row.id}: {e}") from None
    return plans


def check_generation(args) -> None:
    """Every generation option that needs no model, before anything loads or is written."""
    if args.true_ink and not args.true_blueprint:
        raise BlueprintError("--true-ink goes with --true-blueprint (the engine's ink sits where its blueprint puts text)")
    if args.true_plan and args.true_blueprint:
        raise BlueprintError("--true-plan and --true-blueprint are two ways to skip the planner: give one")
    if args.batch < 1:
        raise BlueprintError(f"--batch must be a positive integer, got {args.batch}")
    check_sampling(args.steps, args.guidance, args.temperature, args.top_p, 0, args.prior_guidance, args.color_plan,
                   args.layout_plan)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise BlueprintError(f"--device {args.device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BlueprintError(f"--device {args.device}: this torch sees no CUDA device")
    resolve_precision(args.precision, args.device)


def load_pipeline(args) -> BlueprintPipeline:
    pipe = BlueprintPipeline.from_pretrained(resolve_model_dir(args.model), device=args.device,
                                             precision=args.precision)
    return pipe.compile() if args.compile else pipe


def save_ink(ink: torch.Tensor, path: Path) -> None:
    """One (planes, H, W) glyph layer as black ink on white, its planes (letters, shapes) together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(255 - 255 * ink.amax(0).numpy().astype("uint8")).save(path)


def generate_rows(pipe: BlueprintPipeline, rows, args, out: Path,
                  plans: dict[str, str] | None = None) -> tuple[dict[str, Image.Image], list[float]]:
    """Generate every row into OUT/images (and OUT/ink); the images by id, and seconds per image of each row.
    `plans` (row id -> layout plan, `true_plans`) are followed in place of the planner's."""
    image_dir = out / "images"
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
        result = pipe([row.prompt for row in chunk], height=first.height, width=first.width, seed=first.seed,
                      num_inference_steps=args.steps, guidance_scale=args.guidance,
                      temperature=args.temperature, top_p=args.top_p, prior_token_ids=ids,
                      prior_guidance=args.prior_guidance, glyph_ink=ink, color_plan=args.color_plan,
                      layout_plan=args.layout_plan, plan=[plans[row.id] for row in chunk] if plans else None)
        seconds += [(time.perf_counter() - start) / len(chunk)] * len(chunk)
        for k, row in enumerate(chunk):
            images[row.id] = result.images[k]
            result.images[k].save(image_dir / f"{row.id}.png")
            if result.glyph_ink is not None:
                save_ink(result.glyph_ink[k], out / "ink" / f"{row.id}.png")
        print(f"[{len(images)}/{len(rows)}] {first.width}x{first.height} {seconds[-1]:.2f}s per image", flush=True)
    return images, seconds


def write_run_record(out: Path, args, seconds: list[float]) -> dict:
    """OUT/run.json: the options and the speed, so each number of the report can be traced back."""
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    record = {"command": "blueprint eval", "options": options, "torch_threads": torch.get_num_threads(),
              "mean_seconds_per_image": sum(seconds) / len(seconds), "n": len(seconds)}
    atomic_write_json(out / "run.json", record)
    return record
