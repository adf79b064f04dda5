"""Stage `vae`: the autoencoder (`AutoencoderKL`) that the decoder works in.

Loss per image: L1 reconstruction, plus an L1 on horizontal and vertical pixel
differences (a cheap edge term: text is mostly edges, and plain L1 blurs
them), plus a small KL to the unit Gaussian that keeps the latent space smooth
without throwing away detail.

At export the stage encodes a fixed set of training images and stores the
per-channel `latents_mean` / `latents_std` of the posterior means in the VAE
config; the decoder stage and the pipeline normalise latents as
`(z - mean) / std` with them (`blueprint.models.normalize_latents`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from blueprint.train.data import TrainImages
from blueprint.models.folder import load_component, save_component
from blueprint.train.stage import StageArgs

EDGE_WEIGHT = 0.5
KL_WEIGHT = 1e-4      # on the KL per latent element
STATS_IMAGES = 64     # training images encoded for latents_mean / latents_std


def edge_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between horizontal and vertical pixel differences; `weight` (B, 1, H, W) weighs pixels."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    if weight is None:
        weight = torch.ones_like(a[:, :1])
    wx, wy = weight[..., :, 1:], weight[..., 1:, :]
    return (((dx(a) - dx(b)).abs() * wx).mean() / wx.mean() + ((dy(a) - dy(b)).abs() * wy).mean() / wy.mean()) / 2


class VaeStage:
    name = "vae"
    lr = 5e-4
    ema_decay = None

    def __init__(self, args: StageArgs):
        self.args = args
        self.images = TrainImages(args.data, args.size, args.batch_size, args.seed, kinds=args.kinds,
                                  caption_style=args.caption_style)
        self.vae = load_component(Path(args.init_from or args.out_dir), "vae", args.device)

    def trainable(self):
        return {"vae": self.vae}

    def batch(self, step, rank, world_size):
        return {"pixels": self.images.batch(step, rank, world_size)["pixels"]}

    def loss(self, batch):
        x = batch["pixels"]
        posterior = self.vae.encode(x).latent_dist
        recon = self.vae.decode(posterior.sample()).sample.float()
        l1 = (recon - x).abs().mean()
        edge = edge_l1(recon, x)
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        loss = l1 + EDGE_WEIGHT * edge + KL_WEIGHT * kl
        mse = ((recon.detach().clamp(-1, 1) - x) ** 2).mean()
        psnr = (10 * torch.log10(4 / mse)).item()  # peak-to-peak range 2 in [-1, 1]
        return loss, {"l1": l1.item(), "edge": edge.item(), "kl": kl.item(), "psnr": psnr}

    @torch.no_grad()
    def latent_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean / std of posterior means over STATS_IMAGES training images."""
        images = TrainImages(self.args.data, self.args.size, min(8, STATS_IMAGES), self.args.seed,
                             kinds=self.args.kinds, caption_style=self.args.caption_style)
        latents = []
        for step in range(STATS_IMAGES // images.batch_size):
            x = images.batch(step, 0, 1)["pixels"].to(self.args.device)
            latents.append(self.vae.encode(x).latent_dist.mean.float())
        z = torch.cat(latents).transpose(0, 1).flatten(1)  # (C, N*h*w)
        return z.mean(1).tolist(), z.std(1).clamp(min=1e-6).tolist()

    def export(self, model_dir):
        self.vae.eval()
        mean, std = self.latent_stats()
        self.vae.register_to_config(latents_mean=mean, latents_std=std)
        save_component(self.vae, model_dir, "vae")


def make_stage(args: StageArgs) -> VaeStage:
    return VaeStage(args)
