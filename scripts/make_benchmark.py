"""Write benchmarks/heldout.jsonl: the held-out prompts and their ground-truth specs.

    python scripts/make_benchmark.py [--out benchmarks/heldout.jsonl]

Deterministic: running it again gives the same bytes (a test checks rows
against the engine, so the file cannot drift from it).
"""

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from blueprint.data.benchmark import benchmark_rows, row_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("benchmarks", "heldout.jsonl"))
    args = parser.parse_args()
    rows = list(benchmark_rows())
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(row_line(row) + "\n")
    os.replace(tmp, args.out)
    kinds = collections.Counter(r["kind"] for r in rows)
    sizes = collections.Counter(f"{r['width']}x{r['height']}" for r in rows)
    texts = collections.Counter(r["n_texts"] for r in rows)
    print(f"wrote {len(rows)} rows to {args.out}")
    print("  kinds:  ", dict(kinds))
    print("  sizes:  ", dict(sizes))
    print("  n_texts:", dict(sorted(texts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
