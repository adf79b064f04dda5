"""Stage 1: the AR prior writes the semantic token grid for each prompt.

Same math as diffusers' `GlmImagePipeline.generate_prior_tokens` (text to
image): the processor appends `<sop>H W<eop><sop>h w<eop>` and the image start
token, the model samples the preview grid, then the full grid, then one end
token, all with a KV cache; the full grid is cut out and upsampled x2 to the
decoder's patch grid. Two differences that do not change the math:

- the global RNG is seeded inside `torch.random.fork_rng`, so the caller's
  random state is left as it was;
- ids outside the codebook (the official head has 128 spare ids, among them
  the end token) are never sampled, so every id is a valid codebook index
  and the full grid is always produced. Blueprint's own configurations have
  no such ids, so there this is a no-op.
"""

from __future__ import annotations

from typing import Callable

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from blueprint.models.grid import image_grid, upsample_prior_tokens


class _CodebookOnly(LogitsProcessor):
    def __init__(self, codebook_size: int):
        self.codebook_size = codebook_size

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores[:, self.codebook_size:] = -float("inf")
        return scores


class _Progress(StoppingCriteria):
    """Reports tokens generated so far; never stops generation."""

    def __init__(self, prompt_len: int, total: int, callback: Callable[[int, int], None]):
        self.prompt_len, self.total, self.callback = prompt_len, total, callback

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        self.callback(input_ids.shape[1] - self.prompt_len, self.total)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def prompt_inputs(processor, prompts: list[str], width: int, height: int, device) -> dict:
    """Tokenised AR inputs (left-padded batch) with the target grids appended."""
    messages = [[{"role": "user", "content": [{"type": "text", "text": p}]}] for p in prompts]
    inputs = processor.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"target_h": height, "target_w": width, "padding": len(prompts) > 1},
    )
    return inputs.to(device)


def generate_prior_tokens(
    model,
    processor,
    prompts: list[str],
    width: int,
    height: int,
    seed: int,
    temperature: float | None = None,
    top_p: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Sample prior tokens: (B, (H/16)*(W/16)) codebook ids on the decoder's patch grid.

    `temperature`/`top_p` of None take the model's generation config.
    `progress(done, total)` is called after every generated token.
    """
    token_h, token_w, prev_h, prev_w = image_grid(width, height)
    total = token_h * token_w + prev_h * prev_w + 1  # preview, full grid, end token
    inputs = prompt_inputs(processor, prompts, width, height, model.device)
    prompt_len = inputs["input_ids"].shape[1]

    codebook = model.config.vq_config.num_embeddings
    logits_processor = LogitsProcessorList()
    if model.config.text_config.vision_vocab_size > codebook:
        logits_processor.append(_CodebookOnly(codebook))
    stopping = StoppingCriteriaList([_Progress(prompt_len, total, progress)] if progress else [])
    sampling = {k: v for k, v in (("temperature", temperature), ("top_p", top_p)) if v is not None}

    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed)
        if model.device.type == "cuda":
            torch.cuda.manual_seed(seed)
        out = model.generate(
            **inputs,
            max_new_tokens=total,
            do_sample=True,
            logits_processor=logits_processor,
            stopping_criteria=stopping,
            **sampling,
        )
    generated = out[:, prompt_len:]
    large = generated[:, prev_h * prev_w: prev_h * prev_w + token_h * token_w]
    if large.shape[1] != token_h * token_w:  # only an end token in the config could cut it short
        raise RuntimeError(f"AR model stopped after {generated.shape[1]} of {total} tokens")
    return upsample_prior_tokens(large, token_h, token_w)
