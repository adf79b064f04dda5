"""The training loop: exact resume (planned stop and `kill -9`), atomic
checkpoints, pruning, logs, bad arguments, and data parallelism on gloo.

A toy stage (a two-layer MLP with dropout, noisy targets and EMA) exercises
every generic path of the loop in milliseconds per step; the real stages are
tested in test_train_stages.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from blueprint.errors import BlueprintError
from blueprint.train import checkpoint as ckpt
from blueprint.train.loop import LoopArgs, train
from blueprint.train.stage import StageArgs

REPO = Path(__file__).resolve().parents[1]


class ToyStage:
    """Regress sum(x); randomness in the batch (from step), the loss (noise) and dropout."""

    name = "toy"
    ema_decay = 0.9
    lr = 1e-2

    def __init__(self, args: StageArgs):
        self.args = args
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))

    def trainable(self):
        return {"net": self.net}

    def batch(self, step, rank, world_size):
        g = torch.Generator().manual_seed((self.args.seed * 1000 + step) * world_size + rank)
        x = torch.randn(self.args.batch_size, 4, generator=g)
        return {"x": x, "y": x.sum(1, keepdim=True)}

    def loss(self, batch):
        target = batch["y"] + 0.05 * torch.randn_like(batch["y"])
        loss = ((self.net(batch["x"]) - target) ** 2).mean()
        return loss, {"rmse": loss.detach().sqrt().item()}

    def export(self, model_dir):
        from safetensors.torch import save_model
        save_model(self.net, str(Path(model_dir) / "toy.safetensors"))


def run_toy(out_dir, steps=24, **loop_kwargs):
    loop_kwargs = {"ckpt_every": 5, "log_every": 1, "progress": False, **loop_kwargs}
    return train(ToyStage, StageArgs(config="tiny", out_dir=Path(out_dir), batch_size=8), LoopArgs(steps=steps, **loop_kwargs))


def losses(out_dir):
    lines = (Path(out_dir) / "logs" / "toy.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    result = run_toy(out)
    return out, result


def test_straight_run_learns_logs_and_exports(straight):
    out, result = straight
    log = losses(out)
    assert [s for s, _ in log] == list(range(1, 25))
    assert log[-1][1] < log[0][1] / 3
    assert result["exported"] and (out / "toy.safetensors").is_file()
    assert json.loads((out / "trained.json").read_text())["toy"]["steps"] == 24
    # keep_last=3 of the checkpoints at 5, 10, 15, 20, 24
    assert [s for s, _ in ckpt.checkpoint_dirs(out / "checkpoints" / "toy")] == [15, 20, 24]
    first = json.loads((out / "logs" / "toy.jsonl").read_text().splitlines()[0])
    assert {"step", "loss", "lr", "time", "metrics", "grad_norm", "step_s", "data_s"} <= first.keys()


class SlowDataStage(ToyStage):
    """The toy stage with batches that take 50 ms to draw: a data-bound stage."""

    def batch(self, step, rank, world_size):
        import time

        time.sleep(0.05)
        return super().batch(step, rank, world_size)


def test_log_says_how_much_of_a_step_waits_for_data(tmp_path):
    train(SlowDataStage, StageArgs(config="tiny", out_dir=tmp_path, batch_size=8),
          LoopArgs(steps=6, ckpt_every=100, log_every=3, progress=False))
    for record in map(json.loads, (tmp_path / "logs" / "toy.jsonl").read_text().splitlines()):
        assert 0.05 <= record["data_s"] <= record["step_s"], record


def test_exported_weights_are_the_ema(straight):
    out, _ = straight
    exported = load_file(out / "toy.safetensors")
    last = ckpt.checkpoint_dirs(out / "checkpoints" / "toy")[-1][1]
    ema, raw = load_file(last / "ema.safetensors"), load_file(last / "model.safetensors")
    for k, v in exported.items():
        assert torch.equal(v, ema[f"net.{k}"])
    assert any(not torch.equal(exported[k], raw[f"net.{k}"]) for k in exported)


def test_ema_is_diffusers_and_follows_its_formula(tmp_path):
    """The EMA is diffusers' EMAModel: after its k-th update (one per step) it holds
    d_k * ema + (1 - d_k) * weights, with d_1 = 0 (the first update takes the weights)
    and d_k = min(decay, k / (9 + k)) after (`EMAModel.get_decay`)."""
    run_toy(tmp_path, steps=6, ckpt_every=1, keep_last=10, ema_decay=0.3)  # capped from step 4
    ema = None
    for step, folder in ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy"):
        weights, saved = load_file(folder / "model.safetensors"), load_file(folder / "ema.safetensors")
        d = 0.0 if step == 1 else min(0.3, step / (9 + step))
        for k, w in weights.items():
            expected = w if ema is None else d * ema[k] + (1 - d) * w
            torch.testing.assert_close(saved[k], expected, rtol=1e-6, atol=1e-7)
        assert json.loads((folder / "state.json").read_text())["ema"]["optimization_step"] == step
        ema = saved
    assert step == 6


def test_checkpoint_from_before_the_scheduler_and_diffusers_ema_resumes_the_same(straight, tmp_path):
    """Checkpoints written by the hand-written schedule and EMA hold neither state: the step
    stands for both, and the run continues exactly."""
    out, _ = straight
    run_toy(tmp_path, stop_after=13)  # last checkpoint at 10
    state_file = tmp_path / "checkpoints" / "toy" / "step_00000010" / "state.json"
    state = json.loads(state_file.read_text())
    del state["lr_scheduler"], state["ema"]
    for group in state["param_groups"]:
        del group["initial_lr"]
    state_file.write_text(json.dumps(state))
    run_toy(tmp_path)
    assert losses(tmp_path) == losses(out)
    assert (tmp_path / "toy.safetensors").read_bytes() == (out / "toy.safetensors").read_bytes()


def test_stop_and_resume_is_bit_identical(straight, tmp_path):
    out, _ = straight
    first = run_toy(tmp_path, stop_after=13)  # last checkpoint at 10; steps 11-13 are redone
    assert not first["exported"] and first["step"] == 13
    run_toy(tmp_path)
    assert losses(tmp_path) == losses(out)
    assert (tmp_path / "toy.safetensors").read_bytes() == (out / "toy.safetensors").read_bytes()


KILL_SCRIPT = """
import os, signal, sys
sys.path[:0] = [{repo!r}, {tests!r}]
import torch
torch.set_num_threads(1)
import test_train_loop as t
from blueprint.train import checkpoint
mode = sys.argv[2]
if mode == "mid-step":  # SIGKILL inside the loss of step 13
    loss = t.ToyStage.loss
    def dying(self, batch, _n=[0]):
        _n[0] += 1
        if _n[0] == 13:
            os.kill(os.getpid(), signal.SIGKILL)
        return loss(self, batch)
    t.ToyStage.loss = dying
