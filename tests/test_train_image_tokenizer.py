"""The `tokenizer` stage: processor-exact grids, per-cell targets, overfitting, restarts, export."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blueprint.data.spec import Element, Spec
from blueprint.errors import BlueprintError
from blueprint.models.folder import load_component, load_semantic_head
from blueprint.models.image_tokenizer import SemanticVocab, grid_pixel_values, image_tokens
from blueprint.train.semantic_targets import cell_targets
from blueprint.models import build_components, load_components, save_components
from blueprint.train import image_tokenizer as T
from blueprint.train.stage import StageArgs

SIZE = (128, 128)  # a 4x4 token grid


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    path = tmp_path_factory.mktemp("tokenizer") / "run"
    save_components(build_components("tiny", seed=0), path)
    return path


def make(out_dir: Path, batch_size: int = 4) -> T.ImageTokenizerStage:
    return T.make_stage(StageArgs(config="tiny", out_dir=out_dir, size=SIZE, batch_size=batch_size))


def test_grid_pixel_values_equal_the_processor(model_dir):
    image_processor = load_component(model_dir, "processor").image_processor
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (128, 192, 3), dtype=np.uint8))
    ours, grid = grid_pixel_values([image], 4, 6, image_processor)
    official = image_processor(images=[image], return_tensors="pt")
    assert grid.tolist() == official["image_grid_thw"].tolist() == [[1, 4, 6]]
    torch.testing.assert_close(ours, official["pixel_values"])
    # the preview grid: the image resized to 16*32 px per side, above the processor's own size clamp
    preview, grid = grid_pixel_values([image, image], 13, 19, image_processor)
    assert grid.tolist() == [[1, 13, 19]] * 2 and preview.shape[0] == 2 * 13 * 19


def test_image_tokens_equal_the_official_path(model_dir):
    vle = load_component(model_dir, "vision_language_encoder")
    image_processor = load_component(model_dir, "processor").image_processor
    images = [Image.new("RGB", (128, 128), c) for c in ((200, 30, 30), (30, 30, 200))]
    ours = image_tokens(vle, image_processor, images, 4, 4)
    inputs = image_processor(images=images, return_tensors="pt")
    with torch.no_grad():
        features = vle.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
        official = vle.get_image_tokens(features)
    assert ours.shape == (2, 16)
    assert torch.equal(ours.reshape(-1), official)


def test_cell_targets_of_a_hand_made_design():
    vocab = SemanticVocab(("background", "text", "shape", "bar", "panel"), ("red", "blue", "white"), ("background",),
                            5)
    spec = Spec(kind="sign", layout="x", seed=0, width=64, height=64, background="white",
                background_rgb=[245, 245, 245], caption='"A"', elements=[
                    Element(id=1, kind="panel", role="board", box=[32, 0, 64, 64], color="blue", rgb=[0, 0, 255]),
                    Element(id=2, kind="text", role="title", box=[40, 40, 48, 48], color="red", rgb=[255, 0, 0],
                            text="A", font="sans", font_size=8),
                ])
    element_map = np.zeros((64, 64), np.uint8)
    element_map[:, 32:] = 1
    element_map[40:48, 40:48] = 2  # 64 px of text ink in the bottom-right cell
    char_map = np.zeros((64, 64), np.uint8)
    char_map[40:48, 40:48] = 3
    t = cell_targets(element_map, char_map, spec, vocab)
    assert t["kind"].tolist() == [[0, 4], [0, 1]]  # background | panel ; background | text (over the panel)
    assert t["fg"].tolist() == [[2, 1], [2, 0]]    # white (bg colour) | blue ; white | red
    assert t["bg"].tolist() == [[2, 2], [2, 1]]    # the text's cell has the blue panel behind it
    # the ink is sub-cell (row 1, col 1) of cell (1, 1): 8-px sub-cells, row-major
    ink = t["ink"]
    assert ink.shape == (2, 2, 16)
    assert ink[1, 1].tolist() == [0] * 5 + [1] + [0] * 10
    assert ink[0].sum() == 0 and ink[1, 0].sum() == 0
    with pytest.raises(BlueprintError, match="tile"):
        cell_targets(element_map[:60], char_map[:60], spec, vocab)


def test_tokenizer_overfits_a_fixed_batch(model_dir):
    torch.manual_seed(0)
    stage = make(model_dir)
    batch = stage.batch(0, 0, 1)
    assert batch["kind"].shape == (4, 4, 4) and batch["ink"].shape == (4, 4, 4, 16)
    assert (batch["ink"] > 0).any() and (batch["kind"] > 0).any()
    modules = stage.trainable()
    assert set(modules) == {"visual", "vqmodel", "semantic_head"}
    lm_before = stage.vle.lm_head.weight.clone()
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    for m in modules.values():
        m.train()
    opt = torch.optim.AdamW(params, lr=3e-3)
    losses, accs = [], []
    for step in range(25):
        batch["step"] = step
        loss, metrics = stage.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        accs.append(metrics["acc_inked"])
        assert metrics["codes_used"] >= 1 and metrics["perplexity"] >= 1
    assert losses[-1] < losses[0] / 2, losses  # measured: 15.5 -> 6.8
    assert accs[-1] > accs[0] + 0.3
    assert metrics["codes_restarted"] == 0 and "codes_alive" in metrics
    assert torch.equal(stage.vle.lm_head.weight, lm_before)  # the language model is not this stage's


def test_dead_codes_restart_on_encoder_outputs(model_dir):
    stage = make(model_dir, batch_size=2)
    batch = stage.batch(0, 0, 1)
    weight = stage.vle.model.vqmodel.quantize.embedding.weight
    before = weight.detach().clone()
    stage.head.last_used[:] = 0
    stage.head.last_used[:3] = T.RESTART_EVERY  # three codes were used recently
    batch["step"] = T.RESTART_EVERY
    loss, metrics = stage.loss(batch)
    assert metrics["codes_restarted"] == stage.num_codes - 3
    assert torch.equal(weight[:3], before[:3])
    moved = weight[3:].detach()
    assert not torch.allclose(moved, before[3:])
    # restarted codes sit exactly on (unit) encoder outputs of this batch
    torch.testing.assert_close(moved.norm(dim=-1), torch.ones(len(moved)))
    assert (stage.head.last_used == T.RESTART_EVERY).all()
    assert torch.isfinite(loss)


def test_evaluate_reports_accuracy_and_usage(model_dir):
    stage = make(model_dir, batch_size=2)
    held_out = T.draw_samples(stage.args, [0, 1, 2], split="heldout")
    report = stage.evaluate(held_out, batch_size=2)
    for key in ("acc_kind", "acc_fg", "acc_bg", "acc_ink", "acc_inked", "codes_used", "perplexity"):
        assert key in report
    assert 0.0 <= report["acc_kind"] <= 1.0 and 1 <= report["codes_used"] <= stage.num_codes


def test_train_through_the_loop_exports_the_tokenizer(tmp_path):
    from blueprint.cli import main

    run = tmp_path / "run"
    code = main(["train", "image-tokenizer", "--config", "tiny", "--model-dir", str(run), "--steps", "3",
                 "--size", "128x128", "--batch-size", "2", "--log-every", "1", "--no-progress"])
    assert code == 0
    fresh = build_components("tiny", seed=0)["vision_language_encoder"]
    vle = load_component(run, "vision_language_encoder")
    changed = [not torch.equal(a, b) for a, b in zip(vle.model.visual.parameters(), fresh.model.visual.parameters())]
    assert any(changed)
    # the rest of the AR model is kept as it was
    assert torch.equal(vle.lm_head.weight, fresh.lm_head.weight)
    head = load_semantic_head(run)
    assert head.heads["kind"].out_features == 5
    components = load_components(run)  # the folder still loads as a whole
    assert torch.equal(components["vision_language_encoder"].model.vqmodel.quantize.embedding.weight,
                       vle.model.vqmodel.quantize.embedding.weight)
    assert (run / "logs" / "image-tokenizer.jsonl").read_text().count("\n") == 3


def test_tokenizer_refuses_bad_input(tmp_path, model_dir):
    with pytest.raises(BlueprintError, match="semantic maps"):
        T.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, data=str(tmp_path)))
    with pytest.raises(BlueprintError, match="multiple of 32"):
        T.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=(130, 128)))
    with pytest.raises(BlueprintError, match="vision_language_encoder"):
        T.make_stage(StageArgs(config="tiny", out_dir=tmp_path, size=SIZE))
