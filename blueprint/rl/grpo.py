"""Stage `rl`: GRPO post-training of the AR prior on the token reward.

GLM-Image's decoupled GRPO gives the AR stage low-frequency rewards (semantic
alignment) and the decoder high-frequency ones; this is the AR half, with the
semantic-alignment reward read from the tokens (`blueprint.rl.reward`), so no
decoder runs inside the loop (GLM-Image-RL's `--skip_decode`). Its defaults
are that trainer's: group 4, advantage (r - mean) / (std + eps), PPO clip 0.2,
k3 KL to the frozen starting prior with coefficient 0.01, lr 5e-6, except
sampling: temperature 1 and top-p 1 rather than its 0.9 and 0.75. A group
needs samples that differ, or its advantages are all 0, and on the embedded
model 0.9 / 0.75 sampled identical groups (docs/notebook/2026-12-04-rl-grpo.md);
at top-p 1 the log-probabilities the loss uses are also the exact sampling
density.

One step, for each prompt of the batch (engine captions of the training
split, with their specs):

1. sample a group of G sequences from the current prior, each with its own
   seed from (seed, step, rank, index) (`blueprint.rl.policy`);
2. reward each sample's full grid against the prompt's spec;
3. advantage = (r - group mean) / (group std + eps); a group whose rewards are
   all equal has nothing to teach and gets advantage 0 (`group_advantages`);
4. loss = the PPO clipped surrogate on the sampled tokens' log-probs
   (teacher-forced through `sequence_inputs`) + beta * the k3 estimate of
   KL(policy || reference) per token (`grpo_loss`).

Inner epochs. With `inner_epochs` K, K optimizer steps in a row train on one
sampled batch (a "rollout"): sampling 8 x 320 tokens costs far more on a CPU
than the teacher-forced pass, and one update per rollout moved the policy too
little to see (docs/notebook/2026-12-04-rl-grpo.md). The rollout's old
log-probabilities are those of the policy that sampled it, taken at its first
step, so from the second step on the ratio departs from 1 and the PPO clip
does its work. The prompts and sampling seeds are a pure function of (seed,
step // K, rank), so the loop's exact resume holds when a run stops at a
rollout boundary (every periodic checkpoint, since --ckpt-every must be a
multiple of K); a run stopped inside a rollout (time limit, kill) resamples
that rollout from the resumed weights: correct PPO, not bit-identical.

Per-cell credit. One advantage for all 300-odd tokens of a sample cannot say
which cells earned it. With `cell_credit` c > 0 each full-grid token also
gets c * (its cell's score - the mean score of the group's cells of the same
kind), the score being whether the cell's colour is one the prompt gives its
kind (`blueprint.rl.reward.cell_scores`). The baseline is taken per kind so
that this term judges colours only: which cells are text or background
(layout, counts, lines) stays with the whole-grid reward.

LoRA. With `lora_rank` R the policy trains PEFT adapters on the language
model's linear layers and exports them merged (`blueprint.rl.lora`).

The reference is the prior the model folder holds when the stage is built:
a resume before the export sees the same one; a run continued after its
export anchors to the exported weights.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from blueprint.data.dataset import spec_at
from blueprint.data.spec import Spec
from blueprint.errors import BlueprintError
from blueprint.models.folder import has_semantic_head, load_component, load_semantic_head, save_component_parts
from blueprint.models.grid import image_grid
from blueprint.pipeline.limits import MIN_TEMPERATURE
from blueprint.rl.lora import add_lora, merged
from blueprint.rl.policy import full_grid, sample_seed, sample_sequences, teacher_forcing, token_logprobs
from blueprint.rl.reward import CodeTable, cell_scores, token_reward
from blueprint.sizes import check_size
from blueprint.train.data import check_engine_stream
from blueprint.train.model_dir import require_trained
from blueprint.train.stage import StageArgs

NAME = "rl"
CHECK_NAMES = ("background", "color", "extra", "text_lines", "text_colors", "count", "position", "bar_order")
ADVANTAGE_EPS = 1e-6


@dataclass
class RLArgs:
    group: int = 4            # samples per prompt
    temperature: float = 1.0
    top_p: float = 1.0
    clip: float = 0.2         # PPO ratio clip
    kl: float = 0.01          # beta of the k3 KL penalty to the reference
    inner_epochs: int = 1     # optimizer steps per sampled batch
    lora_rank: int = 0        # 0: train all the prior's weights; R: rank-R LoRA adapters
    cell_credit: float = 0.0  # weight of the per-cell colour advantage (0: one advantage a sample)

    def check(self) -> None:
        if not isinstance(self.group, int) or self.group < 2:
            raise BlueprintError(f"group must be an integer >= 2 (advantages compare samples), got {self.group!r}")
        if not (self.temperature >= MIN_TEMPERATURE and math.isfinite(self.temperature)):
            raise BlueprintError(f"temperature must be a finite number >= {MIN_TEMPERATURE}, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise BlueprintError(f"top-p must be in (0, 1], got {self.top_p!r}")
        if not 0 < self.clip < 1:
            raise BlueprintError(f"clip must be in (0, 1), got {self.clip!r}")
        if not (self.kl >= 0 and math.isfinite(self.kl)):
            raise BlueprintError(f"kl must be a finite number >= 0, got {self.kl!r}")
        if not isinstance(self.inner_epochs, int) or self.inner_epochs < 1:
            raise BlueprintError(f"inner-epochs must be a positive integer, got {self.inner_epochs!r}")
        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise BlueprintError(f"lora-rank must be an integer >= 0 (0: all weights), got {self.lora_rank!r}")
        if not (self.cell_credit >= 0 and math.isfinite(self.cell_credit)):
            raise BlueprintError(f"cell-credit must be a finite number >= 0, got {self.cell_credit!r}")


def group_advantages(rewards: torch.Tensor, eps: float = ADVANTAGE_EPS) -> torch.Tensor:
    """(B, G) rewards -> (B, G) advantages normalised within each group; 0 for a group
    whose rewards are all equal (its noise would otherwise be blown up by 1 / eps)."""
    mean = rewards.mean(1, keepdim=True)
    std = rewards.std(1, unbiased=False, keepdim=True)
    return torch.where(std > eps, (rewards - mean) / (std + eps), torch.zeros_like(rewards))


def cell_advantages(scores: np.ndarray, kinds: np.ndarray, group: int) -> np.ndarray:
    """(N, C) per-cell advantages from (N, C) cell scores (NaN: not scored) and kinds, N = B * group:
    each scored cell's score minus the mean of the scored cells of its kind in its group; 0 elsewhere."""
    out = np.zeros(scores.shape, dtype=np.float32)
    for first in range(0, len(scores), group):
        rows = slice(first, first + group)
        s, k = scores[rows], kinds[rows]
        adv = np.zeros(s.shape, dtype=np.float32)
        for kind in np.unique(k):
            here = (k == kind) & ~np.isnan(s)
            if here.any():
                adv[here] = s[here] - s[here].mean()
        out[rows] = adv
    return out