else:  # SIGKILL while the step-15 checkpoint is half written (before its rename)
    replace = os.replace
    def dying(src, dst):
        if str(dst).endswith("step_00000015"):
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(src, dst)
    checkpoint.os.replace = dying
t.run_toy(sys.argv[1])
"""


@pytest.mark.parametrize("mode", ["mid-step", "mid-checkpoint"])
def test_kill_9_then_resume_is_bit_identical(straight, tmp_path, mode):
    out, _ = straight
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(repo=str(REPO), tests=str(REPO / "tests")))
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), str(run_dir), mode], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    root = run_dir / "checkpoints" / "toy"
    if mode == "mid-checkpoint":
        assert any(".tmp-" in p.name for p in root.iterdir())  # the half-written one is there...
    assert ckpt.checkpoint_dirs(root)[-1][0] == 10           # ...and never picked
    run_toy(run_dir)
    assert losses(run_dir) == losses(out)
    assert (run_dir / "toy.safetensors").read_bytes() == (out / "toy.safetensors").read_bytes()
    assert not any(".tmp-" in p.name for p in root.iterdir())


def test_no_resume_starts_over(tmp_path):
    run_toy(tmp_path, steps=6, ckpt_every=3)
    run_toy(tmp_path, steps=4, ckpt_every=2, resume=False)
    assert [s for s, _ in losses(tmp_path)] == [1, 2, 3, 4]
    assert [s for s, _ in ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy")] == [2, 4]


def test_resume_with_changed_batch_size_is_refused(tmp_path):
    run_toy(tmp_path, steps=4, stop_after=3, ckpt_every=2)
    with pytest.raises(BlueprintError, match="batch_size"):
        train(ToyStage, StageArgs(config="tiny", out_dir=tmp_path, batch_size=4), LoopArgs(steps=6, progress=False))


def test_time_limit_stops_checkpoints_and_exports(tmp_path, monkeypatch):
    import blueprint.train.loop as loop_module

    clock = iter(range(0, 10_000, 7))  # each reading of the clock is 7 s later than the last
    monkeypatch.setattr(loop_module.time, "monotonic", lambda: next(clock))
    result = run_toy(tmp_path, steps=1000, time_limit=0.5)  # 30 s: passed at the 5th step (35 s)
    assert result["exported"] and result["step"] == 5
    assert json.loads((tmp_path / "trained.json").read_text())["toy"]["steps"] == 5
    assert [s for s, _ in ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy")] == [5]


@pytest.mark.parametrize("bad", [{"steps": 0}, {"lr": -1.0}, {"ckpt_every": 0}, {"ema_decay": 1.5},
                                 {"time_limit": 0.0}, {"cooldown": 4}, {"cooldown": -1}, {"precision": "fp16"}])
def test_bad_loop_arguments(tmp_path, bad):
    with pytest.raises(BlueprintError):
        run_toy(tmp_path, **{"steps": 3, **bad})
    assert not (tmp_path / "checkpoints").exists()


def test_cooldown_decays_the_logged_rate_to_the_last_step(tmp_path):
    run_toy(tmp_path, steps=10, warmup=2, cooldown=4)
    rates = [json.loads(line)["lr"] for line in (tmp_path / "logs" / "toy.jsonl").read_text().splitlines()]
    base = ToyStage.lr
    # warm-up (steps 1-2), constant (3-6), then base * 4/4, 3/4, 2/4, 1/4 over the last 4
    assert rates == pytest.approx([base / 2, base, base, base, base, base, base, base * 3 / 4, base / 2, base / 4])


def test_cooldown_added_on_resume_continues_the_same_run(tmp_path):
    """A constant-rate run stopped, then resumed with a longer --steps and a cooldown (how the
    CPU recipe anneals a long run): the steps before the resume keep their rate, the rest decay."""
    run_toy(tmp_path, steps=6)
    run_toy(tmp_path, steps=10, cooldown=4)
    rates = [json.loads(line)["lr"] for line in (tmp_path / "logs" / "toy.jsonl").read_text().splitlines()]
    assert rates[:6] == [ToyStage.lr] * 6 and rates[6:] == pytest.approx([ToyStage.lr * k / 4 for k in (4, 3, 2, 1)])


class DtypeStage(ToyStage):
    """The toy stage, recording the dtype its network computes in at each step."""

    seen: list = []

    def loss(self, batch):
        out = self.net(batch["x"])
        DtypeStage.seen.append(out.dtype)
        return ((out.float() - batch["y"]) ** 2).mean(), {}


@pytest.mark.parametrize("precision, dtype", [("auto", torch.float32), ("fp32", torch.float32),
                                              ("bf16", torch.bfloat16)])
def test_precision_sets_the_forward_dtype_and_keeps_weights_fp32(tmp_path, precision, dtype):
    DtypeStage.seen = []
    args = StageArgs(config="tiny", out_dir=tmp_path, batch_size=8)
    result = train(DtypeStage, args, LoopArgs(steps=4, ckpt_every=2, log_every=1, progress=False, precision=precision))
    assert result["exported"] and DtypeStage.seen == [dtype] * 4  # on this CPU, auto is fp32
    weights = load_file(tmp_path / "toy.safetensors")
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights.values())


class _NanGradient(torch.autograd.Function):
    """The identity, whose gradient is NaN: a finite loss with poisoned gradients."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("nan"))


