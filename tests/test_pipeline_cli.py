"""`blueprint generate` end to end on a saved tiny model folder (in-process)."""

import pytest
import torch
from PIL import Image

from blueprint import cli
from blueprint.models import build_components, save_components
from blueprint.models import folder


@pytest.fixture(scope="module", autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_components(build_components("tiny", seed=0), tmp_path_factory.mktemp("cli") / "tiny")


def generate(*args):
    return cli.main(["generate", *map(str, args)])


def test_generate_batch_with_progress_bars(model_dir, tmp_path, capsys):
    out = tmp_path / "imgs" / "sign.png"
    rc = generate('A red sign that reads "OPEN"', "-o", out, "--model", model_dir, "--size", "192x128",
                  "--seed", 0, "--steps", 2, "--guidance", 1.5, "--temperature", 0.8, "--top-p", 0.9,
                  "--batch", 2, "--threads", 1)
    assert rc == 0
    captured = capsys.readouterr()
    assert "AR prior tokens" in captured.err and "denoising steps" in captured.err
    paths = [tmp_path / "imgs" / "sign-0.png", tmp_path / "imgs" / "sign-1.png"]
    for p in paths:
        assert Image.open(p).size == (192, 128)
        assert str(p) in captured.out


def test_default_model_is_used_once_installed(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "DEFAULT_MODEL_DIR", model_dir)
    out = tmp_path / "a.png"
    assert generate("hello", "-o", out, "--size", "128x128", "--steps", 1, "--threads", 1, "-q") == 0
    assert Image.open(out).size == (128, 128)


def test_no_model_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(folder, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    assert generate("hello", "-o", tmp_path / "a.png") == 2
    err = capsys.readouterr().err
    assert "no default model" in err and "--model" in err
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("args,match", [
    (["--size", "250x256"], "not a multiple of 32"),
    (["--size", "big"], "not of the form"),
    (["--steps", "0"], "steps"),
    (["--batch", "0"], "--batch"),
    (["--color-plan", "-1"], "color plan must be"),
    (["--color-plan", "2"], "semantic head"),  # this tiny folder has none
    (["--layout-plan", "-1"], "layout plan must be"),
    (["--layout-plan", "2"], "trained planner"),  # nor a planner
    (["-o", "out.txt"], "must end in .png"),
])
def test_bad_arguments(model_dir, tmp_path, capsys, args, match):
    args = ["-o", tmp_path / "a.png", *args] if "-o" not in args else args
    assert generate("hello", "--model", model_dir, "-q", *args) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_bad_precision_is_refused_before_loading(model_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate("hello", "--model", model_dir, "-o", tmp_path / "a.png", "--precision", "fp16")
    assert exit_info.value.code == 2 and "invalid choice: 'fp16'" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_broken_model_folder(model_dir, tmp_path, capsys):
    import shutil

    broken = shutil.copytree(model_dir, tmp_path / "broken")
    (broken / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    assert generate("hello", "--model", broken, "-o", tmp_path / "a.png") == 2
    assert "diffusion_pytorch_model.safetensors is missing" in capsys.readouterr().err
