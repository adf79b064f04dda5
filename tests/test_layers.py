"""The layers hold: data -> models -> {train, pipeline, eval} -> rl -> cli (pyproject.toml's
import-linter contract), imports inside functions included."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def lint(cwd: Path, package_parent: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(package_parent))
    return subprocess.run(LINT + ["--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_layers():
    result = lint(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_model_module_that_imports_training_code_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "blueprint", tmp_path / "blueprint", ignore=shutil.ignore_patterns("weights", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # hidden inside a function, where it would not run at import time
    (tmp_path / "blueprint" / "models" / "sneaky.py").write_text(
        "def load():\n    from blueprint.train.loop import train\n    return train\n")
    result = lint(tmp_path, tmp_path)
    assert result.returncode != 0
    assert "blueprint.models.sneaky -> blueprint.train.loop" in result.stdout
