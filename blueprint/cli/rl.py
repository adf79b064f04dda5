"""`blueprint rl`: GRPO post-training of the AR prior on the token reward, and its watch.

    blueprint rl --model-dir runs/rl-try --config small --steps 20 --group 4 --batch-size 2
    blueprint rl --model-dir runs/rl-try --config small --steps 40 --inner-epochs 4 --lora-rank 16 --ckpt-every 20
    blueprint rl --stage dit --model-dir runs/rl-try --config small --steps 20 --group 4 --batch-size 1 --denoise-steps 10
    blueprint rl check --model runs/rl-try --n 16

The first trains the prior of an existing model folder in place (stage `rl`:
blueprint/rl/grpo.py; checkpoints, JSONL log, exact resume and torchrun as
every `blueprint train` stage). With `--stage dit` it trains the folder's DiT
instead, on the decoder's reward (OCR of the quoted text plus pixel
adherence) with a stochastic sampler (stage `rl-dit`: blueprint/rl/decoder.py;
--temperature and --top-p are the prior's only). `check` samples held-out
prompts, scores the grids with the token reward and the decoded images with
the pixel adherence, and prints their correlation (blueprint/rl/check.py).
Heavy imports happen in the handlers, so `blueprint --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from blueprint.choices import PRECISIONS
from blueprint.cli.train import add_engine_stream_options
from blueprint.errors import BlueprintError

ACTIONS = ("train", "check")
STAGES = ("prior", "dit")
# Options whose default depends on what runs (None on the command line: this one's).
DEFAULTS = {
    "prior": {"clip": 0.2, "kl": 0.01},
    "dit": {"clip": 1e-4, "kl": 0.004, "denoise_steps": 10, "noise_level": 0.7, "guidance": 3.0, "grid": "true",
            "text_metric": "ned", "text_weight": 0.7, "adherence_weight": 0.3},
    "check": {"denoise_steps": 20},
}
DIT_ONLY = ("noise_level", "guidance", "grid", "text_metric", "text_weight", "adherence_weight")


def register(subparsers) -> None:
    p = subparsers.add_parser("rl", help="GRPO post-training of the AR prior or the DiT (`rl check`: the reward watch)",
                              description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="train", choices=ACTIONS,
                   help="train (default) or check (token reward beside pixel adherence)")
    p.add_argument("--stage", default="prior", choices=STAGES,
                   help="train: the prior (default; stage rl, token reward) or the dit (stage rl-dit, decoder reward)")
    p.add_argument("--model-dir", type=Path, help="train: the model folder to post-train in place")
    p.add_argument("--model", type=Path, help="check: the model folder to watch")
    p.add_argument("--config", default="tiny", help="the folder's model configuration: tiny (default), small, official")
    p.add_argument("--steps", type=int, default=100, help="train: total optimizer steps (default 100)")
    p.add_argument("--group", type=int, default=4, help="train: samples per prompt (default 4)")
    p.add_argument("--batch-size", type=int, default=2, help="train: prompts per step per process (default 2)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    p.add_argument("--top-p", type=float, default=1.0, help="sampling top-p (default 1: the loss's log-probabilities are then the exact sampling density)")
    p.add_argument("--clip", type=float, default=None, help="train: PPO ratio clip (default 0.2; dit 1e-4)")
    p.add_argument("--kl", type=float, default=None,
                   help="train: KL penalty to the starting model (default 0.01, k3; dit 0.004, exact Gaussian KL)")
    p.add_argument("--inner-epochs", type=int, default=1,
                   help="train: optimizer steps on each sampled batch, PPO-style (default 1; --ckpt-every must be a multiple)")
    p.add_argument("--lora-rank", type=int, default=0,
                   help="train: rank of PEFT LoRA adapters on the prior's linear layers, exported merged "
                   "(default 0: train all its weights)")
    p.add_argument("--cell-credit", type=float, default=0.0,
                   help="train: weight of the per-cell colour advantage added to each full-grid token's own "
                   "(default 0: one advantage a sample)")
    add_engine_stream_options(p)
    p.add_argument("--size", default="256x256", help="image size WIDTHxHEIGHT (default 256x256)")
    p.add_argument("--seed", type=int, default=0, help="prompt and sampling seed (default 0)")
    p.add_argument("--lr", type=float, default=None, help="train: learning rate (default 5e-6; dit 1e-5)")
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
    p.add_argument("--denoise-steps", type=int, default=None,
                   help="check: DiT sampling steps (default 20); dit: denoising steps of a rollout (default 10)")
    dit = p.add_argument_group("--stage dit (blueprint/rl/decoder.py)")
    dit.add_argument("--noise-level", type=float, default=None,
                     help="noise level a of the SDE sampler, sigma_t = a sqrt(t / (1 - t)) (default 0.7)")
    dit.add_argument("--guidance", type=float, default=None, help="classifier-free guidance of the policy (default 3)")
    dit.add_argument("--grid", default=None, choices=("true", "sampled"),
                     help="the blueprint: the ground-truth render's codes (true, default) or one AR sample per prompt")
    dit.add_argument("--text-metric", default=None, choices=("ned", "word_accuracy"),
                     help="OCR reward: 1 - normalised edit distance (ned, default) or word accuracy")
    dit.add_argument("--text-weight", type=float, default=None, help="weight of the OCR reward (default 0.7)")
    dit.add_argument("--adherence-weight", type=float, default=None,
                     help="weight of the pixel adherence reward (default 0.3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    what = "check" if args.action == "check" else args.stage
    if args.action == "check" and args.stage != "prior":
        raise BlueprintError("--stage is for training; `rl check` watches the prior's token reward")
    for name in DIT_ONLY:
        if what != "dit" and getattr(args, name) is not None:
            raise BlueprintError(f"--{name.replace('_', '-')} is for `blueprint rl --stage dit`")
    for name, value in DEFAULTS[what].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.action == "check":
        return check(args)
    return train_dit(args) if args.stage == "dit" else train(args)


def loop_args(args: argparse.Namespace):
    """The training loop's settings, checked; checkpoints only between rollouts, so a resume is exact."""
    from blueprint.train.loop import LoopArgs

    if args.ckpt_every % args.inner_epochs:
        raise BlueprintError(f"ckpt-every ({args.ckpt_every}) must be a multiple of inner-epochs "
                             f"({args.inner_epochs}): checkpoints fall between rollouts, so a resume is exact")
    loop = LoopArgs(steps=args.steps, lr=args.lr, ckpt_every=args.ckpt_every, log_every=args.log_every,
                    keep_last=args.keep_last, resume=args.resume, progress=args.progress,
                    time_limit=args.time_limit, precision=args.precision)
    loop.check()
    return loop


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise BlueprintError(f"{name} must be a finite number, got {value}")


