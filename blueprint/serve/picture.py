"""The AR blueprint as data and as a picture, for API responses and the page.

The AR stage writes one codebook id per 32x32 px cell. With a semantic head
(the embedded model has one) each cell is drawn the way the head reads it:
its background colour, and the sub-cells it expects to hold characters in
its foreground colour, so the picture is the layout the DiT is asked to
render. Without a head, ids are coloured by a fixed hash (equal ids, equal
colours): the structure still shows, its meaning does not.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from blueprint.data.colors import COLOR_NAMES, PALETTE_RGB
from blueprint.models.glyph_layer import INK_PROBABILITY
from blueprint.models.image_tokenizer import CHAR_SUBGRID
from blueprint.sizes import PX_PER_TOKEN


def ar_grid(prior_ids: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(H/32, W/32) AR ids from one row of DiT-grid prior ids (the AR grid upsampled x2)."""
    grid_h, grid_w = height // PX_PER_TOKEN, width // PX_PER_TOKEN
    return prior_ids.view(2 * grid_h, 2 * grid_w)[::2, ::2]


@torch.inference_mode()
def blueprint_picture(pipe, grid: torch.Tensor, width: int, height: int) -> PIL.Image.Image:
    """The grid drawn at width x height (S x S sub-cells per AR cell, scaled up, nearest)."""
    S = CHAR_SUBGRID
    h, w = grid.shape
    head = pipe.semantic_head
    if head is None or tuple(head.vocab.colors) != COLOR_NAMES:
        rng = np.random.default_rng(0)
        table = rng.integers(40, 230, size=(int(grid.max()) + 1, 3), dtype=np.uint8)
        cells = table[grid.numpy()]
        pixels = np.repeat(np.repeat(cells, S, axis=0), S, axis=1)
    else:
        vle = pipe.vision_language_encoder
        codebook = F.normalize(vle.model.vqmodel.quantize.embedding.weight.float(), dim=-1)
        quantized = codebook[grid.to(codebook.device)].permute(2, 0, 1)[None]  # (1, E, h, w)
        out = head.to(quantized.device).float()(quantized)
        bg = PALETTE_RGB[out["bg"][0].argmax(-1).cpu().numpy()]  # (h, w, 3)
        fg = PALETTE_RGB[out["fg"][0].argmax(-1).cpu().numpy()]
        ink = (out["ink"][0].softmax(-1)[..., 1] > INK_PROBABILITY).cpu().numpy()  # (h, w, S*S)
        ink = ink.reshape(h, w, S, S).transpose(0, 2, 1, 3).reshape(h * S, w * S)
        up = lambda a: np.repeat(np.repeat(a, S, axis=0), S, axis=1)  # noqa: E731
        pixels = np.where(ink[..., None], up(fg), up(bg)).astype(np.uint8)
    return PIL.Image.fromarray(pixels).resize((width, height), PIL.Image.NEAREST)


def png_b64(image: PIL.Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")


def png_bytes(image: PIL.Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def draw_blueprint(pipe, prior_ids: torch.Tensor, width: int, height: int) -> PIL.Image.Image:
    """One row of DiT-grid prior ids drawn at width x height. It runs the semantic head, so
    the engine calls it on the model thread (see serve.engine on why torch stays there)."""
    return blueprint_picture(pipe, ar_grid(prior_ids, width, height), width, height)


def blueprint_payload(prior_ids: torch.Tensor, width: int, height: int, picture: PIL.Image.Image,
                      plan: str | None = None) -> dict:
    """The `blueprint` field of a response: the AR token grid, its picture (`draw_blueprint`) and the
    layout plan the grid was steered toward, if any."""
    grid = ar_grid(prior_ids, width, height)
    return {"grid": grid.tolist(), "grid_width": grid.shape[1], "grid_height": grid.shape[0],
            "b64_png": png_b64(picture), "plan": plan}
