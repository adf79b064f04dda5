"""scripts/prior_loss.py on the embedded model: the held-out loss of a trained prior beats chance."""

import math
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "scripts/prior_loss.py", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_embedded_prior_beats_chance_on_held_out_rows():
    out = run("--per-kind", "1", "--sizes", "256x256")
    assert out.returncode == 0, out.stderr
    rows = {m[1]: (float(m[2]), m[3]) for m in re.finditer(r"\| (preview|full|first token) \| ([\d.]+) \| ([\d.]*) ?\|",
                                                          out.stdout)}
    assert set(rows) == {"preview", "full", "first token"}, out.stdout
    chance = math.log(1024)  # the small codebook
    assert all(ce < chance / 2 for ce, _ in rows.values()), rows
    assert float(rows["full"][1]) > 0.3  # top-1 accuracy on the grid the decoder reads
    assert "6 held-out rows" in out.stdout


def test_bad_arguments_are_refused_with_a_message():
    out = run("--batch", "0")
    assert out.returncode == 2 and "prior_loss: error" in out.stderr
    out = run("--sizes", "128x128")
    assert out.returncode == 2 and "no benchmark rows" in out.stderr
