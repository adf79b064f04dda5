"""Data parallelism for the training loop: torchrun's process group, the device, and the two
collectives a step needs (one flat gradient all-reduce, and log values averaged over ranks).

Stages call their modules directly rather than through DDP, so the loop averages gradients
itself after `backward`: what DDP does, minus overlapping it with the backward pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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



def all_reduce_grads(params: list[torch.nn.Parameter], world_size: int) -> None:
    """Average gradients over ranks with one all-reduce of a flat buffer."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        if p.grad is not None:
            p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def mean_over_ranks(values: list[float], d: Dist) -> list[float]:
    if d.world_size == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return (t / d.world_size).tolist()
