"""Data parallelism for the training loop, on PyTorch's own engines.

torchrun's process group and the device (`setup_distributed`); the stage's
trainable modules as one module whose forward is the stage's loss
(`StageModel`), which `parallelize` wraps in DistributedDataParallel or shards
with FSDP2's `fully_shard`; and the averages over ranks the loop itself
needs (the logged values, and verdicts every rank must share).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from blueprint.errors import BlueprintError

# Stages whose loss leaves some trainable parameters out of every step, and why: DDP must
# then look for them after each forward (`find_unused_parameters`, a walk over the autograd
# graph), or it would wait for their gradients and fail at the next step. The other stages
# use every parameter, and skip that walk.
UNUSED_PARAMETERS = {
    "image-tokenizer": "it trains the VQ model but never runs its post_quant_conv (the decoding side)",
}

# Stages that FSDP cannot train, and why (DDP trains every stage).
NO_FSDP = {
    "image-tokenizer": "it restarts dead codebook rows in place during its forward pass, and FSDP "
                       "discards in-place changes to the gathered weights",
}


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owned: bool = False  # this call initialised the process group and must destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def setup_distributed() -> Dist:
    """Join torchrun's process group if there is one; choose the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world_size == 1:
        return Dist(device=torch.device("cuda" if cuda else "cpu"))
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    return Dist(dist.get_rank(), dist.get_world_size(), device, owned)


class StageModel(nn.ModuleDict):
    """A stage's trainable modules as one module, whose forward is the stage's loss.

    Stages call their modules directly, but DDP and FSDP act in a module's
    forward (DDP notes which parameters the step used, FSDP gathers sharded
    weights), so the loss runs inside this one. Its parameter and buffer names
    are "<module>.<name>", the checkpoint's keys, in the sorted module order
    that the optimizer's parameter indices have always followed.
    """

    def __init__(self, modules: dict[str, nn.Module], loss):
        super().__init__({name: modules[name] for name in sorted(modules)})
        self._loss = loss  # a bound method, not a module: registers no parameters

    def forward(self, batch: dict):
        return self._loss(batch)


def check_parallel(stage: str, parallel: str, d: Dist) -> None:
    if parallel == "fsdp" and d.world_size > 1 and stage in NO_FSDP:
        raise BlueprintError(f"stage {stage!r} cannot train with --parallel fsdp: {NO_FSDP[stage]}; use ddp")


def parallelize(model: StageModel, stage: str, d: Dist, parallel: str) -> nn.Module:
    """The module a step of `stage` calls: `model` itself in one process, else DDP around it,
    or `model` sharded in place by FSDP2 (parameters become DTensor shards, named as before)."""
    if d.world_size == 1:
        return model
    if parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        # Every rank starts from rank 0's weights, as DDP's constructor makes sure (each
        # rank then keeps only its own shard of them).
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)
        # One unit per entry of every ModuleList (the transformer blocks), so a step holds
        # the whole weights of one block at a time; the root unit keeps the rest. Reversed:
        # FSDP must shard a nested block before the block around it.
        units = [m for parent in model.modules() if isinstance(parent, nn.ModuleList) for m in parent]
        for unit in reversed(list(dict.fromkeys(units))):
            fully_shard(unit)
        fully_shard(model)
        return model
    # DDP broadcasts rank 0's parameters and buffers once, here. Not the buffers again at
    # every forward (forward_sync_buffers): they are constants, or kept equal on every rank
    # by the stage itself (the image tokenizer's `last_used`, from an all-reduce MAX of the
    # codes used), so that broadcast would only add a collective to each step.
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[d.device.index] if d.device.type == "cuda" else None,
        find_unused_parameters=stage in UNUSED_PARAMETERS, forward_sync_buffers=False,
    )


def mean_over_ranks(values: list[float], d: Dist) -> list[float]:
    if d.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return (t / d.world_size).tolist()


def mean_by_name(values: dict[str, float], d: Dist) -> dict[str, float]:
    """Each value averaged over the ranks that have it: a stage may report a metric only
    for batches holding what it measures (the image tokenizer's `acc_inked`), so ranks
    can report different names, which a plain all-reduce would mismatch."""
    if d.world_size == 1:
        return values
    every: list[dict] = [{} for _ in range(d.world_size)]
    dist.all_gather_object(every, values)
    names = sorted(set().union(*every))
    return {k: sum(r[k] for r in every if k in r) / sum(k in r for r in every) for k in names}
