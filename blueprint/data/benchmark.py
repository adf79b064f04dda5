"""The held-out benchmark: prompts whose ground truth the engine can redraw.

`benchmark_rows()` lists every row of `benchmarks/heldout.jsonl` in order;
`row_line(row)` is its exact line in the file. Rows use only held-out words
(split="heldout"), one to four texts, square and non-square sizes, and every
design kind. Everything is derived from the row number, so regenerating the
file gives the same bytes, and a test can check any row against the file.
"""

from __future__ import annotations

import json

from blueprint.data.engine import make_spec
from blueprint.data.kinds import MODULES
from blueprint.data.layout import Builder
from blueprint.data.spec import KINDS

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
