"""Masked attention's backends: NaN gradients on fully masked rows, and the cost of a new length.

    python -m bench.attention [--lengths 640 704 768] [--new-lengths 10] [--batch 8] [--device cuda]

Two tables, for the two suspects of training on a GPU (`blueprint.train.loop.configure_cuda`):

1. **Non-finite gradients.** bf16 attention, forward and backward, with the
   prior's mask: causal, and the first rows of each sequence left padding, so
   their query rows are fully masked. For each length and backend, the share of
   query-gradient entries that are not finite (the pad rows' own gradients are
   zero when a backend treats them well).
2. **A new length.** Forward and backward at `--new-lengths` lengths never seen
   before in the process, first call against a repeat at the same length, per
   backend: a backend that builds a plan per shape pays it on every first call,
   which a training step meets whenever the batch's longest text changes.

Backends: "default" is what `scaled_dot_product_attention` picks, cudnn / efficient /
flash / math force one (`torch.nn.attention.sdpa_kernel`); a backend that cannot run
an input reports "n/a". On a CPU only default and math run.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench import run_main
from blueprint.errors import BlueprintError

BACKENDS = {"default": None, "cudnn": SDPBackend.CUDNN_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "flash": SDPBackend.FLASH_ATTENTION, "math": SDPBackend.MATH}
HEADS, HEAD_DIM = 4, 64


def padded_causal_mask(batch: int, length: int, device) -> torch.Tensor:
    """(B, 1, L, L) bools, True = attend: causal, with row b's first b * L / (2B) positions padding.

    A padding position attends to nothing and is attended by nothing, as in a
    left-padded prompt under a causal mask built from the attention mask."""
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    mask = causal.expand(batch, 1, length, length).clone()
    for b in range(batch):
        pads = b * length // (2 * batch)
        mask[b, :, :pads, :] = False
        mask[b, :, :, :pads] = False
    return mask


def attend(q, k, v, mask, backend):
    ctx = sdpa_kernel([BACKENDS[backend]]) if BACKENDS[backend] is not None else contextlib.nullcontext()
    with ctx:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def inputs(batch: int, length: int, device, dtype=torch.bfloat16):
    shape = (batch, HEADS, length, HEAD_DIM)
    return [torch.randn(shape, device=device, dtype=dtype, requires_grad=True) for _ in range(3)]


def nonfinite_share(batch: int, length: int, backend: str, device) -> str:
    """Share of non-finite query-gradient entries, or 'n/a' when the backend refuses the input."""
    torch.manual_seed(length)
    q, k, v = inputs(batch, length, device)
    mask = padded_causal_mask(batch, length, device)
    try:
        out = attend(q, k, v, mask, backend)
        out.float().square().sum().backward()
    except RuntimeError:
        return "n/a"
    bad = (~torch.isfinite(q.grad)).float().mean().item()
    return f"{bad:.4f}"


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def new_length_cost(batch: int, lengths: list[int], backend: str, device) -> str:
    """Mean ms of (first call, repeat call) at each new length, or 'n/a'."""
    first = repeat = 0.0

    def step(q, k, v, mask):
        attend(q, k, v, mask, backend).float().sum().backward()

    try:
        for length in lengths:
            q, k, v = inputs(batch, length, device)
            mask = padded_causal_mask(batch, length, device)
            first += timed(lambda: step(q, k, v, mask), device)
            repeat += timed(lambda: step(q, k, v, mask), device)
    except RuntimeError:
        return "n/a"
    n = len(lengths)
    return f"{1000 * first / n:.1f} / {1000 * repeat / n:.1f}"


def check_positive(name: str, value: int) -> None:
    if value < 1:
        raise BlueprintError(f"--{name} must be a positive integer, got {value}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.attention", description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[640, 704, 768])
    p.add_argument("--new-lengths", type=int, default=10, help="lengths in the new-length table")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    for name in ("batch", "new_lengths"):
        check_positive(name.replace("_", "-"), getattr(a, name))
    for length in a.lengths:
        check_positive("lengths", length)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BlueprintError("--device cuda but no GPU is visible to torch")
    backends = list(BACKENDS) if device.type == "cuda" else ["default", "math"]
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, "
          f"batch {a.batch}, {HEADS} heads x {HEAD_DIM}, bf16")

    print("\nnon-finite share of the query gradient (left-padded causal mask)")
    print("| length | length mod 128 | " + " | ".join(backends) + " |")
    print("|---" * (len(backends) + 2) + "|")
    for length in a.lengths:
        row = [nonfinite_share(a.batch, length, b, device) for b in backends]
        print(f"| {length} | {length % 128} | " + " | ".join(row) + " |")

    # lengths no table above used, spread like the DiT's joint lengths
    fresh = [a.lengths[-1] + 8 + 24 * i for i in range(a.new_lengths)]
    print(f"\nforward + backward at {a.new_lengths} new lengths ({fresh[0]}..{fresh[-1]}), ms: first call / repeat")
    print("| " + " | ".join(backends) + " |")
    print("|---" * len(backends) + "|")
    print("| " + " | ".join(new_length_cost(a.batch, fresh, b, device) for b in backends) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main("bench.attention", main))
