"""The image tokenizer at sampling time: images -> semantic token ids, and token ids -> what is where.

The image tokenizer is the AR model's own vision tower + VQ
(`GlmImageForConditionalGeneration.model.visual` and `.model.vqmodel`): an
image is halved by the processor, cut into 16-px patches, encoded, and each
patch (one PX_PER_TOKEN x PX_PER_TOKEN cell of the original) is snapped to its
cosine-nearest codebook entry. Those codebook indices are the AR model's image
tokens (`image_tokens`).

The semantic head reads one token embedding at a time and says what the cell
holds: its element kind, colours, and which 8x8 px sub-cells (a CHAR_SUBGRID x
CHAR_SUBGRID sub-grid) hold characters. The image-tokenizer stage trains it
beside the tokenizer (blueprint/train/image_tokenizer.py); the pipeline uses it
to find the text lines of a generated blueprint for the typeset glyph layer
(blueprint/models/glyph_layer.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
import torch.nn.functional as F
from torch import nn

import blueprint.data as data
from blueprint.data.colors import COLOR_NAMES
from blueprint.data.spec import ELEMENT_KINDS
from blueprint.errors import BlueprintError
from blueprint.sizes import PX_PER_TOKEN
from blueprint.models.grid import image_grid, upsample_prior_tokens

CHAR_SUBGRID = 4       # ink on a 4x4 sub-grid of each cell (8x8 px sub-cells)
MIN_INK = 4            # a sub-cell is inked when at least this many of its pixels are a character's
HEAD_DIR = "semantic_head"  # the head's folder inside a model folder


# --- the semantic head -------------------------------------------------------------

@dataclass(frozen=True)
class SemanticVocab:
    """Class names of the head's outputs (index 0 is 'nothing' where that applies)."""

    kinds: tuple[str, ...]
    colors: tuple[str, ...]
    roles: tuple[str, ...]
    chars: int  # number of character classes, 0 = no character

    @classmethod
    def from_data(cls) -> "SemanticVocab":
        # Roles are free strings per design kind; they are a target only once the
        # engine publishes a fixed list of them (cells with other roles get 0).
        roles = ("background",) + tuple(getattr(data, "ROLES", ()))
        # CHARSET starts with the space, so class 0 is also "no character".
        return cls(("background",) + ELEMENT_KINDS, COLOR_NAMES, roles, len(data.CHARSET))

    def to_dict(self) -> dict:
        return {"kinds": list(self.kinds), "colors": list(self.colors), "roles": list(self.roles), "chars": self.chars}


