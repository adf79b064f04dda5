"""The training recipes (scripts/train_cpu.sh, scripts/train_small.sh, scripts/phase2_gpu.sh,
scripts/finetune_all_kinds.sh) refuse bad settings before they create anything; the GPU
recipe runs end to end with --micro."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, env, message", [
    ("train_cpu.sh", {"PRECISION": "fp16"}, "PRECISION must be bf16 or fp32, got 'fp16'"),
    ("train_cpu.sh", {"VAE_DECODER_STEPS": "many"}, "VAE_DECODER_STEPS must be a whole number"),
    ("train_small.sh", {"PRIOR_PRECISION": "half"}, "PRIOR_PRECISION must be auto, bf16 or fp32, got 'half'"),
    ("finetune_all_kinds.sh", {"STEPS": "many"}, "STEPS must be a whole number"),
    ("finetune_all_kinds.sh", {}, "is not a model folder"),
])
def test_bad_setting_is_a_clear_error_and_creates_nothing(tmp_path, script, env, message):
    run_dir = tmp_path / "run"
    result = subprocess.run(["bash", str(REPO / "scripts" / script), str(run_dir)], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert not run_dir.exists()


def test_phase2_gpu_bad_minutes_creates_nothing(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(REPO / "scripts" / "phase2_gpu.sh"), str(out), "0"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "MINUTES must be a positive number, got '0'" in result.stderr
    assert not out.exists()


def test_phase2_gpu_micro_brings_back_a_model_and_images(tmp_path):
    # the one-call GPU recipe, on `tiny` on the CPU: what it leaves in OUT is all a GPU machine gives back
    out, run = tmp_path / "out", tmp_path / "run"
    result = subprocess.run(["bash", str(REPO / "scripts" / "phase2_gpu.sh"), "--micro", str(out)],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHON": sys.executable, "RUN": str(run)})
    assert result.returncode == 0, result.stderr[-2000:]
    summary = (out / "summary.md").read_text()
    assert "dit exit 0, prior exit 0" in summary and "eval: exit 0" in summary
    assert {"dit", "prior"} <= {line.split()[0] for line in summary.splitlines() if line.strip()}
    pieces = sorted(out.glob("model.tgz.*"))
    assert pieces and all(p.stat().st_size <= 15 * 2**20 for p in pieces)
    joined = tmp_path / "model.tgz"
    joined.write_bytes(b"".join(p.read_bytes() for p in pieces))
    with tarfile.open(joined) as tar:
        names = tar.getnames()
    for part in ("transformer/config.json", "vision_language_encoder/model.safetensors", "trained.json",
                 "logs/dit.jsonl", "logs/prior.jsonl"):
        assert part in names, part
    with tarfile.open(out / "images.tar.00") as tar:
        assert len([n for n in tar.getnames() if n.endswith(".png")]) == 2
