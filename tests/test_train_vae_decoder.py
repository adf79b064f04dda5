"""The `vae-decoder` stage on the `tiny` configuration, on CPU: it must train the
VAE's decoder side and leave the encoder, and so the latent space the DiT works
in, bit for bit as it was."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.train import vae_decoder
from blueprint.train.loop import LoopArgs, train
from blueprint.train.model_dir import ensure_model_dir, load_component
from blueprint.train.stage import StageArgs

SIZE = (128, 128)  # the smallest size `tiny` accepts: exactly one 16-cell window


def stage_args(model_dir, **kw) -> StageArgs:
    return StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, **kw)


def test_training_changes_the_decoder_and_keeps_the_latent_space(tmp_path):
    ensure_model_dir(tmp_path, "tiny", seed=0)
    before = load_component(tmp_path, "vae")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny: the untrained vae stands in for a trained one
        result = train(vae_decoder.make_stage, stage_args(tmp_path, extra_sizes=((256, 128),)),
                       LoopArgs(steps=3, lr=1e-3, log_every=1, progress=False))
    assert result["exported"]
    after = load_component(tmp_path, "vae")
    a, b = before.state_dict(), after.state_dict()
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    trained = [k for k in a if k.startswith("decoder.")]
    assert frozen and all(torch.equal(a[k], b[k]) for k in frozen)
    assert any(not torch.equal(a[k], b[k]) for k in trained)
    assert list(after.config.latents_mean or []) == list(before.config.latents_mean or [])
    record = json.loads((tmp_path / "trained.json").read_text())
    assert record["vae-decoder"]["steps"] == 3


def test_the_loss_falls_on_a_fixed_batch(tmp_path):
    ensure_model_dir(tmp_path, "tiny", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage = vae_decoder.make_stage(stage_args(tmp_path))
    batch = stage.batch(0, 0, 1)
    assert batch["ink"].shape == (2, 1, 128, 128) and batch["ink"].any()
    params = [p for m in stage.trainable().values() for p in m.parameters()]
    assert params and all(p.requires_grad for p in params)
    assert not any(p.requires_grad for p in stage.vae.encoder.parameters())
    opt = torch.optim.AdamW(params, lr=1e-2)
    losses = []
    for _ in range(25):
        torch.manual_seed(0)  # same posterior sample and windows every step
        loss, _ = stage.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_windows_centre_on_ink_and_stay_inside():
    ink = torch.zeros(128, 256, dtype=torch.uint8)
    ink[100, 20] = 1  # one inked pixel, near the bottom-left corner
    torch.manual_seed(0)
    windows = [vae_decoder.window(ink, 8, (16, 32)) for _ in range(200)]
    assert all(t == 0 and 0 <= left <= 16 for t, left in windows)  # 16 rows: the only top is 0
    covers = sum(left * 8 <= 20 < (left + vae_decoder.CROP) * 8 for _, left in windows)
    assert covers >= 0.6 * len(windows)  # TEXT_CROPS = 0.75 of them centre on the ink
    blank = {vae_decoder.window(torch.zeros(128, 256), 8, (16, 32)) for _ in range(50)}
    assert len(blank) > 5  # without ink, anywhere
    with pytest.raises(BlueprintError, match="windows"):
        vae_decoder.window(torch.zeros(64, 64), 8, (8, 8))


def test_ink_weight_covers_letters_and_their_edges():
    ink = torch.zeros(1, 1, 16, 16)
    ink[0, 0, 8, 8] = 1
    weight = vae_decoder.ink_weight(ink, 4.0)
    margin = vae_decoder.INK_MARGIN
    assert weight[0, 0, 8, 8] == 5 and weight[0, 0, 8 + margin, 8 - margin] == 5
    assert weight[0, 0, 8 + margin + 1, 8] == 1 and weight.min() == 1


def test_negative_text_weight_is_refused(tmp_path):
    ensure_model_dir(tmp_path, "tiny", seed=0)
    with pytest.raises(BlueprintError, match="text-weight"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae_decoder.make_stage(stage_args(tmp_path, text_weight=-1))
