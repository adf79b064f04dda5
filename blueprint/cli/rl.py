"""`blueprint rl`: GRPO post-training of the AR prior on the token reward, and its watch.

    blueprint rl --model-dir runs/rl-try --config small --steps 20 --group 4 --batch-size 2
    blueprint rl --model-dir runs/rl-try --config small --steps 40 --inner-epochs 4 --lora-rank 16 --ckpt-every 20
    blueprint rl check --model runs/rl-try --n 16

The first trains the prior of an existing model folder in place (stage `rl`:
blueprint/rl/grpo.py; checkpoints, JSONL log, exact resume and torchrun as
every `blueprint train` stage). `check` samples held-out prompts, scores the
grids with the token reward and the decoded images with the pixel
adherence, and prints their correlation (blueprint/rl/check.py). Heavy
imports happen in the handlers, so `blueprint --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from blueprint.choices import PRECISIONS
from blueprint.cli.train import add_engine_stream_options
from blueprint.errors import BlueprintError

ACTIONS = ("train", "check")


def register(subparsers) -> None:
    p = subparsers.add_parser("rl", help="GRPO post-training of the AR prior (and `rl check`: the reward watch)",
                              description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="train", choices=ACTIONS,
                   help="train (default) or check (token reward beside pixel adherence)")
    p.add_argument("--model-dir", type=Path, help="train: the model folder to post-train in place")
    p.add_argument("--model", type=Path, help="check: the model folder to watch")
    p.add_argument("--config", default="tiny", help="the folder's model configuration: tiny (default), small, official")
    p.add_argument("--steps", type=int, default=100, help="train: total optimizer steps (default 100)")
    p.add_argument("--group", type=int, default=4, help="train: samples per prompt (default 4)")
    p.add_argument("--batch-size", type=int, default=2, help="train: prompts per step per process (default 2)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling top-p (default 1: the loss's log-probabilities are then the exact sampling density)")
    p.add_argument("--clip", type=float, default=0.2, help="train: PPO ratio clip (default 0.2)")
    p.add_argument("--kl", type=float, default=0.01, help="train: k3 KL penalty to the starting prior (default 0.01)")
    p.add_argument("--inner-epochs", type=int, default=1,
                   help="train: optimizer steps on each sampled batch, PPO-style (default 1; --ckpt-every must be a multiple)")
    p.add_argument("--lora-rank", type=int, default=0,
                   help="train: rank of PEFT LoRA adapters on the prior's linear layers, exported merged "
                   "(default 0: train all its weights)")
    add_engine_stream_options(p)
    p.add_argument("--size", default="256x256", help="image size WIDTHxHEIGHT (default 256x256)")
    p.add_argument("--seed", type=int, default=0, help="prompt and sampling seed (default 0)")
    p.add_argument("--lr", type=float, default=None, help="train: learning rate (default 5e-6)")
    p.add_argument("--ckpt-every", type=int, default=50, help="train: checkpoint every N steps (default 50)")
    p.add_argument("--keep-last", type=int, default=3, help="train: checkpoints kept on disk (default 3)")
    p.add_argument("--log-every", type=int, default=1, help="train: log line every N steps (default 1)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="train: resume from the newest checkpoint (--no-resume deletes the rl checkpoints and log)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                   help="train: stop, checkpoint and export at the first step after this many minutes")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="train: auto (bf16 autocast on GPU, fp32 on CPU; default), bf16 or fp32")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar (default on)")
    p.add_argument("--n", type=int, default=8, help="check: held-out prompts (default 8)")
    p.add_argument("--denoise-steps", type=int, default=20, help="check: DiT sampling steps (default 20)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return check(args) if args.action == "check" else train(args)


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise BlueprintError(f"{name} must be a finite number, got {value}")


def train(args: argparse.Namespace) -> int:
    from blueprint.models import get_config
    from blueprint.rl.grpo import RLArgs, check_rl_folder, make_stage
    from blueprint.sizes import parse_size
    from blueprint.train.data import check_engine_stream
    from blueprint.train.loop import LoopArgs, train as run_loop
    from blueprint.train.stage import StageArgs

    if args.model_dir is None:
        raise BlueprintError("rl needs --model-dir (an existing model folder, trained in place)")
    if args.model is not None:
        raise BlueprintError("--model is for `blueprint rl check`; training takes --model-dir")
    cfg = get_config(args.config)
    size = parse_size(args.size, cfg.min_side, cfg.max_side)
    if args.batch_size < 1:
        raise BlueprintError(f"batch-size must be a positive integer, got {args.batch_size}")
    for name in ("temperature", "top_p", "clip", "kl"):
        _finite(name.replace("_", "-"), getattr(args, name))
    rl = RLArgs(group=args.group, temperature=args.temperature, top_p=args.top_p, clip=args.clip, kl=args.kl,
                inner_epochs=args.inner_epochs, lora_rank=args.lora_rank)
    rl.check()
    if args.ckpt_every % args.inner_epochs:
        raise BlueprintError(f"ckpt-every ({args.ckpt_every}) must be a multiple of inner-epochs "
                             f"({args.inner_epochs}): checkpoints fall between rollouts, so a resume is exact")
    loop = LoopArgs(steps=args.steps, lr=args.lr, ckpt_every=args.ckpt_every, log_every=args.log_every,
                    keep_last=args.keep_last, resume=args.resume, progress=args.progress,
                    time_limit=args.time_limit, precision=args.precision)
    loop.check()
    # Refuse before the loop creates anything: it would make a fresh folder from the config.
    check_rl_folder(args.model_dir, args.config)
    check_engine_stream("engine", args.kinds, args.caption_style)
    stage_args = StageArgs(config=args.config, out_dir=args.model_dir, size=size, batch_size=args.batch_size,
                           seed=args.seed, kinds=args.kinds, caption_style=args.caption_style)
    result = run_loop(lambda a: make_stage(a, rl), stage_args, loop)
    if result["exported"]:
        print(f"rl: trained the prior to step {result['step']}; wrote {args.model_dir}; log {result['log']}")
    return 0


def check(args: argparse.Namespace) -> int:
    from blueprint.models.folder import check_model_dir
    from blueprint.rl.check import reward_watch
    from blueprint.sizes import parse_size

    if args.model is None:
        raise BlueprintError("rl check needs --model (a model folder)")
    check_model_dir(args.model)
    if args.n < 1:
        raise BlueprintError(f"n must be a positive integer, got {args.n}")
    if args.denoise_steps < 1:
        raise BlueprintError(f"denoise-steps must be a positive integer, got {args.denoise_steps}")
    width, height = parse_size(args.size)
    watch = reward_watch(args.model, args.n, width, height, args.seed, args.denoise_steps,
                         args.temperature, args.top_p)
    for row in watch.rows:
        adherence = "  n/a" if row.adherence is None else f"{row.adherence:.3f}"
        print(f"reward {row.token_reward:.3f}  adherence {adherence}  {row.caption[:70]}")
    mean_adherence = watch.mean_adherence()
    print(f"mean token reward {watch.mean_reward():.3f}; mean pixel adherence "
          f"{'n/a' if mean_adherence is None else f'{mean_adherence:.3f}'}")
    print(f"correlation {watch.correlation:+.3f}" if watch.correlation is not None
          else f"correlation: none ({watch.message})")
    return 0
