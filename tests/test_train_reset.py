"""`blueprint train reset {dit,prior}`: fresh weights from the folder's configuration, the stage
forgotten, the rest of the folder kept; bad input changes nothing."""

import json

import pytest
import torch

from blueprint.cli import main
from blueprint.models import build_components, load_component, save_components


@pytest.fixture
def folder(tmp_path):
    """A tiny model folder whose dit and prior have 'trained' (weights of another seed)."""
    run = save_components(build_components("tiny", seed=7), tmp_path / "run")
    (run / "trained.json").write_text(json.dumps({"_config": "tiny", "dit": {"steps": 5}, "prior": {"steps": 3},
                                                  "vae": {"steps": 2}}))
    return run


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_reset_dit_builds_the_configs_fresh_dit_and_forgets_the_stage(folder, capsys):
    vae_before = load_component(folder, "vae")
    assert main(["train", "reset", "dit", str(folder), "--seed", "0"]) == 0
    assert "train it with `blueprint train dit --config tiny" in capsys.readouterr().out
    assert same_weights(load_component(folder, "transformer"), build_components("tiny", seed=0)["transformer"])
    assert same_weights(load_component(folder, "vae"), vae_before)
    assert set(json.loads((folder / "trained.json").read_text())) == {"_config", "prior", "vae"}


def test_reset_prior_keeps_the_tokenizer_and_renews_the_language_model(folder):
    before = load_component(folder, "vision_language_encoder")
    assert main(["train", "reset", "prior", str(folder), "--config", "tiny"]) == 0
    after = load_component(folder, "vision_language_encoder")
    assert same_weights(after.get_submodule("model.vqmodel"), before.get_submodule("model.vqmodel"))
    fresh = build_components("tiny", seed=0)["vision_language_encoder"]
    assert same_weights(after.get_submodule("model.language_model"), fresh.get_submodule("model.language_model"))
    assert "prior" not in json.loads((folder / "trained.json").read_text())


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, message", [
    (["dit", "{folder}", "--config", "small"], "was built with configuration 'tiny', not 'small'"),
    (["dit", "{folder}", "--prompt-merges", "10"], "--prompt-merges applies to `reset prior`"),
    (["prior", "{folder}", "--prompt-merges", "-1"], "prompt merges must be a whole number >= 0"),
    (["dit", "{folder}/transformer"], "is not a model folder"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(folder, capsys, argv, message):
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    before = snapshot(folder)
    assert main(["train", "reset", *argv]) == 2
    assert message in capsys.readouterr().err
    assert snapshot(folder) == before


def test_checkpoints_of_the_stage_are_refused(folder, capsys):
    (folder / "checkpoints" / "prior" / "step_00000005").mkdir(parents=True)  # a later run would resume them
    before = snapshot(folder)
    assert main(["train", "reset", "prior", str(folder)]) == 2
    assert "holds checkpoints of a prior run; remove them first" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_a_folder_without_a_recorded_configuration_needs_config(folder, capsys):
    (folder / "trained.json").unlink()
    assert main(["train", "reset", "dit", str(folder)]) == 2
    assert "records no configuration: pass --config" in capsys.readouterr().err
    assert main(["train", "reset", "dit", str(folder), "--config", "tiny"]) == 0
