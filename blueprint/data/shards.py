"""Write samples to WebDataset tar shards.

Each sample is stored under the key `%09d` of its global index with:
`png` (the image), `json` (the spec), `txt` (the caption), `element.png` and
`char.png` (the semantic maps as 8-bit grey PNGs). Shard k holds indices
[k * shard_size, (k + 1) * shard_size) and is written to a temporary file that
is renamed into place when complete, so a reader never sees half a shard.
Shards are reproducible: the same arguments give the same bytes.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor

from PIL import Image

from blueprint.data.dataset import spec_at
from blueprint.data.engine import check_kinds
from blueprint.data.render import render
from blueprint.data.words import check_split
from blueprint.errors import BlueprintError
from blueprint.sizes import check_size

SHARD_PATTERN = "shard-{:06d}.tar"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast; PNG is lossless at any level
    return buffer.getvalue()


def write_shard(out_dir: str, shard: int, start: int, stop: int, width: int, height: int,
                kinds: tuple[str, ...], split: str, seed: int) -> str:
    """Write samples [start, stop) to shard number `shard`; returns the final path."""
    import webdataset as wds

    path = os.path.join(out_dir, SHARD_PATTERN.format(shard))
    tmp = path + ".tmp"
    try:
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
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
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
