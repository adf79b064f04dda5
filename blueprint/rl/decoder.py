"""Stage `rl-dit`: GRPO post-training of the DiT on the decoder's reward (Flow-GRPO style).

The decoder half of GLM-Image's decoupled GRPO (the AR half is stage `rl`,
`blueprint.rl.grpo`): the DiT is the policy, the decoder's reward
(`blueprint.rl.decoder_reward`: OCR of the quoted text, plus pixel adherence)
scores its images, and the stochastic sampler of `blueprint.rl.flow_sde`
gives every denoising step a log-probability.

One step, for each prompt of the batch (engine specs of the training split,
the prompts stage `rl` uses):

1. the blueprint: by default (`grid="true"`) the image tokenizer's codes of
   the spec's ground-truth render, what a perfect prior would write
   (`perfect_prior_ids`, the evaluation's `--true-blueprint`); with
   `grid="sampled"` one grid sampled from the AR prior (its own seed). One
   grid per prompt, shared by the group, so a group's rewards differ by
   what the decoder did only. "true" is the default because it is what the
   `dit` stage trains on, it costs no AR sampling, and the decoder is not
   asked to draw text where a faulty grid put none;
2. G images denoised with the SDE sampler, image i from its own generator
   seeded with `sample_seed(seed, rollout, rank, i)` (a pure function: a
   resumed run samples what the interrupted one would have), the
   trajectory's latents and per-step log-probabilities recorded, the last
   latents decoded by the VAE;
3. each image's reward -> advantages within its group (`group_advantages`);
4. loss = the PPO clipped surrogate over the recorded steps' log-probabilities,
   recomputed with the current DiT (`grpo_loss`, its k3 term off), plus
   kl * the exact KL between the current and the frozen starting DiT's
   Gaussian steps (`flow_sde.gaussian_kl`, Flow-GRPO's KL loss).

Defaults are Flow-GRPO's for OCR (SD3.5: 10 sampling steps, noise level 0.7,
clip 1e-4), with advantages normalised per prompt (`group_advantages`; Flow-GRPO's
OCR runs take the std over the whole batch), except: guidance 3, the pipeline's default, so
the policy trained is the one served; kl 0.004, since Flow-GRPO's 0.04 goes
with a KL |dt| (about 0.1 at 10 steps) times smaller than this exact one;
lr 1e-5 for all the DiT's weights (Flow-GRPO trains LoRA adapters at 3e-4).
No EMA: an average at 0.999 over a short RL run would export the start.

The rollout's old log-probabilities are those the training pass computes at
the rollout's first step (the policy that sampled it), so the ratio is exactly
1 there; with `inner_epochs` K, K steps in a row train on one rollout and the
clip acts from the second on. The sampler's own log-probabilities are kept to
log `logp_drift`, their mean distance from the training pass's: near 0 at a
rollout's first step, or the two passes do not compute the same density.

Memory: the loss holds the graph of T DiT passes over G x batch rows (twice
that with guidance) until the loop's backward; keep T and the group small on a CPU.

The reference is the DiT the model folder holds when the stage is built;
the export writes the transformer only, like stage `dit`.
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
from blueprint.data.render import render
from blueprint.data.spec import Spec
from blueprint.errors import BlueprintError
from blueprint.models.folder import save_component
from blueprint.models.image_tokenizer import perfect_prior_ids
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, MAX_STEPS
from blueprint.pipeline.prior import generate_prior_tokens
from blueprint.rl.decoder_reward import ADHERENCE_WEIGHT, TEXT_WEIGHT, check_reward_options, decoder_reward
from blueprint.rl.flow_sde import conditions, gaussian_kl, sample, score_steps
from blueprint.rl.grpo import check_engine_prompts, check_model_folder, group_advantages, grpo_loss
from blueprint.rl.policy import sample_seed
from blueprint.train.model_dir import require_trained
from blueprint.train.stage import StageArgs

NAME = "rl-dit"
GRIDS = ("true", "sampled")


@dataclass
class DitRLArgs:
    group: int = 4               # images per prompt
    steps: int = 10              # denoising steps of a rollout
    noise_level: float = 0.7     # `a` of the SDE's sigma_t = a sqrt(s / (1 - s))
    guidance: float = DEFAULT_GUIDANCE  # classifier-free guidance of the policy (1: none)
    clip: float = 1e-4           # PPO ratio clip (log-probs are per-element means: ratios stay near 1)
    kl: float = 0.004            # weight of the exact Gaussian KL to the starting DiT
    inner_epochs: int = 1        # optimizer steps per rollout
    grid: str = "true"           # the blueprint: "true" (the render's codes) or "sampled" (the AR prior's)
    text_metric: str = "ned"     # "ned" or "word_accuracy" (blueprint.rl.decoder_reward)
    text_weight: float = TEXT_WEIGHT
    adherence_weight: float = ADHERENCE_WEIGHT
    engine: str = "tesseract"    # OCR engine of the text reward

    def check(self) -> None:
        if not isinstance(self.group, int) or isinstance(self.group, bool) or self.group < 2:
            raise BlueprintError(f"group must be an integer >= 2 (advantages compare samples), got {self.group!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or not 1 <= self.steps <= MAX_STEPS:
            raise BlueprintError(f"denoise-steps must be an integer in [1, {MAX_STEPS}], got {self.steps!r}")
        if not (isinstance(self.guidance, (int, float)) and math.isfinite(self.guidance) and self.guidance >= 1):
            raise BlueprintError(f"guidance must be a finite number >= 1 (1 turns it off), got {self.guidance!r}")
        if not (isinstance(self.noise_level, (int, float)) and 0 < self.noise_level < math.inf):
            raise BlueprintError(f"noise-level must be a finite number > 0 (0 is the ODE: no log-probability), "
                                 f"got {self.noise_level!r}")
        if not 0 < self.clip < 1:
            raise BlueprintError(f"clip must be in (0, 1), got {self.clip!r}")
        if not (self.kl >= 0 and math.isfinite(self.kl)):
            raise BlueprintError(f"kl must be a finite number >= 0, got {self.kl!r}")
        if not isinstance(self.inner_epochs, int) or self.inner_epochs < 1:
            raise BlueprintError(f"inner-epochs must be a positive integer, got {self.inner_epochs!r}")
        if self.grid not in GRIDS:
            raise BlueprintError(f"grid must be one of {', '.join(GRIDS)}, got {self.grid!r}")
        check_reward_options(self.text_metric, self.text_weight, self.adherence_weight, self.engine)


class DitGRPOStage:
    name = NAME
    lr = 1e-5

    def __init__(self, args: StageArgs, rl: DitRLArgs, pipe: BlueprintPipeline):
        self.args, self.rl, self.pipe = args, rl, pipe
        self.transformer = pipe.transformer
        # Everything but the DiT is frozen, in eval mode (no dropout while it conditions).
        for name in ("text_encoder", "vision_language_encoder", "vae"):
            getattr(pipe, name).requires_grad_(False).eval()
        if pipe.semantic_head is not None:
            pipe.semantic_head.requires_grad_(False)
        self.reference = copy.deepcopy(self.transformer).eval().requires_grad_(False)
        self._rollout: dict | None = None  # the rollout the inner epochs share

    def trainable(self) -> dict[str, nn.Module]:
        return {"transformer": self.transformer}

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        width, height = self.args.size
        key = step // self.rl.inner_epochs  # the rollout this step trains on
        first = (key * world_size + rank) * self.args.batch_size
        specs = [spec_at(first + i, width, height, self.args.kinds, "train", self.args.seed, self.args.caption_style)
                 for i in range(self.args.batch_size)]
        n = self.args.batch_size * self.rl.group
        # image i's seed, then one per prompt for a sampled grid: all a pure function of (seed, key, rank, index)
        seeds = [sample_seed(self.args.seed, key, rank, i) for i in range(n + self.args.batch_size)]
        out = {"captions": [s.caption for s in specs], "specs": [s.to_json() for s in specs],
               "seeds": torch.tensor(seeds[:n], dtype=torch.int64),
               "grid_seeds": torch.tensor(seeds[n:], dtype=torch.int64), "key": key}
        if self.rl.grid == "true":  # the ground-truth renders, drawn here (in the data workers if any)
            out["renders"] = torch.stack([torch.from_numpy(np.asarray(render(s).image.convert("RGB")).copy())
                                          for s in specs])
        return out

    def prior_ids(self, batch: dict) -> torch.Tensor:
        """(B, DiT grid) the blueprint of each prompt: the renders' codes, or one AR sample each."""
        width, height = self.args.size
        pipe = self.pipe
        if self.rl.grid == "true":
            images = list(batch["renders"].cpu().numpy())
            ids = perfect_prior_ids(pipe.vision_language_encoder, pipe.processor.image_processor, images, width, height)
        else:
            ids = generate_prior_tokens(pipe.vision_language_encoder, pipe.processor, batch["captions"], width,
                                        height, batch["grid_seeds"].tolist(), guidance=pipe.prior_guidance)
        return ids.clone()  # out of inference mode: the DiT's embedding saves its ids for the backward

    def score_images(self, images: list, specs: list[Spec]) -> list:
        """One `ImageReward` per image; images[i] answers specs[i]. (Tests replace it.)"""
        rl = self.rl
        return [decoder_reward(im, s, rl.text_metric, rl.text_weight, rl.adherence_weight, rl.engine)
                for im, s in zip(images, specs)]

    @torch.no_grad()
    def rollout(self, batch: dict) -> dict:
        """Sample, decode, reward and score the batch's groups, once per rollout."""
        key = int(batch["key"])
        if self._rollout is not None and self._rollout["key"] == key:
            return self._rollout
        width, height = self.args.size
        G, pipe = self.rl.group, self.pipe
        captions = [c for c in batch["captions"] for _ in range(G)]
        specs = [Spec.from_json(s) for s in batch["specs"] for _ in range(G)]
        prior = self.prior_ids(batch).repeat_interleave(G, dim=0)
        cond = conditions(pipe, captions, prior, width, height, self.rl.guidance)
        training = self.transformer.training
        self.transformer.eval()  # acting: no dropout
        try:
            traj = sample(pipe, self.transformer, cond, batch["seeds"].tolist(), self.rl.steps, width, height,
                          self.rl.noise_level)
        finally:
            self.transformer.train(training)
        images = pipe.decode_latents(traj.latents[:, -1])
        found = self.score_images(images, specs)
        rewards = torch.tensor([r.score for r in found], dtype=torch.float32).view(-1, G)
        advantages = group_advantages(rewards).view(-1).to(pipe.device)
        ref_logp, ref_mean, _ = score_steps(self.reference, traj, cond)
        self._rollout = {"key": key, "cond": cond, "traj": traj, "advantages": advantages, "ref_logp": ref_logp,
                         "ref_mean": ref_mean, "old_logp": None, "metrics": reward_stats(rewards, advantages, found)}
        return self._rollout

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        rollout = self.rollout(batch)
        traj = rollout["traj"]
        logp, mean, std = score_steps(self.transformer, traj, rollout["cond"])
        if rollout["old_logp"] is None:  # the rollout's first step: the sampler is the current policy
            rollout["old_logp"] = logp.detach()
        mask = torch.ones_like(logp, dtype=torch.bool)
        # The clipped surrogate is grpo.py's; its k3 KL term is off (beta 0) and only logged: the
        # steps are Gaussians with one std, whose exact KL is cheaper and has no sampling noise.
        surrogate, stats = grpo_loss(logp, rollout["old_logp"], rollout["ref_logp"], rollout["advantages"], mask,
                                     self.rl.clip, 0.0)
        kl = gaussian_kl(mean, rollout["ref_mean"], std).mean()
        loss = surrogate + self.rl.kl * kl
        metrics = dict(rollout["metrics"], kl=float(kl.detach()), kl_k3=stats["kl"], clip_frac=stats["clip_frac"],
                       logp_drift=float((logp.detach() - traj.log_probs).abs().mean()))
        return loss, metrics

    def export(self, model_dir: Path) -> None:
        save_component(self.transformer, model_dir, "transformer")


