"""Speed benchmarks: each prints a table, none is a timed test.

    python -m bench.pipeline --configs tiny small --size 256x256 --threads 2   # per-stage latency vs diffusers
    python -m bench.pipeline --model default --size 256x256 --threads 2        # a trained model folder
    python -m bench.data --n 300                                               # data engine images per second
    python -m bench.eval --n 24                                                # evaluation harness seconds per image

Run from the repository root. They sit outside the `blueprint` package
because they join its layers (pipeline, eval, data) freely, as the command
line does; tests/test_bench.py runs each on the tiny configuration so none
breaks unnoticed.
"""

from __future__ import annotations

import sys
from typing import Callable

from blueprint.errors import BlueprintError


def run_main(prog: str, main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """`main(argv)`, with a BlueprintError printed as one line and exit status 2, as `blueprint` does."""
    try:
        return main(argv) or 0
    except BlueprintError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
