"""The training loop shared by every stage (see `stage.py` for the contract).

Explicit, in the spirit of DiT's train.py: one function, `train`, that

1. joins the torchrun process group when launched under it (NCCL on GPU,
   gloo on CPU), picks the device and the precision (`LoopArgs.precision`:
   by default bf16 autocast on GPU, plain fp32 on CPU);
2. creates the model folder from the configuration if needed (rank 0);
3. builds the stage; under torchrun wraps its trainable modules in DDP, or
   shards them with FSDP2 for a model too big for one device
   (`LoopArgs.parallel`, see `distributed.py`); builds AdamW, its schedule
   (torch's LambdaLR) and, if the stage asks for it, an EMA (diffusers');
4. resumes from the newest complete checkpoint (weights, EMA, optimizer,
   schedule position, RNG);
5. steps: reseed from (seed, step, rank), batch, loss, backward (DDP or FSDP
   average the gradients over ranks), clip, AdamW, schedule, EMA; logs JSONL
   lines and a tqdm bar; writes an atomic checkpoint every `ckpt_every`
   steps (rank 0 writes it; under FSDP every rank gathers it first);
6. at the end exports the component(s), with the EMA weights if any, into
   the model folder, and records the stage in `trained.json`.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from blueprint.choices import PARALLEL
from blueprint.errors import BlueprintError
from blueprint.models.precision import check_precision
from blueprint.train import checkpoint as ckpt
from blueprint.train.distributed import (
    Dist, StageModel, check_parallel, mean_by_name, mean_over_ranks, parallelize, setup_distributed,
)
from blueprint.train.model_dir import ensure_model_dir, mark_trained
from blueprint.train.stage import Stage, StageArgs




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
    parallel: str = "ddp"             # under torchrun: "ddp" (a replica per rank) or "fsdp" (weights sharded)

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
        check_precision(self.precision)
        if self.parallel not in PARALLEL:
            raise BlueprintError(f"parallel must be one of {', '.join(PARALLEL)}, got {self.parallel!r}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise BlueprintError(f"ema-decay must be in [0, 1), got {self.ema_decay!r}")


def configure_cuda(device: torch.device) -> None:
    """Process-wide settings for training on an NVIDIA GPU (nothing elsewhere).

    - cuDNN's fused attention is switched off. On Hopper it is the default
      backend for masked attention, and its backward returns NaN query
      gradients when some query row is fully masked and the length is 64 more
      than a multiple of 128 (the prior's left-padded prompts have such rows);
      it also builds a new execution plan on the host for each new sequence
      length, and the DiT's joint length follows the batch's longest quoted
      text. The flash and memory-efficient kernels have neither problem.
    - fp32 matrix products may use TF32 (`--precision fp32` stages): the
      weights, gradients and optimizer stay fp32.
    """
    if device.type != "cuda":
        return
    torch.backends.cuda.enable_cudnn_sdp(False)
    torch.set_float32_matmul_precision("high")


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


def make_ema(params: list[torch.nn.Parameter], decay: float, foreach: bool = True):
    """diffusers' EMAModel of `params`. After its k-th update the average is
    d_k * ema + (1 - d_k) * weights with d_k = min(decay, k / (9 + k)), except d_1 = 0:
    the first update takes the weights as they are, and early on the average follows
    them closely (its warm-up, `get_decay`). `foreach` (fewer kernel launches) cannot serve
    FSDP shards: DTensor has no rule for `_foreach_copy_`."""
    from diffusers.training_utils import EMAModel  # heavy: only the stages that use EMA pay for it

    return EMAModel(params, decay=decay, foreach=foreach)


def lr_factor(step: int, warmup: int, steps: int, cooldown: int = 0) -> float:
    """The rate of (0-based) `step` as a share of the base rate: warm-up from (step+1)/warmup,
    constant, then (with `cooldown`) a linear decay over the last `cooldown` steps.

    A long constant-rate run can be resumed with a cooldown (warmup-stable-decay):
    the rate anneals over its last steps. Its last step trains at base/cooldown, not 0.
    """
    factor = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if cooldown and step >= steps - cooldown:
        factor *= (steps - step) / cooldown
    return factor


def lr_schedule(optimizer: torch.optim.Optimizer, base_lr: float, loop: LoopArgs, start: int) -> LambdaLR:
    """torch's LambdaLR over `lr_factor`, positioned at step `start`.

    Built from this run's arguments at the position the checkpoint recorded (torch's
    way to resume a schedule: `last_epoch` and each group's `initial_lr`) rather than
    loaded whole: a saved schedule would bring back its own base rate and length, and
    a resume must honour a lower --lr (what a diverged run is told to do) and a
    --cooldown or longer --steps added to a run that was constant so far.
    """
    for group in optimizer.param_groups:
        group["initial_lr"] = base_lr
    return LambdaLR(optimizer, lambda step: lr_factor(step, loop.warmup, loop.steps, loop.cooldown),
                    last_epoch=start - 1)


# --- logs --------------------------------------------------------------------

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
    configure_cuda(d.device)
    if d.is_main:
        ensure_model_dir(args.out_dir, args.config, args.seed)
    d.barrier()

    stage, model, step_model = _build(make_stage, args, loop, d)
    named = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if not named:
        raise RuntimeError(f"stage {stage.name!r} has no trainable parameters")
    params = list(named.values())
    base_lr = loop.lr if loop.lr is not None else getattr(stage, "lr", 1e-4)
    optimizer = torch.optim.AdamW(params, lr=base_lr, weight_decay=loop.weight_decay)
    ema_decay = loop.ema_decay if loop.ema_decay is not None else getattr(stage, "ema_decay", None)
    sharded = loop.parallel == "fsdp" and d.world_size > 1
    ema = make_ema(params, ema_decay, foreach=not sharded) if ema_decay is not None else None
    modules = dict(model.items())

    ckpt_root = args.out_dir / "checkpoints" / stage.name
    log_path = args.out_dir / "logs" / f"{stage.name}.jsonl"
    if d.is_main:
        ckpt.sweep_partial(ckpt_root)
        if not loop.resume:
            shutil.rmtree(ckpt_root, ignore_errors=True)
            log_path.unlink(missing_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
    d.barrier()

    # What decides the batches drawn: a resumed run must keep all of it.
    same_run = {"config": args.config, "seed": args.seed, "batch_size": args.batch_size,
                "size": list(args.size), "extra_sizes": [list(x) for x in args.extra_sizes],
                "kinds": args.kinds, "caption_style": args.caption_style,
                "data": args.data, "world_size": d.world_size, "preview_grid": args.preview_grid}
    start, last_ckpt, state = 0, None, {}
    found = ckpt.checkpoint_dirs(ckpt_root) if loop.resume else []
    if found:
        start, last_ckpt = found[-1]
        state = ckpt.load_checkpoint(last_ckpt, modules, optimizer, ema, list(named))
        ckpt.check_same_run(state, same_run)
    # checkpoints from before the scheduler: its position is the step
    scheduler = lr_schedule(optimizer, base_lr, loop, state.get("lr_scheduler", {}).get("last_epoch", start))
    d.barrier()
    if d.is_main:
        ckpt.truncate_log(log_path, start)

    meta = {"stage": stage.name, **same_run, "loop": asdict(loop), "base_lr": base_lr, "ema_decay": ema_decay}
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
        lr = optimizer.param_groups[0]["lr"]  # this step's, set by the scheduler
        with timer.waiting():
            batch = to_device(next(stream), d.device)
        with autocast:
            loss, metrics = step_model(batch)
        fail = partial(_diverged, stage.name, step + 1, last_ckpt or "the start")
        grad_norm = _update(loss, params, optimizer, loop.grad_clip, d, fail)
        scheduler.step()
        if ema is not None:
            ema.step(params)

        done = step + 1
        bar.update(1)
        if done % loop.log_every == 0 or done == loop.steps:
            last_loss, mean_norm = mean_over_ranks([loss.item(), grad_norm], d)
            logged = mean_by_name({k: float(metrics[k]) for k in sorted(metrics)}, d)
            bar.set_postfix(loss=f"{last_loss:.4f}")
            if d.is_main:
                append_log(log_path, {"step": done, "loss": last_loss, "lr": lr, "grad_norm": mean_norm,
                                      "metrics": logged, "time": round(time.time(), 3), **timer.lap(done)})
        if deadline is not None:  # every rank stops at the same step: the first clock past it decides
            out_of_time = mean_over_ranks([float(time.monotonic() >= deadline)], d)[0] > 0
        if done % loop.ckpt_every == 0 or done == loop.steps or out_of_time:
            if d.is_main or sharded:  # under FSDP every rank takes part in gathering the shards
                gathered = ckpt.gather_state(modules, optimizer, scheduler, ema, list(named))
            if d.is_main:
                last_ckpt = ckpt.save_checkpoint(ckpt_root, done, gathered, meta)
                ckpt.prune(ckpt_root, loop.keep_last)
            d.barrier()
        if out_of_time:
            reached = done
            break
    bar.close()

    finished = reached >= loop.steps or out_of_time
    if finished:
        _export(make_stage, stage, model, params, ema, args, reached, d, sharded)
    return {"step": reached, "loss": last_loss, "log": log_path, "checkpoint": last_ckpt,
            "exported": finished and d.is_main}


def _build(make_stage, args: StageArgs, loop: LoopArgs, d: Dist):
    """The stage, its trainable modules as one `StageModel` on the device, and the module a
    step calls (the model itself, DDP around it, or the model sharded by FSDP)."""
    reseed(args.seed, -1, 0)  # building the stage is the same on every rank
    stage = make_stage(args)
    check_parallel(stage.name, loop.parallel, d)
    model = StageModel(stage.trainable(), stage.loss).to(d.device).train()
    return stage, model, parallelize(model, stage.name, d, loop.parallel)


def _update(loss: torch.Tensor, params: list, optimizer: torch.optim.Optimizer, grad_clip: float, d: Dist,
            fail: Callable[[str, str], BlueprintError]) -> float:
    """Backward, clip and AdamW for one step; returns the gradient norm (before clipping).

    Refuses a non-finite loss or gradient on any rank (so every rank stops together)
    before the update: one NaN would make every weight NaN, and a checkpoint written
    at this step would carry them into every resume.
    """
    seen = mean_over_ranks([loss.item()], d)[0]
    if not math.isfinite(seen):
        raise fail(f"the loss is {seen}", "(diverged)")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # DDP and FSDP average the gradients over ranks in here
    # The norm is measured even when clipping is off (an infinite bound clips nothing).
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip or math.inf).item()
    if not math.isfinite(grad_norm):
        raise fail("the gradients are not finite", f"(the loss was {seen:.4g}); nothing of this step was applied")
    optimizer.step()
    return grad_norm


def _diverged(stage: str, step: int, resume_from, what: str, why: str) -> BlueprintError:
    return BlueprintError(f"stage {stage!r}: {what} at step {step} {why}; "
                          f"rerun with a lower --lr (it resumes from {resume_from})")


def _export(make_stage, stage: Stage, model: StageModel, params: list, ema, args: StageArgs, reached: int,
            d: Dist, sharded: bool) -> None:
    """Write the trained component(s), with the EMA weights if any, and record the stage."""
    if ema is not None:
        ema.copy_to(params)
    model.eval()
    if sharded:
        # FSDP's modules hand out their shards to whatever saves them (their state_dict),
        # so rank 0 exports a stage built again, unsharded, holding the gathered weights.
        tensors = ckpt.module_tensors(dict(model.items()))  # every rank gathers
        if d.is_main:
            reseed(args.seed, -1, 0)
            stage = make_stage(replace(args, device="cpu"))
            ckpt.load_module_tensors(stage.trainable(), tensors)
            for m in stage.trainable().values():
                m.eval()
    if d.is_main:
        stage.export(args.out_dir)
        mark_trained(args.out_dir, stage.name, args.config, reached)
    d.barrier()
