"""The speed benchmarks (bench/) run on the tiny configuration and print their tables; bad input
is one clear line and exit status 2. They time nothing here: this only keeps them from breaking."""

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # bench/ sits beside the package, as `python -m bench.x` finds it from the root

import bench  # noqa: E402
import bench.attention  # noqa: E402
import bench.data  # noqa: E402
import bench.eval  # noqa: E402
import bench.pipeline  # noqa: E402
from blueprint.models import build_components, save_components  # noqa: E402

BENCHMARK = str(REPO / "benchmarks" / "heldout.jsonl")


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def table_rows(stdout: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")[1:-1]] for line in stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")][1:]


def test_pipeline_side_by_side_with_diffusers_on_the_same_no_glyph_dit(capsys):
    argv = ["--configs", "tiny", "--size", "128x128", "--steps", "2", "--threads", "1"]
    assert bench.run_main("bench.pipeline", bench.pipeline.main, argv) == 0
    out = capsys.readouterr().out
    assert "same DiT, built without the glyph layer" in out
    rows = table_rows(out)
    assert [r[:2] for r in rows] == [["tiny", s] for s in bench.pipeline.STAGES]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_pipeline_times_a_model_folder(tmp_path, capsys):
    model = save_components(build_components("tiny", seed=0), tmp_path / "tiny")
    argv = ["--model", str(model), "--benchmark", BENCHMARK, "--size", "256x256", "--prompts", "1",
            "--steps", "2", "--threads", "1"]
    assert bench.run_main("bench.pipeline", bench.pipeline.main, argv) == 0
    out = capsys.readouterr().out
    assert "tiny: 1 held-out prompts at 256x256" in out
    assert [r[0] for r in table_rows(out)] == list(bench.pipeline.STAGES)


def test_data_engine_speed_and_ocr_tables(capsys):
    assert bench.run_main("bench.data", bench.data.main, ["--n", "20", "--sizes", "128x128", "--ocr", "1"]) == 0
    out = capsys.readouterr().out
    assert "128x128    no" in out and "128x128   yes" in out
    assert out.strip().splitlines()[-1].split()[0] == "all"


def test_eval_harness_speed_table(capsys):
    argv = ["--benchmark", BENCHMARK, "--n", "2", "--engines", "tesseract", "--workers", "1"]
    assert bench.run_main("bench.eval", bench.eval.main, argv) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [r[:2] for r in rows] == [["tesseract", "1"]]


def test_attention_mask_pads_whole_rows_and_columns():
    mask = bench.attention.padded_causal_mask(4, 16, "cpu")
    assert mask.shape == (4, 1, 16, 16)
    assert mask[0, 0].equal(torch.ones(16, 16, dtype=torch.bool).tril())  # row 0: no padding
    pads = 3 * 16 // 8  # row 3's left padding
    assert not mask[3, 0, :pads].any() and not mask[3, 0, :, :pads].any()
    assert mask[3, 0, pads:, pads:].equal(torch.ones(16 - pads, 16 - pads, dtype=torch.bool).tril())


def test_attention_backends_table_on_the_cpu(capsys):
    argv = ["--lengths", "64", "192", "--new-lengths", "2", "--batch", "2", "--device", "cpu"]
    assert bench.run_main("bench.attention", bench.attention.main, argv) == 0
    out = capsys.readouterr().out
    nonfinite = table_rows(out.split("forward + backward")[0])
    assert [r[:2] for r in nonfinite] == [["64", "64"], ["192", "64"]]
    # the CPU's kernels give the fully masked rows finite (zero) gradients
    assert all(float(v) == 0.0 for r in nonfinite for v in r[2:])


@pytest.mark.parametrize("module, argv, message", [
    (bench.pipeline, ["--model", "default", "--prompts", "0"], "--prompts must be a positive integer"),
    (bench.pipeline, ["--size", "100x100"], "not a multiple of 32"),
    (bench.data, ["--sizes", "256x256", "nope"], "not of the form"),
    (bench.eval, ["--engines", "easyocr"], "unknown OCR engine 'easyocr'"),
    (bench.attention, ["--batch", "0", "--device", "cpu"], "--batch must be a positive integer"),
])
def test_bad_input_is_one_clear_line(capsys, module, argv, message):
    assert bench.run_main(module.__name__, module.main, argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
