"""Reward-hacking watch: does the token reward still mean what the pixels show?

A policy trained on a reward finds whatever raises it, including ways the
reward did not mean (codes whose head answer is right but which the decoder
paints otherwise). So on held-out prompts this samples grids from the prior,
scores each with the token reward, decodes the *same* tokens through the
pipeline (`prior_token_ids`), measures the image's pixel adherence with the
evaluation harness's checks (`blueprint.eval.adherence`), and reports the
correlation of the two. A correlation that falls while the token reward
rises is the sign of hacking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from blueprint.data.dataset import spec_at
from blueprint.errors import BlueprintError
from blueprint.eval.adherence import adherence_score, check_adherence
from blueprint.models.grid import image_grid, upsample_prior_tokens
from blueprint.pipeline import BlueprintPipeline
from blueprint.rl.policy import full_grid, sample_seed, sample_sequences
from blueprint.rl.reward import CodeTable, token_reward


@dataclass
class WatchRow:
    caption: str
    token_reward: float
    adherence: float | None  # None: the spec implies no pixel check


@dataclass
class Watch:
    rows: list[WatchRow]
    correlation: float | None  # Pearson over rows with an adherence; None when undefined
    message: str               # why the correlation is missing, else ""

    def mean_reward(self) -> float:
        return float(np.mean([r.token_reward for r in self.rows]))

    def mean_adherence(self) -> float | None:
        scored = [r.adherence for r in self.rows if r.adherence is not None]
        return float(np.mean(scored)) if scored else None


def correlation(x: list[float], y: list[float]) -> tuple[float | None, str]:
    """(Pearson r, "") or (None, why not)."""
    if len(x) < 2:
        return None, f"{len(x)} scored prompt(s): a correlation needs at least 2"
    if np.std(x) == 0 or np.std(y) == 0:
        which = "token reward" if np.std(x) == 0 else "pixel adherence"
        return None, f"the {which} is the same for every prompt: no correlation (zero variance)"
    return float(np.corrcoef(x, y)[0, 1]), ""


def reward_watch(model_dir: str | Path, n: int, width: int = 256, height: int = 256, seed: int = 0,
                 steps: int = 20, temperature: float = 1.0, top_p: float = 1.0, device: str = "cpu") -> Watch:
    """Token reward beside pixel adherence on `n` held-out engine prompts."""
    if not isinstance(n, int) or n < 1:
        raise BlueprintError(f"n must be a positive integer, got {n!r}")
    pipe = BlueprintPipeline.from_pretrained(model_dir, device=device)
    if pipe.semantic_head is None:
        raise BlueprintError(f"{model_dir} has no semantic head: the token reward reads the tokens through it")
    vle, processor = pipe.vision_language_encoder, pipe.processor
    table = CodeTable.from_model(vle, pipe.semantic_head)
    specs = [spec_at(i, width, height, split="heldout", seed=seed) for i in range(n)]
    captions = [s.caption for s in specs]
    seeds = [sample_seed(seed, 0, 0, i) for i in range(n)]
    _, sequences = sample_sequences(vle, processor, captions, width, height, seeds, temperature, top_p)
    preview = getattr(processor, "preview_grid", "official")
    token_h, token_w, _, _ = image_grid(width, height, preview)
    grids = full_grid(sequences, width, height, preview).cpu()
    rewards = [token_reward(table.cells(g, token_h, token_w), s, pipe.semantic_head.vocab).score
               for g, s in zip(grids, specs)]
    with torch.inference_mode():
        images = pipe(captions, height=height, width=width, seed=seed, num_inference_steps=steps,
                      prior_token_ids=upsample_prior_tokens(grids, token_h, token_w)).images
    rows = [WatchRow(c, r, adherence_score(check_adherence(im, s)))
            for c, r, im, s in zip(captions, rewards, images, specs)]
    scored = [r for r in rows if r.adherence is not None]
    r, message = correlation([x.token_reward for x in scored], [x.adherence for x in scored])
    if r is not None and not math.isfinite(r):
        r, message = None, "the correlation is not finite"
    return Watch(rows, r, message)
