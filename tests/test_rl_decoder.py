"""GRPO on the DiT (stage `rl-dit`): the SDE step's density, its noise-free limit against the
pipeline's sampler, per-sample seeds, the decoder's reward, the update's direction, a tiny run
through the training loop that resumes bit-identically, and the refusals."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blueprint.data.dataset import spec_at
from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.models import upsample_prior_tokens
from blueprint.models.folder import load_component
from blueprint.pipeline import BlueprintPipeline
from blueprint.rl import decoder, flow_sde
from blueprint.rl.decoder_reward import ImageReward, decoder_reward
from blueprint.train.loop import LoopArgs, train
from blueprint.train.stage import StageArgs

SIZE = (128, 128)  # 4x4 AR grid, 8x8 DiT patches


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, one_torch_thread, make_rl_folder) -> Path:
    return make_rl_folder(tmp_path_factory.mktemp("rl-dit") / "model")


@pytest.fixture(scope="module")
def pipe(model_dir) -> BlueprintPipeline:
    return BlueprintPipeline.from_pretrained(model_dir)


def random_prior(batch: int, seed: int = 0) -> torch.Tensor:
    grid = torch.randint(0, 128, (batch, 16), generator=torch.Generator().manual_seed(seed))
    return upsample_prior_tokens(grid, 4, 4)


# --- the SDE step --------------------------------------------------------------

def test_the_step_log_prob_is_the_gaussian_density_of_its_sample():
    g = torch.Generator().manual_seed(0)
    x, v = torch.randn(3, 4, 5, 5, generator=g), torch.randn(3, 4, 5, 5, generator=g)
    sigma, sigma_next, sigma_max = torch.tensor(0.6), torch.tensor(0.45), torch.tensor(0.9)
    step = flow_sde.sde_step(x, v, sigma, sigma_next, sigma_max, 0.7, generator=torch.Generator().manual_seed(5))
    sigma_t = 0.7 * math.sqrt(0.6 / 0.4)
    torch.testing.assert_close(step.std, torch.tensor(sigma_t * math.sqrt(0.15)))
    dt = -0.15
    mean = x + (v + sigma_t ** 2 / (2 * 0.6) * (x + 0.4 * v)) * dt  # the SDE drift, written the other way
    torch.testing.assert_close(step.mean, mean)
    # the sample is the mean plus std times the generator's noise
    noise = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(step.next, mean + step.std * noise)
    direct = torch.distributions.Normal(step.mean, step.std).log_prob(step.next).mean(dim=(1, 2, 3))
    torch.testing.assert_close(step.log_prob, direct)
    # a given next latent is scored, not resampled; its density falls away from the mean
    far = flow_sde.sde_step(x, v, sigma, sigma_next, sigma_max, 0.7, next_latents=step.next + 1.0)
    assert torch.equal(far.next, step.next + 1.0) and bool((far.log_prob < step.log_prob).all())
    # at sigma = 1 the noise level takes the schedule's second sigma (it would be infinite)
    first = flow_sde.sde_step(x, v, torch.tensor(1.0), sigma_max, sigma_max, 0.7)
    torch.testing.assert_close(first.std, torch.tensor(0.7 * math.sqrt(1 / 0.1) * math.sqrt(0.1)))


def test_at_noise_level_zero_the_step_is_the_euler_step():
    g = torch.Generator().manual_seed(1)
    x, v = torch.randn(2, 4, 6, 6, generator=g), torch.randn(2, 4, 6, 6, generator=g)
    sigmas = torch.tensor([0.8, 0.55])
    step = flow_sde.sde_step(x, v, sigmas[0], sigmas[1], torch.tensor(0.9), 0.0)
    assert torch.equal(step.next, x + (sigmas[1] - sigmas[0]) * v)
    assert step.log_prob is None and float(step.std) == 0.0


def test_at_noise_level_zero_a_run_is_the_pipelines_images(pipe):
    prompts, seeds = ['A red sign that says "OPEN"', 'A poster titled "JAZZ NIGHT"'], [3, 8]
    prior = random_prior(2)
    out = pipe(prompts, width=SIZE[0], height=SIZE[1], seed=seeds, num_inference_steps=3, guidance_scale=3.0,
               prior_token_ids=prior)
    cond = flow_sde.conditions(pipe, prompts, prior, *SIZE, 3.0)
    traj = flow_sde.sample(pipe, pipe.transformer, cond, seeds, 3, *SIZE, 0.0)
    ours = pipe.decode_latents(traj.latents[:, -1])
    for a, b in zip(out.images, ours):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert traj.latents.shape[:2] == (2, 4) and bool(traj.log_probs.isnan().all())


def test_a_sample_depends_on_its_seed_only(pipe):
    prompts, prior = ['A red sign that says "OPEN"', 'A blue card that says "HI THERE"'], random_prior(2)
    pair = flow_sde.sample(pipe, pipe.transformer, flow_sde.conditions(pipe, prompts, prior, *SIZE, 3.0),
                           [11, 12], 3, *SIZE, 0.7)
    alone_cond = flow_sde.conditions(pipe, prompts[1:], prior[1:], *SIZE, 3.0)
    alone = flow_sde.sample(pipe, pipe.transformer, alone_cond, [12], 3, *SIZE, 0.7)
    again = flow_sde.sample(pipe, pipe.transformer, alone_cond, [12], 3, *SIZE, 0.7)
    other = flow_sde.sample(pipe, pipe.transformer, alone_cond, [13], 3, *SIZE, 0.7)
    assert torch.equal(alone.latents, again.latents) and torch.equal(alone.log_probs, again.log_probs)
    # batched matmuls may round differently in the last bits; nothing else differs
    torch.testing.assert_close(pair.latents[1], alone.latents[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pair.log_probs[1], alone.log_probs[0], atol=1e-5, rtol=1e-5)
    assert (other.latents[0, -1] - alone.latents[0, -1]).abs().mean() > 0.1
    assert torch.isfinite(pair.log_probs).all()


# --- the reward ----------------------------------------------------------------

def test_the_ground_truth_scores_higher_than_a_blank_image():
    spec = next(s for s in (spec_at(i, 256, 256) for i in range(12)) if s.texts)
    truth = decoder_reward(render(spec).image, spec)
    blank = decoder_reward(Image.new("RGB", (256, 256), tuple(spec.background_rgb)), spec)
    assert truth.text > 0.5 and blank.text == 0.0  # the OCR read the true image's text
    assert truth.adherence > blank.adherence
    assert truth.score > blank.score
    assert truth.score == pytest.approx((0.7 * truth.text + 0.3 * truth.adherence) / 1.0)
    words = decoder_reward(render(spec).image, spec, text_metric="word_accuracy", adherence_weight=0.0)
    assert words.adherence is None and words.score == words.text
    pixels_only = decoder_reward(render(spec).image, spec, text_weight=0.0)
    assert pixels_only.text is None and pixels_only.words == [] and pixels_only.score == truth.adherence
    with pytest.raises(BlueprintError, match="its spec 256x256"):
        decoder_reward(Image.new("RGB", (128, 128)), spec)


# --- the stage -----------------------------------------------------------------

def brightness(images, specs):
    """A reward that always differs between images: their mean brightness."""
    return [ImageReward(float(np.asarray(im, dtype=np.float32).mean() / 255), None, None) for im in images]


def stage_of(folder: Path, rl: decoder.DitRLArgs, fake_reward: bool = False):
    def make(args):
        stage = decoder.make_stage(args, rl)
        if fake_reward:
            stage.score_images = brightness
        return stage
    return make


def run(folder: Path, rl: decoder.DitRLArgs | None = None, fake_reward: bool = False, **loop):
    args = StageArgs(config="tiny", out_dir=folder, size=SIZE, batch_size=2)
    defaults = dict(steps=2, lr=1e-3, ckpt_every=1, log_every=1, progress=False)
    rl = rl or decoder.DitRLArgs(group=2, steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(stage_of(folder, rl, fake_reward), args, LoopArgs(**{**defaults, **loop}))


def log_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "logs" / "rl-dit.jsonl").read_text().splitlines()]


def test_the_update_raises_the_log_prob_of_the_better_samples(model_dir, one_torch_thread):
    """One plain gradient step on the loss moves the recorded trajectories' log-probs along
    their advantages (the KL term has no gradient at the start: the policy is the reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage = decoder.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2),
                                   decoder.DitRLArgs(group=3, steps=2))
    stage.score_images = brightness
    batch = stage.batch(0, 0, 1)
    loss, metrics = stage.loss(batch)
    assert metrics["logp_drift"] < 1e-5 and metrics["kl"] == 0.0 and metrics["zero_std_groups"] == 0.0
    loss.backward()
    with torch.no_grad():
        for p in stage.transformer.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
    rollout = stage._rollout
    with torch.no_grad():
        after, _, _ = flow_sde.score_steps(stage.transformer, rollout["traj"], rollout["cond"])
    moved = (after - rollout["old_logp"]).mean(1)
    assert float((rollout["advantages"] * moved).sum()) > 0


