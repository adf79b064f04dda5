"""`blueprint train`: bad input is a BlueprintError that changes nothing; a
micro run trains, exports and resumes through the command line."""

from __future__ import annotations

import argparse
import json

import pytest
from PIL import Image

from blueprint.errors import BlueprintError
from blueprint.cli import train as cli


def parse(argv):
    parser = argparse.ArgumentParser(prog="blueprint")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["train", *argv])


def run(argv):
    args = parse(argv)
    return args.func(args)


@pytest.fixture
def folder_without_captions(tmp_path):
    path = tmp_path / "images"
    path.mkdir()
    Image.new("RGB", (64, 64), "white").save(path / "a.png")
    return path


@pytest.mark.parametrize("argv, message", [
    (["vae", "--config", "huge"], "unknown model configuration 'huge'"),
    (["vae", "--size", "100x100"], "not a multiple of 32"),
    (["vae", "--size", "96x96"], "out of range"),  # tiny starts at 128
    (["vae", "--size", "big"], "not of the form"),
    (["vae", "--data", "no/such/folder"], "does not exist"),
    (["vae", "--steps", "0"], "steps must be a positive integer"),
    (["vae", "--batch-size", "0"], "batch-size"),
    (["vae", "--size", "256x256,384x256"], "trains at one size"),
    (["dit", "--size", "256x256,256x256"], "lists a size twice"),
    (["dit", "--size", "256x256,100x100"], "not a multiple of 32"),
    (["dit", "--time-limit", "0"], "time-limit must be a positive number"),
    (["dit", "--batch-reuse", "0"], "batch-reuse must be a positive integer"),
    (["dit", "--text-weight", "-1"], "text-weight must be a finite number >= 0"),
    (["dit", "--edge-weight", "-0.5"], "edge-weight must be a finite number >= 0"),
    (["dit", "--edge-weight", "nan"], "edge-weight must be a finite number >= 0"),
    (["vae-decoder", "--text-weight", "inf"], "text-weight must be a finite number >= 0"),
    (["prior", "--prompt-drop", "1"], "prompt-drop must be in \\[0, 1\\)"),
    (["prior", "--token-noise", "-0.1"], "token-noise must be in \\[0, 1\\)"),
    (["prior", "--content-weight", "nan"], "content-weight must be a finite number >= 0"),
    (["dit", "--steps", "10", "--cooldown", "11"], "cooldown must be an integer in"),
    (["prior", "--kinds", "book,poem"], "unknown design kind 'poem'"),
])
def test_bad_input_is_a_clear_error_and_creates_nothing(tmp_path, argv, message):
    model_dir = tmp_path / "run"
    with pytest.raises(BlueprintError, match=message):
        run([*argv, "--model-dir", str(model_dir)])
    assert not model_dir.exists()


def test_folder_without_captions_is_refused(tmp_path, folder_without_captions):
    with pytest.raises(BlueprintError, match="caption"):
        run(["vae", "--model-dir", str(tmp_path / "run"), "--data", str(folder_without_captions)])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BlueprintError, match="no images"):
        run(["vae", "--model-dir", str(tmp_path / "run"), "--data", str(empty)])
    assert not (tmp_path / "run").exists()


