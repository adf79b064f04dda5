"""The experiments (experiments/) still run from their new place: bad settings are refused
before anything is made, and the quick ones run."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*argv, timeout=120):
    return subprocess.run([*map(str, argv)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("argv, message", [
    (["experiments/prior_race.sh", "{run}", "5", "many"], "MERGES must be a whole number, got 'many'"),
    (["experiments/prior_race.sh", "{run}", "0"], "MINUTES must be a positive number, got '0'"),
    (["experiments/ablation_cpu.sh", "{run}", "soon"], "MINUTES must be a positive number, got 'soon'"),
    (["experiments/ablation_cpu.sh", "{run}", "5", "{run}-base"], "no model folder at"),
])
def test_the_races_refuse_bad_settings_and_make_nothing(tmp_path, argv, message):
    argv = [a.replace("{run}", str(tmp_path / "run")) for a in argv]
    result = run("bash", *argv)
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ablation_report_names_a_bad_row():
    result = run(sys.executable, "experiments/ablation_report.py", "--out", "unused", "hybrid")
    assert result.returncode != 0 and "is not NAME=DIR" in result.stderr
    assert not (REPO / "unused").exists()


def test_ceilings_prints_the_layout_table():
    result = run(sys.executable, "experiments/ceilings.py", "--per-kind", "1", "--sizes", "256x256", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "layout: typeset from a perfect blueprint" in result.stdout and "| all |" in result.stdout


def test_plan_tokens_puts_the_stated_background_in_every_grid():
    result = run(sys.executable, "experiments/plan_tokens.py", "--per-kind", "1", "--seeds", "1",
                 "--plans", "0", "100", timeout=600)
    assert result.returncode == 0, result.stderr
    table = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    header, rows = [c.strip() for c in table[0]], {r[0].strip(): [c.strip() for c in r] for r in table[1:]}
    background = header.index("background")
    assert rows["100"][background] == "1.00"  # 100 in logits: every cell has the stated colour behind it
    assert float(rows["0"][background]) < 1.0


@pytest.mark.parametrize("argv, message", [
    (["--plans", "-1"], "color plan must be a finite number >= 0"),
    (["--seeds", "0"], "--per-kind and --seeds must be at least 1"),
])
def test_plan_tokens_refuses_bad_settings(argv, message):
    result = run(sys.executable, "experiments/plan_tokens.py", *argv)
    assert result.returncode == 2 and message in result.stderr
