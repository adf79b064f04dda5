"""PyTorch datasets: an endless procedural stream, and a user's folder of pairs.

Training needs "a batch is a pure function of (seed, step, rank)", so every
sample has a global index and `sample_at(index, ...)` computes sample number
`index` from nothing else. `DesignStream` walks those indices, giving each
(DDP rank, dataloader worker) pair its own interleaved share:

    shard  = rank * num_workers + worker_id
    index  = start + shard + k * world_size * num_workers,  k = 0, 1, 2, ...
"""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from blueprint.data.engine import check_kinds, make_spec
from blueprint.data.render import render
from blueprint.data.spec import Spec
from blueprint.data.words import check_split
from blueprint.errors import BlueprintError
from blueprint.sizes import check_size

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
QUOTED = re.compile(r'"([^"]+)"')


def sample_seed(seed: int, index: int) -> int:
    """A 31-bit design seed for sample `index` of stream `seed` (stable hash, no collisions by stride)."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1


def spec_at(index: int, width: int, height: int, kinds=None, split: str = "train", seed: int = 0,
            caption_style: str = "exact") -> Spec:
    """The spec of sample `index`: kinds take turns, the design seed is hashed from (seed, index).

    Defaults (kinds=None: the original six; caption_style="exact") give the
    stream the shipped model trained on. kinds="all" adds the newer kinds;
    caption_style="user" gives short user-style prompts, "mixed" alternates
    exact and user captions by index. Both are opt-in.
    """
    if not isinstance(index, int) or index < 0:
        raise BlueprintError(f"sample index must be a non-negative integer, got {index!r}")
    kinds = check_kinds(kinds)
    if caption_style == "mixed":
        caption_style = ("exact", "user")[sample_seed(seed + 1, index) % 2]
    return make_spec(kinds[index % len(kinds)], sample_seed(seed, index), width, height, split,
                     caption_style=caption_style)


def to_pixels(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (3, H, W) in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def sample_at(index: int, width: int, height: int, kinds=None, split: str = "train", seed: int = 0,
              with_maps: bool = True, caption_style: str = "exact") -> dict:
    """Training item number `index`: a pure function of its arguments (see `spec_at` for the options)."""
    spec = spec_at(index, width, height, kinds, split, seed, caption_style)
    out = render(spec, with_maps=with_maps)
    item = {"pixels": to_pixels(out.image), "caption": spec.caption, "texts": spec.texts, "spec": spec.to_json()}
    if with_maps:
        item["element_map"] = torch.from_numpy(out.element_map.astype(np.int64))
        item["char_map"] = torch.from_numpy(out.char_map.astype(np.int64))
        item["shape_ink"] = torch.from_numpy(out.shape_ink)
    return item


class DesignStream(IterableDataset):
    """Procedural designs, sharded over DDP ranks and dataloader workers.

    length=None streams forever; otherwise indices [start, start + length)
    are split among all (rank, worker) shards, each index exactly once.
    """

    def __init__(self, width: int, height: int, kinds=None, split: str = "train", seed: int = 0,
                 rank: int = 0, world_size: int = 1, start: int = 0, length: int | None = None,
                 with_maps: bool = True, caption_style: str = "exact"):
        check_size(width, height)
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise BlueprintError(f"need 0 <= rank < world_size, got rank={rank!r}, world_size={world_size!r}")
        if length is not None and (not isinstance(length, int) or length < 0):
            raise BlueprintError(f"length must be a non-negative integer or None, got {length!r}")
        self.width, self.height = width, height
        self.kinds = check_kinds(kinds)
        self.split = check_split(split)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.start, self.length, self.with_maps = start, length, with_maps
        if caption_style not in ("exact", "user", "mixed"):
            raise BlueprintError(f"unknown caption style {caption_style!r}; expected exact, user or mixed")
        self.caption_style = caption_style  # opt-in: "exact" is the shipped model's stream

    def indices(self, worker_id: int = 0, num_workers: int = 1):
        shard = self.rank * num_workers + worker_id
        stride = self.world_size * num_workers
        index = self.start + shard
        while self.length is None or index < self.start + self.length:
            yield index
            index += stride

    def __iter__(self):
        info = get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in self.indices(worker_id, num_workers):
            yield sample_at(index, self.width, self.height, self.kinds, self.split, self.seed, self.with_maps,
                            self.caption_style)


def collate(items: list[dict]) -> dict:
    """Stack tensors, keep everything else (captions, text lists, specs) as lists."""
    if not items:
        raise BlueprintError("cannot collate an empty batch")
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if all(isinstance(v, torch.Tensor) for v in values):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise BlueprintError(f"cannot batch {key!r} of different shapes {sorted(shapes)}; give the dataset a size")
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    return batch


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height, then crop the centre."""
    scale = max(width / image.width, height / image.height)
    w, h = max(width, round(image.width * scale)), max(height, round(image.height * scale))
    image = image.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - width) // 2, (h - height) // 2
    return image.crop((left, top, left + width, top + height))


class FolderDataset(Dataset):
    """A folder of `name.png|jpg|jpeg` images, each with a `name.txt` caption.

    With width and height, images are scaled and centre-cropped to that size
    (needed to batch images of different sizes).
    """

    def __init__(self, path: str, width: int | None = None, height: int | None = None):
        if not os.path.isdir(path):
            raise BlueprintError(f"image folder {path} does not exist or is not a folder")
        if (width is None) != (height is None):
            raise BlueprintError("give both width and height, or neither")
        if width is not None:
            check_size(width, height)
        self.path, self.width, self.height = path, width, height
        names = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise BlueprintError(f"folder {path} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        missing = [n for n in names if not os.path.isfile(os.path.join(path, os.path.splitext(n)[0] + ".txt"))]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise BlueprintError(f"no caption file (.txt with the same name) for {shown} in {path}")
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        name = self.names[i]
        file = os.path.join(self.path, name)
        try:
            with Image.open(file) as im:
                image = im.convert("RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise BlueprintError(f"cannot read image {file}: {e}") from None
        if self.width is not None:
            image = fit_image(image, self.width, self.height)
        with open(os.path.join(self.path, os.path.splitext(name)[0] + ".txt"), encoding="utf-8") as f:
            caption = f.read().strip()
        if not caption:
            raise BlueprintError(f"caption file for {file} is empty")
        return {"pixels": to_pixels(image), "caption": caption, "texts": QUOTED.findall(caption), "name": name}
