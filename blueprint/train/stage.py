"""What a training stage is: the contract between `blueprint/train/loop.py` and
the stage modules (`vae.py`, `vae_decoder.py`, `tokenizer.py`, `glyph.py`, `decoder.py`, `prior.py`).

The loop owns everything generic: device and dtype (bf16 autocast on GPU, fp32
on CPU), the optimizer, EMA, DDP, atomic safetensors checkpoints, exact resume,
JSONL logs and the progress bar. A stage owns only what is specific to it:
which modules it trains, what a batch is, and what the loss is.

Each stage module (`blueprint.train.<name>`) exposes one factory:

    def make_stage(args: StageArgs) -> Stage

`make_stage` reads the components it needs from the model folder
(`args.init_from or args.out_dir`, which the loop has already created from the
configuration if it did not exist), builds everything on `args.device`, and
raises `BlueprintError` for a missing prerequisite (see
`blueprint.train.model_dir.require_trained`). A stage module with
prerequisites also declares them as `NEEDS = ("vae", ...)` (stage names) so
the CLI can refuse before it creates anything. Run a stage with
`blueprint.train.loop.train(make_stage, args, LoopArgs(...))`.

Exact resume rests on one rule: a batch is a pure function of
(seed, step, rank). The data engine is procedural, so sample number
`(step * world_size + rank) * batch_size + i` is drawn from its own seed and no
data-loader state needs saving. Randomness inside `loss` (noise, timesteps,
condition drop, dropout) uses the global torch RNG, which the loop reseeds from
(seed, step, rank) before every step, so it is exact on resume as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from blueprint.errors import BlueprintError


@dataclass
class StageArgs:
    config: str            # model configuration name: "tiny", "small", "official"
    out_dir: Path          # run folder = model folder: components, checkpoints/<stage>/, logs/<stage>.jsonl
    data: str = "engine"   # "engine" (procedural) or a folder of image + caption files
    size: tuple[int, int] = (256, 256)  # (width, height) of training images
    extra_sizes: tuple[tuple[int, int], ...] = ()  # vae-decoder, decoder, prior: step k trains at ([size] + extra)[k % n]
    batch_size: int = 8
    kinds: str | None = None  # engine data: the design kinds drawn in turn (None: the original six; "all")
    caption_style: str = "exact"  # engine data: "exact" captions, short "user" prompts, or "mixed"
    conditioning: str = "blueprint"  # decoder only: "blueprint" or "prompt" (blueprint.models.conditioning)
    batch_reuse: int = 1   # decoder only: steps in a row that share one rendered batch
    text_weight: float = 4.0  # decoder, vae-decoder: extra loss weight at and beside text ink
    edge_weight: float = 0.0  # decoder only: extra loss weight at and beside colour edges (shapes, bars, borders)
    shape_ink: float = 0.0  # decoder only: share of images whose shapes fill the glyph layer's shape plane
    prompt_drop: float = 0.1  # prior only: share of prompts trained empty, for classifier-free guidance
    token_noise: float = 0.0  # prior only: share of the image tokens it reads replaced by random codes
    content_weight: float = 0.0  # prior only: extra loss weight on tokens that hold a text, shape or bar
    preview_grid: str | None = None  # prior only: "official" or "half" (blueprint.models.grid); None: the folder's
    seed: int = 0
    init_from: Path | None = None  # a model folder whose earlier-stage components this stage needs
    device: str = "cpu"    # set by the loop before it calls make_stage ("cuda:<local rank>" on GPU)


def check_loss_weight(name: str, value: float) -> float:
    """An extra loss weight (text ink: decoder, vae-decoder; colour edges: decoder; content: prior):
    0 is unweighted; below 0, NaN and infinity are refused."""
    if not math.isfinite(value) or value < 0:
        raise BlueprintError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_prompt_drop(value: float) -> float:
    """The prior's share of empty prompts: a probability below 1 (all empty learns nothing)."""
    return check_share("prompt-drop", value)


def check_share(name: str, value: float) -> float:
    """A share of a batch (prompt-drop, token-noise): in [0, 1)."""
    if not 0 <= value < 1:
        raise BlueprintError(f"{name} must be in [0, 1), got {value}")
    return value


class Stage(Protocol):
    name: str
    # Optional attributes the loop reads with getattr():
    #   ema_decay: float | None   EMA of the trainable weights, exported instead of the raw ones (default None)
    #   lr: float                 the stage's default learning rate when the user gives none (default 1e-4)

    def trainable(self) -> dict[str, torch.nn.Module]:
        """Modules whose parameters the optimizer updates (and EMA tracks)."""

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        """The batch for this step and rank: deterministic in (seed, step, rank).

        CPU tensors and plain Python values only (the loop moves tensors to the
        device), and no global RNG: the loop may call it ahead of time in forked
        DataLoader workers (`LoopArgs.workers`). Derive any randomness from step.
        """

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimise, plus metrics to log."""

    def export(self, model_dir: Path) -> None:
        """Write the trained component(s) into a diffusers-layout model folder."""
