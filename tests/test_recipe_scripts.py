"""The training recipes (scripts/train_cpu.sh, scripts/train_small.sh) refuse bad settings
before they create anything."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, env, message", [
    ("train_cpu.sh", {"PRECISION": "fp16"}, "PRECISION must be bf16 or fp32, got 'fp16'"),
    ("train_cpu.sh", {"VAE_DECODER_STEPS": "many"}, "VAE_DECODER_STEPS must be a whole number"),
    ("train_small.sh", {"PRIOR_PRECISION": "half"}, "PRIOR_PRECISION must be auto, bf16 or fp32, got 'half'"),
])
def test_bad_setting_is_a_clear_error_and_creates_nothing(tmp_path, script, env, message):
    run_dir = tmp_path / "run"
    result = subprocess.run(["bash", str(REPO / "scripts" / script), str(run_dir)], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert not run_dir.exists()
