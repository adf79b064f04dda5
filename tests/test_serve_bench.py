"""bench/serve.py runs end to end (tiny random model, tiny counts): not a timed test."""

import pytest

from bench.serve import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bench_serve_prints_its_table(capsys):
    assert main(["--config", "tiny", "--size", "128x128", "--steps", "1", "--requests", "2",
                 "--levels", "1", "2"]) == 0
    out = capsys.readouterr().out
    for name in ("sequential pipeline loop", "server, concurrency 1", "server, concurrency 2", "images/min"):
        assert name in out
