"""What a training stage is: the contract between `blueprint/train/loop.py` and
the stage modules (`vae.py`, `tokenizer.py`, `glyph.py`, `decoder.py`, `prior.py`).

The loop owns everything generic: device and dtype (bf16 autocast on GPU, fp32
on CPU), the optimizer, EMA, DDP, atomic safetensors checkpoints, exact resume,
JSONL logs and the progress bar. A stage owns only what is specific to it:
which modules it trains, what a batch is, and what the loss is.

Exact resume rests on one rule: a batch is a pure function of
(seed, step, rank). The data engine is procedural, so sample number
`(step * world_size + rank) * batch_size + i` is drawn from its own seed and no
data-loader state needs saving.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch


@dataclass
class StageArgs:
    config: str            # model configuration name: "tiny", "small", "official"
    out_dir: Path          # run folder: checkpoints, logs, exported component(s)
    data: str = "engine"   # "engine" (procedural) or a folder of image + caption files
    size: tuple[int, int] = (256, 256)  # (width, height) of training images
    batch_size: int = 8
    seed: int = 0
    init_from: Path | None = None  # a model folder whose earlier-stage components this stage needs


class Stage(Protocol):
    name: str

    def trainable(self) -> dict[str, torch.nn.Module]:
        """Modules whose parameters the optimizer updates (and EMA tracks)."""

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        """The batch for this step and rank: deterministic in (seed, step, rank)."""

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimise, plus metrics to log."""

    def export(self, model_dir: Path) -> None:
        """Write the trained component(s) into a diffusers-layout model folder."""
