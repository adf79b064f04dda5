"""Stage `image-tokenizer`: the semantic image tokenizer (its targets: semantic_targets.py).

The tokenizer is the AR model's own vision tower + VQ
(`GlmImageForConditionalGeneration.model.visual` and `.model.vqmodel`): an
image is halved by the processor, cut into 16-px patches, encoded, and each
patch (= one 32x32 px cell of the original) is snapped to its cosine-nearest
codebook entry. Those codebook indices are the AR model's image tokens.

Tokens should say *what is where*, not pixel detail, so training has no pixel
reconstruction at all. An auxiliary `SemanticHead` reads each quantised token
embedding on its own (a per-cell MLP: no neighbour can leak information into a
cell) and predicts that cell's content from the data engine's semantic maps:

- `kind`: the cell's foreground element kind (or background),
- `fg` / `bg`: the foreground element's colour name and the colour behind it,
- `role`: the foreground element's role ("title", "price", ...),
- `ink`: whether each 8x8 px sub-cell (a 4x4 sub-grid) holds characters; the
  glyph layer typesets text into these sub-cells at sampling time.

The gradient reaches the encoder through the quantiser's straight-through
estimator; the official quantiser's commitment/codebook loss keeps encoder
outputs and codes together; codes unused for `RESTART_EVERY` steps are restarted
on current encoder outputs. `export` writes the vision tower + VQ into
`vision_language_encoder/` and the head beside it in `semantic_head/`, where the
pipeline reads text lines off generated tokens with it
(blueprint/models/image_tokenizer.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from blueprint.data.dataset import sample_at
from blueprint.data.spec import Spec
from blueprint.errors import BlueprintError
from blueprint.models.folder import load_component, save_component_parts, save_semantic_head
from blueprint.models.image_tokenizer import SemanticHead, SemanticVocab, grid_pixel_values, quantize
from blueprint.sizes import PX_PER_TOKEN, check_size
from blueprint.train.data import sample_indices, to_uint8
from blueprint.train.semantic_targets import cell_targets, code_stats, semantic_losses
from blueprint.train.stage import StageArgs

COMMITMENT = 0.25      # weight of the encoder's commitment to its codes (VQ-VAE's beta)
RESTART_EVERY = 10     # steps between dead-code restarts; a code unused this long is dead


def vq_losses(vqmodel, features: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss, commitment loss) in the quantiser's cosine space.

    The official quantiser's own `embedding_loss` weighs the encoder-side term
    1 and the codebook-side term 0.25 (the reverse of VQ-VAE), which pulls the
    encoder onto a few codes; here the codebook moves to the encoder outputs
    (weight 1) and the encoder only commits (weight COMMITMENT).
    """
    latents = vqmodel.quant_conv(features)
    z = F.normalize(latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]), dim=-1)
    codes = F.normalize(vqmodel.quantize.embedding.weight, dim=-1)[tokens]
    return F.mse_loss(codes, z.detach()), F.mse_loss(z, codes.detach())


# --- data -----------------------------------------------------------------------

def draw_samples(args: StageArgs, indices: list[int], split: str = "train") -> list[dict]:
    """Engine samples number `indices` at the stage's size, with semantic maps.

    A pure function of (seed, index, split): `blueprint.data.dataset.sample_at`.
    Pixels come back as (H, W, 3) uint8, the spec as a `Spec`.
    """
    width, height = args.size
    out = []
    for index in indices:
        item = sample_at(index, width, height, args.kinds, split=split, seed=args.seed, with_maps=True,
                         caption_style=args.caption_style)
        out.append({"pixels": to_uint8(item["pixels"]).numpy(), "caption": item["caption"],
                    "spec": Spec.from_json(item["spec"]),
                    "element_map": item["element_map"].numpy(), "char_map": item["char_map"].numpy()})
    return out


# --- the stage --------------------------------------------------------------------

