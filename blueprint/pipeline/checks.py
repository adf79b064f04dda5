"""The checks of a pipeline call that need no model: prompts, sampling settings, seeds.

Front ends (the command line, the server) run them before loading a model, so bad
input fails in milliseconds with the same message the pipeline would give.
"""

from __future__ import annotations

import math

from blueprint.errors import BlueprintError
from blueprint.models.settings import check_color_plan, check_layout_plan, check_prior_guidance
from blueprint.pipeline.limits import MAX_BATCH, MAX_STEPS, MIN_TEMPERATURE


def check_prompts(prompt: str | list[str]) -> list[str]:
    """The checks a prompt list needs no model for (the token limit needs the tokenizer)."""
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
