"""Stage `prior`: the autoregressive model that writes the semantic image tokens.

The model is `GlmImageForConditionalGeneration`'s language model (+ its input
embeddings and `lm_head`); the vision tower + VQ stay frozen and only make the
targets. A training sequence is exactly what `GlmImagePipeline` feeds and
generates at inference:

    prompt <sop>h w<eop><sop>ph pw<eop> <bos> | preview grid | full grid | (end)

- the prompt part comes from `processor.apply_chat_template(..., target_h,
  target_w)`, left-padded, as in the pipeline;
- the targets are the frozen tokenizer's codes of a copy of the image resized
  to the preview grid x 32 px (generated first; GLM-Image's grid, or half the
  full grid per side with `--preview-grid half`, which the stage records in the
  folder's blueprint.json), then of the image itself; the
  end token is a target only when the head can emit it (Blueprint's own
  configurations make the head exactly the codebook, so it cannot, and the
  pipeline always generates the full length instead);
- labels are -100 on the prompt;
- a share of the prompts (`--prompt-drop`, default 0.1) is replaced by the
  empty prompt, so the same model also learns the unconditional grid
  distribution that classifier-free guidance in the pipeline contrasts with
  (`blueprint/pipeline/prior.py`; GLM-Image itself has no AR guidance);
- with `--token-noise P` (default 0), a share P of the image tokens the
  model *reads* is replaced by random codes before the forward; the labels it
  must predict stay true. Copying the tokens before it then pays less, and
  reading the prompt more (`noisy_image_inputs`); at CPU scale it did not
  make the prior read its prompt more (docs/notebook/2026-12-03-token-noise.md);
- with `--content-weight W` (default 0), the grid tokens that hold a text,
  shape or bar weigh 1 + W in the loss, the background's and panels' 1
  (`content_weights`). Which codes those are, the folder's semantic head
  says: it reads every code alone (`codebook_readings`), so this is a lookup
  by id and needs no semantic map of the image, which makes it work on a
  folder of the user's images too. The elements the prompt counts, colours
  and places are a third of the tokens (shapes and bars a tenth), while
  backgrounds and panels, each a long run of near-copies, set most of the
  unweighted gradient;
- positions: `generate` runs `get_rope_index` on the prompt and then feeds the
  i-th generated token at the i-th entry of the decode positions it cached
  (2-D M-RoPE per grid, preview first). The model's own forward cannot infer
  those from a teacher-forced sequence (it would give the image tokens text
  positions), so `sequence_inputs` calls the same `get_rope_index` and passes
  the concatenated positions explicitly. `tests/test_train_prior.py` checks
  that teacher-forced logits equal step-by-step generation logits.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from blueprint.errors import BlueprintError
from blueprint.models.folder import has_semantic_head, load_component, load_semantic_head, save_component_parts
from blueprint.models.grid import check_preview_grid, image_grid
from blueprint.models.image_tokenizer import codebook_readings, grid_pixel_values, tokens_of
from blueprint.models.processor import prompt_inputs
from blueprint.models.settings import update_settings
from blueprint.sizes import check_size
from blueprint.train.data import TrainImages, check_data, to_uint8
from blueprint.train.model_dir import require_trained
from blueprint.train.stage import StageArgs, check_loss_weight, check_prompt_drop, check_share


def grids(image_grid_thw: torch.Tensor) -> tuple[int, int, int, int]:
    """(token_h, token_w, prev_h, prev_w) from the processor's t2i grids [[1,h,w],[1,ph,pw]]."""
    (_, token_h, token_w), (_, prev_h, prev_w) = image_grid_thw[:2].tolist()
    return token_h, token_w, prev_h, prev_w


def image_targets(vle, image_processor, images, width: int, height: int, preview: str = "official") -> torch.Tensor:
    """(B, ph*pw + h*w [+ 1]) target ids: preview grid, full grid, then the end token if the head has it."""
    return targets_of(vle, target_inputs(image_processor, images, width, height, preview))


