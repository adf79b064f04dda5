"""The checks of a pipeline call: prompts, sampling settings and seeds need no model; the
caller's own prior tokens and glyph layer need only a few of its numbers.

Front ends (the command line, the server) run the first ones before loading a model, so
bad input fails in milliseconds with the same message the pipeline would give.
"""

from __future__ import annotations

import math

import torch

from blueprint.errors import BlueprintError
from blueprint.models.settings import check_color_plan, check_layout_plan, check_prior_guidance
from blueprint.pipeline.limits import MAX_BATCH, MAX_PROMPT_TOKENS, MAX_STEPS, MIN_TEMPERATURE
from blueprint.sizes import PX_PER_DIT_TOKEN


def check_prompts(prompt: str | list[str], tokenizer=None) -> list[str]:
    """The prompts as a list, checked; with the model's `tokenizer` their length in tokens too."""
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise BlueprintError("prompt must be a string or a non-empty list of strings")
    if len(prompts) > MAX_BATCH:
        raise BlueprintError(f"{len(prompts)} prompts in one call; the limit is {MAX_BATCH}")
    for i, p in enumerate(prompts):
        where = "prompt" if len(prompts) == 1 else f"prompt {i}"
        if not isinstance(p, str):
            raise BlueprintError(f"{where} must be a string, got {type(p).__name__}")
        if not p.strip():
            raise BlueprintError(f"{where} is empty")
        n = len(tokenizer(p).input_ids) if tokenizer is not None else 0
        if n > MAX_PROMPT_TOKENS:
            raise BlueprintError(f"{where} is {n} tokens long; the limit is {MAX_PROMPT_TOKENS} tokens")
    return list(prompts)


def check_sampling(steps, guidance, temperature, top_p, seed, prior_guidance=None, color_plan=None,
                   layout_plan=None) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise BlueprintError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    if not isinstance(guidance, (int, float)) or not math.isfinite(guidance) or guidance < 1:
        raise BlueprintError(f"guidance must be a finite number >= 1 (1 turns it off), got {guidance!r}")
    if temperature is not None and not (isinstance(temperature, (int, float)) and MIN_TEMPERATURE <= temperature < math.inf):
        raise BlueprintError(f"temperature must be a finite number >= {MIN_TEMPERATURE}, got {temperature!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise BlueprintError(f"top_p must be in (0, 1], got {top_p!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise BlueprintError(f"seed must be a non-negative integer, got {seed!r}")
    if prior_guidance is not None:
        check_prior_guidance(prior_guidance)
    if color_plan is not None:
        check_color_plan(color_plan)
    if layout_plan is not None:
        check_layout_plan(layout_plan)


def check_seeds(seed, batch: int) -> list[int]:
    """The seeds as a list (one int stands for the whole batch); each is checked by check_sampling."""
    if not isinstance(seed, (list, tuple)):
        return [seed]
    if len(seed) != batch:
        raise BlueprintError(f"{len(seed)} seeds for {batch} prompts: give one seed, or one per prompt")
    for s in seed:
        check_sampling(1, 1.0, None, None, s)
    return list(seed)


def check_prior_tokens(ids, batch: int, width: int, height: int, codebook: int) -> torch.Tensor:
    """Caller's AR tokens as long ids, (batch, DiT patches), each in [0, codebook)."""
    try:
        ids = torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError) as e:
        raise BlueprintError(f"prior_token_ids must be a tensor of integer ids: {e}") from None
    want = (batch, (height // PX_PER_DIT_TOKEN) * (width // PX_PER_DIT_TOKEN))
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or tuple(ids.shape) != want:
        raise BlueprintError(
            f"prior_token_ids must be integer ids of shape {want}, got {ids.dtype} {tuple(ids.shape)}"
        )
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= codebook):
        raise BlueprintError(f"prior_token_ids must lie in [0, {codebook})")
    return ids.long()


def check_glyph_ink(ink, batch: int, width: int, height: int, glyph_channels: int, conditioning: str,
                    name: str = "glyph_ink") -> torch.Tensor:
    """Caller's ink (the glyph layer's letters, or `name`d other plane) as float (batch, 1, height,
    width) in [0, 1], for a decoder that has a glyph layer."""
    if not glyph_channels:
        raise BlueprintError(f"{name} needs a decoder with a glyph layer; this model's has none")
    if conditioning != "blueprint":
        raise BlueprintError(f"{name} is for the blueprint conditioning; this model's is {conditioning!r}")
    want = (batch, 1, height, width)
    if not isinstance(ink, torch.Tensor) or tuple(ink.shape) != want:
        got = tuple(ink.shape) if isinstance(ink, torch.Tensor) else type(ink).__name__
        raise BlueprintError(f"{name} must be a tensor of shape {want}, got {got}")
    ink = ink.float()
    if not bool(torch.isfinite(ink).all()) or float(ink.min()) < 0 or float(ink.max()) > 1:
        raise BlueprintError(f"{name} values must lie in [0, 1] (1 = ink)")
    return ink


def check_plan_ink(planes, with_tokens: bool, batch: int, width: int, height: int, glyph_channels: int,
                   conditioning: str) -> list[torch.Tensor | None] | None:
    """Caller's planned rows' letters and shapes, given with the AR tokens (`with_tokens`): None, or
    a list of one (2, height, width) tensor in [0, 1] or None (no plan) per prompt."""
    if planes is None:
        return None
    if not with_tokens:
        raise BlueprintError("plan_ink goes with prior_token_ids: an AR stage that follows a plan takes its "
                             "ink from the plan itself")
    if not isinstance(planes, (list, tuple)) or len(planes) != batch:
        raise BlueprintError(f"plan_ink must be a list of {batch} entries (a tensor or None per prompt)")
    want = (2, height, width)
    for ink in planes:
        if ink is not None and (not isinstance(ink, torch.Tensor) or tuple(ink.shape) != want):
            got = tuple(ink.shape) if isinstance(ink, torch.Tensor) else type(ink).__name__
            raise BlueprintError(f"each plan_ink entry must be a tensor of shape {want} (letters, shapes), got {got}")
    return [None if ink is None else
            check_glyph_ink(ink[:, None], 2, width, height, glyph_channels, conditioning, "plan_ink")[:, 0]
            for ink in planes]
