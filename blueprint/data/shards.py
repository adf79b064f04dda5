"""Samples as WebDataset tar shards: written once, read by training.

Each sample is stored under the key `%09d` of its global index with:
`png` (the image), `json` (the spec), `txt` (the caption), `element.png` and
`char.png` (the semantic maps as 8-bit grey PNGs). Shard k holds indices
[k * shard_size, (k + 1) * shard_size) and is written to a temporary file that
is renamed into place when complete, so a reader never sees half a shard.
Shards are reproducible: the same arguments give the same bytes.

`ShardDataset` reads a folder of shards back by sample number, as training
reads its data (`blueprint train STAGE --data SHARD_DIR`): an index of where
each member's bytes sit in its tar is built once, and each item is one seek
and read, so any dataloader worker can read any sample.
"""

from __future__ import annotations

import glob
import io
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
import webdataset as wds
from PIL import Image, UnidentifiedImageError

from blueprint.data.dataset import spec_at, to_pixels
from blueprint.data.engine import check_kinds
from blueprint.data.render import render
from blueprint.data.words import check_split
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_with
from blueprint.sizes import check_size

SHARD_PATTERN = "shard-{:06d}.tar"
SHARD_GLOB = "shard-[0-9][0-9][0-9][0-9][0-9][0-9].tar"  # finished shards only, never a .tmp
# The members training reads; `json` (the spec) stays in the shard for other readers.
READ_MEMBERS = ("png", "txt", "char.png")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast; PNG is lossless at any level
    return buffer.getvalue()


def write_shard(out_dir: str, shard: int, start: int, stop: int, width: int, height: int,
                kinds: tuple[str, ...], split: str, seed: int) -> str:
    """Write samples [start, stop) to shard number `shard`; returns the final path."""
    path = os.path.join(out_dir, SHARD_PATTERN.format(shard))

    def write(tmp) -> None:
        # mtime=0: the same arguments give byte-identical shards.
        with open(tmp, "wb") as f, wds.TarWriter(f, mtime=0) as sink:
            for index in range(start, stop):
                spec = spec_at(index, width, height, kinds, split, seed)
                out = render(spec, with_maps=True)
                sink.write({
                    "__key__": f"{index:09d}",
                    "png": png_bytes(out.image),
                    "json": spec.to_json().encode("utf-8"),
                    "txt": spec.caption.encode("utf-8"),
                    "element.png": png_bytes(Image.fromarray(out.element_map, mode="L")),
                    "char.png": png_bytes(Image.fromarray(out.char_map, mode="L")),
                })

    atomic_write_with(path, write)
    return path


def write_shards(out_dir: str, n: int, shard_size: int = 500, width: int = 256, height: int = 256,
                 kinds=None, split: str = "train", seed: int = 0, workers: int = 1,
                 progress: bool = False) -> list[str]:
    """Write n samples as ceil(n / shard_size) shards in out_dir; returns their paths."""
    for name, value in (("n", n), ("shard size", shard_size), ("workers", workers)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BlueprintError(f"{name} must be a positive integer, got {value!r}")
    check_size(width, height)
    kinds = check_kinds(kinds)
    check_split(split)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise BlueprintError(f"output {out_dir} exists and is not a folder")
    os.makedirs(out_dir, exist_ok=True)
    jobs = [(out_dir, k, start, min(n, start + shard_size), width, height, kinds, split, seed)
            for k, start in enumerate(range(0, n, shard_size))]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="shards", unit="shard")
    paths = []
    if workers == 1:
        for job in jobs:
            paths.append(write_shard(*job))
            bar and bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for path in pool.map(write_shard, *zip(*jobs)):
                paths.append(path)
                bar and bar.update(1)
    if bar is not None:
        bar.close()
    return paths


def shard_paths(folder: str) -> list[str]:
    """The finished shards in a folder, in order (empty when it holds none)."""
    return sorted(glob.glob(os.path.join(glob.escape(str(folder)), SHARD_GLOB)))


def index_shard(path: str) -> dict[str, dict[str, tuple[int, int]]]:
    """key -> {member extension: (byte offset, size)} of one tar shard."""
    index: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if member.isfile() and ext in READ_MEMBERS:
                    index.setdefault(key, {})[ext] = (member.offset_data, member.size)
    except (OSError, tarfile.TarError) as e:
        raise BlueprintError(f"cannot read shard {path}: {e}") from None
    return index


class ShardDataset(torch.utils.data.Dataset):
    """The samples of `blueprint data shards` in a folder, by number (in key order across the shards).

    An item is {"pixels": (3, H, W) in [-1, 1], "caption": str, "char_map": (H, W) int64},
    as `blueprint.data.dataset.sample_at` gives. With width and height, shards of
    another size are refused (their maps cannot be cropped like a photo).
    """

    def __init__(self, folder: str, width: int | None = None, height: int | None = None):
        paths = shard_paths(folder)
        if not paths:
            raise BlueprintError(f"folder {folder} holds no shards ({SHARD_GLOB})")
        self.folder = str(folder)
        self.items: list[tuple[str, dict[str, tuple[int, int]]]] = []
        for path in paths:
            for key, members in sorted(index_shard(path).items()):
                missing = [ext for ext in READ_MEMBERS if ext not in members]
                if missing:
                    raise BlueprintError(f"sample {key} in {path} has no {', '.join(missing)}")
                self.items.append((path, members))
        if not self.items:
            raise BlueprintError(f"the shards in {folder} hold no samples")
        self.size = self.image_size(0)
        if width is not None and self.size != (width, height):
            raise BlueprintError(f"the shards in {folder} are {self.size[0]}x{self.size[1]}; "
                                 f"train at --size {self.size[0]}x{self.size[1]} or write shards at {width}x{height}")

    def __len__(self) -> int:
        return len(self.items)

    def read(self, i: int, ext: str) -> bytes:
        path, members = self.items[i]
        offset, size = members[ext]
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def png(self, i: int, ext: str) -> Image.Image:
        try:
            image = Image.open(io.BytesIO(self.read(i, ext)))
            image.load()
        except (OSError, UnidentifiedImageError) as e:
            raise BlueprintError(f"cannot read {ext} of sample {i} in {self.items[i][0]}: {e}") from None
        return image

    def image_size(self, i: int) -> tuple[int, int]:
        return self.png(i, "png").size

    def __getitem__(self, i: int) -> dict:
        image = self.png(i, "png")
        if image.size != self.size:
            raise BlueprintError(f"sample {i} in {self.items[i][0]} is {image.size[0]}x{image.size[1]}, "
                                 f"not {self.size[0]}x{self.size[1]} as the first")
        char_map = np.asarray(self.png(i, "char.png"), dtype=np.uint8)
        return {"pixels": to_pixels(image), "caption": self.read(i, "txt").decode("utf-8"),
                "char_map": torch.from_numpy(char_map.astype(np.int64))}
