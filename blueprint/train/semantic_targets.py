"""What the image tokenizer's tokens must carry: per-cell targets from the data
engine's semantic maps, and the losses of the semantic head that reads them back.

Each AR token covers one PX_PER_TOKEN-square cell of the image. `cell_targets`
turns the engine's element and character maps into that cell's classes
(foreground kind, role, colours, and where characters are inked on a
CHAR_SUBGRID-square sub-grid); the semantic head
(blueprint.models.image_tokenizer.SemanticHead) predicts them from the
quantised token embedding alone, so the gradient teaches the tokenizer to
encode *what is where* rather than pixel detail.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from blueprint.errors import BlueprintError
from blueprint.sizes import PX_PER_TOKEN
from blueprint.models.image_tokenizer import CHAR_SUBGRID, MIN_INK, SemanticVocab

MIN_COVER = 1 / 64     # an element counts in a cell when it covers at least this fraction of it
                       # (text counts only by its ink, hence small)
FG_PRIORITY = {"text": 3, "shape": 2, "bar": 2, "panel": 1}  # which element is "the" foreground of a cell


# --- semantic maps -> per-cell targets ----------------------------------------

def _index(names: tuple[str, ...], name: str, what: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise BlueprintError(f"unknown {what} {name!r} in a spec; expected one of {', '.join(names)}") from None


def cell_targets(element_map: np.ndarray, char_map: np.ndarray, spec, vocab: SemanticVocab) -> dict[str, np.ndarray]:
    """Per-cell classes of one image: kind/fg/bg/role (gh, gw) and ink (gh, gw, S*S) in {0, 1}."""
    height, width = element_map.shape
    if height % PX_PER_TOKEN or width % PX_PER_TOKEN or char_map.shape != element_map.shape:
        raise BlueprintError(f"semantic maps {element_map.shape}/{char_map.shape} do not tile into {PX_PER_TOKEN}-px cells")
    gh, gw = height // PX_PER_TOKEN, width // PX_PER_TOKEN
    elements = {e.id: e for e in spec.elements}
    ids = element_map.astype(np.int64)
    n_ids = max(int(ids.max()), max(elements, default=0)) + 1
    # counts[i, j, k]: pixels of element k in cell (i, j)
    cells = ids.reshape(gh, PX_PER_TOKEN, gw, PX_PER_TOKEN).transpose(0, 2, 1, 3).reshape(gh * gw, -1)
    flat = cells + np.arange(gh * gw)[:, None] * n_ids
    counts = np.bincount(flat.ravel(), minlength=gh * gw * n_ids).reshape(gh, gw, n_ids)

    background = _index(vocab.colors, spec.background, "colour")
    out = {k: np.zeros((gh, gw), np.int64) for k in ("kind", "role")}
    out["fg"] = np.full((gh, gw), background, np.int64)
    out["bg"] = np.full((gh, gw), background, np.int64)
    min_pixels = MIN_COVER * PX_PER_TOKEN * PX_PER_TOKEN
    for i in range(gh):
        for j in range(gw):
            present = [k for k in np.nonzero(counts[i, j, 1:] >= min_pixels)[0] + 1 if k in elements]
            if not present:
                continue
            fg = max(present, key=lambda k: (FG_PRIORITY[elements[k].kind], counts[i, j, k]))
            out["kind"][i, j] = _index(vocab.kinds, elements[fg].kind, "element kind")
            out["role"][i, j] = vocab.roles.index(elements[fg].role) if elements[fg].role in vocab.roles else 0
            out["fg"][i, j] = _index(vocab.colors, elements[fg].color, "colour")
            panels = [k for k in present if k != fg and elements[k].kind == "panel"]
            if panels:
                behind = max(panels, key=lambda k: counts[i, j, k])
                out["bg"][i, j] = _index(vocab.colors, elements[behind].color, "colour")

    # ink: 1 where an 8x8 sub-cell holds at least MIN_INK pixels of one character. Which
    # character it is stays out of the tokens: the glyph layer (blueprint.models.glyph_layer)
    # typesets the letters; the blueprint only has to say where text goes.
    sub = PX_PER_TOKEN // CHAR_SUBGRID
    sh, sw = gh * CHAR_SUBGRID, gw * CHAR_SUBGRID
    chars = char_map.astype(np.int64)
    if chars.min() < 0 or chars.max() >= vocab.chars:
        raise BlueprintError(f"character map has classes outside [0, {vocab.chars})")
    subcells = chars.reshape(sh, sub, sw, sub).transpose(0, 2, 1, 3).reshape(sh * sw, -1)
    flat = subcells + np.arange(sh * sw)[:, None] * vocab.chars
    ccounts = np.bincount(flat.ravel(), minlength=sh * sw * vocab.chars).reshape(sh * sw, vocab.chars)
    ccounts[:, 0] = 0
    best = ccounts.argmax(1)
    best[ccounts.max(1) < MIN_INK] = 0
    # (sh, sw) -> (gh, gw, S*S): each cell's sub-cells in row-major order
    best = best.reshape(gh, CHAR_SUBGRID, gw, CHAR_SUBGRID).transpose(0, 2, 1, 3).reshape(gh, gw, -1)
    out["ink"] = (best > 0).astype(np.int64)
    return out


def semantic_losses(logits: dict, targets: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of per-cell cross-entropies, plus accuracies.

    Most sub-cells are blank, so the ink gets a second cross-entropy over the
    inked sub-cells alone: without it "blank everywhere" is a cheap optimum.
    `acc_inked` is the accuracy on inked sub-cells (the recall of text).
    """
    total = 0.0
    metrics = {}
    for name, lg in logits.items():
        tg = targets[name]
        loss = F.cross_entropy(lg.reshape(-1, lg.shape[-1]).float(), tg.reshape(-1))
        total = total + loss
        metrics[f"loss_{name}"] = loss.item()
        metrics[f"acc_{name}"] = (lg.argmax(-1) == tg).float().mean().item()
    ink = targets["ink"] > 0
    if bool(ink.any()):
        inked = logits["ink"][ink].float()
        loss = F.cross_entropy(inked, targets["ink"][ink])
        total = total + loss
        metrics["loss_inked"] = loss.item()
        metrics["acc_inked"] = (inked.argmax(-1) == targets["ink"][ink]).float().mean().item()
    return total, metrics


def code_stats(tokens: torch.Tensor, num_codes: int) -> dict[str, float]:
    counts = torch.bincount(tokens.reshape(-1), minlength=num_codes).float()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return {"codes_used": float((counts > 0).sum()), "perplexity": float(entropy.exp())}
