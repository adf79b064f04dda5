"""The benchmarks: prompts whose ground truth the engine can redraw.

`benchmark_rows()` lists every row of `benchmarks/heldout.jsonl` in order;
`row_line(row)` is its exact line in the file. Rows use only held-out words
(split="heldout"), one to four texts, square and non-square sizes, and every
design kind. Everything is derived from the row number, so regenerating the
file gives the same bytes, and a test can check any row against the file.
"""

from __future__ import annotations

import collections
import json
import os

from blueprint.data.engine import make_spec
from blueprint.data.kinds import MODULES
from blueprint.data.layout import Builder
from blueprint.data.spec import ALL_KINDS, KINDS
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_text

ROWS_PER_KIND = 54  # 6 kinds x 54 = 324 rows
SIZES = ((256, 256), (384, 256), (256, 384), (512, 256))
MAX_TEXTS = 4


def text_counts(kind: str) -> list[int]:
    """The numbers of texts (1..4) a kind is asked for at the smallest benchmark size."""
    module = MODULES[kind]
    lo, hi = module.TEXT_RANGE
    most = min(hi, MAX_TEXTS, module.max_texts(Builder(256, 256, None, "heldout", "white")))
    return list(range(max(1, lo), most + 1))


def benchmark_row(kind: str, i: int) -> dict:
    """Row i of a kind: size, text count and seed all follow from (kind, i)."""
    width, height = SIZES[i % len(SIZES)]
    counts = text_counts(kind)
    n_texts = counts[(i // len(SIZES)) % len(counts)]
    seed = 100_000 * (KINDS.index(kind) + 1) + i
    spec = make_spec(kind, seed, width, height, split="heldout", n_texts=n_texts)
    return {"id": f"{kind}-{i:04d}", "prompt": spec.caption, "seed": seed, "width": width, "height": height,
            "kind": kind, "n_texts": n_texts, "spec": spec.to_dict()}


def benchmark_rows(rows_per_kind: int = ROWS_PER_KIND):
    for kind in KINDS:
        for i in range(rows_per_kind):
            yield benchmark_row(kind, i)


def row_line(row: dict) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# The user-prompt benchmark: short user-style prompts over every kind, old and new.
USER_ROWS_PER_KIND = 20  # 11 kinds x 20 = 220 rows
USER_SIZES = ((512, 512), (512, 384), (384, 512), (512, 512), (768, 512))
BOOK_SIZES = ((384, 512), (512, 768), (512, 512), (384, 640))


def user_row(kind: str, i: int) -> dict:
    """Row i of a kind in benchmarks/user_prompts.jsonl: everything follows from (kind, i)."""
    sizes = BOOK_SIZES if kind == "book" else USER_SIZES
    width, height = sizes[i % len(sizes)]
    seed = 500_000 + 1000 * ALL_KINDS.index(kind) + i
    spec = make_spec(kind, seed, width, height, split="heldout", caption_style="user")
    return {"id": f"user-{kind}-{i:04d}", "prompt": spec.caption, "seed": seed, "width": width, "height": height,
            "kind": kind, "n_texts": len(spec.texts), "spec": spec.to_dict()}


def user_rows(rows_per_kind: int = USER_ROWS_PER_KIND):
    for kind in ALL_KINDS:
        for i in range(rows_per_kind):
            yield user_row(kind, i)


# Benchmark files `blueprint data benchmark` writes: name -> rows.
BENCHMARKS = {"heldout": benchmark_rows, "user_prompts": user_rows}


def write_benchmarks(out_dir: str, only=None) -> list[tuple[str, collections.Counter]]:
    """Write `{name}.jsonl` for each benchmark in `only` (default all) into out_dir.

    Every name is checked before anything is written; each file is written
    to a temporary name and moved into place, so a failure leaves old files whole.
    """
    names = list(BENCHMARKS) if not only else list(only)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise BlueprintError(f"unknown benchmark(s) {', '.join(unknown)}; expected some of {', '.join(BENCHMARKS)}")
    if not os.path.isdir(out_dir):
        raise BlueprintError(f"output folder {out_dir} does not exist")
    written = []
    for name in names:
        path = os.path.join(out_dir, f"{name}.jsonl")
        rows = list(BENCHMARKS[name]())
        atomic_write_text(path, "".join(row_line(row) + "\n" for row in rows))
        written.append((path, collections.Counter(r["kind"] for r in rows)))
    return written