def target_inputs(image_processor, images, width: int, height: int, preview: str = "official") -> dict:
    """The host half of `image_targets`: the image processor's inputs for both grids.

    Images that make training targets go through it in the data workers, so the
    training process only runs the frozen tokenizer on them (`targets_of`)."""
    token_h, token_w, prev_h, prev_w = image_grid(width, height, preview)
    preview_pixels, preview_grid = grid_pixel_values(images, prev_h, prev_w, image_processor)
    full_pixels, full_grid = grid_pixel_values(images, token_h, token_w, image_processor)
    return {"preview_pixels": preview_pixels, "preview_grid": preview_grid,
            "full_pixels": full_pixels, "full_grid": full_grid, "size": torch.tensor([width, height])}


def targets_of(vle, inputs: dict) -> torch.Tensor:
    """The device half of `image_targets`: the frozen tokenizer's codes of `target_inputs`."""
    preview = tokens_of(vle, inputs["preview_pixels"], inputs["preview_grid"])
    full = tokens_of(vle, inputs["full_pixels"], inputs["full_grid"])
    parts = [preview, full]
    end_id = vle.config.image_end_token_id
    if end_id < vle.config.text_config.vision_vocab_size:
        parts.append(torch.full((len(full), 1), end_id, dtype=full.dtype, device=full.device))
    return torch.cat(parts, dim=1)


