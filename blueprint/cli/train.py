"""`blueprint train STAGE`: one entry point for every training stage.

    blueprint train vae --config tiny --model-dir runs/tiny --steps 20
    blueprint train report runs/tiny                 # steps, loss and time per step of each stage
    blueprint train reset dit runs/tiny              # a fresh DiT, to train again from the same start

Stages run in order into one model folder (vae, image-tokenizer, glyph-encoder,
dit, prior); each reads what earlier stages wrote and writes back its own
component(s). `vae-decoder` is optional and may run at any point after `vae`:
it sharpens the VAE's decoder side and leaves the latent space as it is.
Under `torchrun --nproc_per_node N -m blueprint.cli train ...` the same
command trains data-parallel. Heavy imports happen in the handler.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from blueprint.choices import CONDITIONINGS, PARALLEL, PRECISIONS, PREVIEW_GRIDS
from blueprint.cli.train_tools import register_tools
from blueprint.errors import BlueprintError
from blueprint.train.registry import MULTI_SIZE_STAGES, RENAMED_STAGES, STAGES, resolve_stage

# What each stage trains, for `blueprint train --help` (the stage modules stay unimported).
STAGE_HELP = {
    "vae": "the autoencoder the DiT works in",
    "image-tokenizer": "the semantic image tokenizer (the prior's targets) and its semantic head",
    "glyph-encoder": "the glyph encoder (T5 over ByT5 bytes) of the quoted text",
    "dit": "the diffusion decoder (DiT), by flow matching",
    "prior": "the autoregressive model that writes the image tokens (the blueprint)",
    "planner": "the layout planner (a small T5) that writes each element's kind, colour and box from the prompt",
    "vae-decoder": "the autoencoder's decoder again, sharper, on the same latent space (optional, after vae)",
}


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train one stage into a model folder; report on a folder's training, or reset a stage",
        description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = train.add_subparsers(dest="stage", required=True, metavar="STAGE",
                               help=f"a stage ({', '.join(STAGES)}), or report, or reset")
    for name in STAGES:
        about = STAGE_HELP.get(name, f"stage {name}")
        add_stage_options(sub.add_parser(name, help=f"train {about}", description=f"blueprint train {name}: {about}"))
    for old in RENAMED_STAGES:  # unlisted: running one says its new name
        add_stage_options(sub.add_parser(old))
    register_tools(sub)


def add_engine_stream_options(p: argparse.ArgumentParser) -> None:
    """Which of the engine's designs and prompts a stage trains on (train and rl)."""
    p.add_argument("--kinds", default=None,
                   help="engine data: design kinds drawn in turn, comma-separated, or 'all' (default: the "
                        "original six, the stream the embedded model trained on)")
    p.add_argument("--caption-style", default="exact", choices=("exact", "user", "mixed"),
                   help="engine data: exact captions (default), short user-style prompts, or both in turn")


