"""Data parallelism on PyTorch's engines, two processes on gloo: FSDP2 shards a model
with blocks and trains it as DDP does; checkpoints are whole tensors whichever wrote
them, and each resumes the other's; the image tokenizer's own collectives (dead-code
restarts, the `last_used` buffer) keep its ranks equal under DDP.

(The plain two-process DDP run and exact resume are in test_train_loop.py.)
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from torch import nn

from blueprint.errors import BlueprintError
from blueprint.train import checkpoint as ckpt
from blueprint.train.distributed import Dist, StageModel, check_parallel
from blueprint.train.loop import LoopArgs, train
from blueprint.train.stage import StageArgs
from test_train_loop import ToyStage, losses


class Blocks(nn.Module):
    """A small network with a ModuleList of blocks, which FSDP shards one unit each;
    the head's weight (1 x 16) splits unevenly over two ranks."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(4, 16), nn.Linear(16, 16)])
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        for block in self.blocks:
            x = torch.relu(block(x))
        return self.head(self.drop(x))


class BlockStage(ToyStage):
    def __init__(self, args):
        self.args = args
        self.net = Blocks()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, out_dir, result_dir, job):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if rank != 0:  # only rank 0 may write checkpoints, whichever engine runs
        def refuse(*a, **k):
            raise AssertionError("rank 1 wrote a checkpoint")
        ckpt.save_checkpoint = refuse
    holder = {}

    def make(args):
        if job["stage"] == "image-tokenizer":
            from blueprint.train import image_tokenizer
            holder["stage"] = image_tokenizer.make_stage(args)
        else:
            holder["stage"] = BlockStage(args)
        return holder["stage"]

    args = StageArgs(config="tiny", out_dir=Path(out_dir), batch_size=job.get("batch_size", 4),
                     size=tuple(job.get("size", (256, 256))))
    result = train(make, args, LoopArgs(log_every=1, progress=False, **job["loop"]))
    out = {"exported": result["exported"], "loss": result["loss"]}
    if job["stage"] == "image-tokenizer":
        from safetensors.torch import save_file
        save_file(ckpt.module_tensors(holder["stage"].trainable()), str(Path(result_dir) / f"rank{rank}.safetensors"))
    (Path(result_dir) / f"rank{rank}.json").write_text(json.dumps(out))


def spawn(out_dir: Path, stage: str = "blocks", **job) -> list[dict]:
    """Run `train` in two gloo processes; each rank's result."""
    res = out_dir.parent / f"{out_dir.name}-result"
    res.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(2, _free_port(), str(out_dir), str(res), {"stage": stage, **job}), nprocs=2, join=True)
    return [json.loads((res / f"rank{r}.json").read_text()) for r in (0, 1)]


def checkpoint_files(run: Path, step: int) -> dict[str, dict[str, torch.Tensor]]:
    folder = dict(ckpt.checkpoint_dirs(run / "checkpoints" / "toy"))[step]
    return {name: load_file(folder / f"{name}.safetensors") for name in ("model", "ema", "optimizer")}