def decode_positions(vle, prompt: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(prefill (3, B, L), decode (3, B, D)) positions, computed by the model's `get_rope_index`.

    The decode positions are the ones `generate` gives the generated tokens, in order.
    """
    model = vle.model
    saved = (model._cached_decode_position_ids, model._prefill_len, model.rope_deltas)
    prefill, _ = model.get_rope_index(
        prompt["input_ids"],
        image_grid_thw=prompt["image_grid_thw"],
        images_per_sample=prompt.get("images_per_sample"),
        attention_mask=prompt["attention_mask"],
    )
    decode = model._cached_decode_position_ids.permute(1, 0, 2)  # (B, 3, D) -> (3, B, D)
    # get_rope_index caches these for the next `generate` step; leave the model as it was.
    model._cached_decode_position_ids, model._prefill_len, model.rope_deltas = saved
    return prefill, decode


def sequence_inputs(vle, prompt: dict, targets: torch.Tensor) -> dict:
    """Teacher-forcing inputs: `input_ids`, `attention_mask`, `position_ids`, `labels`.

    `labels[:, t]` is the token that the logits at position t must predict
    (already shifted); -100 on the prompt and the padding.
    """
    input_ids, mask = prompt["input_ids"], prompt["attention_mask"]
    batch, prompt_len = input_ids.shape
    n_targets = targets.shape[1]
    prefill, decode = decode_positions(vle, prompt)
    if decode.shape[-1] < n_targets:
        raise BlueprintError(f"{n_targets} targets but the grids only have {decode.shape[-1]} decode positions")
    targets = targets.to(input_ids.device)
    full = torch.cat([input_ids, targets], dim=1)
    labels = full.clone()
    labels[:, :prompt_len] = -100
    return {
        "input_ids": full[:, :-1],
        "attention_mask": torch.cat([mask, torch.ones_like(targets)], dim=1)[:, :-1],
        # the last target is never fed, so its decode position is not needed
        "position_ids": torch.cat([prefill, decode[:, :, : n_targets - 1].to(prefill)], dim=-1),
        "labels": labels[:, 1:],
    }


def noisy_image_inputs(inputs: dict, share: float, codebook: int) -> dict:
    """`sequence_inputs` with a share of the image tokens fed as input replaced by random
    codes (the global RNG); prompt tokens, padding and labels are left as they are."""
    ids, labels = inputs["input_ids"], inputs["labels"]
    # input t is the token that label t-1 names, so it is an image token where that label is one
    image = torch.zeros_like(ids, dtype=torch.bool)
    image[:, 1:] = labels[:, :-1] != -100
    hit = image & (torch.rand(ids.shape) < share).to(ids.device)
    random = torch.randint(0, codebook, ids.shape).to(ids)
    return {**inputs, "input_ids": torch.where(hit, random, ids)}


def content_weights(targets: torch.Tensor, content: torch.Tensor, weight: float) -> torch.Tensor:
    """(B, T) loss weights of `image_targets`' tokens: 1 + `weight` where `content[id]` (a bool
    per code) says the token holds an element, 1 elsewhere and on ids past the codebook (end)."""
    content = content.to(targets.device)
    inside = targets < len(content)
    holds = inside & content[targets.clamp(max=len(content) - 1)]
    return 1 + weight * holds.float()


CONTENT_KINDS = ("text", "shape", "bar")  # what --content-weight lifts; not the background nor panels


def content_codes(vle, model_dir: Path) -> torch.Tensor:
    """(codebook size,) bool: the codes that the semantic head reads as one of CONTENT_KINDS."""
    if not has_semantic_head(model_dir):
        raise BlueprintError(f"--content-weight reads which tokens hold an element with the semantic head, "
                             f"and {model_dir} has none (the image-tokenizer stage trains it)")
    head = load_semantic_head(model_dir)
    kinds = codebook_readings(vle, head)["kind"].argmax(-1)
    wanted = torch.tensor([name in CONTENT_KINDS for name in head.vocab.kinds])
    return wanted[kinds]


def label_weights(labels: torch.Tensor, target_weights: torch.Tensor) -> torch.Tensor:
    """Per-target weights laid out as `sequence_inputs`' labels: the targets are its last
    T labels (after the prompt), weight 0 on the prompt and padding."""
    out = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    out[:, -target_weights.shape[1]:] = target_weights.to(labels.device)
    return out * (labels != -100)


def sequence_logits(vle, inputs: dict) -> torch.Tensor:
    """(B, L, vision vocab) fp32 logits of a teacher-forced sequence from `sequence_inputs`."""
    out = vle(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        position_ids=inputs["position_ids"],
        use_cache=False,
    )
    return out.logits.float()


def sequence_loss(vle, inputs: dict, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Next-token cross-entropy on the image part, plus token accuracy.

    With `weights` (laid out as the labels, `label_weights`) the loss is the weighted
    mean, and the plain mean is logged as `ce` so runs with other weights compare."""
    logits = sequence_logits(vle, inputs)
    labels = inputs["labels"]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                         reduction="none").view(labels.shape)
    keep = labels != -100
    accuracy = (logits.argmax(-1)[keep] == labels[keep]).float().mean().item()
    if weights is None:
        return ce[keep].mean(), {"token_acc": accuracy}
    loss = (ce * weights).sum() / weights.sum()
    return loss, {"token_acc": accuracy, "ce": ce[keep].mean().item()}