def ink_presence(char_map: np.ndarray) -> np.ndarray:
    """(H/8, W/8) bool: the 8x8 sub-cells with at least MIN_INK character pixels.

    A perfect blueprint's text lines, for measuring layout and typesetting
    without a model (experiments/ceilings.py, tests/test_glyph_layer.py)."""
    sub = PX_PER_TOKEN // CHAR_SUBGRID
    h, w = char_map.shape
    return (char_map > 0).reshape(h // sub, sub, w // sub, sub).sum(axis=(1, 3)) >= MIN_INK


class SemanticHead(nn.Module):
    """Per-cell MLP from a quantised token embedding to that cell's semantic classes.

    It also keeps `last_used` (the step each code was last chosen), so the
    dead-code bookkeeping is saved and resumed with the trainable weights.
    """

    def __init__(self, embed_dim: int, num_codes: int, vocab: SemanticVocab, hidden: int = 128):
        super().__init__()
        self.vocab = vocab
        self.body = nn.Sequential(
            nn.LayerNorm(embed_dim), nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        s2 = CHAR_SUBGRID * CHAR_SUBGRID
        self.heads = nn.ModuleDict({
            "kind": nn.Linear(hidden, len(vocab.kinds)),
            "fg": nn.Linear(hidden, len(vocab.colors)),
            "bg": nn.Linear(hidden, len(vocab.colors)),
            "ink": nn.Linear(hidden, s2 * 2),
        })
        if len(vocab.roles) > 1:  # only "background": nothing to learn
            self.heads["role"] = nn.Linear(hidden, len(vocab.roles))
        self.register_buffer("last_used", torch.zeros(num_codes, dtype=torch.long))

    def forward(self, quantized: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, E, h, w) -> {name: (B, h, w, classes)}; ink: (B, h, w, S*S, 2)."""
        x = self.body(quantized.permute(0, 2, 3, 1))
        out = {name: head(x) for name, head in self.heads.items()}
        out["ink"] = out["ink"].unflatten(-1, (CHAR_SUBGRID * CHAR_SUBGRID, 2))
        return out


@torch.no_grad()
def codebook_readings(vle, head: SemanticHead) -> dict[str, torch.Tensor]:
    """The head's outputs for every code of the codebook, {name: (N, ...)} on the CPU.

    The head reads a code's unit-normalised codebook vector, as the tokenizer
    hands it over in training, and one cell at a time; so what a token means is
    a lookup by its id (the RL reward's cell readings, the prior's content weight)."""
    codebook = F.normalize(vle.model.vqmodel.quantize.embedding.weight.float(), dim=-1).cpu()
    # every code as one cell of a (1, E, N, 1) grid; the outputs are (1, N, 1, ...). A copy of
    # the head runs it, so the caller's head stays on its device and in its dtype.
    out = copy.deepcopy(head).cpu().float()(codebook.T[None, :, :, None])
    return {name: value[0, :, 0] for name, value in out.items()}


# --- images -> token ids ------------------------------------------------------------

def grid_pixel_values(images, grid_h: int, grid_w: int, image_processor) -> tuple[torch.Tensor, torch.Tensor]:
    """Processor inputs that give exactly a grid_h x grid_w token grid.

    Each image is resized (bicubic, if needed) to (grid_w*32, grid_h*32) px and
    then goes through the official image processor (halving, CLIP
    normalisation, 16-px patches). The processor's min/max pixel bounds are
    lifted for this call: the grid is decided here, not by the size clamp.
    """
    width, height = grid_w * PX_PER_TOKEN, grid_h * PX_PER_TOKEN
    pils = []
    for image in images:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
        pil = pil.convert("RGB")
        if pil.size != (width, height):
            pil = pil.resize((width, height), Image.Resampling.BICUBIC)
        pils.append(pil)
    size = {"shortest_edge": 1, "longest_edge": (2 * max(width, height)) ** 2}
    out = image_processor(images=pils, size=size, return_tensors="pt")
    grid = out["image_grid_thw"]
    if not bool((grid[:, 1] == grid_h).all() and (grid[:, 2] == grid_w).all()):
        raise BlueprintError(
            f"the image processor made a {grid[0].tolist()} grid, not [1, {grid_h}, {grid_w}]: "
            "its patch size must be 16 (32 px per token after halving)"
        )
    return out["pixel_values"], grid


def quantize(vle, pixel_values: torch.Tensor, grid_thw: torch.Tensor):
    """Vision tower + VQ on a batch of same-grid images, differentiably.

    Returns the official `GlmImageVQVAEModelOutput`: `quantized_last_hidden_state`
    (B, E, h, w, unit vectors, straight-through), `image_tokens` (B*h*w),
    `embedding_loss`, and `last_hidden_state` = the vision features (B, C, h, w).
    """
    model = vle.model
    device = next(model.visual.parameters()).device
    features = model.get_image_features(pixel_values.to(device), grid_thw.to(device)).pooler_output
    return model.vqmodel.encode(torch.stack(features))


@torch.no_grad()
def image_tokens(vle, image_processor, images, grid_h: int, grid_w: int) -> torch.Tensor:
    """(B, grid_h*grid_w) codebook ids of the images, row-major (the AR order)."""
    return tokens_of(vle, *grid_pixel_values(images, grid_h, grid_w, image_processor))


def tokens_of(vle, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
    """(B, h*w) codebook ids from `grid_pixel_values`' outputs: the device half of `image_tokens`,
    for stages whose data workers already ran the image processor."""
    _, grid_h, grid_w = grid_thw[0].tolist()
    return quantize(vle, pixel_values, grid_thw).image_tokens.view(len(grid_thw), grid_h * grid_w)



def perfect_prior_ids(vle, image_processor, images, width: int, height: int) -> torch.Tensor:
    """(B, (H/16)*(W/16)) DiT prior ids of what a perfect prior would write for `images`:
    the image tokenizer's full-grid codes (the prior's training targets), upsampled as the pipeline does.

    Passed as the pipeline's `prior_token_ids`, they take the prior out of an evaluation
    (`blueprint eval --true-blueprint`), so prior and DiT errors can be told apart.
    """
    token_h, token_w, _, _ = image_grid(width, height)
    with torch.inference_mode():
        full = image_tokens(vle, image_processor, images, token_h, token_w)
    return upsample_prior_tokens(full, token_h, token_w)
