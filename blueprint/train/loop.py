"""The training loop shared by every stage (see `stage.py` for the contract).

Explicit, in the spirit of DiT's train.py: one function, `train`, that

1. joins the torchrun process group when launched under it (NCCL on GPU,
   gloo on CPU) and picks the device, and the precision: by default bf16
   autocast on GPU, plain fp32 on CPU (`LoopArgs.precision`);
2. creates the model folder from the configuration if needed (rank 0);
3. builds the stage, an AdamW optimizer over its trainable modules and,
   when the stage asks for it, an EMA of their weights;
4. resumes from the newest complete checkpoint (weights, EMA, optimizer, RNG);
5. steps: reseed from (seed, step, rank), batch, loss, backward, gradient
   all-reduce across ranks, clip, AdamW, EMA; logs JSONL lines and a tqdm bar;
   writes an atomic checkpoint every `ckpt_every` steps (rank 0 only);
6. at the end loads the EMA weights (if any) and exports the component(s)
   into the model folder, then records the stage in `trained.json`.

Data parallelism (the process group, the device, the gradient all-reduce) is
in `distributed.py`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from blueprint.errors import BlueprintError
from blueprint.train import checkpoint as ckpt
from blueprint.train.distributed import Dist, all_reduce_grads, mean_over_ranks, setup_distributed
from blueprint.train.model_dir import ensure_model_dir, mark_trained
from blueprint.train.stage import Stage, StageArgs


PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class LoopArgs:
    steps: int = 1000                 # total optimizer steps (a resumed run continues up to this)
    lr: float | None = None           # None: the stage's `lr` attribute, else 1e-4
    weight_decay: float = 0.0
    warmup: int = 0                   # linear learning-rate warm-up steps, then constant
    cooldown: int = 0                 # the last N steps before `steps`: linear decay towards 0
    grad_clip: float = 1.0            # max global gradient norm; 0 disables clipping (the norm is still logged)
    ema_decay: float | None = None    # None: the stage's `ema_decay` attribute (None = no EMA)
    ckpt_every: int = 500
    log_every: int = 10
    keep_last: int = 3                # checkpoints kept on disk
    resume: bool = True               # False: delete this stage's checkpoints and log, start over
    progress: bool = True             # tqdm bar on rank 0
    stop_after: int | None = None     # stop after this step without exporting (a planned interruption)
    workers: int = 0                  # processes that draw batches ahead (0: draw them inline)
    time_limit: float | None = None   # minutes: stop, checkpoint and export at the first step past it
    precision: str = "auto"           # auto: bf16 autocast on GPU, fp32 on CPU; or bf16 / fp32 anywhere

    def check(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 0:
            raise BlueprintError(f"workers must be a non-negative integer, got {self.workers!r}")
        for name in ("steps", "ckpt_every", "log_every", "keep_last"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise BlueprintError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.time_limit is not None and not (self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise BlueprintError(f"time-limit must be a positive number of minutes, got {self.time_limit!r}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise BlueprintError(f"lr must be a positive number, got {self.lr!r}")
        if self.warmup < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise BlueprintError("warmup, grad-clip and weight-decay must not be negative")
        if not isinstance(self.cooldown, int) or not 0 <= self.cooldown <= self.steps:
            raise BlueprintError(f"cooldown must be an integer in [0, steps={self.steps}], got {self.cooldown!r}")
        if self.precision not in PRECISIONS:
            raise BlueprintError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise BlueprintError(f"ema-decay must be in [0, 1), got {self.ema_decay!r}")


def reseed(seed: int, step: int, rank: int) -> None:
    """Seed every RNG from (seed, step, rank): a step's randomness never depends on history."""
    state = np.random.SeedSequence([seed, step + 1, rank]).generate_state(2)  # step -1: building
    torch.manual_seed(int(state[0]))
    np.random.seed(int(state[1]))
    random.seed(int(state[1]))


# --- pieces of a step --------------------------------------------------------