def test_main_exits_2_without_traceback(tmp_path, capsys):
    from blueprint.cli import main

    assert main(["train", "decoder", "--model-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "'decoder' is now called 'dit'" in err and "Traceback" not in err


def test_an_unknown_stage_is_refused_by_the_parser_naming_the_choices(tmp_path, capsys):
    from blueprint.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "paint", "--model-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'paint'" in err and "'dit'" in err and "'report'" in err
    assert not (tmp_path / "run").exists()


def test_unknown_precision_is_refused_by_the_parser(tmp_path, capsys):
    from blueprint.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "vae", "--precision", "fp16", "--model-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_every_stage_name_resolves_to_a_factory():
    for name in cli.STAGES:
        assert callable(cli.resolve_stage(name).make_stage)


@pytest.mark.parametrize("old,new", [("decoder", "dit"), ("tokenizer", "image-tokenizer"), ("glyph", "glyph-encoder")])
def test_a_retired_stage_name_says_its_new_name_and_creates_nothing(tmp_path, old, new):
    model_dir = tmp_path / "run"
    with pytest.raises(BlueprintError, match=f"'{old}' is now called '{new}'"):
        run([old, "--config", "tiny", "--model-dir", str(model_dir)])
    assert not model_dir.exists()


def test_a_folder_trained_before_the_renames_still_reads_its_record_and_refuses_old_checkpoints(tmp_path):
    import json

    from blueprint.models import build_components, save_components
    from blueprint.train.model_dir import ensure_model_dir, mark_trained, read_trained

    run_dir = save_components(build_components("tiny", seed=0), tmp_path / "old")
    (run_dir / "trained.json").write_text(json.dumps({"_config": "tiny", "decoder": {"steps": 5}, "glyph": {"steps": 2}}))
    assert {"dit", "glyph-encoder"} <= set(read_trained(run_dir))
    mark_trained(run_dir, "prior", "tiny", 3)  # rewriting the record moves the old names over
    assert set(json.loads((run_dir / "trained.json").read_text())) == {"_config", "dit", "glyph-encoder", "prior"}
    (run_dir / "checkpoints" / "decoder" / "step_00000005").mkdir(parents=True)
    with pytest.raises(BlueprintError, match="rename it to .*checkpoints/dit"):
        ensure_model_dir(run_dir, "tiny", seed=0)


def test_dit_before_its_prerequisites_is_refused_outside_tiny(tmp_path):
    model_dir = tmp_path / "run"
    with pytest.raises(BlueprintError, match="needs the trained vae, image-tokenizer, glyph-encoder"):
        run(["dit", "--config", "small", "--model-dir", str(model_dir)])
    assert not model_dir.exists()
    with pytest.raises(BlueprintError, match="'vae-decoder' needs the trained vae in"):
        run(["vae-decoder", "--config", "small", "--model-dir", str(model_dir)])
    assert not model_dir.exists()


def test_kinds_and_caption_style_are_for_engine_data_only(tmp_path, folder_without_captions):
    (folder_without_captions / "a.txt").write_text("a white square")
    for option in (["--kinds", "book"], ["--caption-style", "user"]):
        with pytest.raises(BlueprintError, match="a data folder has its own"):
            run(["vae", "--data", str(folder_without_captions), *option, "--model-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_the_engine_stream_draws_the_kinds_and_prompt_style_asked_for():
    from blueprint.data.spec import Spec
    from blueprint.train.data import TrainImages

    def specs(**kw):
        images = TrainImages("engine", (128, 128), 4, 0, **kw)
        return images.batch(0, 0, 1)["captions"], [Spec.from_json(images.item(i, (128, 128))["spec"])
                                                    for i in range(4)]
    _, default = specs()
    assert [s.kind for s in default] == ["sign", "poster", "label", "menu"] and default[0].stated is None
    captions, books = specs(kinds="book,chalkboard", caption_style="user")
    assert [s.kind for s in books] == ["book", "chalkboard"] * 2
    assert all(s.stated is not None for s in books) and captions == [s.caption for s in books]


def test_a_resume_with_other_kinds_is_refused(tmp_path):
    base = ["vae", "--config", "tiny", "--model-dir", str(tmp_path / "run"), "--size", "128x128",
            "--batch-size", "2", "--ckpt-every", "1", "--no-progress"]
    assert run([*base, "--steps", "1", "--kinds", "book"]) == 0
    with pytest.raises(BlueprintError, match="kinds"):
        run([*base, "--steps", "2", "--kinds", "sign"])


def test_micro_run_trains_exports_and_resumes(tmp_path, capsys):
    model_dir = tmp_path / "run"
    base = ["glyph-encoder", "--config", "tiny", "--model-dir", str(model_dir), "--batch-size", "4",
            "--log-every", "1", "--ckpt-every", "2", "--no-progress"]
    assert run([*base, "--steps", "2"]) == 0
    assert "trained glyph-encoder to step 2" in capsys.readouterr().out
    assert run([*base, "--steps", "3"]) == 0  # resumes at 2, trains one more step
    steps = [json.loads(line)["step"] for line in (model_dir / "logs" / "glyph-encoder.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert json.loads((model_dir / "trained.json").read_text())["glyph-encoder"]["steps"] == 3
    assert run([*base, "--steps", "3"]) == 0  # finished already: nothing to train, exports again
    assert "trained glyph-encoder to step 3;" in capsys.readouterr().out
    assert len((model_dir / "logs" / "glyph-encoder.jsonl").read_text().splitlines()) == 3
    from blueprint.models import load_components
    assert load_components(model_dir)["text_encoder"] is not None