class ImageTokenizerStage:
    name = "image-tokenizer"
    lr = 3e-4  # 1e-3 diverged (NaN) in bf16: docs/notebook/2026-11-23-h100-phased-run.md

    def __init__(self, args: StageArgs, vle, image_processor, vocab: SemanticVocab):
        self.args = args
        self.vle = vle
        self.image_processor = image_processor
        self.vocab = vocab
        width, height = args.size
        self.grid = (height // PX_PER_TOKEN, width // PX_PER_TOKEN)
        vq = vle.config.vq_config
        self.num_codes = vq.num_embeddings
        self.head = SemanticHead(vq.embed_dim, self.num_codes, vocab).to(args.device)

    def trainable(self) -> dict[str, nn.Module]:
        return {"visual": self.vle.model.visual, "vqmodel": self.vle.model.vqmodel, "semantic_head": self.head}

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        samples = draw_samples(self.args, sample_indices(step, rank, world_size, self.args.batch_size))
        return self.make_batch(samples, step)

    def make_batch(self, samples: list[dict], step: int = 0) -> dict:
        pixel_values, grid = grid_pixel_values([s["pixels"] for s in samples], *self.grid, self.image_processor)
        targets = [cell_targets(np.asarray(s["element_map"]), np.asarray(s["char_map"]), s["spec"], self.vocab)
                   for s in samples]
        batch = {"pixel_values": pixel_values, "image_grid_thw": grid, "step": step}
        for key in targets[0]:
            batch[key] = torch.from_numpy(np.stack([t[key] for t in targets]))
        return batch

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        step = int(batch["step"])
        if step > 0 and step % RESTART_EVERY == 0:
            restarted = self._restart_dead_codes(batch, step)
        else:
            restarted = 0
        out = quantize(self.vle, batch["pixel_values"], batch["image_grid_thw"])
        logits = self.head(out.quantized_last_hidden_state)
        semantic, metrics = semantic_losses(logits, {k: batch[k] for k in logits})
        codebook, commitment = vq_losses(self.vle.model.vqmodel, out.last_hidden_state, out.image_tokens)
        self._mark_used(out.image_tokens, step)
        loss = semantic + codebook + COMMITMENT * commitment
        metrics.update(code_stats(out.image_tokens, self.num_codes))
        metrics["codebook_loss"] = codebook.item()
        metrics["commitment_loss"] = commitment.item()
        metrics["codes_alive"] = float((step - self.head.last_used < RESTART_EVERY).sum())
        metrics["codes_restarted"] = float(restarted)
        return loss, metrics

    @torch.no_grad()
    def _mark_used(self, tokens: torch.Tensor, step: int) -> None:
        used = torch.bincount(tokens.reshape(-1), minlength=self.num_codes) > 0
        if dist.is_available() and dist.is_initialized():  # every rank must agree on what is dead
            used = used.long()
            dist.all_reduce(used, op=dist.ReduceOp.MAX)
            used = used > 0
        self.head.last_used[used] = step

    @torch.no_grad()
    def _restart_dead_codes(self, batch: dict, step: int) -> int:
        """Move codes unused for RESTART_EVERY steps onto this batch's encoder outputs."""
        dead = (step - self.head.last_used) >= RESTART_EVERY
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        vq = self.vle.model.vqmodel
        model = self.vle.model
        device = next(model.visual.parameters()).device
        features = model.get_image_features(batch["pixel_values"].to(device), batch["image_grid_thw"].to(device))
        latents = vq.quant_conv(torch.stack(features.pooler_output))  # what the quantiser compares
        latents = F.normalize(latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]), dim=-1)
        pick = torch.randint(len(latents), (n_dead,), device=latents.device)  # global RNG: reseeded per step
        weight = vq.quantize.embedding.weight
        weight[dead] = latents[pick].to(weight.dtype)
        self.head.last_used[dead] = step
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(weight.data, src=0)
        return n_dead

    @torch.no_grad()
    def evaluate(self, samples: list[dict], batch_size: int = 8) -> dict[str, float]:
        """Per-cell accuracy of the head and codebook usage over held-out samples."""
        was_training = self.head.training
        for m in self.trainable().values():
            m.eval()
        sums: dict[str, float] = {}
        weights: dict[str, float] = {}
        tokens = []
        for start in range(0, len(samples), batch_size):
            batch = self.make_batch(samples[start:start + batch_size])
            device = next(self.head.parameters()).device
            out = quantize(self.vle, batch["pixel_values"], batch["image_grid_thw"])
            logits = self.head(out.quantized_last_hidden_state)
            for name, lg in logits.items():
                tg = batch[name].to(device)
                hit = lg.argmax(-1) == tg
                sums[f"acc_{name}"] = sums.get(f"acc_{name}", 0.0) + hit.float().sum().item()
                weights[f"acc_{name}"] = weights.get(f"acc_{name}", 0.0) + tg.numel()
                if name == "ink":
                    ink = tg > 0
                    sums["acc_inked"] = sums.get("acc_inked", 0.0) + hit[ink].float().sum().item()
                    weights["acc_inked"] = weights.get("acc_inked", 0.0) + ink.sum().item()
            tokens.append(out.image_tokens.cpu())
        result = {k: sums[k] / weights[k] for k in sums if weights[k]}
        result.update(code_stats(torch.cat(tokens), self.num_codes))
        result["codebook_size"] = float(self.num_codes)
        for m in self.trainable().values():
            m.train(was_training)
        return result

    def export(self, model_dir: Path) -> None:
        save_component_parts(model_dir, "vision_language_encoder", {"model.visual": self.vle.model.visual, "model.vqmodel": self.vle.model.vqmodel})
        save_semantic_head(self.head, model_dir)


def make_stage(args: StageArgs) -> ImageTokenizerStage:
    if args.data != "engine":
        raise BlueprintError(
            f"the image-tokenizer stage learns from the engine's semantic maps; --data must be 'engine', not {args.data!r}"
        )
    check_size(*args.size)
    model_dir = Path(args.init_from or args.out_dir)
    vle = load_component(model_dir, "vision_language_encoder", args.device)
    processor = load_component(model_dir, "processor")
    return ImageTokenizerStage(args, vle, processor.image_processor, SemanticVocab.from_data())
