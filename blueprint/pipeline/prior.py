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

`seed` may also be one seed per prompt: each row then samples from its own
generator (`_RowSampler`, or `_GuidedSampler` with a list), so a request
decodes the same tokens alone or batched with others (`blueprint serve`).
A row of a batch samples exactly as a batch of one seeded with the global
RNG does: same warpers in transformers' order, same `multinomial` stream.

One addition GLM-Image does not have: classifier-free guidance of the AR
stage (`guidance` > 1), as in LlamaGen and Parti. Each prompt is decoded
beside the empty prompt in one batch; at every step the logits become
`uncond + guidance * (cond - uncond)`, one token is sampled from them and
fed to both rows (`_GuidedSampler`). The prior must have been trained with
empty prompts (`blueprint train prior --prompt-drop`, default 0.1), or the
unconditional row is meaningless. `guidance` 1 is the plain path above.
"""

from __future__ import annotations

from typing import Callable

import torch
from transformers import (
    LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from blueprint.models.grid import image_grid, upsample_prior_tokens
from blueprint.models.processor import prompt_inputs


class _CodebookOnly(LogitsProcessor):
    def __init__(self, codebook_size: int):
        self.codebook_size = codebook_size

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores[:, self.codebook_size:] = -float("inf")
        return scores


class _CodeBias(LogitsProcessor):
    """Adds `bias[b]` to row b's logits over the codebook: a plan's preference, -inf
    for codes it rules out (see `blueprint.pipeline.plan`). Rows past the bias's (the
    empty prompt's, under guidance) are left as they are: the guided sampler masks
    what either row masks, and guides toward what the prompt's row prefers."""

    def __init__(self, bias: torch.Tensor):
        self.bias = bias

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        rows, width = self.bias.shape
        scores[:rows, :width] = scores[:rows, :width] + self.bias.to(scores.device, scores.dtype)
        return scores


class _PlannedCodes(LogitsProcessor):
    """Adds row b's strength to the logit of the code a plan puts at each of its positions
    (`codes[b, t]` for the t-th generated token; -1: no plan there). Rows past the
    plan's (the empty prompt's, under guidance) are left as they are."""

    def __init__(self, codes: torch.Tensor, strength: float | torch.Tensor, prompt_len: int):
        self.codes, self.prompt_len = codes, prompt_len
        self.strength = torch.as_tensor(strength, dtype=torch.float32).expand(codes.shape[0])

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1] - self.prompt_len
        if t >= self.codes.shape[1]:
            return scores
        column = self.codes[:, t].to(scores.device)
        rows = (column >= 0).nonzero().flatten()
        scores[rows, column[rows]] += self.strength.to(scores.device, scores.dtype)[rows]
        return scores


class _GuidedSampler(LogitsProcessor):
    """Rows [0, B) are the prompts, rows [B, 2B) the empty prompt. Guides, warps and
    samples one token per prompt, and returns scores whose argmax is that token in
    both of its rows, so `generate` runs greedy and the two rows stay in lockstep."""

    def __init__(self, guidance: float, temperature: float, top_p: float,
                 generator: torch.Generator | list[torch.Generator]):
        self.guidance, self.generator = guidance, generator
        self.warpers = [TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p)]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cond, uncond = scores.float().chunk(2)
        guided = uncond + self.guidance * (cond - uncond)
        # ids masked earlier (_CodebookOnly) are -inf in both rows: -inf - -inf is NaN; keep them masked
        guided = guided.masked_fill(~(cond.isfinite() & uncond.isfinite()), -float("inf"))
        for warp in self.warpers:
            guided = warp(input_ids[: len(guided)], guided)
        token = _sample(guided.softmax(-1), self.generator)  # (B, 1)
        out = torch.full_like(scores, -float("inf"))
        out.scatter_(1, token.repeat(2, 1), 0.0)
        return out


def _sample(probs: torch.Tensor, generator: torch.Generator | list[torch.Generator]) -> torch.Tensor:
    """(B, 1) tokens: one draw for the batch, or one per row from that row's generator."""
    if isinstance(generator, torch.Generator):
        return torch.multinomial(probs, 1, generator=generator)
    return torch.cat([torch.multinomial(row[None], 1, generator=g) for row, g in zip(probs, generator)])


class _RowSampler(LogitsProcessor):
    """Unguided sampling with one generator per row. Applies the warpers `generate`
    would add after the custom processors (temperature, top-k, top-p, in its order),
    samples, and returns scores whose argmax is the token (`generate` runs greedy)."""

    def __init__(self, temperature: float, top_k: int | None, top_p: float, generators: list[torch.Generator]):
        self.generators = generators
        self.warpers = []
        if temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if top_k:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        token = _sample(torch.nn.functional.softmax(scores, dim=-1), self.generators)
        return torch.full_like(scores, -float("inf")).scatter_(1, token, 0.0)


class _Progress(BaseStreamer):
    """Reports tokens generated so far through `generate`'s streamer hook.

    `generate` hands the streamer the prompt first, then each new token (one
    per row of the batch, all rows in lockstep)."""

    def __init__(self, total: int, callback: Callable[[int, int], None]):
        self.total, self.callback = total, callback
        self.done = -1  # the first `put` is the prompt

    def put(self, value: torch.Tensor) -> None:
        self.done += 1
        if self.done:
            self.callback(self.done, self.total)

    def end(self) -> None:
        pass


