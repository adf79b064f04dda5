"""The GRPO stage: advantages, the loss's gradient, per-sample seeds, a tiny run through the
training loop that resumes bit-identically, the CLI's refusals, and the reward watch."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from blueprint.cli import main
from blueprint.errors import BlueprintError
from blueprint.models import build_components, save_components
from blueprint.models.folder import load_component
from blueprint.rl import grpo
from blueprint.rl.check import correlation, reward_watch
from blueprint.rl.policy import sample_sequences
from blueprint.train.loop import LoopArgs, train
from blueprint.train.stage import StageArgs

SIZE = (128, 128)  # 4x4 full grid


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, one_torch_thread, make_rl_folder) -> Path:
    return make_rl_folder(tmp_path_factory.mktemp("rl") / "model")


def test_group_advantages_are_normalised_and_a_flat_group_gives_nothing():
    rewards = torch.tensor([[0.2, 0.4, 0.9, 0.5], [0.5, 0.5, 0.5, 0.5]])
    adv = grpo.group_advantages(rewards)
    assert torch.allclose(adv[0].mean(), torch.tensor(0.0), atol=1e-6)
    assert torch.allclose(adv[0].std(unbiased=False), torch.tensor(1.0), atol=1e-4)
    assert torch.equal(adv[1], torch.zeros(4))
    assert adv[0].argmax() == 2 and adv[0].argmin() == 0


def test_cell_advantages_compare_cells_of_one_kind_within_a_group():
    nan = float("nan")
    scores = np.array([[1, 0, nan], [1, 1, 0],    # group 1
                       [0, 0, 1], [nan, nan, 1]])  # group 2
    kinds = np.array([[0, 0, 2], [0, 1, 1],
                      [0, 0, 1], [3, 3, 1]])
    adv = grpo.cell_advantages(scores, kinds, group=2)
    # group 1: background cells 1, 0, 1 (mean 2/3); text cells 1, 0 (mean 1/2); the unscored cell gets 0
    np.testing.assert_allclose(adv[:2], [[1 / 3, -2 / 3, 0], [1 / 3, 0.5, -0.5]], atol=1e-6)
    # group 2: the background cells all score 0 and the text cells all 1: nothing to compare
    np.testing.assert_allclose(adv[2:], 0, atol=1e-6)


def test_token_advantages_add_the_cells_to_the_grid_tokens_and_land_on_the_labels():
    sequence = torch.tensor([1.0, -1.0])
    cells = torch.tensor([[0.5, -0.5], [0.0, 0.25]])
    adv = grpo.token_advantages(sequence, cells, grid_start=1, length=4, weight=2.0)
    assert adv.tolist() == [[1, 2, 0, 1], [-1, -1, -0.5, -1]]
    labels = torch.tensor([[-100, -100, 5, 6, 7, 8], [-100, 3, 4, 5, 6, -100]])
    laid = grpo.on_labels(adv, labels)
    assert laid.tolist() == [[0, 0, 1, 2, 0, 1], [0, -1, -1, -0.5, -1, 0]]
    with pytest.raises(BlueprintError):
        grpo.on_labels(adv[:, :3], labels)
    # one advantage a sample passes through as it is
    assert grpo.on_labels(sequence, labels) is not None and grpo.on_labels(sequence, labels).shape == (2,)


def test_per_token_advantages_move_each_token_its_own_way():
    logp = torch.zeros(1, 2, requires_grad=True)
    adv = torch.tensor([[1.0, -1.0]])
    loss, _ = grpo.grpo_loss(logp, logp.detach(), logp.detach(), adv, torch.ones(1, 2, dtype=torch.bool), 0.2, 0.0)
    loss.backward()
    assert logp.grad[0, 0] < 0 < logp.grad[0, 1]  # gradient descent raises the first, lowers the second


def test_the_loss_moves_the_better_sample_up():
    """Two one-token samples of a 3-way policy: the gradient step raises the log-prob of the
    sample with the higher reward and lowers the other's."""
    theta = torch.zeros(3, requires_grad=True)
    actions = torch.tensor([[0], [1]])
    advantages = grpo.group_advantages(torch.tensor([[1.0, 0.0]])).view(-1)

    def logp():
        return theta.log_softmax(-1)[actions]

    before = logp().detach()
    loss, stats = grpo.grpo_loss(logp(), before, before, advantages, torch.ones(2, 1, dtype=torch.bool),
                                 clip=0.2, beta=0.01)
    loss.backward()
    with torch.no_grad():
        theta -= 0.5 * theta.grad
    after = logp().detach()
    assert after[0] > before[0] and after[1] < before[1]
    assert stats["kl"] == 0 and stats["clip_frac"] == 0
    # past the clip the surrogate is flat: no gradient pushes a positive-advantage ratio further
    with torch.no_grad():
        theta.zero_()
    theta.grad = None
    old = before + torch.tensor([[-1.0], [0.0]])  # ratio e for sample 0
    loss, stats = grpo.grpo_loss(logp(), old, old, advantages, torch.ones(2, 1, dtype=torch.bool), 0.2, 0.0)
    loss.backward()
    assert stats["clip_frac"] == 0.5
    torch.testing.assert_close(theta.grad, torch.autograd.grad(
        -(torch.exp(theta.log_softmax(-1)[1] - old[1, 0]) * advantages[1]) / 2, theta)[0])