class PriorStage:
    name = "prior"
    lr = 3e-4

    def __init__(self, args: StageArgs, vle, processor, content: torch.Tensor | None = None):
        """`content`: `content_codes`, needed with a content weight."""
        self.args = args
        self.vle = vle
        self.processor = processor
        self.prompt_drop = check_prompt_drop(args.prompt_drop)
        self.token_noise = check_share("token-noise", args.token_noise)
        self.content_weight = check_loss_weight("content-weight", args.content_weight)
        if self.content_weight and content is None:
            raise BlueprintError("a content weight needs the codes that hold elements (content_codes)")
        self.content = content
        self.images = TrainImages(args.data, args.size, args.batch_size, args.seed,  # engine or a folder
                                  extra_sizes=args.extra_sizes, kinds=args.kinds, caption_style=args.caption_style)
        if str(args.device).startswith("cuda"):
            # Left-padded prompts leave the pad positions' query rows fully masked. cuDNN's
            # attention returns NaN query gradients there at some lengths (`python -m
            # bench.attention` on the GPU), which is how this stage diverged on an H100. The
            # loop switches cuDNN attention off for every stage; eager attention, which adds
            # a finite minimum, is kept here as the setting the GPU run was made with.
            vle.set_attn_implementation("eager")
        # Frozen: the tokenizer makes the targets, it is not trained here.
        for module in (vle.model.visual, vle.model.vqmodel):
            module.requires_grad_(False)
            module.eval()

    def trainable(self) -> dict[str, nn.Module]:
        return {"language_model": self.vle.model.language_model, "lm_head": self.vle.lm_head}

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        # Rendering and the image processor only: DataLoader workers may draw this, and they
        # cannot use the GPU that the frozen tokenizer runs on, so `loss` makes the targets.
        batch = self.images.batch(step, rank, world_size)
        height, width = batch["pixels"].shape[-2:]
        images = list(to_uint8(batch["pixels"]).numpy())
        return {"captions": batch["captions"],
                **target_inputs(self.processor.image_processor, images, width, height, self.processor.preview_grid)}

    def make_batch(self, batch: dict, captions: list[str]) -> dict:
        """Teacher-forcing inputs (`sequence_inputs`) for a drawn batch, on the model's device;
        with a content weight, also the labels' loss weights (`weights`)."""
        device = self.vle.lm_head.weight.device
        width, height = batch["size"].tolist()
        prompt = prompt_inputs(self.processor, captions, width, height)
        with torch.no_grad():
            targets = targets_of(self.vle, batch)
        inputs = {k: v.to(device) for k, v in sequence_inputs(self.vle, prompt, targets).items()}
        if self.content_weight:
            weights = content_weights(targets, self.content, self.content_weight)
            inputs["weights"] = label_weights(inputs["labels"], weights)
        return inputs

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        # The global RNG: the loop reseeds it every step, so the drops are exact on resume.
        drop = (torch.rand(len(batch["captions"])) < self.prompt_drop).tolist()
        captions = ["" if d else c for c, d in zip(batch["captions"], drop)]
        inputs = self.make_batch(batch, captions)
        if self.token_noise:
            inputs = noisy_image_inputs(inputs, self.token_noise, self.vle.config.vq_config.num_embeddings)
        return sequence_loss(self.vle, inputs, inputs.get("weights"))

    def export(self, model_dir: Path) -> None:
        save_component_parts(model_dir, "vision_language_encoder", {"model.language_model": self.vle.model.language_model, "lm_head": self.vle.lm_head})
        # the pipeline must prompt this model with the preview grid it was trained on
        update_settings(model_dir, preview_grid=self.processor.preview_grid)


def make_stage(args: StageArgs) -> PriorStage:
    check_data(args.data)
    check_size(*args.size)
    model_dir = Path(args.init_from or args.out_dir)
    require_trained(model_dir, "prior", ("image-tokenizer",), args.config)
    vle = load_component(model_dir, "vision_language_encoder", args.device)
    cfg = vle.config
    if cfg.vq_config.num_embeddings > cfg.text_config.vision_vocab_size:
        raise BlueprintError(
            f"codebook of {cfg.vq_config.num_embeddings} codes does not fit the AR head's "
            f"{cfg.text_config.vision_vocab_size} outputs"
        )
    processor = load_component(model_dir, "processor")
    if args.preview_grid is not None:
        processor.preview_grid = check_preview_grid(args.preview_grid, "preview-grid")
    # the grid in effect (the flag's, else the folder's) goes into the checkpoints, so that a
    # resume which would train on another preview grid is refused
    args.preview_grid = processor.preview_grid
    content = content_codes(vle, model_dir) if check_loss_weight("content-weight", args.content_weight) else None
    return PriorStage(args, vle, processor, content)