def sample_prior_sequences(
    model,
    processor,
    prompts: list[str],
    width: int,
    height: int,
    seed: int | list[int],
    temperature: float | None = None,
    top_p: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    guidance: float = 1.0,
    generate_kwargs: dict | None = None,
    code_bias: torch.Tensor | None = None,
    planned: tuple[torch.Tensor, float] | None = None,
) -> tuple[dict, torch.Tensor]:
    """The AR stage's raw output: (its inputs, (B, preview + full grid + 1) generated ids).

    `temperature`/`top_p` of None take the model's generation config.
    `progress(done, total)` is called after every generated token.
    `guidance` > 1 decodes each prompt beside the empty prompt (see the module docstring).
    `seed` as a list gives each prompt its own generator (see the module docstring).
    `generate_kwargs` go to `generate` as they are (the compiled path's static cache).
    `code_bias` (B, codebook) float: added to each prompt's logits over the codebook (a colour plan).
    `planned` (codes, strength): codes (B, preview + full grid) long, the code a layout plan
    puts at each position (-1: none); `strength` (a number, or one per row) is added to that
    code's logit.
    """
    # the processor's preview grid: its prompt and grids tell the model the same
    token_h, token_w, prev_h, prev_w = image_grid(width, height, getattr(processor, "preview_grid", "official"))
    total = token_h * token_w + prev_h * prev_w + 1  # preview, full grid, end token
    guided = guidance != 1
    batch = list(prompts) + [""] * len(prompts) if guided else list(prompts)
    inputs = prompt_inputs(processor, batch, width, height, model.device)
    prompt_len = inputs["input_ids"].shape[1]

    codebook = model.config.vq_config.num_embeddings
    logits_processor = LogitsProcessorList()
    if model.config.text_config.vision_vocab_size > codebook:
        logits_processor.append(_CodebookOnly(codebook))
    if code_bias is not None:
        if code_bias.shape != (len(prompts), codebook):
            raise ValueError(f"code_bias must be ({len(prompts)}, {codebook}), got {tuple(code_bias.shape)}")
        logits_processor.append(_CodeBias(code_bias))
    if planned is not None:
        codes, strength = planned
        if codes.shape[0] != len(prompts) or codes.shape[1] > total:
            raise ValueError(f"planned codes must be ({len(prompts)}, <= {total}), got {tuple(codes.shape)}")
        logits_processor.append(_PlannedCodes(codes, strength, prompt_len))
    config = model.generation_config
    temperature = config.temperature if temperature is None else temperature
    top_p = config.top_p if top_p is None else top_p
    per_row = isinstance(seed, (list, tuple))
    if per_row:
        if len(seed) != len(prompts):
            raise ValueError(f"{len(seed)} seeds for {len(prompts)} prompts")
        generator = [torch.Generator(device=model.device).manual_seed(s) for s in seed]
    else:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    greedy = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if guided:  # the sampler draws the token itself; generate then only takes its argmax
        logits_processor.append(_GuidedSampler(guidance, temperature, top_p, generator))
        sampling = {"do_sample": False, "temperature": None, "top_p": None}
    elif per_row:
        logits_processor.append(_RowSampler(temperature, config.top_k, top_p, generator))
        sampling = greedy
    else:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}

    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(seed[0] if per_row else seed)  # per-row sampling does not read it
        if model.device.type == "cuda":
            torch.cuda.manual_seed(seed[0] if per_row else seed)
        out = model.generate(
            **inputs,
            max_new_tokens=total,
            logits_processor=logits_processor,
            streamer=_Progress(total, progress) if progress else None,
            **sampling,
            **(generate_kwargs or {}),
        )
    return inputs, out[: len(prompts), prompt_len:]


def generate_prior_tokens(
    model,
    processor,
    prompts: list[str],
    width: int,
    height: int,
    seed: int | list[int],
    temperature: float | None = None,
    top_p: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    guidance: float = 1.0,
    generate_kwargs: dict | None = None,
    code_bias: torch.Tensor | None = None,
    planned: tuple[torch.Tensor, float] | None = None,
) -> torch.Tensor:
    """Sample prior tokens: (B, (H/16)*(W/16)) codebook ids on the decoder's patch grid.

    The arguments are `sample_prior_sequences`'; the full grid is cut out of what it
    generates and upsampled x2 to the DiT's patch grid.
    """
    token_h, token_w, prev_h, prev_w = image_grid(width, height, getattr(processor, "preview_grid", "official"))
    _, generated = sample_prior_sequences(model, processor, prompts, width, height, seed, temperature, top_p,
                                          progress, guidance, generate_kwargs, code_bias, planned)
    large = generated[:, prev_h * prev_w: prev_h * prev_w + token_h * token_w]
    if large.shape[1] != token_h * token_w:  # only an end token in the config could cut it short
        raise RuntimeError(f"AR model stopped after {generated.shape[1]} of {token_h * token_w + prev_h * prev_w + 1} tokens")
    return upsample_prior_tokens(large, token_h, token_w)
