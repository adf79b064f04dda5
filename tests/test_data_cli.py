"""`blueprint data preview | shards` from the command line, and its errors."""

import os

import pytest
from PIL import Image

from blueprint.cli import main


def test_preview_writes_a_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["data", "preview", "-o", str(out), "--n", "3", "--size", "128x256", "--kinds", "chart", "sign"]) == 0
    image = Image.open(out)
    assert image.width > 128 * 2 and image.height > 256
    assert str(out) in capsys.readouterr().out


def test_shards_command(tmp_path):
    out = tmp_path / "s"
    assert main(["data", "shards", str(out), "--n", "3", "--shard-size", "2", "--size", "128x128"]) == 0
    assert sorted(os.listdir(out)) == ["shard-000000.tar", "shard-000001.tar"]


@pytest.mark.parametrize("args, message", [
    (["data", "preview", "--kinds", "poem"], "unknown design kind 'poem'"),
    (["data", "preview", "--size", "200x256"], "multiple of 32"),
    (["data", "preview", "--size", "2048x2048"], "out of range"),
    (["data", "preview", "--n", "0"], "--n must be"),
    (["data", "preview", "--split", "test"], "unknown split"),
    (["data", "shards", "OUT", "--n", "-5"], "n must be a positive integer"),
])
def test_bad_input_exits_2(tmp_path, capsys, args, message):
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    if args[1] == "preview":
        args += ["-o", str(tmp_path / "p.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "p.png").exists()


def test_preview_of_a_new_kind_with_user_captions(tmp_path, capsys):
    from blueprint.data.dataset import spec_at
    from blueprint.data.preview import CAPTION_FONT, CAPTION_LINES, GUTTER
    from blueprint.data.render import render

    out = tmp_path / "user.png"
    assert main(["data", "preview", "-o", str(out), "--n", "2", "--size", "128x128", "--kinds", "chalkboard",
                 "--captions", "user"]) == 0
    assert str(out) in capsys.readouterr().out
    image = Image.open(out)
    # Two cells side by side, each the sample plus its caption lines under it.
    cell_h = 128 + 6 + CAPTION_LINES * (CAPTION_FONT[1] + 3)
    assert image.format == "PNG" and image.size == (GUTTER + 2 * (128 + GUTTER), 2 * GUTTER + cell_h)
    for i in range(2):
        spec = spec_at(i, 128, 128, kinds=("chalkboard",), caption_style="user")
        assert spec.kind == "chalkboard"
        x = GUTTER + i * (128 + GUTTER)
        assert image.convert("RGB").crop((x, GUTTER, x + 128, GUTTER + 128)).tobytes() == render(spec).image.tobytes()


def test_preview_with_a_bad_kind_writes_nothing(tmp_path, capsys):
    out = tmp_path / "user.png"
    assert main(["data", "preview", "-o", str(out), "--n", "2", "--size", "128x128", "--kinds", "chalkboard",
                 "blackboard", "--captions", "user"]) == 2
    err = capsys.readouterr().err
    assert "unknown design kind 'blackboard'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
