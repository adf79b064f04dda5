"""Stage `dit`: the DiT (`GlmImageTransformer2DModel`) by flow matching.

Everything it is conditioned on comes from frozen, already-trained parts of
the same model folder, computed exactly as at sampling time:

- latents: the VAE posterior mean, normalised with the VAE config's
  `latents_mean` / `latents_std` (written by the `vae` stage);
- prior tokens: the real image through the image tokenizer (the AR model's
  vision tower + VQ, `blueprint.models.image_tokenizer.image_tokens`) on the
  AR grid, upsampled x2 nearest to the DiT's patch grid;
- glyph embeddings: the caption's quoted text through ByT5 + T5
  (`blueprint.models.encode_glyphs`, the pipeline's own helper);
- glyph layer (when the DiT has input channels for it): the engine's exact
  character ink, folded onto the latent grid and concatenated to the noisy
  latents (`blueprint.models.glyph_layer`); at sampling time the same channels
  come from typesetting the quoted text where the blueprint puts text;
- size: `target_size` = (H, W) in pixels, `crop_coords` = (0, 0).

The official timestep convention: a raw timestep t in 1..1000 gives
sigma = t / 1000, shifted for the resolution (the scheduler's `time_shift`,
mu from `shift_mu`); the model sees `t - 1`, the input is (1 - s) x0 + s noise at the
shifted s, and the target is the flow velocity `noise - x0`.

For classifier-free guidance, prior tokens are dropped (`prior_token_drop`),
glyph text is replaced by the empty prompt and the glyph layer is zeroed (what
the pipeline's unconditional pass uses) independently with probability
DROP_PROB each. The ablation conditionings ("prompt", "noglyph") always zero
the glyph layer, so every row trains the same network on the same data.
Text-weighted loss. Letters are a few percent of an image's latent cells, so
a plain MSE spends nearly all its gradient on flat backgrounds, which the
decoder learns first anyway, and letter strokes come last. The loss weights
each latent cell holding ink, or next to one, by 1 + `text_weight` (the idea
of TextDiffuser's character-aware loss, on the flow target instead of a
segmentation), normalised by the mean weight so its scale stays that of an
MSE. The weight comes from the engine's ink, so it applies to every
ablation row alike. `text_weight` 0 is the plain MSE.

Edge weight (`edge_weight`, default 0, off). Shapes, chart bars and panel
borders are also small and sharp, and at text weight 4 they weigh as little
as flat background: given a true blueprint the CPU-trained decoder draws them
as blobs. `edge_weight` adds to the weight of latent cells at and beside a
colour edge of the image (`near_edges`, measured on the pixels, so folder
data gets it too).

Batch reuse. With `batch_reuse` N, N steps in a row train on one rendered
batch, each with its own noise, timesteps and condition drops, and the frozen
VAE encoder and tokenizer run once for the N. On a CPU these two cost about
as much as the DiT's forward pass, so N = 2 trains more steps in
the same time; procedural data is unlimited, so seeing each image twice
costs nothing in variety that matters at these step counts. A batch is still
a pure function of (seed, step, rank), so resume stays exact.

The stage keeps an EMA of the weights and exports it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from blueprint.errors import BlueprintError
from blueprint.models.conditioning import check_conditioning, write_conditioning
from blueprint.models.folder import load_component, save_component
from blueprint.models.glyph_encoder import encode_glyphs
from blueprint.models.glyph_layer import fold_ink, glyph_channels_of, ink_planes, with_shape_plane
from blueprint.models.grid import normalize_latents, shift_mu, upsample_prior_tokens, vae_scale_factor
from blueprint.models.image_tokenizer import grid_pixel_values, tokens_of
from blueprint.sizes import PX_PER_DIT_TOKEN, PX_PER_TOKEN
from blueprint.train.data import TrainImages, to_uint8
from blueprint.train.model_dir import require_trained
from blueprint.train.stage import StageArgs, check_loss_weight, check_share

DROP_PROB = 0.1       # per condition, for classifier-free guidance
# `near_edges`: a step this large between neighbouring pixels (in [-1, 1], any channel) is
# an edge; the palette's colours differ by more, JPEG-free renders' flat areas by nothing.
EDGE_STEP = 0.3
NEEDS = ("vae", "image-tokenizer", "glyph-encoder")


class DitStage:
    name = "dit"
    lr = 2e-4
    ema_decay = 0.999

    def __init__(self, args: StageArgs):
        self.args = args
        self.conditioning = check_conditioning(args.conditioning)
        model_dir = Path(args.init_from or args.out_dir)
        require_trained(model_dir, self.name, NEEDS, args.config)
        self.transformer = load_component(model_dir, "transformer", args.device)
        self.vae = load_component(model_dir, "vae", args.device).requires_grad_(False)
        self.shape_ink = check_share("shape-ink", args.shape_ink)
        self.planes = ink_planes(self.transformer, vae_scale_factor(self.vae))
        if self.shape_ink and self.planes == 0:
            raise BlueprintError("--shape-ink trains the glyph layer's shape plane; this DiT has no glyph layer")
        if self.shape_ink and self.planes == 1:
            self.transformer = with_shape_plane(self.transformer, vae_scale_factor(self.vae))
            self.planes = 2
            print("dit: added the glyph layer's shape plane (zero weights) to train it with --shape-ink")
        self.glyph_channels = glyph_channels_of(self.transformer)
        self.images = TrainImages(args.data, args.size, args.batch_size, args.seed, with_ink=self.glyph_channels > 0,
                                  extra_sizes=args.extra_sizes, kinds=args.kinds, caption_style=args.caption_style)
        self.text_encoder = load_component(model_dir, "text_encoder", args.device).requires_grad_(False)
        self.glyph_tokenizer = load_component(model_dir, "tokenizer")
        self.vle = load_component(model_dir, "vision_language_encoder", args.device).requires_grad_(False)
        self.image_processor = load_component(model_dir, "processor").image_processor
        self.scheduler = load_component(model_dir, "scheduler")
        scheduler_config = self.scheduler.config

        patch = self.transformer.config.patch_size
        if vae_scale_factor(self.vae) * patch != PX_PER_DIT_TOKEN:
            raise BlueprintError(f"VAE scale x DiT patch must be {PX_PER_DIT_TOKEN} (the AR grid x2), got "
                                 f"{vae_scale_factor(self.vae)} x {patch}")
        # the resolution shift of the noise schedule, per training size (as the pipeline sets it)
        self.mu = {(w, h): shift_mu(h, w, scheduler_config, vae_scale_factor(self.vae), patch)
                   for w, h in self.images.sizes}
        self.num_train_timesteps = scheduler_config.get("num_train_timesteps", 1000)
        self.text_weight = check_loss_weight("text-weight", args.text_weight)
        self.edge_weight = check_loss_weight("edge-weight", args.edge_weight)
        if args.batch_reuse < 1:
            raise BlueprintError(f"batch-reuse must be a positive integer, got {args.batch_reuse}")
        self.batch_reuse = args.batch_reuse
        self._encoded: tuple[int, dict] | None = None  # (batch key, encoded) while batch_reuse > 1

    def trainable(self):
        return {"transformer": self.transformer}

    def batch(self, step, rank, world_size):
        # `batch_reuse` steps in a row share one rendered batch; "key" names it for the cache
        key = step // self.batch_reuse
        out = dict(self.images.batch(key, rank, world_size), key=key)
        # The tokenizer's image processing (PIL resizing, normalising, patching) happens here,
        # in the data workers when there are any: it is host work that would otherwise
        # hold up every GPU step in the training process.
        height, width = out["pixels"].shape[-2:]
        out["vle_pixels"], out["vle_grid"] = grid_pixel_values(
            list(to_uint8(out["pixels"]).numpy()), height // PX_PER_TOKEN, width // PX_PER_TOKEN, self.image_processor)
        return out

    @torch.no_grad()
    def encoded(self, batch: dict) -> dict:
        """The frozen encoders' view of a batch's images: normalised latents and upsampled prior ids.

        These cost about as much as the DiT's own forward on a CPU (the VAE
        encoder at full resolution above all), so with `batch_reuse` > 1 they
        are kept for the steps that share the batch's "key"."""
        key = batch.get("key")
        if key is not None and self._encoded is not None and self._encoded[0] == key:
            return self._encoded[1]
        pixels = batch["pixels"]
        latents = normalize_latents(self.vae, self.vae.encode(pixels.float()).latent_dist.mean)
        grid = (pixels.shape[-2] // PX_PER_TOKEN, pixels.shape[-1] // PX_PER_TOKEN)
        ids = tokens_of(self.vle, batch["vle_pixels"], batch["vle_grid"])
        out = {"latents": latents.float(), "prior": upsample_prior_tokens(ids.to(pixels.device), *grid)}
        if key is not None and self.batch_reuse > 1:
            self._encoded = (key, out)
        return out

    @torch.no_grad()
    def conditions(self, batch: dict, drop_glyph: torch.Tensor) -> dict:
        """Frozen inputs: normalised latents, upsampled prior ids, glyph embeddings."""
        prompts = ["" if d else c for c, d in zip(batch["captions"], drop_glyph.tolist())]
        glyphs, _ = encode_glyphs(self.glyph_tokenizer, self.text_encoder, prompts, device=batch["pixels"].device,
                                  whole_prompt=self.conditioning == "prompt", batched=True)
        return dict(self.encoded(batch), glyphs=glyphs)

    def loss(self, batch):
        pixels = batch["pixels"]
        n, device = pixels.shape[0], pixels.device
        drop_glyph = torch.rand(n) < DROP_PROB
        drop_prior = torch.rand(n) < DROP_PROB
        drop_layer = torch.rand(n) < DROP_PROB
        if self.conditioning == "prompt":  # the pure-diffusion baseline never sees prior tokens
            drop_prior[:] = True
        if self.conditioning != "blueprint":  # neither ablation row sees the glyph layer
            drop_layer[:] = True
        cond = self.conditions(batch, drop_glyph)
        x0 = cond["latents"]
        t = torch.randint(1, self.num_train_timesteps + 1, (n,), device=device).float()
        mu = self.mu[(pixels.shape[-1], pixels.shape[-2])]
        sigma = self.scheduler.time_shift(mu, 1.0, t / self.num_train_timesteps).view(n, 1, 1, 1)
        noise = torch.randn_like(x0)
        noisy = (1 - sigma) * x0 + sigma * noise
        ink = self.ink(batch) if self.glyph_channels else None
        if ink is not None:
            layer = ink * (~drop_layer).to(device).float().view(n, 1, 1, 1)
            noisy = torch.cat([noisy, fold_ink(layer, vae_scale_factor(self.vae))], dim=1)
        height, width = pixels.shape[-2:]
        pred = self.transformer(
            hidden_states=noisy,
            encoder_hidden_states=cond["glyphs"],
            prior_token_id=cond["prior"],
            prior_token_drop=drop_prior.to(device)[:, None].expand_as(cond["prior"]),
            timestep=t - 1,
            target_size=torch.tensor([[height, width]], dtype=torch.float32, device=device).expand(n, 2),
            crop_coords=torch.zeros(n, 2, device=device),
            return_dict=False,
        )[0]
        err = (pred.float() - (noise - x0)) ** 2
        # no ink for a DiT without a glyph layer: plain MSE
        factor = vae_scale_factor(self.vae)
        weight = (torch.ones_like(err[:, :1]) if ink is None
                  else text_weight_map(ink.amax(1, keepdim=True), factor, self.text_weight))
        if self.edge_weight:
            weight = weight + self.edge_weight * near_edges(pixels, factor)
        loss = (err * weight).mean() / weight.mean()
        return loss, {"sigma": sigma.mean().item(), "mse": err.mean().item()}

    def ink(self, batch) -> torch.Tensor:
        """(B, planes, H, W) the glyph layer of a batch: its letters' ink, and with a shape plane
        the ink of the bars, arrows, shapes and rules of a `shape_ink` share of the images (what a
        followed layout plan's drawing gives at sampling time; the rest, as without a plan, learn
        to draw these from the tokens)."""
        letters = batch["ink"].float()
        if self.planes < 2:
            return letters
        keep = (torch.rand(letters.shape[0]) < self.shape_ink).to(letters.device).float().view(-1, 1, 1, 1)
        return torch.cat([letters, batch["shape_ink"].float() * keep], dim=1)

    def export(self, model_dir):
        save_component(self.transformer, model_dir, "transformer")
        write_conditioning(model_dir, self.conditioning)


def text_weight_map(ink: torch.Tensor, factor: int, text_weight: float) -> torch.Tensor:
    """(B, 1, H, W) ink -> (B, 1, H/factor, W/factor) loss weight on the latent grid:
    1 + text_weight where a cell, or a neighbour of it, holds ink, 1 elsewhere."""
    return 1 + text_weight * near_cells(ink, factor)


def near_cells(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, 1, H, W) pixel mask -> (B, 1, H/factor, W/factor): 1 where a latent cell, or one of
    its 8 neighbours, has a marked pixel (a stroke's cell and the cells its edges blur into)."""
    marked = F.max_pool2d(mask.float(), factor)
    return F.max_pool2d(marked, 3, stride=1, padding=1)


def near_edges(pixels: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 1, H/factor, W/factor): 1 where a latent cell, or a
    neighbour of it, holds a colour edge of the image, 0 elsewhere.

    An edge is a step of at least EDGE_STEP between two adjacent pixels in some channel:
    the outline of a shape, a bar's top, a panel's border, and letters too. Measured on the
    pixels, so it needs no engine maps and weighs a folder's images as well."""
    x = pixels.float()
    step = torch.zeros_like(x[:, :1])
    step[..., :, 1:] = (x[..., :, 1:] - x[..., :, :-1]).abs().amax(1, keepdim=True)
    step[..., 1:, :] = torch.maximum(step[..., 1:, :], (x[..., 1:, :] - x[..., :-1, :]).abs().amax(1, keepdim=True))
    return near_cells(step >= EDGE_STEP, factor)


def make_stage(args: StageArgs) -> DitStage:
    return DitStage(args)
