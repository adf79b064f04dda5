"""`blueprint generate`: text to image(s) from a model folder.

    blueprint generate "A red sign that reads \\"OPEN\\"" -o out.png --size 256x256 \\
        --seed 0 --steps 20 --guidance 3 --model runs/small [--temperature T --top-p P --batch N]
        [--precision auto|fp32|bf16] [--layout-plan S] [--plan PLAN | --plan-file FILE]

`--model` defaults to the model shipped inside the package
(`blueprint/weights/default/`) once one is there. With `--batch N` the N
images are written as out-0.png .. out-{N-1}.png. `--plan` / `--plan-file`
follow a layout plan written or edited by hand (`blueprint plan` prints the
planner's, one element a line) in place of the planner's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from blueprint.errors import BlueprintError
from blueprint.choices import PRECISIONS
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS

def output_paths(output: str, batch: int) -> list[Path]:
    path = Path(output)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise BlueprintError(f"output {output!r} must end in .png, .jpg, .jpeg or .webp")
    if batch == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(batch)]


def read_plan_arg(plan: str | None, plan_file: str | None) -> str | None:
    """The layout plan of `--plan` or `--plan-file` (BlueprintError if the file cannot be read)."""
    if plan_file is None:
        return plan
    try:
        return Path(plan_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BlueprintError(f"cannot read the plan file {plan_file!r}: {e}") from None


def _progress_callback():
    """A callback driving one tqdm bar per stage (AR tokens, denoising steps)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}
    labels = {"prior": "AR prior tokens", "denoise": "denoising steps"}

    def callback(stage: str, step: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="tok" if stage == "prior" else "step")
        bar = bars[stage]
        bar.update(step - bar.n)
        if step >= total:
            bar.close()

    return callback


def run_generate(args: argparse.Namespace) -> int:
    from blueprint.models import folder
    from blueprint.pipeline.checks import check_prompts, check_sampling
    from blueprint.pipeline.pipeline import BlueprintPipeline

    if args.batch < 1:
        raise BlueprintError(f"--batch must be >= 1, got {args.batch}")
    # What needs no model is checked before loading one (seconds of start-up).
    check_prompts([args.prompt] * args.batch)
    check_sampling(args.steps, args.guidance, args.temperature, args.top_p, args.seed, args.prior_guidance,
                   args.color_plan, args.layout_plan)
    paths = output_paths(args.output, args.batch)
    plan = read_plan_arg(args.plan, args.plan_file)
    if plan is not None:  # a plan fits a size: checked at the size asked, the model's range is checked later
        from blueprint.pipeline.layout_plan import check_given_plan
        from blueprint.sizes import parse_size

        check_given_plan(plan, args.prompt, *parse_size(args.size))
    model_dir = folder.resolve_model_dir(args.model)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = BlueprintPipeline.from_pretrained(model_dir, precision=args.precision)
    lo, hi = pipe.size_range
    from blueprint.sizes import parse_size

    width, height = parse_size(args.size, lo, hi)
    out = pipe(
        [args.prompt] * args.batch,
        height=height,
        width=width,
        seed=args.seed,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        temperature=args.temperature,
        top_p=args.top_p,
        prior_guidance=args.prior_guidance,
        color_plan=args.color_plan,
        layout_plan=args.layout_plan,
        plan=plan,
        callback=None if args.quiet else _progress_callback(),
    )
    for image, path in zip(out.images, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        print(path)
    if not args.quiet:
        for plan in dict.fromkeys(out.plans or []):  # one prompt: the batch shares its plan
            print(f"layout plan: {plan}")
        t = out.timings
        print(f"prior {t['prior']:.2f}s  glyph encoder {t['glyph_encoder']:.2f}s  denoise {t['denoise']:.2f}s  "
              f"decode {t['decode']:.2f}s  total {t['total']:.2f}s")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate images from a text prompt",
                              description=__doc__.splitlines()[0])
    p.add_argument("prompt", help='the prompt; put text to draw in quotes, e.g. a sign that reads "OPEN"')
    p.add_argument("-o", "--output", default="out.png", help="image file to write (default out.png)")
    p.add_argument("--size", default="256x256", help="WIDTHxHEIGHT, multiples of 32 (default 256x256)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same image")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"denoising steps (default {DEFAULT_STEPS})")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help=f"classifier-free guidance scale, 1 = off (default {DEFAULT_GUIDANCE})")
    p.add_argument("--model", default=None, help="model folder (default: the model shipped with the package)")
    p.add_argument("--temperature", type=float, default=None, help="AR sampling temperature (default: the model's)")
    p.add_argument("--top-p", type=float, default=None, help="AR nucleus sampling p (default: the model's)")
    p.add_argument("--prior-guidance", type=float, default=None,
                   help="classifier-free guidance of the AR stage (the blueprint), 1 = off "
                        "(default: the model folder's blueprint.json, else 1)")
    p.add_argument("--color-plan", type=float, default=None, metavar="S",
                   help="lean the AR stage toward the background colour the prompt states, by S in logits; "
                        "0 = off (default: the model folder's blueprint.json, else 0)")
    p.add_argument("--layout-plan", type=float, default=None, metavar="S",
                   help="have the model's planner lay out the prompt (each element's kind, colour and box) and "
                        "lean the AR stage toward that layout by S in logits per position; 0 = off (default: "
                        "the model folder's blueprint.json, else 0)")
    given = p.add_mutually_exclusive_group()
    given.add_argument("--plan", default=None, metavar="PLAN",
                       help="follow this layout plan in place of the planner's ('kind background ; element ; "
                            "...', see `blueprint plan`); copied unless --layout-plan says how strongly")
    given.add_argument("--plan-file", default=None, metavar="FILE", help="--plan, read from a file")
    p.add_argument("--batch", type=int, default=1, help="images to generate in one batch (default 1)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="dtype of the denoiser and the VAE: auto (default) = bf16 where the CPU/GPU has it "
                        "in hardware (faster there), else fp32")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or timings")
    p.set_defaults(func=run_generate)
