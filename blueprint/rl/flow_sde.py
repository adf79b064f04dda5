"""A stochastic flow-matching sampler with log-probabilities: Flow-GRPO's SDE form of the
pipeline's Euler step, for GRPO on the DiT (`blueprint.rl.decoder`).

The pipeline integrates the flow ODE with Euler steps, x' = x + (s' - s) v, which
is deterministic given the start noise: a policy gradient needs a density for
every step. Flow-GRPO (Liu et al., 2025) replaces the ODE by the reverse-time
SDE that has the same marginals at every noise level s,

    dx = [v + sigma_t^2 / (2 s) (x + (1 - s) v)] ds + sigma_t dw,
    sigma_t = a * sqrt(s / (1 - s)),

(x + (1 - s) v is the noise the velocity predicts, so the bracket adds
-sigma_t^2 / 2 times the score). One Euler-Maruyama step from s to s' < s is a
Gaussian with

    mean = x (1 + sigma_t^2 / (2 s) dt) + v (1 + sigma_t^2 (1 - s) / (2 s)) dt,  dt = s' - s,
    std  = sigma_t sqrt(-dt),

and the log-probability of the sampled x' under it is what GRPO's ratio uses.
At s = 1 (the first step) sigma_t is infinite; as Flow-GRPO, the denominator
then takes the second sigma of the schedule instead. The noise level `a` is
Flow-GRPO's (0.7 by default in the stage); at a = 0 the step is the
pipeline's Euler step exactly, bit for bit (tests/test_rl_decoder.py checks a
whole run against the pipeline's own sampler).

The log-probability is the Gaussian log density *averaged* over the latent's
elements, as Flow-GRPO's: a sum over ~10^4 elements would turn the smallest
weight change into a ratio far outside any clip range.

Everything the sampler feeds the DiT is the pipeline's: its schedule (the
diffusers `FlowMatchEulerDiscreteScheduler`'s shifted sigmas and integer
timesteps, `BlueprintPipeline._schedule`), its glyph embeddings with per-row
masks (`_glyph_batch`), its typeset glyph layer (`_glyph_layer`), its
classifier-free guidance and its per-row generators (a sample depends on its
seed only). `conditions` and `velocity` restate the DiT call of the
pipeline's `_denoise` with the DiT as an argument, so the same inputs go
through the trained policy and the frozen reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.utils.torch_utils import randn_tensor

from blueprint.models.glyph_layer import fold_ink, layer_planes
from blueprint.pipeline import BlueprintPipeline

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# --- one step ----------------------------------------------------------------

def noise_std(sigma: torch.Tensor, sigma_next: torch.Tensor, sigma_max: torch.Tensor,
              noise_level: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_t, the std of the step's noise sigma_t * sqrt(sigma - sigma_next)).

    `sigma_max` is the schedule's second sigma: at sigma = 1 it stands in for sigma
    in 1 - sigma, where sigma_t would otherwise be infinite (Flow-GRPO's rule)."""
    sigma_t = noise_level * torch.sqrt(sigma / (1 - torch.where(sigma == 1, sigma_max, sigma)))
    return sigma_t, sigma_t * torch.sqrt(sigma - sigma_next)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(B,) log N(x; mean, std^2) per element, averaged over all but the batch dimension."""
    log_p = -((x - mean) ** 2) / (2 * std ** 2) - torch.log(std) - LOG_SQRT_2PI
    return log_p.mean(dim=tuple(range(1, log_p.ndim)))


@dataclass
class SdeStep:
    next: torch.Tensor               # x at sigma_next: sampled, or the one given
    mean: torch.Tensor               # its Gaussian's mean given x
    std: torch.Tensor                # its Gaussian's std (0 at noise level 0)
    log_prob: torch.Tensor | None    # (B,) `gaussian_log_prob` of `next`; None at noise level 0


def sde_step(latents: torch.Tensor, velocity: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
             sigma_max: torch.Tensor, noise_level: float, next_latents: torch.Tensor | None = None,
             generator: torch.Generator | list[torch.Generator] | None = None) -> SdeStep:
    """One step from sigma to sigma_next < sigma: sample x' (or score the `next_latents` given).

    In float32, as the pipeline's Euler step. The log-probability is of x' as a
    constant (detached): the gradient flows through the mean only, the policy's part."""
    x, v = latents.float(), velocity.float()
    dt = sigma_next - sigma  # negative: sigma falls towards 0
    sigma_t, std = noise_std(sigma, sigma_next, sigma_max, noise_level)
    mean = x * (1 + sigma_t ** 2 / (2 * sigma) * dt) + v * (1 + sigma_t ** 2 * (1 - sigma) / (2 * sigma)) * dt
    if noise_level == 0:  # the ODE's Euler step: no density
        return SdeStep(mean if next_latents is None else next_latents, mean, std, None)
    if next_latents is None:
        noise = randn_tensor(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        next_latents = mean + std * noise
    return SdeStep(next_latents, mean, std, gaussian_log_prob(next_latents.detach().float(), mean, std))


# --- the DiT's inputs, as the pipeline builds them ----------------------------

@dataclass
class Conditions:
    """What the DiT sees besides the latents and the timestep, fixed through a run.

    With guidance the first `rows` rows are conditional and the next `rows` unconditional."""
    rows: int
    guidance: float
    glyph: torch.Tensor
    mask: torch.Tensor | None
    prior_ids: torch.Tensor
    drop: torch.Tensor
    layer: torch.Tensor | None       # the folded glyph layer, or None for a DiT without one
    target_size: torch.Tensor
    crop_coords: torch.Tensor


@torch.no_grad()
def conditions(pipe: BlueprintPipeline, prompts: list[str], prior_ids: torch.Tensor, width: int, height: int,
               guidance: float) -> Conditions:
    """The pipeline's `_denoise` set-up for these prompts and (B, DiT grid) prior ids, with each
    row's glyph padding masked (per-row seeds: a row must not depend on its batch mates)."""
    dit = pipe.transformer
    batch, device = len(prompts), pipe.device
    prior_ids = prior_ids.to(device)
    ink = layer_planes(pipe._glyph_layer(prompts, prior_ids, width, height), pipe.ink_planes)  # no plan: no shapes
    glyph, mask = pipe._glyph_batch(prompts, guidance, mask_pads=True)
    guided = guidance > 1
    n = 2 * batch if guided else batch
    drop = torch.zeros(n, prior_ids.shape[1], dtype=torch.bool, device=device)
    if pipe.conditioning == "prompt":
        drop[:] = True  # the pure-diffusion baseline was trained without prior tokens
    if guided:
        drop[batch:] = True  # the unconditional rows see no prior tokens
        prior_ids = torch.cat([prior_ids, prior_ids])
    layer = None
    if ink is not None:  # cond rows get the typeset ink, uncond rows none
        layer = fold_ink(ink.to(device), pipe.vae_scale).to(dit.dtype)
        if guided:
            layer = torch.cat([layer, torch.zeros_like(layer)])
    return Conditions(
        rows=batch, guidance=guidance, glyph=glyph.to(dit.dtype), mask=mask, prior_ids=prior_ids, drop=drop,
        layer=layer, target_size=torch.tensor([[height, width]], dtype=dit.dtype, device=device).expand(n, 2),
        crop_coords=torch.zeros(n, 2, dtype=dit.dtype, device=device),
    )


def velocity(dit, latents: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
    """The guided flow velocity (float32) of `dit` at latents (rows, C, h, w) and raw timestep t."""
    x = latents.to(dit.dtype)
    guided = cond.guidance > 1
    x = torch.cat([x, x]) if guided else x
    out = dit(
        hidden_states=x if cond.layer is None else torch.cat([x, cond.layer], dim=1),
        encoder_hidden_states=cond.glyph,
        prior_token_id=cond.prior_ids,
        prior_token_drop=cond.drop,
        timestep=(t - 1).expand(x.shape[0]),  # the DiT is conditioned on the raw, unshifted timestep
        target_size=cond.target_size,
        crop_coords=cond.crop_coords,
        attention_mask=cond.mask,
        return_dict=False,
    )[0].float()
    if guided:
        c, u = out.chunk(2)
        out = u + cond.guidance * (c - u)
    return out


# --- whole runs ---------------------------------------------------------------

@dataclass
class Trajectory:
    latents: torch.Tensor     # (N, T+1, C, h, w): the start noise, then x after each step (the sample last)
    log_probs: torch.Tensor   # (N, T) of each step's x' under the policy that sampled it (NaN at noise level 0)
    timesteps: torch.Tensor   # (T,) raw timesteps
    sigmas: torch.Tensor      # (T+1,) shifted sigmas, 0 last
    noise_level: float

    @property
    def steps(self) -> int:
        return self.timesteps.shape[0]


@torch.no_grad()
def sample(pipe: BlueprintPipeline, dit, cond: Conditions, seeds: list[int], steps: int, width: int, height: int,
           noise_level: float) -> Trajectory:
    """Denoise `cond.rows` latents with the SDE step, row i from its own generator seeded with
    seeds[i] (start noise, then each step's noise). At noise level 0 this is the pipeline's sampler."""
    if len(seeds) != cond.rows:
        raise ValueError(f"{len(seeds)} seeds for {cond.rows} rows")
    device = pipe.device
    generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    shape = (cond.rows, dit.config.out_channels, height // pipe.vae_scale, width // pipe.vae_scale)
    x = randn_tensor(shape, generator=generators, device=device, dtype=torch.float32)
    timesteps, sigmas = pipe._schedule(steps, width, height)
    sigma_max = sigmas[min(1, len(sigmas) - 1)]
    latents, log_probs = [x], []
    for i, t in enumerate(timesteps):
        step = sde_step(x, velocity(dit, x, t, cond), sigmas[i], sigmas[i + 1], sigma_max, noise_level,
                        generator=generators)
        x = step.next
        latents.append(x)
        log_probs.append(step.log_prob if step.log_prob is not None else torch.full((cond.rows,), float("nan")))
    return Trajectory(torch.stack(latents, 1), torch.stack(log_probs, 1).to(device), timesteps, sigmas, noise_level)


def score_steps(dit, traj: Trajectory, cond: Conditions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log_probs (N, T), means (N, T, C, h, w), stds (T,)) of the trajectory's recorded steps
    under `dit`: differentiable in its weights (call under no_grad for the reference)."""
    sigmas, sigma_max = traj.sigmas, traj.sigmas[min(1, len(traj.sigmas) - 1)]
    log_probs, means, stds = [], [], []
    for i, t in enumerate(traj.timesteps):
        x = traj.latents[:, i]
        step = sde_step(x, velocity(dit, x, t, cond), sigmas[i], sigmas[i + 1], sigma_max, traj.noise_level,
                        next_latents=traj.latents[:, i + 1])
        log_probs.append(step.log_prob)
        means.append(step.mean)
        stds.append(step.std)
    return torch.stack(log_probs, 1), torch.stack(means, 1), torch.stack(stds)


def gaussian_kl(mean: torch.Tensor, ref_mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(N, T) KL(policy step || reference step) per latent element: two Gaussians with the
    same std, so |mean - ref_mean|^2 / (2 std^2), averaged over the latent as the log-probs are.

    Flow-GRPO's code divides by sigma_t^2 instead of the step's variance sigma_t^2 |dt|, which
    makes its value |dt| times this one; this one is the step's exact KL."""
    dims = tuple(range(2, mean.ndim))
    return ((mean - ref_mean) ** 2).mean(dim=dims) / (2 * std[None, :] ** 2)
