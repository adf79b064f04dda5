"""experiments/prior_loss.py on the embedded model: the held-out loss of a trained prior beats chance,
and it rises when the targets follow another row's prompt (the prior reads its prompt)."""

import math
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "experiments/prior_loss.py", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def table(out):
    assert out.returncode == 0, out.stderr
    rows = {m[1]: (float(m[2]), m[3]) for m in re.finditer(r"\| (preview|full|first token) \| ([\d.]+) \| ([\d.]*) ?\|",
                                                          out.stdout)}
    assert set(rows) == {"preview", "full", "first token"}, out.stdout
    return rows


def test_embedded_prior_beats_chance_on_held_out_rows():
    out = run("--per-kind", "1", "--sizes", "256x256")
    rows = table(out)
    chance = math.log(1024)  # the small codebook
    assert all(ce < chance / 2 for ce, _ in rows.values()), rows
    assert float(rows["full"][1]) > 0.3  # top-1 accuracy on the grid the decoder reads
    assert "6 held-out rows" in out.stdout


def test_another_rows_prompt_costs_loss():
    own = table(run("--per-kind", "1", "--sizes", "256x256"))
    other = table(run("--per-kind", "1", "--sizes", "256x256", "--prompts", "other"))
    # the first token is mostly the background colour, which the prompt names
    assert other["first token"][0] > own["first token"][0] + 1.0, (own, other)
    assert other["full"][0] > own["full"][0], (own, other)


def test_given_prompts_pairs_each_row_with_another_of_its_size():
    sys.path.insert(0, str(REPO / "experiments"))
    from blueprint.eval import load_benchmark
    from prior_loss import BENCHMARK, given_prompts

    rows = load_benchmark(BENCHMARK)[0][:40]
    other = given_prompts(rows, "other")
    assert all(other[r.id] != r.prompt for r in rows)
    assert sorted(other.values()) == sorted(r.prompt for r in rows)  # every prompt used once
    size = {r.prompt: (r.width, r.height) for r in rows}
    assert all(size[other[r.id]] == (r.width, r.height) for r in rows)
    assert set(given_prompts(rows, "empty").values()) == {""}
    assert all(given_prompts(rows, "true")[r.id] == r.prompt for r in rows)


def test_bad_arguments_are_refused_with_a_message():
    out = run("--batch", "0")
    assert out.returncode == 2 and "prior_loss: error" in out.stderr
    out = run("--sizes", "128x128")
    assert out.returncode == 2 and "no benchmark rows" in out.stderr
