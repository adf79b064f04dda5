"""`blueprint train report`: the per-stage table of a model folder's training logs."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from blueprint.cli import main


@pytest.fixture
def report(capsys):
    def run(*args):
        code = main(["train", "report", *map(str, args)])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def write_log(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_report_averages_the_last_lines_and_names_a_stage_that_stopped(tmp_path, report):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "dit.jsonl", [
        {"step": 10, "loss": 9.0, "grad_norm": 9.0, "step_s": 9.0, "data_s": 9.0},
        {"step": 20, "loss": 0.5, "grad_norm": 1.0, "step_s": 8.0, "data_s": 0.1},
        {"step": 30, "loss": 0.3, "grad_norm": 3.0, "step_s": 6.0, "data_s": 0.3},
    ])
    write_log(logs / "prior.jsonl", [{"step": 5, "loss": 4.6, "grad_norm": 5.0, "step_s": 0.05, "data_s": 0.01}])
    (logs / "prior.out").write_text("train prior\nBlueprintError: the gradients are not finite at step 6\n\n")
    (tmp_path / "trained.json").write_text(json.dumps({"dit": {"steps": 30}}))

    result = report(tmp_path, "--last", 2)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:3]}
    # dit: 30 steps, exported at 30; the last two lines average to loss 0.4, 7 s per step
    assert rows["dit"] == ["dit", "30", "30", "0.4000", "2.000", "7.000", "0.200"]
    assert rows["prior"][:3] == ["prior", "5", "-"]
    assert "prior: not exported. BlueprintError: the gradients are not finite at step 6" in result.stdout


def test_a_folder_from_before_the_renames_shows_its_stages_under_the_new_names(tmp_path, report):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "decoder.jsonl", [{"step": 4, "loss": 0.5, "grad_norm": 1.0, "step_s": 2.0, "data_s": 0.1}])
    write_log(logs / "tokenizer.jsonl", [{"step": 3, "loss": 1.5, "grad_norm": 1.0, "step_s": 1.0, "data_s": 0.1}])
    write_log(logs / "vae.jsonl", [{"step": 2, "loss": 0.1, "grad_norm": 1.0, "step_s": 1.0, "data_s": 0.1}])
    (tmp_path / "trained.json").write_text(json.dumps({"decoder": {"steps": 4}, "vae": {"steps": 2}}))

    result = report(tmp_path)
    assert result.returncode == 0, result.stderr
    table = [line.split()[:3] for line in result.stdout.splitlines()[1:4]]
    assert table == [["vae", "2", "2"], ["image-tokenizer", "3", "-"], ["dit", "4", "4"]]  # in training order
    assert "decoder" not in result.stdout and "image-tokenizer: not exported." in result.stdout


def test_a_folder_without_logs_is_an_error(tmp_path, report):
    result = report(tmp_path)
    assert result.returncode == 2 and "no training logs" in result.stderr
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "vae.jsonl").write_text("{not json\n")
    result = report(tmp_path)
    assert result.returncode == 2 and "vae.jsonl:1 is not a JSON line" in result.stderr and result.stdout == ""
    result = report(tmp_path, "--last", 0)
    assert result.returncode == 2 and "--last must be a positive integer" in result.stderr
    result = report(tmp_path / "nowhere")
    assert result.returncode == 2 and "does not exist" in result.stderr and not (tmp_path / "nowhere").exists()