def reward_stats(rewards: torch.Tensor, advantages: torch.Tensor, found: list) -> dict[str, float]:
    """Metrics of one rollout's rewards: a fixed set of keys (ranks average them key by key);
    NaN where no image of the rollout had the part."""
    def mean_of(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else float("nan")

    return {"reward_mean": float(rewards.mean()), "reward_std": float(rewards.std(1, unbiased=False).mean()),
            "reward_max": float(rewards.max()), "zero_std_groups": float((rewards.std(1) == 0).float().mean()),
            "adv_abs_mean": float(advantages.abs().mean()),
            "text": mean_of([r.text for r in found]), "adherence": mean_of([r.adherence for r in found])}


def check_dit_rl_folder(model_dir: Path, config: str, grid: str = "true") -> None:
    """What the stage needs from the folder: a trained DiT (and prior, for sampled grids)."""
    model_dir = check_model_folder(model_dir)
    needs = ("dit", "image-tokenizer") if grid == "true" else ("dit", "prior")
    with warnings.catch_warnings():
        if config == "tiny":
            warnings.simplefilter("ignore")  # tiny: untrained components are legitimate stand-ins
        require_trained(model_dir, NAME, needs, config)


def make_stage(args: StageArgs, rl: DitRLArgs | None = None) -> DitGRPOStage:
    rl = rl or DitRLArgs()
    rl.check()
    check_engine_prompts(args, NAME)
    model_dir = Path(args.init_from or args.out_dir)
    check_dit_rl_folder(model_dir, args.config, rl.grid)
    pipe = BlueprintPipeline.from_pretrained(model_dir, device=args.device)
    args.preview_grid = pipe.processor.preview_grid  # recorded in the checkpoints (a resume checks it)
    return DitGRPOStage(args, rl, pipe)