def token_advantages(sequence: torch.Tensor, cells: torch.Tensor | None, grid_start: int, length: int,
                     weight: float) -> torch.Tensor:
    """(N, length) advantage of each sampled token: the sample's own, plus `weight` times the
    per-cell advantage on the full grid's tokens (`grid_start` onward, `cells.shape[1]` of them)."""
    adv = sequence[:, None].expand(-1, length).clone()
    if cells is not None and weight:
        adv[:, grid_start: grid_start + cells.shape[1]] += weight * cells.to(adv)
    return adv


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, clip: float, beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO clipped surrogate + beta * k3 KL, per token, averaged per sequence then over sequences.

    logp/old_logp/ref_logp/mask: (N, L); advantages: (N,) one per sequence, or (N, L) one per token."""
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    log_ref_ratio = ref_logp - logp
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1  # k3: unbiased, always >= 0
    per_token = -surrogate + beta * kl
    m = mask.float()
    count = m.sum(1).clamp(min=1)
    loss = ((per_token * m).sum(1) / count).mean()
    with torch.no_grad():
        clipped = ((ratio - 1).abs() > clip).float()
        stats = {"kl": float(((kl * m).sum(1) / count).mean()), "clip_frac": float((clipped * m).sum() / m.sum())}
    return loss, stats


class GRPOStage:
    name = NAME
    lr = 5e-6

    def __init__(self, args: StageArgs, rl: RLArgs, vle, processor, head):
        self.args, self.rl = args, rl
        self.vle, self.processor = vle, processor
        self.vocab = head.vocab
        self.table = CodeTable.from_model(vle, head)
        if str(args.device).startswith("cuda"):
            vle.set_attn_implementation("eager")  # left-padded prompts: see blueprint/train/prior.py
        for module in (vle.model.visual, vle.model.vqmodel):
            module.requires_grad_(False)
            module.eval()
        # The frozen reference shares the (frozen) tokenizer instead of copying it.
        shared = {id(vle.model.visual): vle.model.visual, id(vle.model.vqmodel): vle.model.vqmodel}
        self.reference = copy.deepcopy(vle, memo=shared).eval().requires_grad_(False)
        if rl.lora_rank:
            vle.lm_head.requires_grad_(False)
            add_lora(vle.model.language_model, rl.lora_rank)
        self._rollout: dict | None = None  # the sampled batch the inner epochs share

    def trainable(self) -> dict[str, nn.Module]:
        return {"language_model": self.vle.model.language_model, "lm_head": self.vle.lm_head}

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        width, height = self.args.size
        key = step // self.rl.inner_epochs  # the rollout this step trains on
        first = (key * world_size + rank) * self.args.batch_size
        specs = [spec_at(first + i, width, height, self.args.kinds, "train", self.args.seed, self.args.caption_style)
                 for i in range(self.args.batch_size)]
        seeds = [sample_seed(self.args.seed, key, rank, i) for i in range(self.args.batch_size * self.rl.group)]
        return {"captions": [s.caption for s in specs], "specs": [s.to_json() for s in specs],
                "seeds": torch.tensor(seeds, dtype=torch.int64), "key": key}

    def cells(self, grids: torch.Tensor) -> list:
        """What the semantic head reads in each (N, token_h * token_w) grid."""
        width, height = self.args.size
        token_h, token_w, _, _ = image_grid(width, height, self.processor.preview_grid)
        return [self.table.cells(g, token_h, token_w) for g in grids]

    @torch.no_grad()
    def rollout(self, batch: dict) -> dict:
        """Sample, reward and score the batch's groups, once per rollout: the inner epochs reuse it."""
        key = int(batch["key"])
        if self._rollout is not None and self._rollout["key"] == key:
            return self._rollout
        width, height = self.args.size
        G = self.rl.group
        captions = [c for c in batch["captions"] for _ in range(G)]
        specs = [Spec.from_json(s) for s in batch["specs"] for _ in range(G)]
        prompt, sequences = sample_sequences(self.vle, self.processor, captions, width, height,
                                             batch["seeds"].tolist(), self.rl.temperature, self.rl.top_p)
        cells = self.cells(full_grid(sequences, width, height, self.processor.preview_grid).cpu())
        found = [token_reward(c, s, self.vocab) for c, s in zip(cells, specs)]
        scores = np.stack([cell_scores(c, s, self.vocab).ravel() for c, s in zip(cells, specs)])
        rewards = torch.tensor([r.score for r in found], dtype=torch.float32).view(-1, G)
        advantages = group_advantages(rewards).view(-1)
        metrics = reward_stats(rewards, advantages, found)
        metrics["cell_colors"] = float(np.nanmean(scores)) if (~np.isnan(scores)).any() else float("nan")
        if self.rl.cell_credit:
            per_cell = torch.from_numpy(cell_advantages(scores, np.stack([c.kind.ravel() for c in cells]), G))
            _, _, prev_h, prev_w = image_grid(width, height, self.processor.preview_grid)
            advantages = token_advantages(advantages, per_cell, prev_h * prev_w, sequences.shape[1],
                                          self.rl.cell_credit)
        inputs = teacher_forcing(self.vle, prompt, sequences)
        ref_logp, _ = token_logprobs(self.reference, inputs, self.rl.temperature)
        self._rollout = {"key": key, "inputs": inputs, "advantages": on_labels(advantages, inputs["labels"]),
                         "ref_logp": ref_logp, "old_logp": None, "metrics": metrics}
        return self._rollout

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        rollout = self.rollout(batch)
        logp, mask = token_logprobs(self.vle, rollout["inputs"], self.rl.temperature)
        if rollout["old_logp"] is None:  # the rollout's first step: the sampler is the current policy
            rollout["old_logp"] = logp.detach()
        loss, metrics = grpo_loss(logp, rollout["old_logp"], rollout["ref_logp"], rollout["advantages"], mask,
                                  self.rl.clip, self.rl.kl)
        metrics.update(rollout["metrics"])
        return loss, metrics

    def export(self, model_dir: Path) -> None:
        language_model = self.vle.model.language_model
        if self.rl.lora_rank:
            language_model = merged(language_model)
        save_component_parts(model_dir, "vision_language_encoder",
                             {"model.language_model": language_model, "lm_head": self.vle.lm_head})


