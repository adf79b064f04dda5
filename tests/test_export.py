"""`blueprint export`: a tiny run written as an fp16 model folder with its head, settings and
record, loaded back and sampled; a second export replaces the first; bad targets are refused."""

import json

import pytest
import torch
from safetensors import safe_open

from blueprint.cli import main
from blueprint.models import build_components, load_components, save_components
from blueprint.models.folder import load_semantic_head, save_semantic_head
from blueprint.models.image_tokenizer import SemanticHead, SemanticVocab
from blueprint.models.planner import Planner, PlannerVocab, build_planner, load_planner, save_planner
from blueprint.models.settings import read_settings, update_settings
from blueprint.pipeline import BlueprintPipeline


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run folder as training leaves it: components, head, settings, record, checkpoints, logs."""
    run = tmp_path_factory.mktemp("export") / "run"
    components = build_components("tiny", seed=0)
    save_components(components, run)
    vq = components["vision_language_encoder"].config.vq_config
    save_semantic_head(SemanticHead(vq.embed_dim, vq.num_embeddings, SemanticVocab.from_data()), run)
    update_settings(run, prior_guidance=1.5)
    vocab = PlannerVocab(["reads"])
    save_planner(Planner(build_planner("tiny", vocab), vocab), run)
    (run / "trained.json").write_text(json.dumps({"_config": "tiny", "dit": {"steps": 2}}))
    (run / "checkpoints" / "dit" / "step_00000002").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "logs" / "dit.jsonl").write_text('{"step": 2}\n')
    return run


def test_export_writes_fp16_with_the_extras_and_loads_back(run_dir, tmp_path, capsys):
    out = tmp_path / "models" / "tiny"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    assert f"exported {run_dir} as {out}" in capsys.readouterr().out
    with safe_open(str(out / "transformer" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert not (out / "checkpoints").exists() and not (out / "logs").exists()
    with safe_open(str(out / "planner" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert load_planner(out).vocab.words == load_planner(run_dir).vocab.words
    assert json.loads((out / "trained.json").read_text())["dit"] == {"steps": 2}
    assert read_settings(out)["prior_guidance"] == 1.5
    assert load_semantic_head(out) is not None
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left behind

    original, exported = load_components(run_dir), load_components(out)
    a, b = original["transformer"].state_dict(), exported["transformer"].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-2, rtol=1e-2) for k in a)  # fp16 rounding only
    image = BlueprintPipeline.from_pretrained(out)('A sign that reads "HI"', height=128, width=128,
                                                  num_inference_steps=2, seed=0).images[0]
    assert image.size == (128, 128)


def test_a_second_export_replaces_the_first(run_dir, tmp_path):
    out = tmp_path / "tiny"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    (out / "stale.txt").write_text("from an older model")
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (out / "model_index.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_bad_input_is_a_clear_error_and_changes_nothing(run_dir, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "a").exists()

    keep = tmp_path / "documents"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    assert main(["export", str(run_dir), "--out", str(keep)]) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]

    assert main(["export", str(run_dir), "--out", str(run_dir / "export")]) == 2
    assert "overlap" in capsys.readouterr().err and not (run_dir / "export").exists()
