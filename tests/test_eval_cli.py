"""`blueprint eval` end to end, and the `evaluate` Python API, on a 4-row benchmark."""

import json
from pathlib import Path

import pytest
from PIL import Image

from blueprint.cli import main
from blueprint.data import make_spec, render
from blueprint.eval import evaluate, load_benchmark, row_from_spec
from blueprint.errors import BlueprintError

ROWS = [("sign", 1), ("chart", 2), ("scene", 3), ("label", 4)]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A benchmark file and an image folder: one good image, one at twice the size,
    one missing, one that is not an image."""
    root = tmp_path_factory.mktemp("bench")
    images = root / "images"
    images.mkdir()
    specs = [make_spec(kind, seed, 256, 256, split="heldout") for kind, seed in ROWS]
    rows = [row_from_spec(s) for s in specs]
    (root / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    render(specs[0]).image.save(images / f"{rows[0]['id']}.png")
    render(specs[1]).image.resize((512, 512)).save(images / f"{rows[1]['id']}.png")
    (images / f"{rows[3]['id']}.png").write_bytes(b"not a png")
    return root, [r["id"] for r in rows]


def test_cli_scores_a_folder_and_reports_what_it_skipped(bench, tmp_path, capsys):
    root, ids = bench
    out = tmp_path / "report"
    rc = main(["eval", "--images", str(root / "images"), "--benchmark", str(root / "bench.jsonl"),
               "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "partial evaluation: 2 of 4 images skipped" in captured.err
    report = json.loads((out / "report.json").read_text())
    assert report["n_scored"] == 2 and report["n_skipped"] == 2
    assert {(s["id"], s["reason"]) for s in report["skipped"]} == {(ids[2], "missing"), (ids[3], "unreadable")}
    assert report["resized"] == [{"id": ids[1], "from": [512, 512], "to": [256, 256]}]
    assert report["summary"]["overall"]["tesseract"]["word_accuracy"] >= 0.8
    md = (out / "report.md").read_text()
    assert "| kind | size | word acc | NED | exact | adherence | n |" in md
    assert "| sign | 256x256 |" in md and "## Skipped (2)" in md
    for name in ("metrics.png", "grid.png"):
        with Image.open(out / name) as im:
            assert im.width > 100


def test_cli_ground_truth_with_kinds_and_limit(bench, tmp_path):
    root, ids = bench
    out = tmp_path / "gt"
    rc = main(["eval", "--ground-truth", "--benchmark", str(root / "bench.jsonl"), "--out", str(out),
               "--kinds", "chart", "scene", "--limit", "1", "--no-progress"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert [im["id"] for im in report["images"]] == [ids[1]]
    assert report["summary"]["overall"]["adherence"] == 1.0


@pytest.mark.parametrize("make_dir, problem", [
    (lambda p: p / "nope", "does not exist"),
    (lambda p: p, "has no .png images"),
])
def test_cli_bad_image_folder_is_a_clear_error(bench, tmp_path, capsys, make_dir, problem):
    root, _ = bench
    rc = main(["eval", "--images", str(make_dir(tmp_path)), "--benchmark", str(root / "bench.jsonl"),
               "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_bad_rows_stop_or_are_skipped(bench, tmp_path, capsys):
    root, _ = bench
    bad = tmp_path / "bad.jsonl"
    bad.write_text((root / "bench.jsonl").read_text() + '{"id": "x"}\n')
    args = ["eval", "--ground-truth", "--benchmark", str(bad), "--out", str(tmp_path / "out"),
            "--limit", "1", "--no-progress"]
    assert main(args) == 2
    assert f"{bad}, line 5: missing field(s)" in capsys.readouterr().err
    assert main(args + ["--skip-bad-rows"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["bad_rows"][0]["line"] == 5


def test_cli_rejects_unknown_kind(bench, tmp_path, capsys):
    root, _ = bench
    rc = main(["eval", "--ground-truth", "--benchmark", str(root / "bench.jsonl"), "--out", str(tmp_path),
               "--kinds", "painting"])
    assert rc == 2 and "unknown kind(s) painting" in capsys.readouterr().err


def test_cli_kinds_takes_the_new_kinds(tmp_path):
    """--kinds knows every kind of the engine, not only the held-out benchmark's first six."""
    user = Path(__file__).resolve().parents[1] / "benchmarks" / "user_prompts.jsonl"
    rc = main(["eval", "--ground-truth", "--benchmark", str(user), "--out", str(tmp_path),
               "--kinds", "wallsign", "--limit", "1", "--no-progress"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert rc == 0 and [im["kind"] for im in report["images"]] == ["wallsign"]


def test_evaluate_python_api_with_in_memory_images(bench):
    root, ids = bench
    rows, _ = load_benchmark(root / "bench.jsonl")
    spec = rows[0].spec
    report = evaluate({ids[0]: render(spec).image}, rows[:2], engines=("tesseract",), workers=1)
    assert [r.id for r in report.results] == [ids[0]]
    assert [s.id for s in report.skipped] == [ids[1]]
    assert report.results[0].text["tesseract"].word_accuracy == 1.0
    with pytest.raises(BlueprintError, match="unknown OCR engine"):
        evaluate({}, rows, engines="easyocr")
    with pytest.raises(BlueprintError, match="none of the 1 benchmark rows has a usable image"):
        evaluate({"other": render(spec).image}, rows[:1])


def test_the_grid_shows_prices_read_as_text(tmp_path):
    """Two dollar signs in what OCR read must not be taken for matplotlib's mathtext (which
    stopped a whole evaluation at its last step)."""
    from blueprint.eval.report import Report
    from blueprint.eval.score import ImageResult, TextScores

    read = TextScores("tesseract", ['$6.75"', "i", "KETTLE", "$79.75,", "|"], 0.5, 0.5, None)
    result = ImageResult("menu-0000", "menu", 64, 64, {"tesseract": read}, [], None, 0.1)
    Report(("tesseract",), [result]).plot_grid(tmp_path / "grid.png", {"menu-0000": Image.new("RGB", (64, 64))})
    with Image.open(tmp_path / "grid.png") as im:
        assert im.width > 100