def test_two_steps_export_and_resume_bit_identically(tmp_path, one_torch_thread, make_rl_folder):
    straight, resumed = make_rl_folder(tmp_path / "straight"), make_rl_folder(tmp_path / "resumed")
    start = {name: load_component(straight, name) for name in ("transformer", "vae")}
    assert run(straight)["exported"]
    stopped = run(resumed, stop_after=1)
    assert not stopped["exported"] and stopped["step"] == 1
    assert run(resumed)["exported"]
    a, b = (load_component(f, "transformer") for f in (straight, resumed))
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), start["transformer"].parameters()))
    for p, q in zip(load_component(straight, "vae").parameters(), start["vae"].parameters()):
        assert torch.equal(p, q)  # only the DiT is exported
    lines = log_of(straight)
    assert [r["step"] for r in lines] == [1, 2]
    for key in ("reward_mean", "reward_std", "adherence", "text", "kl", "kl_k3", "clip_frac", "adv_abs_mean"):
        assert math.isfinite(lines[-1]["metrics"][key]), key
    assert lines[0]["metrics"]["logp_drift"] < 1e-5  # sampler and training pass: one density
    assert lines == [json.loads(json.dumps(r)) | {"time": s["time"], "step_s": s["step_s"], "data_s": s["data_s"]}
                     for r, s in zip(log_of(resumed), lines)]
    assert "rl-dit" in json.loads((straight / "trained.json").read_text())


