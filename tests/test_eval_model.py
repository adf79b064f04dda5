"""`blueprint eval --model`: the ground truth's blueprint and ink for --true-blueprint / --true-ink,
bad flag combinations refused before anything is written, and a tiny model generated and scored."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from blueprint.cli import main
from blueprint.cli.eval_model import true_ink, true_plans
from blueprint.data.plan_text import check_plan, quotes_of
from blueprint.data.render import render
from blueprint.eval import load_benchmark
from blueprint.models import build_components, save_components

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = REPO / "benchmarks" / "heldout.jsonl"


def test_true_ink_is_the_engine_character_map():
    rows, _ = load_benchmark(BENCHMARK)
    pair = [r for r in rows if (r.width, r.height) == (384, 256)][:2]
    renders = [render(row.spec, with_maps=True) for row in pair]
    ink = true_ink(renders)
    assert ink.shape == (2, 1, 256, 384) and ink.dtype == torch.float32
    for i, r in enumerate(renders):
        assert torch.equal(ink[i, 0] > 0, torch.from_numpy(r.char_map > 0))
        assert 0 < ink[i].sum() < 256 * 384 / 4  # letters are there, and they are a small share


def test_the_true_plan_of_every_held_out_row_is_a_plan_a_person_could_give():
    """--true-plan hands the pipeline `plan=` the rows' own plans: each must pass the check a
    given plan passes (every quote drawn, every box in the image) and draw the row's texts."""
    rows, _ = load_benchmark(BENCHMARK)
    for row, plan in zip(rows, true_plans(rows)):
        spec = check_plan(plan, quotes_of(row.prompt), row.width, row.height)
        assert sorted(e.text for e in spec.elements if e.kind == "text") == sorted(row.spec.texts)


def test_true_ink_without_true_blueprint_is_refused(tmp_path):
    out = subprocess.run([sys.executable, "-m", "blueprint.cli", "eval", "--out", str(tmp_path / "x"), "--true-ink"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--true-ink goes with --true-blueprint" in out.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra, message", [
    (["--images", "somewhere", "--steps", "4"], "--steps applies to generation"),
    (["--ground-truth", "--true-blueprint"], "--true-blueprint applies to generation"),
    (["--model", "no/such/folder"], "model folder no/such/folder does not exist"),
    (["--batch", "0"], "--batch must be a positive integer"),
    (["--steps", "0"], "steps must be an integer"),
    (["--sizes", "100x100"], "not a multiple of 32"),
    (["--per-kind", "0"], "--per-kind must be at least 1"),
    (["--device", "bogus"], "--device 'bogus' is not a torch device"),
    (["--color-plan", "nan"], "color plan must be a finite number"),
    (["--images", "somewhere", "--color-plan", "2"], "--color-plan applies to generation"),
    (["--layout-plan", "inf"], "layout plan must be a finite number"),
    (["--ground-truth", "--layout-plan", "2"], "--layout-plan applies to generation"),
    (["--images", "somewhere", "--true-plan"], "--true-plan applies to generation"),
    (["--true-plan", "--true-blueprint"], "two ways to skip the planner"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys, extra, message):
    assert main(["eval", "--benchmark", str(BENCHMARK), "--out", str(tmp_path / "x"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_tiny_model_generates_and_scores_the_picked_rows(tmp_path, capsys):
    model = save_components(build_components("tiny", seed=0), tmp_path / "tiny")
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(model), "--benchmark", str(BENCHMARK), "--out", str(out),
                 "--per-kind", "1", "--sizes", "256x256", "--limit", "2", "--steps", "2", "--batch", "2",
                 "--workers", "1", "--no-progress"]) == 0
    rows, _ = load_benchmark(BENCHMARK)
    first = [r.id for r in rows if (r.width, r.height) == (256, 256)][:1]
    report = json.loads((out / "report.json").read_text())
    ids = [im["id"] for im in report["images"]] + [s["id"] for s in report["skipped"]]
    assert len(ids) == 2 and first[0] in ids
    assert sorted(p.stem for p in (out / "images").glob("*.png")) == sorted(ids)
    run = json.loads((out / "run.json").read_text())
    assert run["n"] == 2 and run["options"]["steps"] == 2 and run["mean_seconds_per_image"] > 0
    assert "mean generation time" in capsys.readouterr().out


def test_a_row_whose_true_plan_cannot_be_written_stops_the_run_before_the_model_loads(tmp_path, capsys):
    rows = [json.loads(line) for line in BENCHMARK.read_text().splitlines()[:1]]
    rows[0]["prompt"] = "A design with no quoted text at all."
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps(rows[0]) + "\n")
    assert main(["eval", "--model", str(tmp_path / "no-model-needed-yet"), "--benchmark", str(bench),
                 "--out", str(tmp_path / "x"), "--true-plan", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--true-plan: row {rows[0]['id']}" in err and "is in no quote of the prompt" in err
    assert not (tmp_path / "x" / "images").exists()


def test_a_model_without_a_planner_follows_the_true_plans(tmp_path):
    model = save_components(build_components("tiny", seed=0), tmp_path / "tiny")
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(model), "--benchmark", str(BENCHMARK), "--out", str(out), "--per-kind", "1",
                 "--sizes", "256x256", "--limit", "2", "--steps", "1", "--true-plan", "--workers", "1",
                 "--no-progress"]) == 0
    assert len(list((out / "images").glob("*.png"))) == 2
    assert json.loads((out / "run.json").read_text())["options"]["true_plan"] is True
