"""scripts/train_report.py: the per-stage table of a model folder's training logs."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def report(*args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train_report.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def write_log(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_report_averages_the_last_lines_and_names_a_stage_that_stopped(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "decoder.jsonl", [
        {"step": 10, "loss": 9.0, "grad_norm": 9.0, "step_s": 9.0, "data_s": 9.0},
        {"step": 20, "loss": 0.5, "grad_norm": 1.0, "step_s": 8.0, "data_s": 0.1},
        {"step": 30, "loss": 0.3, "grad_norm": 3.0, "step_s": 6.0, "data_s": 0.3},
    ])
    write_log(logs / "prior.jsonl", [{"step": 5, "loss": 4.6, "grad_norm": 5.0, "step_s": 0.05, "data_s": 0.01}])
    (logs / "prior.out").write_text("train prior\nBlueprintError: the gradients are not finite at step 6\n\n")
    (tmp_path / "trained.json").write_text(json.dumps({"decoder": {"steps": 30}}))

    result = report(tmp_path, "--last", 2)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:3]}
    # decoder: 30 steps, exported at 30; the last two lines average to loss 0.4, 7 s per step
    assert rows["decoder"] == ["decoder", "30", "30", "0.4000", "2.000", "7.000", "0.200"]
    assert rows["prior"][:3] == ["prior", "5", "-"]
    assert "prior: not exported. BlueprintError: the gradients are not finite at step 6" in result.stdout


def test_a_folder_without_logs_is_an_error(tmp_path):
    result = report(tmp_path)
    assert result.returncode == 1 and "no training logs" in result.stderr
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "vae.jsonl").write_text("{not json\n")
    result = report(tmp_path)
    assert result.returncode != 0 and "vae.jsonl:1 is not a JSON line" in result.stderr