class NanGradientStage(ToyStage):
    """The toy stage, whose gradients turn NaN from step 6 on (its loss stays finite)."""

    def batch(self, step, rank, world_size):
        return dict(super().batch(step, rank, world_size), step=torch.tensor(step))

    def loss(self, batch):
        out = self.net(batch["x"])
        if int(batch["step"]) >= 5:
            out = _NanGradient.apply(out)
        return ((out - batch["y"]) ** 2).mean(), {}


def test_non_finite_gradients_stop_the_run_before_the_update(tmp_path):
    args = StageArgs(config="tiny", out_dir=tmp_path, batch_size=8)
    with pytest.raises(BlueprintError, match="gradients are not finite at step 6"):
        train(NanGradientStage, args, LoopArgs(steps=12, ckpt_every=3, log_every=1, progress=False))
    # step 6 is a checkpoint step: what is on disk is step 3's, with finite weights, to resume from
    steps = [step for step, _ in ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy")]
    assert steps == [3]
    weights = load_file(ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy")[-1][1] / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    logged = [json.loads(line) for line in (tmp_path / "logs" / "toy.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5] and all(r["grad_norm"] > 0 for r in logged)


def test_unknown_config_is_refused(tmp_path):
    with pytest.raises(BlueprintError, match="configuration"):
        train(ToyStage, StageArgs(config="huge", out_dir=tmp_path), LoopArgs(steps=2, progress=False))


def _ddp_worker(rank, world_size, out_dir, port, result_dir):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    if rank != 0:  # only rank 0 may write checkpoints
        def refuse(*a, **k):
            raise AssertionError("rank 1 wrote a checkpoint")
        ckpt.save_checkpoint = refuse
        import blueprint.train.loop as loop_module
        loop_module.ckpt.save_checkpoint = refuse
    stage_holder = {}

    def make(args):
        stage_holder["stage"] = ToyStage(args)
        return stage_holder["stage"]

    result = train(make, StageArgs(config="tiny", out_dir=Path(out_dir), batch_size=4),
                   LoopArgs(steps=6, ckpt_every=3, log_every=1, progress=False))
    net = stage_holder["stage"].net
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(Path(result_dir) / f"rank{rank}.safetensors"))
    (Path(result_dir) / f"rank{rank}.json").write_text(json.dumps({"exported": result["exported"], "loss": result["loss"]}))