def on_labels(advantages: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token advantages (N, A) laid on the teacher-forced labels (N, L), whose A sampled
    tokens are the labels that are not -100, in order; (N,) advantages pass through."""
    if advantages.dim() == 1:
        return advantages.to(labels.device)
    mask = labels != -100
    if not bool((mask.sum(1) == advantages.shape[1]).all()):
        raise BlueprintError("every teacher-forced row must hold its sample's tokens once")
    out = torch.zeros(labels.shape, dtype=advantages.dtype, device=labels.device)
    out[mask] = advantages.to(labels.device).reshape(-1)
    return out


def reward_stats(rewards: torch.Tensor, advantages: torch.Tensor, found: list) -> dict[str, float]:
    """Metrics of one step's rewards: a fixed set of keys (ranks average them key by key)."""
    out = {"reward_mean": float(rewards.mean()), "reward_std": float(rewards.std(1, unbiased=False).mean()),
           "reward_max": float(rewards.max()), "zero_std_groups": float((rewards.std(1) == 0).float().mean()),
           "adv_abs_mean": float(advantages.abs().mean()), "adv_max": float(advantages.max())}
    for name in CHECK_NAMES:  # NaN where no sample of the step had the check
        scores = [c.score for r in found for c in r.checks if c.name == name]
        out[f"check_{name}"] = float(np.mean(scores)) if scores else float("nan")
    return out


def check_rl_folder(model_dir: Path, config: str) -> None:
    """What the stage needs from the folder: a prior and the semantic head that reads its tokens."""
    model_dir = check_model_folder(model_dir)
    if not has_semantic_head(model_dir):
        raise BlueprintError(f"{model_dir} has no semantic head ({model_dir / 'semantic_head'}): "
                             "the reward reads the tokens through it; train the image-tokenizer stage first")
    with warnings.catch_warnings():
        if config == "tiny":
            warnings.simplefilter("ignore")  # tiny: an untrained prior is a legitimate stand-in
        require_trained(model_dir, NAME, ("prior",), config)


def check_model_folder(model_dir: Path) -> Path:
    model_dir = Path(model_dir)
    if not (model_dir / "model_index.json").is_file():
        raise BlueprintError(f"{model_dir} is not a model folder (no model_index.json); "
                             "RL post-trains a trained model: copy one there first")
    return model_dir


def check_engine_prompts(args: StageArgs, stage: str) -> None:
    """RL draws the engine's prompts at one size: their specs are the reward's answers."""
    if args.data != "engine":
        raise BlueprintError(f"{stage} needs the data engine's prompts (their specs are the reward's answers)")
    if args.extra_sizes:
        raise BlueprintError(f"{stage} samples at one size")
    check_engine_stream(args.data, args.kinds, args.caption_style)
    check_size(*args.size)


def make_stage(args: StageArgs, rl: RLArgs | None = None) -> GRPOStage:
    rl = rl or RLArgs()
    rl.check()
    check_engine_prompts(args, NAME)
    model_dir = Path(args.init_from or args.out_dir)
    check_rl_folder(model_dir, args.config)
    vle = load_component(model_dir, "vision_language_encoder", args.device)
    processor = load_component(model_dir, "processor")
    args.preview_grid = processor.preview_grid  # recorded in the checkpoints (a resume checks it)
    return GRPOStage(args, rl, vle, processor, load_semantic_head(model_dir))