def test_a_sample_depends_on_its_seed_only(model_dir):
    vle = load_component(model_dir, "vision_language_encoder")
    processor = load_component(model_dir, "processor")
    prompt = 'A red sign that says "OPEN"'
    _, pair = sample_sequences(vle, processor, [prompt, prompt], *SIZE, [11, 12], 0.9, 0.75)
    _, alone = sample_sequences(vle, processor, [prompt], *SIZE, [12], 0.9, 0.75)
    assert torch.equal(pair[1], alone[0])
    assert not torch.equal(pair[0], pair[1])
    assert pair.shape[1] == 16 * 16 + 4 * 4  # preview grid + full grid, no end token in this head


def run(folder: Path, rl: grpo.RLArgs | None = None, **loop):
    args = StageArgs(config="tiny", out_dir=folder, size=SIZE, batch_size=2)
    defaults = dict(steps=2, lr=1e-3, ckpt_every=1, log_every=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(lambda a: grpo.make_stage(a, rl or grpo.RLArgs(group=2)), args, LoopArgs(**{**defaults, **loop}))


def log_of(folder: Path) -> list[dict]:
    return [json.loads(line)["metrics"] for line in (folder / "logs" / "rl.jsonl").read_text().splitlines()]


def test_two_steps_export_and_resume_bit_identically(tmp_path, one_torch_thread, make_rl_folder):
    straight, resumed = make_rl_folder(tmp_path / "straight"), make_rl_folder(tmp_path / "resumed")
    start = load_component(straight, "vision_language_encoder")
    assert run(straight)["exported"]
    stopped = run(resumed, stop_after=1)
    assert not stopped["exported"] and stopped["step"] == 1
    assert run(resumed)["exported"]
    a, b = (load_component(f, "vision_language_encoder") for f in (straight, resumed))
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.lm_head.weight, start.lm_head.weight)  # it trained
    for pa, pb in zip(a.model.vqmodel.parameters(), start.model.vqmodel.parameters()):
        assert torch.equal(pa, pb)  # the tokenizer did not
    lines = [json.loads(line) for line in (straight / "logs" / "rl.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]
    for key in ("reward_mean", "reward_std", "kl", "clip_frac", "adv_abs_mean", "check_background"):
        assert math.isfinite(lines[-1]["metrics"][key]), key
    assert lines == [json.loads(line) | {"time": r["time"], "step_s": r["step_s"], "data_s": r["data_s"]}
                     for line, r in zip((resumed / "logs" / "rl.jsonl").read_text().splitlines(), lines)]
    assert "rl" in json.loads((straight / "trained.json").read_text())


def test_inner_epochs_reuse_one_rollout_and_resume_at_its_boundary(tmp_path, one_torch_thread, make_rl_folder):
    """Two steps on one sampled batch: the same rewards, the second step's ratio off 1 (the
    policy moved since sampling); stopped at the rollout boundary, a resume is exact."""
    rl = grpo.RLArgs(group=2, inner_epochs=2)
    straight, resumed = make_rl_folder(tmp_path / "straight"), make_rl_folder(tmp_path / "resumed")
    assert run(straight, rl, steps=4, ckpt_every=2)["exported"]
    metrics = log_of(straight)
    assert metrics[0]["reward_mean"] == metrics[1]["reward_mean"]
    assert metrics[0]["kl"] == 0.0 and metrics[1]["kl"] > 0.0  # the second epoch's policy has moved
    assert run(resumed, rl, steps=4, ckpt_every=2, stop_after=2)["step"] == 2
    assert run(resumed, rl, steps=4, ckpt_every=2)["exported"]
    a, b = (load_component(f, "vision_language_encoder") for f in (straight, resumed))
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name


def test_lora_trains_adapters_only_and_exports_them_merged(tmp_path, one_torch_thread, make_rl_folder):
    folder = make_rl_folder(tmp_path / "lora")
    start = load_component(folder, "vision_language_encoder")
    assert run(folder, grpo.RLArgs(group=2, lora_rank=4), steps=2)["exported"]
    after = load_component(folder, "vision_language_encoder")  # a plain folder: loads without PEFT
    assert after.state_dict().keys() == start.state_dict().keys()
    assert torch.equal(after.lm_head.weight, start.lm_head.weight)  # frozen under LoRA
    moved = [n for n, p in after.model.language_model.named_parameters()
             if not torch.equal(p, dict(start.model.language_model.named_parameters())[n])]
    assert moved and all(n.endswith("proj.weight") for n in moved), moved


def test_cell_credit_trains_through_the_loop(tmp_path, one_torch_thread, make_rl_folder):
    folder = make_rl_folder(tmp_path / "cells")
    start = load_component(folder, "vision_language_encoder")
    assert run(folder, grpo.RLArgs(group=2, cell_credit=1.0), steps=1)["exported"]
    after = load_component(folder, "vision_language_encoder")
    assert not torch.equal(after.lm_head.weight, start.lm_head.weight)
    assert 0.0 <= log_of(folder)[0]["cell_colors"] <= 1.0


def test_the_cli_refuses_bad_input_and_creates_nothing(tmp_path, model_dir, capsys):
    nowhere = tmp_path / "nowhere"
    cases = [
        (["rl", "--model-dir", str(nowhere), "--steps", "1"], "not a model folder"),
        (["rl", "--model-dir", str(model_dir), "--group", "1"], "group"),
        (["rl", "--model-dir", str(model_dir), "--top-p", "0"], "top-p"),
        (["rl", "--model-dir", str(model_dir), "--kl", "nan"], "kl"),
        (["rl", "--model-dir", str(model_dir), "--steps", "0"], "steps"),
        (["rl", "--model-dir", str(model_dir), "--size", "100x128"], "32"),
        (["rl", "--model-dir", str(model_dir), "--inner-epochs", "0"], "inner-epochs"),
        (["rl", "--model-dir", str(model_dir), "--inner-epochs", "3", "--ckpt-every", "10"], "multiple of inner-epochs"),
        (["rl", "--model-dir", str(model_dir), "--lora-rank", "-1"], "lora-rank"),
        (["rl", "--model-dir", str(model_dir), "--cell-credit", "-1"], "cell-credit"),
        (["rl", "--model-dir", str(model_dir), "--cell-credit", "inf"], "cell-credit"),
        (["rl", "--steps", "1"], "--model-dir"),
        (["rl", "check", "--model", str(nowhere)], "does not exist"),
        (["rl", "check", "--model", str(model_dir), "--n", "0"], "n must"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not nowhere.exists()
    assert not (model_dir / "checkpoints").exists() and not (model_dir / "logs").exists()
    no_head = tmp_path / "nohead"
    save_components(build_components("tiny", seed=0), no_head)
    assert main(["rl", "--model-dir", str(no_head)]) == 2
    assert "semantic head" in capsys.readouterr().err


def test_the_watch_runs_on_two_prompts(model_dir):
    watch = reward_watch(model_dir, 2, *SIZE, steps=2)
    assert len(watch.rows) == 2
    assert all(math.isfinite(r.token_reward) for r in watch.rows)
    assert all(r.adherence is None or math.isfinite(r.adherence) for r in watch.rows)
    assert (watch.correlation is not None and math.isfinite(watch.correlation)) or watch.message
    assert correlation([0.5, 0.5], [0.1, 0.9]) == (None, correlation([0.5, 0.5], [0.1, 0.9])[1])
    assert "zero variance" in correlation([0.5, 0.5], [0.1, 0.9])[1]
