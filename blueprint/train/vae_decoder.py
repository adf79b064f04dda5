"""Stage `vae-decoder`: sharpen the autoencoder's decoder, keep its latent space.

Why a stage of its own: the autoencoder bounds every image the model makes.
Ground truth sent through a briefly trained VAE loses small text
(`experiments/ceilings.py --vae` measures it) as much as the whole model's own
images do, so the decoder's pixels, not the blueprint, are
where small text is lost. Retraining the whole VAE would move the latent
space and void the trained DiT. This stage trains only the VAE's decoder side
(`post_quant_conv` and `decoder`): the encoder, and with it every latent, and
`latents_mean` / `latents_std` stay exactly as they were, so the DiT keeps
working unchanged and only how its latents become pixels improves.

Loss: stage `vae`'s L1 plus edge term, with pixels at and around character
ink (the engine's character map, dilated by INK_MARGIN pixels) weighted
1 + `text_weight`: letters are a few percent of an image, and unweighted they
lose to flat backgrounds. The decoder learns from posterior samples, not
means, because the DiT's latents are never exactly an encoder's.

Speed: the encoder runs on the whole image (its attention is global, and
those are the latents the DiT learned), but the decoder, forward and
backward, runs on one CROP x CROP latent window per image (128 pixels), a
fraction of the cost of a full-image decoder step. Most windows
are centred on a random inked pixel (TEXT_CROPS of them), the rest anywhere,
so the steps go where the letters are without forgetting backgrounds.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from blueprint.errors import BlueprintError
from blueprint.train.data import TrainImages
from blueprint.models.folder import load_component, save_component
from blueprint.train.stage import StageArgs, check_loss_weight
from blueprint.train.vae import EDGE_WEIGHT, edge_l1

NEEDS = ("vae",)
INK_MARGIN = 2    # pixels around a character's ink that count as the letter's edge
CROP = 16         # latent cells on a side of the window the decoder trains on
TEXT_CROPS = 0.75  # share of windows centred on ink (images with ink only)


def ink_weight(ink: torch.Tensor, text_weight: float) -> torch.Tensor:
    """(B, 1, H, W) ink -> (B, 1, H, W) loss weight: 1 + text_weight at and near ink, 1 elsewhere."""
    near = F.max_pool2d(ink.float(), 2 * INK_MARGIN + 1, stride=1, padding=INK_MARGIN)
    return 1 + text_weight * near


def window(ink: torch.Tensor, factor: int, latent_hw) -> tuple[int, int]:
    """Top-left latent cell of one image's CROP x CROP training window (global torch RNG).

    `ink` is the image's (H, W) character map; `latent_hw` its latent grid."""
    h, w = (int(n) - CROP for n in latent_hw)
    if h < 0 or w < 0:
        raise BlueprintError(f"vae-decoder trains on {CROP * factor}-pixel windows; the image is smaller")
    inked = ink.nonzero()
    if len(inked) and torch.rand(()) < TEXT_CROPS:
        y, x = inked[torch.randint(len(inked), ())].tolist()
        top, left = y // factor - CROP // 2, x // factor - CROP // 2
    else:
        top, left = torch.randint(h + 1, ()).item(), torch.randint(w + 1, ()).item()
    return min(max(top, 0), h), min(max(left, 0), w)


def crop(t: torch.Tensor, windows: list[tuple[int, int]], factor: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, CROP * factor, CROP * factor): image i cut at windows[i] (latent cells)."""
    size = CROP * factor
    return torch.stack([t[i, :, top * factor:top * factor + size, left * factor:left * factor + size]
                        for i, (top, left) in enumerate(windows)])


class VaeDecoderStage:
    name = "vae-decoder"
    lr = 1e-4
    ema_decay = None

    def __init__(self, args: StageArgs):
        self.args, self.text_weight = args, check_loss_weight("text-weight", args.text_weight)
        self.images = TrainImages(args.data, args.size, args.batch_size, args.seed, with_ink=True,
                                  extra_sizes=args.extra_sizes, kinds=args.kinds, caption_style=args.caption_style)
        self.vae = load_component(Path(args.init_from or args.out_dir), "vae", args.device)
        self.vae.requires_grad_(False)
        for module in self.trainable().values():
            module.requires_grad_(True)

    def trainable(self):
        modules = {"decoder": self.vae.decoder}
        if self.vae.post_quant_conv is not None:
            modules["post_quant_conv"] = self.vae.post_quant_conv
        return modules

    def batch(self, step, rank, world_size):
        batch = self.images.batch(step, rank, world_size)
        return {"pixels": batch["pixels"], "ink": batch["ink"]}

    def loss(self, batch):
        x, ink = batch["pixels"], batch["ink"]
        with torch.no_grad():  # the frozen encoder: the latent space the DiT was trained in
            z = self.vae.encode(x).latent_dist.sample()
        factor = x.shape[-1] // z.shape[-1]
        windows = [window(ink[i, 0], factor, z.shape[-2:]) for i in range(len(x))]
        z, x, ink = crop(z, windows, 1), crop(x, windows, factor), crop(ink, windows, factor)
        recon = self.vae.decode(z).sample.float()
        weight = ink_weight(ink, self.text_weight)
        l1 = ((recon - x).abs() * weight).mean() / weight.mean()
        edge = edge_l1(recon, x, weight)
        loss = l1 + EDGE_WEIGHT * edge
        mse = ((recon.detach().clamp(-1, 1) - x) ** 2).mean()
        psnr = (10 * torch.log10(4 / mse)).item()  # peak-to-peak range 2 in [-1, 1]
        return loss, {"l1": l1.item(), "edge": edge.item(), "psnr": psnr}

    def export(self, model_dir):
        # The config, latents_mean / latents_std included, is the one loaded: the latent space is unchanged.
        self.vae.eval()
        save_component(self.vae, model_dir, "vae")


def make_stage(args: StageArgs) -> VaeDecoderStage:
    return VaeDecoderStage(args)