def test_two_process_gloo_ranks_agree_and_only_rank0_writes(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, res = tmp_path / "run", tmp_path / "res"
    res.mkdir()
    mp.spawn(_ddp_worker, args=(2, str(out), port, str(res)), nprocs=2, join=True)
    w0, w1 = load_file(res / "rank0.safetensors"), load_file(res / "rank1.safetensors")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    r0, r1 = (json.loads((res / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["exported"] and not r1["exported"]
    assert r0["loss"] == r1["loss"]  # the logged loss is the mean over ranks
    assert [s for s, _ in losses(out)] == list(range(1, 7))  # one line per step, not one per rank
    assert [s for s, _ in ckpt.checkpoint_dirs(out / "checkpoints" / "toy")] == [3, 6]
    # the two ranks saw different data: the averaged run differs from a single-process one
    single = tmp_path / "single"
    train(ToyStage, StageArgs(config="tiny", out_dir=single, batch_size=4),
          LoopArgs(steps=6, ckpt_every=3, log_every=1, progress=False))
    assert losses(single) != losses(out)


def test_batches_drawn_by_workers_change_nothing(straight, tmp_path):
    out, _ = straight
    run_toy(tmp_path, workers=2)
    assert losses(tmp_path) == losses(out)


def test_torn_log_line_and_corrupt_checkpoint(tmp_path):
    run_toy(tmp_path, steps=8, stop_after=6, ckpt_every=3)
    log = tmp_path / "logs" / "toy.jsonl"
    log.write_text(log.read_text() + '{"step": 7, "lo')  # killed mid-write
    run_toy(tmp_path, steps=8, ckpt_every=3)
    assert [s for s, _ in losses(tmp_path)] == list(range(1, 9))
    newest = ckpt.checkpoint_dirs(tmp_path / "checkpoints" / "toy")[-1][1]
    (newest / "optimizer.safetensors").write_bytes(b"garbage")
    with pytest.raises(BlueprintError, match="cannot resume from checkpoint"):
        run_toy(tmp_path, steps=10, ckpt_every=3)