def add_stage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="tiny", help="model configuration (blueprint/models/configs.py): tiny (default), small or official")
    p.add_argument("--model-dir", required=True, type=Path, help="run folder: components, checkpoints, logs")
    p.add_argument("--steps", type=int, default=1000, help="total optimizer steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=8, help="images (glyph-encoder: words) per step per process (default 8)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the stage's own)")
    p.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps (default 0)")
    p.add_argument("--cooldown", type=int, default=0, metavar="N",
                   help="decay the learning rate linearly towards 0 over the last N of --steps (default 0: none)")
    p.add_argument("--ema-decay", type=float, default=None, help="EMA decay (default: the stage's own)")
    p.add_argument("--size", default="256x256",
                   help="training image size WIDTHxHEIGHT (default 256x256); vae-decoder, dit and prior also "
                        "take a comma-separated list, one size per step in turn (e.g. 256x256,384x256,256x384)")
    p.add_argument("--data", default="engine",
                   help="'engine' (procedural data, default), a folder of shards written by `blueprint data "
                        "shards` (at the training size), or a folder of images + .txt captions")
    add_engine_stream_options(p)
    p.add_argument("--seed", type=int, default=0, help="data and initialisation seed (default 0)")
    p.add_argument("--ckpt-every", type=int, default=500, help="checkpoint every N steps (default 500)")
    p.add_argument("--keep-last", type=int, default=3, help="checkpoints kept on disk (default 3)")
    p.add_argument("--log-every", type=int, default=10, help="log line every N steps (default 10)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="resume from the newest checkpoint (--no-resume deletes this stage's checkpoints and log)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes drawing batches ahead (default: 0 on CPU, up to 8 on GPU)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                   help="stop, checkpoint and export at the first step after this many minutes of training "
                        "(a fixed GPU budget; the steps reached are logged)")
    p.add_argument("--conditioning", default="blueprint", choices=CONDITIONINGS,
                   help="dit only: 'blueprint' (prior tokens + quoted text + typeset glyph layer, the design), "
                        "'prompt' (no prior tokens, no glyph layer, the whole prompt through the text encoder: the "
                        "pure-diffusion baseline) or 'noglyph' (the design without the glyph layer)")
    p.add_argument("--batch-reuse", type=int, default=1, metavar="N",
                   help="dit only: train N steps in a row on each rendered batch (fresh noise, timesteps and "
                        "drops), running the frozen VAE encoder and tokenizer once per batch: about 1.5x the "
                        "steps on a CPU at N=2 (default 1)")
    p.add_argument("--text-weight", type=float, default=4.0,
                   help="dit and vae-decoder: extra loss weight at and beside text ink (latent cells for the "
                        "DiT, pixels for vae-decoder), so letter strokes are not drowned by flat "
                        "backgrounds (default 4; 0 = unweighted)")
    p.add_argument("--edge-weight", type=float, default=0.0,
                   help="dit only: extra loss weight on latent cells at and beside colour edges of the "
                        "image (shapes, chart bars, panel borders: what the text weight leaves at weight 1); "
                        "works on folder data too (default 0)")
    p.add_argument("--shape-ink", type=float, default=0.0, metavar="P",
                   help="dit only: train the glyph layer's shape plane (added with zero weights to a DiT "
                        "that lacks one) on this share of the images: the ink of their bars, arrows, shapes and "
                        "rules, as a followed layout plan gives it at sampling time; the rest see an empty "
                        "plane, as without a plan (default 0: no shape plane added)")
    p.add_argument("--prompt-drop", type=float, default=0.1, metavar="P",
                   help="prior only: train this share of prompts as the empty prompt, so the prior can sample "
                        "with classifier-free guidance (blueprint generate --prior-guidance; default 0.1)")
    p.add_argument("--token-noise", type=float, default=0.0, metavar="P",
                   help="prior only: replace this share of the image tokens the prior reads (never the ones it "
                        "must predict) by random codes, so it leans on its prompt more than on copying the "
                        "tokens before (default 0)")
    p.add_argument("--content-weight", type=float, default=0.0, metavar="W",
                   help="prior only: extra loss weight on the grid tokens that the model's semantic head reads "
                        "as text, a shape or a bar (what prompts count, colour and place), not background or "
                        "panel; works on folder data too (default 0 = unweighted)")
    p.add_argument("--preview-grid", default=None, choices=PREVIEW_GRIDS,
                   help="prior only: the preview grid the AR model writes before the full grid: 'official' "
                        "(GLM-Image's, about 256 tokens at any size) or 'half' (half the full grid per side); "
                        "written to the folder's blueprint.json on export (default: the folder's, else official)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="forward pass precision: auto (bf16 autocast on GPU, fp32 on CPU; default), bf16 "
                        "(autocast on any device) or fp32 (no autocast: the fallback for a stage that "
                        "diverges under bf16); weights and optimizer state are fp32 in every case")
    p.add_argument("--parallel", default="ddp", choices=PARALLEL,
                   help="under torchrun: 'ddp' (each process holds the whole model; default) or 'fsdp' (weights, "
                        "gradients and optimizer state sharded over the processes, for a model too big for one "
                        "device; not the image-tokenizer); checkpoints are the same either way")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar (default on)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from blueprint.models import get_config
    from blueprint.sizes import parse_size
    from blueprint.train.data import check_data, check_engine_stream
    from blueprint.train.loop import LoopArgs, train
    from blueprint.train.model_dir import require_trained
    from blueprint.train.stage import StageArgs, check_loss_weight, check_prompt_drop, check_share

    module = resolve_stage(args.stage)
    cfg = get_config(args.config)
    sizes = [parse_size(part, cfg.min_side, cfg.max_side) for part in args.size.split(",")]
    if len(sizes) > 1 and args.stage not in MULTI_SIZE_STAGES:
        raise BlueprintError(f"stage {args.stage!r} trains at one size; several sizes apply to "
                             f"{' and '.join(MULTI_SIZE_STAGES)} only")
    if len(set(sizes)) != len(sizes):
        raise BlueprintError(f"--size {args.size!r} lists a size twice")
    if len(sizes) > 1 and args.data != "engine":
        raise BlueprintError("training at several sizes needs --data engine (a folder's images are of one size)")
    if args.batch_size < 1:
        raise BlueprintError(f"batch-size must be a positive integer, got {args.batch_size}")
    if args.batch_reuse < 1:
        raise BlueprintError(f"batch-reuse must be a positive integer, got {args.batch_reuse}")
    check_loss_weight("text-weight", args.text_weight)
    check_loss_weight("edge-weight", args.edge_weight)
    check_loss_weight("content-weight", args.content_weight)
    check_prompt_drop(args.prompt_drop)
    check_share("token-noise", args.token_noise)
    check_share("shape-ink", args.shape_ink)
    check_data(args.data, sizes[0])
    check_engine_stream(args.data, args.kinds, args.caption_style)
    if getattr(module, "NEEDS", ()):
        # Refuse before the model folder is created; `make_stage` checks again (and warns for tiny).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            require_trained(args.model_dir, args.stage, module.NEEDS, args.config)

    workers = args.workers
    if workers is None:  # rendering designs on the CPU must keep up with a GPU
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        workers = min(8, max(1, ((os.cpu_count() or 2) - 2) // per_node)) if torch.cuda.is_available() else 0
    stage_args = StageArgs(config=args.config, out_dir=args.model_dir, data=args.data, size=sizes[0],
                           extra_sizes=tuple(sizes[1:]),
                           batch_size=args.batch_size, seed=args.seed, conditioning=args.conditioning,
                           text_weight=args.text_weight, edge_weight=args.edge_weight, batch_reuse=args.batch_reuse,
                           shape_ink=args.shape_ink,
                           prompt_drop=args.prompt_drop, token_noise=args.token_noise,
                           content_weight=args.content_weight,
                           preview_grid=args.preview_grid, kinds=args.kinds, caption_style=args.caption_style)
    loop = LoopArgs(steps=args.steps, lr=args.lr, warmup=args.warmup, cooldown=args.cooldown, ema_decay=args.ema_decay,
                    ckpt_every=args.ckpt_every, log_every=args.log_every, keep_last=args.keep_last,
                    resume=args.resume, progress=args.progress, workers=workers,
                    time_limit=args.time_limit, precision=args.precision, parallel=args.parallel)
    result = train(module.make_stage, stage_args, loop)
    if result["exported"]:
        loss = "" if result["loss"] is None else f" (loss {result['loss']:.4f})"
        print(f"trained {args.stage} to step {result['step']}{loss}; wrote {args.model_dir}; log {result['log']}")
    return 0