def test_fsdp_and_ddp_write_one_checkpoint_format_and_resume_each_other(tmp_path):
    """FSDP from scratch to step 3, DDP on to 6, FSDP on to 9: the same run as DDP all the way."""
    mixed, ddp = tmp_path / "mixed", tmp_path / "ddp"
    loop = {"ckpt_every": 3, "keep_last": 10}
    first = spawn(mixed, loop={**loop, "steps": 6, "stop_after": 3, "parallel": "fsdp"})
    assert not first[0]["exported"] and not first[1]["exported"]
    spawn(mixed, loop={**loop, "steps": 6, "parallel": "ddp"})
    last = spawn(mixed, loop={**loop, "steps": 9, "parallel": "fsdp"})
    assert last[0]["exported"] and not last[1]["exported"]
    assert last[0]["loss"] == last[1]["loss"]
    spawn(ddp, loop={**loop, "steps": 9, "parallel": "ddp"})

    assert [s for s, _ in losses(mixed)] == list(range(1, 10))
    assert [loss for _, loss in losses(mixed)] == pytest.approx([loss for _, loss in losses(ddp)], rel=1e-5)
    for step in (3, 9):  # written by FSDP: whole tensors, the keys, shapes and dtypes DDP writes
        sharded, replicated = checkpoint_files(mixed, step), checkpoint_files(ddp, step)
        for name, tensors in replicated.items():
            assert tensors.keys() == sharded[name].keys(), name
            for key, t in tensors.items():
                assert sharded[name][key].shape == t.shape and sharded[name][key].dtype == t.dtype, key
                torch.testing.assert_close(sharded[name][key], t, rtol=1e-4, atol=1e-6)
    state = json.loads((dict(ckpt.checkpoint_dirs(mixed / "checkpoints" / "toy"))[9] / "state.json").read_text())
    assert state["loop"]["parallel"] == "fsdp" and state["lr_scheduler"]["last_epoch"] == 9
    assert state["ema"]["optimization_step"] == 9
    exported, reference = load_file(mixed / "toy.safetensors"), load_file(ddp / "toy.safetensors")
    assert exported.keys() == reference.keys()  # whole weights, not shards
    for key, t in reference.items():
        torch.testing.assert_close(exported[key], t, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", ["zero3", "FSDP", ""])
def test_unknown_parallel_is_refused(tmp_path, bad):
    with pytest.raises(BlueprintError, match="parallel must be one of ddp, fsdp"):
        train(ToyStage, StageArgs(config="tiny", out_dir=tmp_path), LoopArgs(steps=2, parallel=bad, progress=False))
    assert not any(tmp_path.iterdir())


def test_fsdp_refuses_the_image_tokenizer_and_only_under_torchrun():
    two = Dist(rank=0, world_size=2)
    with pytest.raises(BlueprintError, match="image-tokenizer.*cannot train with --parallel fsdp.*use ddp"):
        check_parallel("image-tokenizer", "fsdp", two)
    check_parallel("image-tokenizer", "ddp", two)
    check_parallel("image-tokenizer", "fsdp", Dist())  # one process: nothing is sharded
    check_parallel("dit", "fsdp", two)


def test_stage_model_names_are_the_checkpoint_keys_in_optimizer_order():
    stage = BlockStage(StageArgs(config="tiny", out_dir=Path(".")))
    extra = nn.Linear(2, 2)
    model = StageModel({"net": stage.net, "a_first": extra}, stage.loss)
    assert list(model) == ["a_first", "net"]
    names = [k for k, _ in model.named_parameters()]
    assert names == [f"a_first.{k}" for k, _ in extra.named_parameters()] + \
        [f"net.{k}" for k, _ in stage.net.named_parameters()]
    batch = stage.batch(0, 0, 1)
    torch.manual_seed(0)
    loss, _ = model(batch)
    torch.manual_seed(0)
    assert torch.equal(loss, stage.loss(batch)[0])


def test_image_tokenizer_ranks_stay_equal_under_ddp_through_a_code_restart(tmp_path):
    """Its forward does its own collectives (an all-reduce MAX of the codes used, a broadcast
    of restarted codes) and keeps `last_used`, a buffer DDP does not broadcast: after the
    restart at step 10, both ranks hold the same codebook and the same `last_used`."""
    run = tmp_path / "run"  # the loop creates the tiny model folder
    spawn(run, "image-tokenizer", size=(128, 128), batch_size=1, loop={"steps": 11, "ckpt_every": 11, "parallel": "ddp"})
    log = [json.loads(line) for line in (run / "logs" / "image-tokenizer.jsonl").read_text().splitlines()]
    assert log[10]["metrics"]["codes_restarted"] > 0  # step 11 ran the restart
    rank0, rank1 = (load_file(tmp_path / "run-result" / f"rank{r}.safetensors") for r in (0, 1))
    assert rank0.keys() == rank1.keys() and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert int(rank0["semantic_head.last_used"].max()) == 10
    saved = load_file(ckpt.checkpoint_dirs(run / "checkpoints" / "image-tokenizer")[-1][1] / "model.safetensors")
    assert torch.equal(saved["semantic_head.last_used"], rank0["semantic_head.last_used"])


def test_the_command_line_passes_parallel_to_the_loop(tmp_path, monkeypatch, capsys):
    import blueprint.train.loop as loop_module
    from blueprint.cli import main

    seen = []
    monkeypatch.setattr(loop_module, "train", lambda make, args, loop: seen.append(loop) or {"exported": False})
    main(["train", "vae", "--model-dir", str(tmp_path / "run"), "--parallel", "fsdp"])
    main(["train", "vae", "--model-dir", str(tmp_path / "run")])
    assert [loop.parallel for loop in seen] == ["fsdp", "ddp"]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "vae", "--model-dir", str(tmp_path / "other"), "--parallel", "zero3"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'zero3'" in capsys.readouterr().err and not (tmp_path / "other").exists()
