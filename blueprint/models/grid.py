"""Token grids, prior-token upsampling, latent normalisation and the sigma shift.

Small pure functions with the official pipeline's math, shared by sampling and
training so both see the same conventions:

- `image_grid`: the AR grid (H/32 x W/32) and the preview grid generated first
  (GLM-Image's, or half the AR grid: `PREVIEW_GRIDS`);
- `upsample_prior_tokens`: AR grid ids -> DiT patch-grid ids (x2 nearest);
- `normalize_latents` / `denormalize_latents`: `(z - mean) / std` with the VAE
  config's per-channel statistics (`scaling_factor` is not used);
- `shift_mu`: the strength of the resolution-dependent timestep shift.
  The DiT is conditioned on the *raw* timestep t (in [0, 1000)) while the
  noise level is the shifted sigma(t / 1000).
"""

from __future__ import annotations

import math

import torch
from diffusers.pipelines.glm_image.pipeline_glm_image import calculate_shift

from blueprint.choices import PREVIEW_GRIDS
from blueprint.errors import BlueprintError
from blueprint.sizes import PX_PER_TOKEN



# The preview grid the AR stage writes before the full grid (a model folder's `preview_grid`
# setting, blueprint.models.settings):
# - "official": GLM-Image's, about 256 tokens at the image's aspect ratio whatever its size.
#   At 1024² that is half the 32x32 grid per side; at 256² it is 16x16, four times the 8x8 grid
#   it is meant to preview, and 80% of what the AR stage writes;
# - "half": half the full grid per side at every size (GLM-Image's own ratio at 1024²).


def check_preview_grid(value, name: str = "preview grid") -> str:
    """`value` if it is one of PREVIEW_GRIDS; else a BlueprintError that calls it `name`."""
    if value not in PREVIEW_GRIDS:
        raise BlueprintError(f"{name} must be one of {', '.join(PREVIEW_GRIDS)}, got {value!r}")
    return value


def image_grid(width: int, height: int, preview: str = "official") -> tuple[int, int, int, int]:
    """(token_h, token_w, prev_h, prev_w) for a target image, as `GlmImageProcessor` with `preview`."""
    token_h, token_w = height // PX_PER_TOKEN, width // PX_PER_TOKEN
    if check_preview_grid(preview) == "half":
        return token_h, token_w, max(1, token_h // 2), max(1, token_w // 2)
    ratio = token_h / token_w
    prev_h = int(math.sqrt(ratio) * (PX_PER_TOKEN // 2))
    prev_w = int(math.sqrt(1 / ratio) * (PX_PER_TOKEN // 2))
    return token_h, token_w, prev_h, prev_w


def upsample_prior_tokens(token_ids: torch.Tensor, token_h: int, token_w: int) -> torch.Tensor:
    """(B, token_h*token_w) AR ids -> (B, 4*token_h*token_w) ids on the DiT patch grid."""
    batch = token_ids.shape[0]
    grid = token_ids.reshape(batch, 1, token_h, token_w)
    # Same as the official pipeline (float nearest interpolate), done with an integer repeat.
    grid = grid.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return grid.reshape(batch, -1).long()


def _latent_stats(vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = vae.config.latent_channels
    mean = torch.tensor(vae.config.latents_mean, device=like.device, dtype=like.dtype).view(1, c, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=like.device, dtype=like.dtype).view(1, c, 1, 1)
    return mean, std


def normalize_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    mean, std = _latent_stats(vae, latents)
    return (latents - mean) / std


def denormalize_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    mean, std = _latent_stats(vae, latents)
    return latents * std + mean


def vae_scale_factor(vae) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def shift_mu(height: int, width: int, scheduler_config, vae_scale: int = 8, patch_size: int = 2) -> float:
    """The scheduler's shift strength for an image size: diffusers' GLM-Image `calculate_shift`
    of the DiT's image sequence length (the sigmas are then shifted by the scheduler's `time_shift`)."""
    seq = ((height // vae_scale) * (width // vae_scale)) // (patch_size ** 2)
    return calculate_shift(seq, scheduler_config.get("base_image_seq_len", 256),
                           scheduler_config.get("base_shift", 0.25), scheduler_config.get("max_shift", 0.75))
