"""Training images for the pixel stages (vae, vae-decoder, dit, prior): engine, shards or folder.

A batch is a pure function of (seed, step, rank, world size): sample number
`(step * world_size + rank) * batch_size + i` of the procedural engine
(`blueprint.data.dataset.sample_at`), of a folder of tar shards written by
`blueprint data shards` (`ShardDataset`, cycled in key order: the engine's
samples, maps included, rendered once ahead of training), or of a user's
folder of image + caption files (`FolderDataset`, cycled in sorted order).
Folder images are scaled to cover the training size and centre-cropped, so
the decoder's `crop_coords` stay (0, 0) as at sampling time; shards must be
at the training size.
"""

from __future__ import annotations

from pathlib import Path

import torch

from blueprint.data.dataset import FolderDataset, sample_at
from blueprint.data.engine import check_kinds
from blueprint.data.spec import CAPTION_STYLES
from blueprint.data.shards import ShardDataset, shard_paths
from blueprint.errors import BlueprintError


def check_data(data: str, size: tuple[int, int] | None = None) -> None:
    """'engine', or an existing folder of shards or of image + caption pairs; BlueprintError otherwise."""
    if data == "engine":
        return
    if not Path(data).is_dir():
        raise BlueprintError(f"data folder {data!r} does not exist (or pass --data engine for procedural data)")
    open_folder(data, size)


def open_folder(data: str, size: tuple[int, int] | None):
    """The samples of a data folder: its shards if it holds any, else its image + caption pairs."""
    width, height = size if size is not None else (None, None)
    if shard_paths(data):
        return ShardDataset(str(data), width, height)  # raises BlueprintError: another size, torn samples
    return FolderDataset(str(data), width, height)  # raises BlueprintError: no images, missing captions


def check_engine_stream(data: str, kinds: str | None, caption_style: str) -> None:
    """The engine's kinds and caption style are known, and asked for only of engine data."""
    if caption_style not in CAPTION_STYLES + ("mixed",):
        raise BlueprintError(f"unknown caption style {caption_style!r}; expected exact, user or mixed")
    if data != "engine" and (kinds is not None or caption_style != "exact"):
        raise BlueprintError("--kinds and --caption-style choose the engine's designs; a data folder has its own")
    check_kinds(kinds)


def sample_indices(step: int, rank: int, world_size: int, batch_size: int) -> list[int]:
    first = (step * world_size + rank) * batch_size
    return list(range(first, first + batch_size))


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) in [-1, 1] -> (..., H, W, 3) uint8 (exact for pixels made from uint8)."""
    return ((pixels + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).movedim(-3, -1)


class TrainImages:
    """Deterministic batches of {"pixels": (B, 3, H, W) in [-1, 1], "captions": [str]}.

    With `extra_sizes`, step k draws at ([size] + extra_sizes)[k % n] (engine
    data only), so one run learns square and non-square layouts.

    With `with_ink`, batches also hold "ink": (B, 1, H, W) uint8, 1 where a
    character is drawn (the engine's character map), and "shape_ink": 1 where
    a bar, arrow, shape or rule is (`render.shape_ink_map`). A folder has no
    such maps, so its ink is all zeros: the decoder sees no glyph layer for
    it; shards keep the engine's character maps (not its shape ink), so theirs
    is the real letters' ink.
    """

    def __init__(self, data: str, size: tuple[int, int], batch_size: int, seed: int, with_ink: bool = False,
                 extra_sizes: tuple[tuple[int, int], ...] = (), kinds: str | None = None,
                 caption_style: str = "exact"):
        if extra_sizes and data != "engine":
            raise BlueprintError("training at several sizes needs --data engine (a folder's images are of one size)")
        check_data(data)
        check_engine_stream(data, kinds, caption_style)
        self.data, self.size, self.batch_size, self.seed = data, size, batch_size, seed
        self.kinds, self.caption_style = kinds, caption_style
        self.sizes = [tuple(size)] + [tuple(s) for s in extra_sizes]
        self.with_ink = with_ink
        self.folder = None if data == "engine" else open_folder(data, size)

    def size_at(self, step: int) -> tuple[int, int]:
        return self.sizes[step % len(self.sizes)]

    def item(self, index: int, size: tuple[int, int]) -> dict:
        if self.folder is None:
            width, height = size
            return sample_at(index, width, height, self.kinds, seed=self.seed, with_maps=self.with_ink,
                             caption_style=self.caption_style)
        return self.folder[index % len(self.folder)]

    def batch(self, step: int, rank: int, world_size: int) -> dict:
        size = self.size_at(step)
        items = [self.item(i, size) for i in sample_indices(step, rank, world_size, self.batch_size)]
        out = {"pixels": torch.stack([it["pixels"] for it in items]), "captions": [it["caption"] for it in items]}
        if self.with_ink:
            width, height = size
            out["ink"] = torch.stack([
                (it["char_map"] > 0).to(torch.uint8)[None] if "char_map" in it
                else torch.zeros(1, height, width, dtype=torch.uint8)
                for it in items
            ])
            out["shape_ink"] = torch.stack([
                it["shape_ink"].to(torch.uint8)[None] if "shape_ink" in it
                else torch.zeros(1, height, width, dtype=torch.uint8)
                for it in items
            ])
        return out
