"""The vae, glyph and decoder stages on the `tiny` configuration, on CPU.

Each stage must overfit one fixed batch (same data, same noise every step):
its loss falls by a stated factor within a few dozen steps. Exports must land
in the model folder in diffusers layout; a resumed decoder run (noise,
timesteps, condition drop and EMA all random) must match a straight one.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.train import dit, glyph_encoder, vae
from blueprint.train.loop import LoopArgs, train
from blueprint.train.model_dir import (
    ensure_model_dir,
    fresh_dit,
    fresh_prior,
    load_component,
    mark_trained,
    read_trained,
    require_trained,
    save_component,
)
from blueprint.models.grid import upsample_prior_tokens
from blueprint.train.data import to_uint8
from blueprint.train.stage import StageArgs
from blueprint.models.image_tokenizer import image_tokens

SIZE = (128, 128)  # the smallest size `tiny` accepts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    ensure_model_dir(path, "tiny", seed=0)
    return path


def overfit(stage, batch: dict, steps: int, lr: float) -> list[float]:
    """Plain AdamW on one batch, reseeding before each step so the problem is fixed."""
    params = [p for m in stage.trainable().values() for p in m.parameters() if p.requires_grad]
    for m in stage.trainable().values():
        m.train()
    opt = torch.optim.AdamW(params, lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(0)
        loss, metrics = stage.loss(batch)
        assert all(isinstance(v, float) for v in metrics.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def args_for(model_dir, batch_size):
    return StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=batch_size)


def test_vae_overfits_a_fixed_batch(model_dir):
    stage = vae.make_stage(args_for(model_dir, 1))
    batch = stage.batch(0, 0, 1)
    assert batch["pixels"].shape == (1, 3, *SIZE[::-1]) and batch["pixels"].abs().max() <= 1
    batch = {"pixels": torch.nn.functional.avg_pool2d(batch["pixels"], 2)}  # 64x64 keeps the test fast
    losses = overfit(stage, batch, steps=30, lr=1e-2)
    assert losses[-1] < losses[0] / 3, losses


def test_glyph_overfits_a_fixed_batch(model_dir):
    stage = glyph_encoder.make_stage(args_for(model_dir, 8))
    batch = stage.batch(0, 0, 1)
    assert len(set(batch["words"])) == 8 and batch["crops"].shape == (8, 1, glyph_encoder.CROP_H, glyph_encoder.CROP_W)
    assert stage.batch(0, 0, 1)["words"] == batch["words"] and stage.batch(1, 0, 1)["words"] != batch["words"]
    losses = overfit(stage, batch, steps=15, lr=2e-3)
    assert losses[-1] < losses[0] / 10, losses


def test_glyph_words_respect_the_split():
    import random

    from blueprint.data.words import text_split_ok
    words = glyph_encoder.draw_words(random.Random(0), "heldout", 20)
    assert all(text_split_ok(w, "heldout") for w in words)


def test_decoder_overfits_a_fixed_batch(model_dir):
    with pytest.warns(UserWarning, match="untrained"):
        stage = dit.make_stage(args_for(model_dir, 2))
    batch = stage.batch(0, 0, 1)
    cond = stage.conditions(batch, torch.tensor([False, True]))
    assert cond["latents"].shape == (2, 4, 16, 16)
    assert cond["prior"].shape == (2, 64) and int(cond["prior"].max()) < 128  # 4x4 AR grid, x2 upsampled
    # the data workers' image processing gives the codes the tokenizer gives the images themselves
    codes = image_tokens(stage.vle, stage.image_processor, list(to_uint8(batch["pixels"]).numpy()), 4, 4)
    assert torch.equal(cond["prior"], upsample_prior_tokens(codes, 4, 4))
    assert cond["glyphs"].shape[0] == 2
    losses = overfit(stage, batch, steps=25, lr=1e-2)
    assert losses[-1] < losses[0] / 2.5, losses


def test_text_weight_marks_inked_cells_and_their_neighbours():
    ink = torch.zeros(1, 1, 64, 64)
    ink[0, 0, 20, 21] = 1  # one ink pixel in latent cell (2, 2) of an x8 grid
    weight = dit.text_weight_map(ink, 8, 4.0)
    assert weight.shape == (1, 1, 8, 8)
    heavy = (weight[0, 0] == 5).nonzero().tolist()
    assert heavy == [[r, c] for r in (1, 2, 3) for c in (1, 2, 3)]  # the cell and its 8 neighbours
    assert int((weight == 1).sum()) == 64 - 9
    assert torch.equal(dit.text_weight_map(ink, 8, 0.0), torch.ones(1, 1, 8, 8))


def test_text_weight_changes_the_loss_only_where_there_is_ink(model_dir):
    with pytest.warns(UserWarning, match="untrained"):
        plain = dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, text_weight=0))
    batch = plain.batch(0, 0, 1)
    assert batch["ink"].sum() > 0
    torch.manual_seed(0)
    plain_loss, metrics = plain.loss(batch)
    assert plain_loss.item() == pytest.approx(metrics["mse"], rel=1e-5)  # weight 0: the plain MSE
    plain.text_weight = 4.0
    torch.manual_seed(0)
    weighted_loss, metrics = plain.loss(batch)
    assert weighted_loss.item() != pytest.approx(metrics["mse"], rel=1e-3)
    empty = dict(batch, ink=torch.zeros_like(batch["ink"]))
    torch.manual_seed(0)
    loss, metrics = plain.loss(empty)  # no text anywhere: every cell weighs the same
    assert loss.item() == pytest.approx(metrics["mse"], rel=1e-5)


def test_edges_mark_the_outline_of_a_shape_and_not_flat_colour():
    pixels = torch.full((1, 3, 128, 128), -0.2)
    assert dit.near_edges(pixels, 8).sum() == 0  # one flat colour: no edge anywhere
    pixels[:, 0, 32:96, 32:96] = 0.9                  # a red square over latent cells 4..11
    near = dit.near_edges(pixels, 8)[0, 0]
    assert near.shape == (16, 16)
    assert near[4, 8] == 1 and near[8, 4] == 1 and near[3, 8] == 1  # its outline, and the cells beside it
    assert near[8, 8] == 0 and near[0, 0] == 0 and near[8, 14] == 0  # its flat inside, the flat background
    pixels[:, 1, :, :64] += 0.1                       # a faint step (shading, noise) is no edge
    assert torch.equal(dit.near_edges(pixels, 8)[0, 0], near)


def test_edge_weight_changes_the_loss(model_dir):
    with pytest.warns(UserWarning, match="untrained"):
        stage = dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2))
    batch = stage.batch(0, 0, 1)
    torch.manual_seed(0)
    text_only, _ = stage.loss(batch)
    stage.edge_weight = 4.0
    torch.manual_seed(0)
    with_edges, _ = stage.loss(batch)
    assert with_edges.item() != pytest.approx(text_only.item(), rel=1e-4)
    flat = dict(batch, pixels=torch.zeros_like(batch["pixels"]))  # no edge anywhere: the weight has nothing to add
    torch.manual_seed(0)
    a, _ = stage.loss(flat)
    stage.edge_weight = 0.0
    torch.manual_seed(0)
    b, _ = stage.loss(flat)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_shape_ink_trains_a_shape_plane_on_a_share_of_the_images(model_dir):
    with pytest.warns(UserWarning, match="untrained"):
        stage = dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=4))
    assert stage.planes == 1
    batch = stage.batch(0, 0, 1)
    assert batch["shape_ink"].shape == batch["ink"].shape
    assert torch.equal(stage.ink(batch), batch["ink"].float())  # letters alone, as before
    with pytest.warns(UserWarning, match="untrained"):
        stage = dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=4, shape_ink=0.5))
    assert stage.planes == 2 and stage.glyph_channels == 2 * 64
    shapes = torch.zeros_like(batch["ink"])
    shapes[:, :, 100:110, 10:120] = 1  # a bar under every image's text
    batch = dict(batch, shape_ink=shapes)
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):  # each image draws its own: with its shapes, or an empty shape plane
        ink = stage.ink(batch)
        assert torch.equal(ink[:, :1], batch["ink"].float())
        seen |= {bool(plane.any()) for plane in ink[:, 1]}
    assert seen == {True, False}
    loss, _ = stage.loss(batch)
    assert torch.isfinite(loss)
    with pytest.raises(BlueprintError, match="shape-ink"):
        dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, shape_ink=1.5))


def test_a_new_shape_plane_changes_nothing_until_trained(model_dir):
    from blueprint.models.glyph_layer import fold_ink, with_shape_plane

    one = load_component(model_dir, "transformer").eval()
    two = with_shape_plane(one, 8).eval()
    assert two.config.in_channels == one.config.in_channels + 64
    torch.manual_seed(0)
    latents = torch.randn(1, one.config.out_channels, 16, 16)
    letters, shapes = (torch.rand(1, 1, 128, 128) > 0.7).float(), torch.ones(1, 1, 128, 128)
    inputs = dict(encoder_hidden_states=torch.randn(1, 5, one.config.text_embed_dim),
                  prior_token_id=torch.zeros(1, 64, dtype=torch.long), prior_token_drop=torch.zeros(1, 64, dtype=torch.bool),
                  timestep=torch.tensor([500.0]), target_size=torch.tensor([[128.0, 128.0]]),
                  crop_coords=torch.zeros(1, 2), return_dict=False)
    with torch.no_grad():
        a = one(hidden_states=torch.cat([latents, fold_ink(letters, 8)], 1), **inputs)[0]
        b = two(hidden_states=torch.cat([latents, fold_ink(torch.cat([letters, shapes], 1), 8)], 1), **inputs)[0]
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(BlueprintError, match="one plane"):
        with_shape_plane(two, 8)


def test_batch_reuse_shares_the_batch_and_its_encodings(model_dir, monkeypatch):
    with pytest.warns(UserWarning, match="untrained"):
        stage = dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, batch_reuse=2))
    first, second, third = (stage.batch(step, 0, 1) for step in (4, 5, 6))
    assert torch.equal(first["pixels"], second["pixels"]) and not torch.equal(first["pixels"], third["pixels"])
    calls = []
    encode = stage.vae.encode
    monkeypatch.setattr(stage.vae, "encode", lambda x: calls.append(1) or encode(x))
    torch.manual_seed(0)
    a, _ = stage.loss(first)
    b, _ = stage.loss(second)   # same images, fresh noise and timesteps: another loss, no new encoding
    assert len(calls) == 1 and a.item() != b.item()
    stage.loss(third)
    assert len(calls) == 2
    fresh = stage.encoded({k: v for k, v in second.items() if k != "key"})  # uncached: the cache holds
    stage._encoded = None                                                   # exactly what encoding gives
    assert torch.equal(stage.encoded(first)["latents"], fresh["latents"])


def test_negative_text_weight_is_refused(model_dir):
    with pytest.raises(BlueprintError, match="text-weight"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dit.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, text_weight=-1))


def test_prerequisites_error_outside_tiny(tmp_path):
    with pytest.raises(BlueprintError, match="blueprint train vae"):
        require_trained(tmp_path, "dit", dit.NEEDS, "small")
    for name in dit.NEEDS:
        mark_trained(tmp_path, name, "small", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        require_trained(tmp_path, "dit", dit.NEEDS, "small")


def test_vae_export_writes_latent_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(vae, "STATS_IMAGES", 8)
    out = tmp_path / "run"
    result = train(vae.make_stage, args_for(out, 1), LoopArgs(steps=2, log_every=1, progress=False))
    assert result["exported"]
    config = json.loads((out / "vae" / "config.json").read_text())
    assert len(config["latents_mean"]) == len(config["latents_std"]) == 4
    assert config["latents_std"] != [1.0] * 4 and all(s > 0 for s in config["latents_std"])
    reloaded = load_component(out, "vae")  # the folder stays loadable
    assert list(reloaded.config.latents_mean) == config["latents_mean"]
    assert "vae" in json.loads((out / "trained.json").read_text())


def test_glyph_export_measures_heldout_words(tmp_path):
    out = tmp_path / "run"
    train(glyph_encoder.make_stage, args_for(out, 8), LoopArgs(steps=2, log_every=1, progress=False))
    report = json.loads((out / "logs" / "glyph-encoder-eval.json").read_text())
    assert report["heldout_words"] == glyph_encoder.EVAL_WORDS
    assert 0 <= report["text_to_glyph_top1"] <= report["text_to_glyph_top5"] <= 1
    assert (out / "text_encoder" / "model.safetensors").is_file()


def test_decoder_resume_is_exact_and_exports_loadable_ema(tmp_path):
    def run(out, stop_after=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return train(dit.make_stage, args_for(out, 1),
                         LoopArgs(steps=4, ckpt_every=2, log_every=1, stop_after=stop_after, progress=False))

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run(straight)
    run(resumed, stop_after=3)
    run(resumed)
    log = lambda p: [json.loads(line)["loss"] for line in (p / "logs" / "dit.jsonl").read_text().splitlines()]  # noqa: E731
    assert len(log(straight)) == 4 and log(straight) == log(resumed)
    a = load_component(straight, "transformer").state_dict()
    b = load_component(resumed, "transformer").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    from blueprint.models import load_components
    assert load_components(straight)["transformer"] is not None


def test_fresh_dit_resets_the_dit_and_keeps_the_rest(tmp_path):
    from blueprint.models import build_components

    out = tmp_path / "run"
    ensure_model_dir(out, "tiny", seed=0)
    trained = load_component(out, "transformer")
    with torch.no_grad():  # stand-in for a trained DiT, and a trained text encoder beside it
        for p in trained.parameters():
            p.add_(1.0)
    save_component(trained, out, "transformer")
    text_before = (out / "text_encoder" / "model.safetensors").read_bytes()
    for name in ("vae", "dit"):
        mark_trained(out, name, "tiny", 10)

    (out / "checkpoints" / "dit").mkdir(parents=True)
    (out / "checkpoints" / "dit" / "step-00000010").mkdir()
    with pytest.raises(BlueprintError, match="checkpoints"):
        fresh_dit(out, "tiny")
    assert "dit" in read_trained(out)  # the refused call changed nothing
    (out / "checkpoints" / "dit" / "step-00000010").rmdir()

    fresh_dit(out, "tiny", seed=0)
    fresh = load_component(out, "transformer").state_dict()
    reference = build_components("tiny", seed=0)["transformer"].state_dict()
    assert all(torch.equal(fresh[k], reference[k]) for k in reference)
    assert set(read_trained(out)) == {"_config", "vae"}
    assert (out / "text_encoder" / "model.safetensors").read_bytes() == text_before
    with pytest.raises(BlueprintError, match="not a model folder"):
        fresh_dit(tmp_path / "missing", "tiny")


def test_fresh_prior_resets_the_language_model_keeps_the_tokenizer_and_can_add_words(tmp_path, monkeypatch):
    import blueprint.train.model_dir as model_dir_module
    from blueprint.train.loop import LoopArgs, train
    from blueprint.train.prior import make_stage

    monkeypatch.setattr(model_dir_module, "MERGE_CAPTIONS", 200)  # merges from fewer captions: faster
    out = tmp_path / "run"
    ensure_model_dir(out, "tiny", seed=0)
    trained = load_component(out, "vision_language_encoder")
    with torch.no_grad():  # stand-in for a trained prior over a trained tokenizer
        for p in trained.parameters():
            p.add_(1.0)
    save_component(trained, out, "vision_language_encoder")
    for name in ("image-tokenizer", "prior"):
        mark_trained(out, name, "tiny", 10)

    (out / "checkpoints" / "prior" / "step-00000010").mkdir(parents=True)
    with pytest.raises(BlueprintError, match="checkpoints"):
        fresh_prior(out, "tiny", prompt_merges=30)
    (out / "checkpoints" / "prior" / "step-00000010").rmdir()
    with pytest.raises(BlueprintError, match="merges"):
        fresh_prior(out, "tiny", prompt_merges=-1)
    assert "prior" in read_trained(out)  # the refused calls changed nothing
    assert len(load_component(out, "processor").tokenizer) == trained.get_input_embeddings().num_embeddings

    fresh_prior(out, "tiny", seed=0, prompt_merges=30)
    vle, tokenizer = load_component(out, "vision_language_encoder"), load_component(out, "processor").tokenizer
    for part in ("model.visual", "model.vqmodel"):  # the semantic tokenizer is kept
        kept, before = vle.get_submodule(part).state_dict(), trained.get_submodule(part).state_dict()
        assert all(torch.equal(kept[k], before[k]) for k in before)
    assert not torch.equal(vle.lm_head.weight, trained.lm_head.weight)
    assert len(tokenizer) == vle.get_input_embeddings().num_embeddings == len(trained.get_input_embeddings().weight) + 30
    assert "Ġon" in tokenizer.tokenize("a sign on a wall")
    assert set(read_trained(out)) == {"_config", "image-tokenizer"}
    # the prior stage trains on the new vocabulary
    result = train(make_stage, StageArgs(config="tiny", out_dir=out, size=SIZE, batch_size=2),
                   LoopArgs(steps=2, ckpt_every=2, log_every=1, progress=False))
    assert result["exported"] and read_trained(out)["prior"]["steps"] == 2