def train(args: argparse.Namespace) -> int:
    from blueprint.models import get_config
    from blueprint.rl.grpo import RLArgs, check_rl_folder, make_stage
    from blueprint.sizes import parse_size
    from blueprint.train.data import check_engine_stream
    from blueprint.train.loop import train as run_loop
    from blueprint.train.stage import StageArgs

    if args.model_dir is None:
        raise BlueprintError("rl needs --model-dir (an existing model folder, trained in place)")
    if args.model is not None:
        raise BlueprintError("--model is for `blueprint rl check`; training takes --model-dir")
    cfg = get_config(args.config)
    size = parse_size(args.size, cfg.min_side, cfg.max_side)
    if args.batch_size < 1:
        raise BlueprintError(f"batch-size must be a positive integer, got {args.batch_size}")
    for name in ("temperature", "top_p", "clip", "kl", "cell_credit"):
        _finite(name.replace("_", "-"), getattr(args, name))
    rl = RLArgs(group=args.group, temperature=args.temperature, top_p=args.top_p, clip=args.clip, kl=args.kl,
                inner_epochs=args.inner_epochs, lora_rank=args.lora_rank, cell_credit=args.cell_credit)
    rl.check()
    loop = loop_args(args)
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


def train_dit(args: argparse.Namespace) -> int:
    """`--stage dit`: GRPO on the folder's DiT (stage rl-dit), in place."""
    from blueprint.models import get_config
    from blueprint.rl.decoder import DitRLArgs, check_dit_rl_folder, make_stage
    from blueprint.sizes import parse_size
    from blueprint.train.data import check_engine_stream
    from blueprint.train.loop import train as run_loop
    from blueprint.train.stage import StageArgs

    if args.model_dir is None:
        raise BlueprintError("rl needs --model-dir (an existing model folder, trained in place)")
    if args.model is not None:
        raise BlueprintError("--model is for `blueprint rl check`; training takes --model-dir")
    if args.lora_rank:
        raise BlueprintError("--lora-rank is for --stage prior; --stage dit trains all the DiT's weights")
    if args.cell_credit:
        raise BlueprintError("--cell-credit is for --stage prior: it reads the prior's grid cell by cell")
    cfg = get_config(args.config)
    size = parse_size(args.size, cfg.min_side, cfg.max_side)
    if args.batch_size < 1:
        raise BlueprintError(f"batch-size must be a positive integer, got {args.batch_size}")
    for name in ("clip", "kl", "noise_level", "guidance", "text_weight", "adherence_weight"):
        _finite(name.replace("_", "-"), getattr(args, name))
    rl = DitRLArgs(group=args.group, steps=args.denoise_steps, noise_level=args.noise_level, guidance=args.guidance,
                   clip=args.clip, kl=args.kl, inner_epochs=args.inner_epochs, grid=args.grid,
                   text_metric=args.text_metric, text_weight=args.text_weight, adherence_weight=args.adherence_weight)
    rl.check()
    loop = loop_args(args)
    # Refuse before the loop creates anything: it would make a fresh folder from the config.
    check_dit_rl_folder(args.model_dir, args.config, rl.grid)
    check_engine_stream("engine", args.kinds, args.caption_style)
    stage_args = StageArgs(config=args.config, out_dir=args.model_dir, size=size, batch_size=args.batch_size,
                           seed=args.seed, kinds=args.kinds, caption_style=args.caption_style)
    result = run_loop(lambda a: make_stage(a, rl), stage_args, loop)
    if result["exported"]:
        print(f"rl: trained the DiT to step {result['step']}; wrote {args.model_dir}; log {result['log']}")
    return 0
