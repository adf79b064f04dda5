"""`blueprint eval`: generate the benchmark's prompts with a model and score the images, or score images made before.

    blueprint eval --model runs/small --out out/eval          # generate, then score
    blueprint eval --out out/eval-default --per-kind 2        # no --model (or --model default): the embedded model
    blueprint eval --images DIR --out REPORT_DIR              # score a folder of {id}.png images
    blueprint eval --ground-truth --out REPORT_DIR            # score the engine's renders (the scorer's self-check)

The benchmark is benchmarks/heldout.jsonl unless --benchmark says. Rows:
--per-kind N and --sizes take the first N rows of each kind at each size (with
a model: 8 rows at 256x256 and 384x256 unless said), then --kinds and --limit.

With a model, images go to REPORT_DIR/images/ and the glyph layer to
REPORT_DIR/ink/, and REPORT_DIR/run.json records the options and seconds
per image. The generation options apply to a model only; --no-score only
generates (score the folder later with --images).

Images are `{id}.png` in DIR, one per benchmark row. Missing or unreadable
images are skipped, and the console and the report say which; images of
another size are resized to the row's size, and the report lists them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blueprint.choices import PRECISIONS
from blueprint.errors import BlueprintError
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS

# The held-out benchmark of this checkout, wherever the command runs from.
DEFAULT_BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "heldout.jsonl"

# What a model evaluation uses unless told: enough rows per kind to compare runs in minutes.
MODEL_ROWS = {"per_kind": 8, "sizes": "256x256,384x256"}

# Options that only generation reads, and their defaults (argparse leaves them None, so that
# one given without --model can be refused).
GENERATION = {"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "temperature": None, "top_p": None,
              "prior_guidance": None, "precision": "auto", "batch": 1, "device": "cpu", "no_score": False,
              "true_blueprint": False, "true_ink": False, "compile": False, "color_plan": None,
              "layout_plan": None, "true_plan": False}


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="generate with a model and score the images against a benchmark "
                                           "(OCR text metrics and prompt adherence), or score images made before",
                              description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="DIR",
                        help="model folder to generate with, or 'default' (the embedded model; also when no "
                             "source is given)")
    source.add_argument("--images", type=Path, metavar="DIR", help="folder of {id}.png images to score")
    source.add_argument("--ground-truth", action="store_true",
                        help="render the benchmark's specs with the data engine and score those (the scorer's self-check)")
    p.add_argument("--benchmark", type=Path, default=DEFAULT_BENCHMARK, metavar="JSONL",
                   help="benchmark file, one row per line (default: benchmarks/heldout.jsonl of this checkout)")
    p.add_argument("--out", type=Path, required=True, metavar="REPORT_DIR", help="folder for report.json/.md and plots")
    p.add_argument("--engine", choices=("tesseract", "rapidocr", "both"), default="tesseract", help="OCR engine(s)")
    p.add_argument("--per-kind", type=int, metavar="N",
                   help="the first N rows of each kind at each of --sizes (default: all; with a model 8)")
    p.add_argument("--sizes", metavar="WxH,...",
                   help="only rows of these sizes (default: all; with a model 256x256,384x256)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N rows (after --kinds)")
    p.add_argument("--kinds", nargs="+", metavar="KIND", help="score only these design kinds")
    p.add_argument("--workers", type=int, default=2, help="images scored in parallel (default 2)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip malformed benchmark rows instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("generation (with a model only)")
    g.add_argument("--steps", type=int, help=f"denoising steps (default {DEFAULT_STEPS})")
    g.add_argument("--guidance", type=float, help=f"classifier-free guidance scale, 1 = off (default {DEFAULT_GUIDANCE})")
    g.add_argument("--temperature", type=float, help="AR sampling temperature (default: the model's)")
    g.add_argument("--top-p", type=float, help="AR nucleus sampling p (default: the model's)")
    g.add_argument("--prior-guidance", type=float, help="AR classifier-free guidance, 1 = off (default: the model's)")
    g.add_argument("--color-plan", type=float, metavar="S",
                   help="lean the AR stage toward the background colour the prompt states, by S in logits; 0 is off "
                        "(default: the model's)")
    g.add_argument("--layout-plan", type=float, metavar="S",
                   help="have the model's planner lay out each prompt and lean the AR stage toward that layout, "
                        "by S in logits per position; 0 is off (default: the model's)")
    g.add_argument("--precision", choices=PRECISIONS, help="dtype of the DiT and the VAE (default auto)")
    g.add_argument("--batch", type=int, help="rows of one size per pipeline call (default 1; the batch's first "
                                             "row seeds it, so images depend on it)")
    g.add_argument("--device", help="torch device (default cpu)")
    g.add_argument("--no-score", action="store_true", help="only generate (score later with --images)")
    g.add_argument("--true-blueprint", action="store_true",
                   help="feed the decoder the tokenizer's codes of the ground truth instead of the prior's")
    g.add_argument("--true-plan", action="store_true",
                   help="have the AR stage follow each row's own layout plan, written from its spec (what a "
                        "perfect planner would give), in place of the model's planner")
    g.add_argument("--true-ink", action="store_true",
                   help="with --true-blueprint: the engine's character ink as the glyph layer, not typeset text")
    g.add_argument("--compile", action="store_true",
                   help="compile the AR decode step and the DiT (faster after the first image of each size)")
    p.set_defaults(func=run)


def with_model(args) -> bool:
    return args.images is None and not args.ground_truth


def fill_defaults(args) -> None:
    """Refuse a generation option without a model; fill in the defaults of the mode."""
    if not with_model(args):
        given = [name for name in GENERATION if getattr(args, name) not in (None, False)]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise BlueprintError(f"{flag} applies to generation: it goes with --model, not --images or --ground-truth")
        return
    for name, default in {**GENERATION, **MODEL_ROWS}.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def pick_rows(rows, per_kind: int | None, sizes: str | None):
    """The first `per_kind` rows of each kind at each size in `sizes` (file order: deterministic)."""
    from blueprint.sizes import parse_size

    if per_kind is not None and per_kind < 1:
        raise BlueprintError(f"--per-kind must be at least 1, got {per_kind}")
    wanted = None if sizes is None else {parse_size(s) for s in sizes.split(",")}
    picked, taken = [], {}
    for row in rows:
        key = (row.kind, (row.width, row.height))
        if wanted is not None and key[1] not in wanted:
            continue
        if per_kind is None or taken.get(key, 0) < per_kind:
            taken[key] = taken.get(key, 0) + 1
            picked.append(row)
    if not picked:
        raise BlueprintError(f"no benchmark rows at sizes {sizes}")
    return picked


def select_rows(rows, kinds: list[str] | None, limit: int | None):
    if kinds:
        from blueprint.data.spec import ALL_KINDS

        unknown = [k for k in kinds if k not in ALL_KINDS]
        if unknown:
            raise BlueprintError(f"unknown kind(s) {', '.join(unknown)}; expected some of {', '.join(ALL_KINDS)}")
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


def generate(args, rows):
    """Generate the rows with the model (blueprint.cli.eval_model); the images by id, and seconds per image."""
    from blueprint.cli import eval_model

    # written before the model loads, so a row whose plan cannot be written stops the run at once
    plans = dict(zip((row.id for row in rows), eval_model.true_plans(rows))) if args.true_plan else None
    pipe = eval_model.load_pipeline(args)
    return eval_model.generate_rows(pipe, rows, args, args.out, plans)


def run(args) -> int:
    from blueprint.eval.benchmark import load_benchmark

    if args.out.exists() and not args.out.is_dir():
        raise BlueprintError(f"--out {args.out} exists and is not a folder")
    if args.workers < 1:
        raise BlueprintError(f"--workers must be at least 1, got {args.workers}")
    fill_defaults(args)
    if with_model(args):
        from blueprint.cli.eval_model import check_generation

        check_generation(args)  # before the benchmark and the model load
    rows, bad = load_benchmark(args.benchmark, skip_bad_rows=args.skip_bad_rows)
    for s in bad:
        print(f"skipped bad row: {args.benchmark}, line {s.line}: {s.problem}", file=sys.stderr)
    if args.per_kind is not None or args.sizes is not None:
        rows = pick_rows(rows, args.per_kind, args.sizes)
    rows = select_rows(rows, args.kinds, args.limit)
    seconds = []
    if with_model(args):
        source, seconds = generate(args, rows)
        if args.no_score:
            print(f"generated {len(source)} images into {args.out / 'images'}")
            return 0
    # the scorer (OCR engines, edit distance) only past this point: generating needs none of it
    from blueprint.eval.harness import RenderedImages, evaluate

    if not with_model(args):
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
    if seconds:
        from blueprint.cli.eval_model import write_run_record

        paths.append(args.out / "run.json")
        record = write_run_record(args.out, args, seconds)
        print(f"mean generation time {record['mean_seconds_per_image']:.2f}s per image")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