def autocast_for(precision: str, device: torch.device):
    """The context a step's forward runs in. The weights, gradients and AdamW stay fp32 in
    every case: bf16 autocast only runs the matrix products in bf16."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class StepBatches(torch.utils.data.Dataset):
    """Item i is the batch of step `start + i`: lets DataLoader workers draw batches ahead.

    Rendering designs is CPU work that would otherwise starve a GPU. A batch is
    a pure function of (seed, step, rank), so workers change nothing about
    which batches are drawn, or their order. Workers are forked: `stage.batch`
    must stay on the CPU.
    """

    def __init__(self, stage: Stage, start: int, end: int, rank: int, world_size: int):
        self.stage, self.start, self.end, self.rank, self.world_size = stage, start, end, rank, world_size

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, i: int) -> dict:
        return self.stage.batch(self.start + i, self.rank, self.world_size)


def batches(stage: Stage, start: int, end: int, d: Dist, workers: int):
    """Batches of steps start..end-1, in order."""
    if workers == 0:
        return (stage.batch(step, d.rank, d.world_size) for step in range(start, end))
    return iter(torch.utils.data.DataLoader(
        StepBatches(stage, start, end, d.rank, d.world_size), batch_size=None, shuffle=False,
        num_workers=workers, prefetch_factor=4, multiprocessing_context="fork",
    ))


class StepTimer:
    """Seconds per step, and how many of them went to waiting for data, between log lines.

    Logged as "step_s" and "data_s": a stage whose data_s is most of its
    step_s is starved by rendering (add --workers), one whose data_s is near 0
    is bound by its own compute. The loss's .item() at each log line waits for
    the device, so the interval's wall time is the device's too."""

    def __init__(self, step: int):
        self.since, self.step, self.data = time.perf_counter(), step, 0.0

    @contextlib.contextmanager
    def waiting(self):
        start = time.perf_counter()
        yield
        self.data += time.perf_counter() - start

    def lap(self, step: int) -> dict:
        now, n = time.perf_counter(), max(1, step - self.step)
        out = {"step_s": round((now - self.since) / n, 4), "data_s": round(self.data / n, 4)}
        self.since, self.step, self.data = now, step, 0.0
        return out


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def ema_update(ema: dict[str, torch.Tensor], named: dict[str, torch.nn.Parameter], decay: float, updates: int) -> None:
    # Warm-up (as in many EMA implementations): early on the average follows the weights closely.
    d = min(decay, (1 + updates) / (10 + updates))
    with torch.no_grad():
        for k, p in named.items():
            ema[k].lerp_(p.detach().float(), 1.0 - d)


def lr_at(step: int, base: float, warmup: int, steps: int | None = None, cooldown: int = 0) -> float:
    """Warm-up, constant, then (with `cooldown`) a linear decay over the last steps.

    A long constant-rate run can be resumed with a cooldown (warmup-stable-decay):
    the training loss drops as the rate anneals (on the CPU runs, not the held-out
    scores: docs/RESULTS.md section 5). Its last step trains at base/cooldown, not 0.
    """
    lr = base * min(1.0, (step + 1) / warmup) if warmup else base
    if cooldown and steps is not None and step >= steps - cooldown:
        lr *= (steps - step) / cooldown
    return lr


# --- logs --------------------------------------------------------------------

def truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines past the resumed step (written after the last checkpoint), and torn lines."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a kill mid-write
            continue
        if record["step"] <= last_step:
            keep.append(line)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


def append_log(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


# --- the loop ----------------------------------------------------------------

def train(make_stage: Callable[[StageArgs], Stage], args: StageArgs, loop: LoopArgs) -> dict:
    """Train one stage to `loop.steps`, resuming if possible; export it at the end.

    Returns {"step", "loss", "log", "checkpoint", "exported"} (loss = last logged).
    """
    loop.check()
    d = setup_distributed()
    try:
        return _train(make_stage, args, loop, d)
    finally:
        if d.owned:
            dist.destroy_process_group()


def _train(make_stage, args: StageArgs, loop: LoopArgs, d: Dist) -> dict:
    args.out_dir = Path(args.out_dir)
    args.device = str(d.device)
    if d.is_main:
        ensure_model_dir(args.out_dir, args.config, args.seed)
    d.barrier()

    reseed(args.seed, -1, 0)  # building the stage is the same on every rank
    stage = make_stage(args)
    modules = stage.trainable()
    named: dict[str, torch.nn.Parameter] = {}
    for mname in sorted(modules):
        modules[mname].to(d.device).train()
        for pname, p in modules[mname].named_parameters():
            if p.requires_grad:
                named[f"{mname}.{pname}"] = p
    if not named:
        raise RuntimeError(f"stage {stage.name!r} has no trainable parameters")
    params = list(named.values())
    if d.world_size > 1:  # start identical on every rank
        for m in modules.values():
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)

    base_lr = loop.lr if loop.lr is not None else getattr(stage, "lr", 1e-4)
    optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=loop.weight_decay)
    ema_decay = loop.ema_decay if loop.ema_decay is not None else getattr(stage, "ema_decay", None)
    ema = {k: p.detach().clone().float() for k, p in named.items()} if ema_decay is not None else None

    ckpt_root = args.out_dir / "checkpoints" / stage.name
    log_path = args.out_dir / "logs" / f"{stage.name}.jsonl"
    if d.is_main:
        ckpt.sweep_partial(ckpt_root)
        if not loop.resume:
            shutil.rmtree(ckpt_root, ignore_errors=True)
            log_path.unlink(missing_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
    d.barrier()

    start = 0
    found = ckpt.checkpoint_dirs(ckpt_root) if loop.resume else []
    last_ckpt = None
    if found:
        start, last_ckpt = found[-1]
        state = ckpt.load_checkpoint(last_ckpt, modules, optimizer, ema)
        _check_same_run(state, args, d)
    d.barrier()
    if d.is_main:
        truncate_log(log_path, start)

    meta = {"stage": stage.name, "config": args.config, "seed": args.seed, "batch_size": args.batch_size,
            "size": list(args.size), "extra_sizes": [list(x) for x in args.extra_sizes],
            "data": args.data, "world_size": d.world_size, "preview_grid": args.preview_grid,
            "loop": asdict(loop), "base_lr": base_lr, "ema_decay": ema_decay}
    autocast = autocast_for(loop.precision, d.device)
    end = min(loop.steps, loop.stop_after) if loop.stop_after else loop.steps
    bar = tqdm(total=loop.steps, initial=start, desc=f"train {stage.name}", disable=not (d.is_main and loop.progress))
    last_loss = None
    # A time limit ends the run like reaching --steps (checkpoint, export), so a
    # recipe can spend a fixed GPU budget; the steps reached are in the log.
    deadline = time.monotonic() + 60 * loop.time_limit if loop.time_limit else None
    out_of_time = False
    reached = max(start, end)
    stream = batches(stage, start, end, d, loop.workers)
    timer = StepTimer(start)
    for step in range(start, end):
        reseed(args.seed, step, d.rank)
        lr = lr_at(step, base_lr, loop.warmup, loop.steps, loop.cooldown)
        for g in optimizer.param_groups:
            g["lr"] = lr
        with timer.waiting():
            batch = to_device(next(stream), d.device)
        with autocast:
            loss, metrics = stage.loss(batch)
        if not torch.isfinite(loss):
            raise BlueprintError(
                f"stage {stage.name!r}: the loss is {loss.item()} at step {step + 1} (diverged); "
                f"rerun with a lower --lr (it resumes from {last_ckpt or 'the start'})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if d.world_size > 1:
            all_reduce_grads(params, d.world_size)
        # The norm is measured even when clipping is off (an infinite bound clips nothing).
        grad_norm = torch.nn.utils.clip_grad_norm_(params, loop.grad_clip or math.inf).item()
        if not math.isfinite(grad_norm):
            # Checked before the update: one non-finite gradient would make every weight NaN,
            # and a checkpoint written at this step would carry them into every resume.
            raise BlueprintError(
                f"stage {stage.name!r}: the gradients are not finite at step {step + 1} (the loss was "
                f"{loss.item():.4g}); nothing of this step was applied; rerun with a lower --lr "
                f"(it resumes from {last_ckpt or 'the start'})"
            )
        optimizer.step()
        if ema is not None:
            ema_update(ema, named, ema_decay, step)

        done = step + 1
        bar.update(1)
        if done % loop.log_every == 0 or done == loop.steps:
            keys = sorted(metrics)
            values = mean_over_ranks([loss.item(), grad_norm] + [float(metrics[k]) for k in keys], d)
            last_loss = values[0]
            bar.set_postfix(loss=f"{last_loss:.4f}")
            if d.is_main:
                append_log(log_path, {"step": done, "loss": values[0], "lr": lr, "grad_norm": values[1],
                                      "metrics": dict(zip(keys, values[2:])), "time": round(time.time(), 3),
                                      **timer.lap(done)})
        if deadline is not None:  # every rank stops at the same step: rank 0's clock decides
            out_of_time = mean_over_ranks([float(time.monotonic() >= deadline)], d)[0] > 0
        if done % loop.ckpt_every == 0 or done == loop.steps or out_of_time:
            if d.is_main:
                last_ckpt = ckpt.save_checkpoint(ckpt_root, done, modules, optimizer, ema, meta)
                ckpt.prune(ckpt_root, loop.keep_last)
            d.barrier()
        if out_of_time:
            reached = done
            break
    bar.close()

    finished = reached >= loop.steps or out_of_time
    exported = False
    if finished:
        if ema is not None:  # export the EMA weights
            with torch.no_grad():
                for k, p in named.items():
                    p.copy_(ema[k])
        for m in modules.values():
            m.eval()
        if d.is_main:
            stage.export(args.out_dir)
            mark_trained(args.out_dir, stage.name, args.config, reached)
            exported = True
        d.barrier()
    return {"step": reached, "loss": last_loss, "log": log_path, "checkpoint": last_ckpt, "exported": exported}


def _check_same_run(state: dict, args: StageArgs, d: Dist) -> None:
    """A resumed run must draw the same batches: refuse a changed data setup."""
    now = {"config": args.config, "seed": args.seed, "batch_size": args.batch_size,
           "size": list(args.size), "extra_sizes": [list(x) for x in args.extra_sizes],
           "data": args.data, "world_size": d.world_size, "preview_grid": args.preview_grid}
    # checkpoints from before several sizes, and before the preview grid choice, existed
    recorded = {"extra_sizes": [], "preview_grid": args.preview_grid, **state}
    changed = [f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in now.items() if recorded.get(k) != v]
    if changed:
        raise BlueprintError(
            f"cannot resume stage {state.get('stage')!r}: {'; '.join(changed)} differ from its checkpoint; "
            "pass --no-resume to start over"
        )
