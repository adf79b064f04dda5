"""Which dtype the denoising loop and the VAE decode run in.

The DiT's steps and the VAE decode are most of a generation's compute, and
both are plain matrix multiplies and convolutions that bfloat16 serves well:
on a CPU with AMX or AVX512-BF16 oneDNN runs them much faster than float32
(docs/RESULTS.md has the speeds). On a CPU without those instructions bfloat16
is emulated and *slower*, so "auto" only picks it where the hardware has it.

The AR prior and the glyph encoder stay in float32 whatever is chosen: the
prior samples from a softmax over its codebook one token at a time (its time
goes to per-token overhead, not arithmetic), and the glyph encoder runs once.
The Euler update itself is always done in float32 (`BlueprintPipeline._denoise`).

    precision  "fp32"  everything as loaded (exact, the parity tests' mode)
               "bf16"  DiT and VAE in bfloat16
               "auto"  "bf16" where the device runs it natively, else "fp32"
"""

from __future__ import annotations

import torch

from blueprint.errors import BlueprintError
from blueprint.choices import PRECISIONS


def native_bf16(device: str | torch.device) -> bool:
    """True where bfloat16 matrix multiplies run in hardware on `device`."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Private but stable helpers (torch.cpu): the same checks torch's own CPU kernels use.
        cpu = torch.cpu
        return any(getattr(cpu, name, lambda: False)() for name in ("_is_amx_tile_supported",
                                                                     "_is_avx512_bf16_supported"))
    return False


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise BlueprintError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def resolve_precision(precision: str, device: str | torch.device) -> torch.dtype:
    """The dtype for the DiT and the VAE: float32 or bfloat16."""
    check_precision(precision)
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32
