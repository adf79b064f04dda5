"""What the semantic tokenizer's tokens must carry: per-cell targets from the
data engine's semantic maps, and the auxiliary head that reads them back.

Each AR token covers one 32x32 px cell of the image. `cell_targets` turns the
engine's element and character maps into that cell's classes (foreground kind,
role, colours, and where characters are inked on a 4x4 sub-grid); `SemanticHead` predicts
them from the quantised token embedding alone, so the gradient teaches the
tokenizer to encode *what is where* rather than pixel detail. The head is a
training aid only (see blueprint/train/tokenizer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from blueprint.errors import BlueprintError

PX_PER_TOKEN = 32      # one AR token covers 32x32 px of the original image
CHAR_SUBGRID = 4       # ink targets on a 4x4 sub-grid of each cell (8x8 px sub-cells)
MIN_COVER = 1 / 64     # an element counts in a cell when it covers at least this fraction of it
                       # (text counts only by its ink, hence small)
MIN_INK = 4            # a sub-cell is inked when at least this many of its pixels are a character's
FG_PRIORITY = {"text": 3, "shape": 2, "bar": 2, "panel": 1}  # which element is "the" foreground of a cell


# --- semantic maps -> per-cell targets ----------------------------------------

@dataclass(frozen=True)
class SemanticVocab:
    """Class names of the head's outputs (index 0 is 'nothing' where that applies)."""

    kinds: tuple[str, ...]
    colors: tuple[str, ...]
    roles: tuple[str, ...]
    chars: int  # number of character classes, 0 = no character

    @classmethod
    def from_data(cls) -> "SemanticVocab":
        import blueprint.data as data
        from blueprint.data.colors import COLOR_NAMES
        from blueprint.data.spec import ELEMENT_KINDS

        # Roles are free strings per design kind; they are a target only once the
        # engine publishes a fixed list of them (cells with other roles get 0).
        roles = ("background",) + tuple(getattr(data, "ROLES", ()))
        # CHARSET starts with the space, so class 0 is also "no character".
        return cls(("background",) + ELEMENT_KINDS, COLOR_NAMES, roles, len(data.CHARSET))

    def to_dict(self) -> dict:
        return {"kinds": list(self.kinds), "colors": list(self.colors), "roles": list(self.roles), "chars": self.chars}


def _index(names: tuple[str, ...], name: str, what: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        raise BlueprintError(f"unknown {what} {name!r} in a spec; expected one of {', '.join(names)}") from None


def cell_targets(element_map: np.ndarray, char_map: np.ndarray, spec, vocab: SemanticVocab) -> dict[str, np.ndarray]:
    """Per-cell classes of one image: kind/fg/bg/role (gh, gw) and ink (gh, gw, S*S) in {0, 1}."""
    height, width = element_map.shape
    if height % PX_PER_TOKEN or width % PX_PER_TOKEN or char_map.shape != element_map.shape:
        raise BlueprintError(f"semantic maps {element_map.shape}/{char_map.shape} do not tile into 32-px cells")
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


def ink_presence(char_map: np.ndarray) -> np.ndarray:
    """(H/8, W/8) bool: the 8x8 sub-cells with at least MIN_INK character pixels.

    A perfect blueprint's text lines, for measuring layout and typesetting
    without a model (scripts/ceilings.py, tests/test_glyph_layer.py)."""
    sub = PX_PER_TOKEN // CHAR_SUBGRID
    h, w = char_map.shape
    return (char_map > 0).reshape(h // sub, sub, w // sub, sub).sum(axis=(1, 3)) >= MIN_INK


# --- the auxiliary head -----------------------------------------------------------

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
