"""The AR prior as a policy: sample whole token sequences with one seed per sample,
and score sampled sequences' log-probabilities teacher-forced.

Sampling is the pipeline's (`sample_prior_sequences`: same prompt, grids,
positions and KV cache) with one generator per row, so a sample depends on its
seed only (not on which other samples share its batch); the raw sequence
(preview grid, full grid, and the end token where the head has one) is kept,
because that sequence is the action whose log-probability the loss pushes up
or down.

The log-probability of a sampled token is taken under the temperature it was
sampled at (`log_softmax(logits / T)`), as GRPO implementations do; top-p only
narrows where samples land and is left out of the density, which keeps it
differentiable everywhere.
"""

from __future__ import annotations

import numpy as np
import torch

from blueprint.models.grid import image_grid
from blueprint.pipeline.prior import sample_prior_sequences
from blueprint.train.prior import sequence_inputs, sequence_logits


def sample_seed(seed: int, step: int, rank: int, index: int) -> int:
    """The sampling seed of sample `index` of a step on a rank: a pure function, so a resumed
    run samples exactly what the interrupted one would have."""
    return int(np.random.SeedSequence([seed, step, rank, index]).generate_state(1)[0])


def action_length(vle, width: int, height: int, preview: str) -> int:
    """Tokens a sample holds: preview grid, full grid, and the end token if the head can emit it."""
    token_h, token_w, prev_h, prev_w = image_grid(width, height, preview)
    end = vle.config.image_end_token_id < vle.config.text_config.vision_vocab_size
    return prev_h * prev_w + token_h * token_w + int(end)


@torch.no_grad()
def sample_sequences(vle, processor, prompts: list[str], width: int, height: int, seeds: list[int],
                     temperature: float, top_p: float) -> tuple[dict, torch.Tensor]:
    """(prompt inputs, (B, action_length) sampled ids), one seed per prompt: the pipeline's
    own AR sampling with one generator per row."""
    preview = getattr(processor, "preview_grid", "official")
    modes = {m: m.training for m in vle.modules()}  # the trained parts train, the tokenizer does not
    vle.eval()  # no dropout while acting
    try:
        prompt, generated = sample_prior_sequences(vle, processor, prompts, width, height, list(seeds),
                                                   temperature, top_p)
    finally:
        for module, training in modes.items():
            module.training = training
    return prompt, generated[:, :action_length(vle, width, height, preview)]


def full_grid(sequences: torch.Tensor, width: int, height: int, preview: str) -> torch.Tensor:
    """(B, token_h * token_w) the full grid of sampled sequences (what the reward reads)."""
    token_h, token_w, prev_h, prev_w = image_grid(width, height, preview)
    return sequences[:, prev_h * prev_w: prev_h * prev_w + token_h * token_w]


def token_logprobs(vle, inputs: dict, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, L) log-prob of each label under logits / T, (B, L) bool mask of the sampled tokens)."""
    logits = sequence_logits(vle, inputs) / temperature
    codebook = vle.config.vq_config.num_embeddings
    if logits.shape[-1] > codebook:
        logits[..., codebook:] = -float("inf")
    labels = inputs["labels"]
    mask = labels != -100
    logp = logits.log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logp.masked_fill(~mask, 0.0), mask


def teacher_forcing(vle, prompt: dict, sequences: torch.Tensor) -> dict:
    """`sequence_inputs` on the model's device."""
    device = vle.lm_head.weight.device
    return {k: v.to(device) for k, v in sequence_inputs(vle, prompt, sequences).items()}
