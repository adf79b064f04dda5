"""scripts/eval_model.py: the ground truth's blueprint and ink for --true-blueprint / --true-ink,
and a bad flag combination refused."""

import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from eval_model import true_ink  # noqa: E402

from blueprint.data.render import render  # noqa: E402
from blueprint.eval import load_benchmark  # noqa: E402


def test_true_ink_is_the_engine_character_map():
    rows, _ = load_benchmark(REPO / "benchmarks" / "heldout.jsonl")
    pair = [r for r in rows if (r.width, r.height) == (384, 256)][:2]
    renders = [render(row.spec, with_maps=True) for row in pair]
    ink = true_ink(renders)
    assert ink.shape == (2, 1, 256, 384) and ink.dtype == torch.float32
    for i, r in enumerate(renders):
        assert torch.equal(ink[i, 0] > 0, torch.from_numpy(r.char_map > 0))
        assert 0 < ink[i].sum() < 256 * 384 / 4  # letters are there, and they are a small share


def test_true_ink_without_true_blueprint_is_refused(tmp_path):
    out = subprocess.run([sys.executable, "scripts/eval_model.py", "--out", str(tmp_path / "x"), "--true-ink"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--true-ink goes with --true-blueprint" in out.stderr
    assert not (tmp_path / "x").exists()
