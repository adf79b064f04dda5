"""The learning-rate schedule is torch's LambdaLR: it gives the rate of the formula the loop
used to compute by hand at every step, also when a run is resumed in the middle, and a
resume with a new --lr, --steps or --cooldown follows the new schedule from there on.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from blueprint.train.loop import LoopArgs, lr_schedule
from test_train_loop import ToyStage, run_toy


def formula(step: int, base: float, warmup: int, steps: int, cooldown: int) -> float:
    """The hand-written schedule this replaces (the loop's former `lr_at`), verbatim."""
    lr = base * min(1.0, (step + 1) / warmup) if warmup else base
    if cooldown and step >= steps - cooldown:
        lr *= (steps - step) / cooldown
    return lr


def drive(base: float, loop: LoopArgs, start: int, end: int, optimizer=None) -> tuple[list[float], torch.optim.Optimizer]:
    """The rates of steps start..end-1, driven as the loop drives them (read the group's rate,
    optimizer step, scheduler step); `optimizer` is a resumed one when given."""
    if optimizer is None:
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=base)
    scheduler = lr_schedule(optimizer, base, loop, start)
    rates = []
    for _ in range(start, end):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert scheduler.last_epoch == end
    return rates, optimizer


def resumed(optimizer: torch.optim.Optimizer, base: float) -> torch.optim.Optimizer:
    """A fresh optimizer loaded from `optimizer`'s state, as a checkpoint restores it."""
    fresh = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=base)
    fresh.load_state_dict(optimizer.state_dict())
    return fresh


CASES = [(3e-4, 0, 20, 0), (1e-3, 5, 20, 0), (1e-3, 0, 20, 7), (2e-4, 4, 20, 6), (1e-2, 12, 20, 12), (5e-4, 1, 1, 1)]


@pytest.mark.parametrize("base, warmup, steps, cooldown", CASES)
def test_rates_match_the_formula_at_every_step(base, warmup, steps, cooldown):
    loop = LoopArgs(steps=steps, warmup=warmup, cooldown=cooldown)
    rates, _ = drive(base, loop, 0, steps)
    expected = [formula(s, base, warmup, steps, cooldown) for s in range(steps)]
    # base * (warm-up * cooldown) against (base * warm-up) * cooldown: at most a rounding apart
    assert all(math.isclose(r, e, rel_tol=1e-15, abs_tol=0) for r, e in zip(rates, expected)), (rates, expected)
    overlap = [s for s in range(steps) if warmup and s + 1 < warmup and cooldown and s >= steps - cooldown]
    assert all(rates[s] == expected[s] for s in range(steps) if s not in overlap)  # exact elsewhere


@pytest.mark.parametrize("base, warmup, steps, cooldown", CASES)
def test_resume_at_any_step_continues_the_same_rates(base, warmup, steps, cooldown):
    loop = LoopArgs(steps=steps, warmup=warmup, cooldown=cooldown)
    straight, _ = drive(base, loop, 0, steps)
    for k in range(steps + 1):
        before, optimizer = drive(base, loop, 0, k)
        after, _ = drive(base, loop, k, steps, resumed(optimizer, base))
        assert before + after == straight, k


def test_resume_with_a_lower_rate_and_a_cooldown_follows_the_new_schedule():
    """What a diverged run is told to do (a lower --lr), and a constant run annealed on resume."""
    before, optimizer = drive(1e-3, LoopArgs(steps=10), 0, 6)
    new = LoopArgs(steps=14, cooldown=6)
    after, _ = drive(5e-4, new, 6, 14, resumed(optimizer, 1e-3))
    assert before == [1e-3] * 6
    assert after == [formula(s, 5e-4, 0, 14, 6) for s in range(6, 14)]


def test_checkpoints_hold_the_scheduler_state_and_logged_rates_follow_the_formula(tmp_path):
    run_toy(tmp_path, steps=10, stop_after=7, warmup=4, cooldown=3, ckpt_every=5)
    run_toy(tmp_path, steps=10, warmup=4, cooldown=3, ckpt_every=5)  # resumes from step 5
    logged = [json.loads(line)["lr"] for line in (tmp_path / "logs" / "toy.jsonl").read_text().splitlines()]
    assert logged == [formula(s, ToyStage.lr, 4, 10, 3) for s in range(10)]
    state = json.loads((tmp_path / "checkpoints" / "toy" / "step_00000010" / "state.json").read_text())
    assert state["lr_scheduler"]["last_epoch"] == 10 and state["lr_scheduler"]["base_lrs"] == [ToyStage.lr]
