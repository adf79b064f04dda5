"""Per-stage latency of BlueprintPipeline next to diffusers' GlmImagePipeline.

Both pipelines get identical random components of each configuration (random
weights cost the same as trained ones) and the same prompt, size, steps and
guidance. The DiT is built without the typeset glyph layer's input channels
for both: diffusers' pipeline has no glyph input, so this compares the same
network on the work they share. After one warm-up call each, every stage is
timed once:

    prior    AR generation of the preview + full token grids (KV cache)
    glyph_encoder  ByT5/T5 glyph embeddings (cond + uncond)
    denoise  the DiT steps
    decode   VAE decode to pixels

diffusers' stages are timed from outside (its `generate_prior_tokens` and
`encode_prompt`, then a call with the prior tokens whose last step callback
marks the end of denoising), so its glyph-encoder time is counted inside its denoise
column too; its total is its own prior + one full call.

    python -m bench.pipeline --configs tiny small --size 256x256 --threads 2

With `--model` it times a trained model folder instead (`default`: the
embedded model) end to end, the typeset glyph layer included (in the glyph
column), over held-out benchmark prompts of the requested size, one per
kind, after one warm-up call; it prints the per-stage mean, min and max:

    python -m bench.pipeline --model default --size 256x256 --threads 2 [--precision auto] [--compile]

--compile compiles the AR decode step and the DiT first (`BlueprintPipeline.compile`).
The warm-up is then two calls with prompts of different lengths, because the AR
stage compiles twice (the second time it marks the prompt length dynamic and
compiles nothing more); its time is printed beside the table.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from diffusers import GlmImagePipeline

from bench import run_main
from blueprint.choices import PRECISIONS
from blueprint.errors import BlueprintError
from blueprint.eval.benchmark import load_benchmark
from blueprint.models import build_components, count_parameters, get_config
from blueprint.models.folder import resolve_model_dir
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS
from blueprint.pipeline.checks import check_sampling
from blueprint.sizes import parse_size

STAGES = ("prior", "glyph_encoder", "denoise", "decode", "total")


def bench_blueprint(components, prompt, width, height, steps, guidance, seed, clock):
    pipe = BlueprintPipeline(components)
    pipe.clock = clock
    kw = dict(height=height, width=width, num_inference_steps=steps, guidance_scale=guidance, seed=seed)
    pipe(prompt, **kw)  # warm-up
    return pipe(prompt, **kw).timings


def bench_diffusers(components, prompt, width, height, steps, guidance, seed, clock):
    pipe = GlmImagePipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    gen = lambda: torch.Generator().manual_seed(seed)  # noqa: E731
    kw = dict(height=height, width=width, num_inference_steps=steps, guidance_scale=guidance)
    pipe(prompt, generator=gen(), **kw)  # warm-up
    marks = {}

    def on_step(p, i, t, tensors):
        marks["last_step"] = clock()
        return {}

    with torch.no_grad():
        t0 = clock()
        prior, _, _ = pipe.generate_prior_tokens(prompt, height, width, generator=gen())
        t1 = clock()
        pipe._guidance_scale = guidance
        pipe.encode_prompt(prompt, guidance > 1, device=torch.device("cpu"))
        t2 = clock()
    pipe(prompt, generator=gen(), prior_token_ids=prior, callback_on_step_end=on_step, **kw)
    t3 = clock()
    return {
        "prior": t1 - t0,
        "glyph_encoder": t2 - t1,
        "denoise": marks["last_step"] - t2,  # includes its own second glyph encoding
        "decode": t3 - marks["last_step"],
        "total": (t1 - t0) + (t3 - t2),
    }


def held_out_prompts(benchmark: str, width: int, height: int, n: int) -> list[str]:
    """n held-out prompts of one size: one per kind first, then the rest, so a short run covers every layout."""
    if n < 1:
        raise BlueprintError(f"--prompts must be a positive integer, got {n}")
    rows = [r for r in load_benchmark(benchmark)[0] if (r.width, r.height) == (width, height)]
    by_kind = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)
    ordered = [r for group in zip(*by_kind.values()) for r in group] or rows
    prompts = [r.prompt for r in ordered[:n]]
    if not prompts:
        raise BlueprintError(f"no benchmark rows at {width}x{height} in {benchmark}")
    return prompts


def bench_model(args, prompts: list[str], width: int, height: int, steps: int, clock) -> None:
    """Per-stage times of a trained model folder over held-out prompts."""
    model_dir = resolve_model_dir(args.model)
    pipe = BlueprintPipeline.from_pretrained(model_dir, precision=args.precision)
    pipe.clock = clock
    if args.compile:
        pipe.compile()
    kw = dict(height=height, width=width, num_inference_steps=steps, guidance_scale=args.guidance, seed=args.seed,
              prior_guidance=args.prior_guidance)
    warm_up = sum(pipe(p, **kw).timings["total"] for p in prompts[:2 if args.compile else 1])
    times = [pipe(p, **kw).timings for p in prompts]
    guidance = pipe.prior_guidance if args.prior_guidance is None else args.prior_guidance
    print(f"# {model_dir.name}: {len(prompts)} held-out prompts at {width}x{height}, "
          f"DiT and VAE in {pipe.transformer.dtype} (--precision {args.precision}), prior guidance {guidance}, "
          f"{'compiled' if args.compile else 'eager'}; warm-up {warm_up:.1f} s")
    print()
    print("| stage | mean (s) | min (s) | max (s) |")
    print("|---|---|---|---|")
    for stage in STAGES:
        values = [t[stage] for t in times]
        print(f"| {stage} | {sum(values) / len(values):.3f} | {min(values):.3f} | {max(values):.3f} |")


def bench_configs(args, width: int, height: int, steps: int, clock) -> None:
    """Blueprint and diffusers side by side on random components of each configuration."""
    print("# both pipelines run the same DiT, built without the glyph layer (diffusers' pipeline has no glyph input)")
    rows = []
    for name in args.configs:
        counts = count_parameters(build_components(name, device="meta", glyph_layer=False))
        total = sum(counts.values())
        print(f"# {name}: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in counts.items())
              + f"; total {total / 1e6:.1f}M = {total * 2 / 1e6:.0f} MB at fp16")
        run = (args.prompt, width, height, steps, args.guidance, args.seed, clock)
        ours = bench_blueprint(build_components(name, seed=0, glyph_layer=False), *run)
        ref = bench_diffusers(build_components(name, seed=0, glyph_layer=False), *run)
        rows.append((name, ours, ref))
    print()
    print("| config | stage | blueprint (s) | diffusers (s) | diffusers / blueprint |")
    print("|---|---|---|---|---|")
    for name, ours, ref in rows:
        for stage in STAGES:
            print(f"| {name} | {stage} | {ours[stage]:.3f} | {ref[stage]:.3f} | {ref[stage] / ours[stage]:.2f}x |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "small"])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"denoising steps (default {DEFAULT_STEPS})")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default='A red sign that reads "OPEN"')
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time, robust to other load on a shared machine "
                             "(with --threads 1 it approximates an idle single core)")
    parser.add_argument("--model", default=None,
                        help="time this trained model folder ('default': the embedded model) instead of random configs")
    parser.add_argument("--benchmark", default="benchmarks/heldout.jsonl", help="prompts for --model")
    parser.add_argument("--prompts", type=int, default=12, help="how many held-out prompts --model times")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="--model only: dtype of the DiT and the VAE (blueprint.models.precision)")
    parser.add_argument("--prior-guidance", type=float, default=None,
                        help="--model only: AR classifier-free guidance, 1 = off (default: the model's)")
    parser.add_argument("--compile", action="store_true",
                        help="--model only: compile the AR decode step and the DiT (BlueprintPipeline.compile)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads < 1:
        raise BlueprintError(f"--threads must be a positive integer, got {args.threads}")
    width, height = parse_size(args.size)
    prompts = []
    if args.model is not None:  # what needs no model is checked before the header and the load
        check_sampling(args.steps, args.guidance, None, None, args.seed, args.prior_guidance)
        prompts = held_out_prompts(args.benchmark, width, height, args.prompts)
    for name in args.configs:
        get_config(name)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"# {width}x{height}, {args.steps} steps, guidance {args.guidance}, {args.threads} threads, "
          f"{args.clock} clock, torch {torch.__version__}")
    if args.model is not None:
        bench_model(args, prompts, width, height, args.steps, clock)
    else:
        bench_configs(args, width, height, args.steps, clock)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("bench.pipeline", main))