def test_inner_epochs_share_a_rollout_and_a_sampled_grid_runs(tmp_path, one_torch_thread, make_rl_folder):
    folder = make_rl_folder(tmp_path / "inner")
    rl = decoder.DitRLArgs(group=2, steps=2, inner_epochs=2, grid="sampled")
    assert run(folder, rl, fake_reward=True)["exported"]
    first, second = (r["metrics"] for r in log_of(folder))
    assert first["reward_mean"] == second["reward_mean"]  # the same images
    assert first["kl"] == 0.0 and second["kl"] > 0.0  # the second epoch's policy has moved
    assert first["logp_drift"] < 1e-5 < second["logp_drift"]


def test_bad_options_are_refused(tmp_path, model_dir):
    cases = [
        (dict(group=1), "group"),
        (dict(steps=0), "denoise-steps"),
        (dict(noise_level=0.0), "noise-level"),
        (dict(noise_level=float("nan")), "noise-level"),
        (dict(guidance=0.5), "guidance"),
        (dict(clip=0.0), "clip"),
        (dict(kl=-1.0), "kl"),
        (dict(inner_epochs=0), "inner-epochs"),
        (dict(grid="perfect"), "grid"),
        (dict(text_metric="cer"), "text metric"),
        (dict(text_weight=-0.1), "text-weight"),
        (dict(text_weight=0.0, adherence_weight=0.0), "both be 0"),
        (dict(engine="easyocr"), "OCR engine"),
    ]
    for options, message in cases:
        with pytest.raises(BlueprintError, match=message):
            decoder.DitRLArgs(**options).check()
    nowhere = tmp_path / "nowhere"
    with pytest.raises(BlueprintError, match="not a model folder"):
        decoder.make_stage(StageArgs(config="tiny", out_dir=nowhere, size=SIZE))
    with pytest.raises(BlueprintError, match="data engine"):
        decoder.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, data=str(tmp_path)))
    with pytest.raises(BlueprintError, match="one size"):
        decoder.make_stage(StageArgs(config="tiny", out_dir=model_dir, size=SIZE, extra_sizes=((256, 128),)))
    assert not nowhere.exists()
    assert not (model_dir / "checkpoints").exists() and not (model_dir / "logs").exists()


def test_the_cli_trains_the_dit_and_refuses_bad_input(tmp_path, model_dir, capsys, make_rl_folder):
    from blueprint.cli import main

    folder = make_rl_folder(tmp_path / "cli")
    argv = ["rl", "--stage", "dit", "--model-dir", str(folder), "--steps", "1", "--group", "2", "--batch-size", "1",
            "--denoise-steps", "2", "--size", "128x128", "--ckpt-every", "1", "--no-progress",
            "--caption-style", "user"]  # user-style specs: the reward adds the structure checks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    assert "trained the DiT to step 1" in capsys.readouterr().out
    assert len(log_of(folder)) == 1 and "rl-dit" in json.loads((folder / "trained.json").read_text())
    assert not (folder / "logs" / "rl.jsonl").exists()  # the prior's stage did not run

    nowhere = tmp_path / "nowhere"
    dit = ["rl", "--stage", "dit", "--model-dir", str(model_dir)]
    cases = [
        (["rl", "--stage", "dit", "--model-dir", str(nowhere), "--steps", "1"], "not a model folder"),
        (dit + ["--noise-level", "0"], "noise-level"),
        (dit + ["--guidance", "nan"], "guidance"),
        (dit + ["--denoise-steps", "0"], "denoise-steps"),
        (dit + ["--text-weight", "0", "--adherence-weight", "0"], "both be 0"),
        (dit + ["--lora-rank", "4"], "lora-rank"),
        (dit + ["--kinds", "nope"], "nope"),
        (dit + ["--inner-epochs", "2", "--ckpt-every", "3"], "multiple of inner-epochs"),
        (["rl", "--model-dir", str(model_dir), "--noise-level", "0.5"], "--stage dit"),
        (["rl", "check", "--model", str(model_dir), "--stage", "dit"], "--stage is for training"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not nowhere.exists()
    assert not (model_dir / "checkpoints").exists() and not (model_dir / "logs").exists()
