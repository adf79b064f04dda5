"""The `prior` stage: sequence layout, positions = generation's, overfitting, export + generate."""

import shutil
import warnings
from pathlib import Path

import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.models import build_components, image_grid, save_components
from blueprint.train import prior as P
from blueprint.train.stage import StageArgs
from blueprint.models.folder import load_component, load_semantic_head, save_semantic_head
from blueprint.models.image_tokenizer import SemanticHead, SemanticVocab, codebook_readings, image_tokens, perfect_prior_ids
from blueprint.train.image_tokenizer import draw_samples

SIZE = (128, 128)  # 4x4 full grid, 16x16 preview


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(2)
    path = tmp_path_factory.mktemp("prior") / "run"
    save_components(build_components("tiny", seed=0), path)
    return path


def make(model_dir: Path, **kw) -> P.PriorStage:
    args = StageArgs(config="tiny", out_dir=model_dir, size=SIZE, batch_size=2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny: an untrained tokenizer is allowed (with a warning)
        return P.make_stage(args)


def sharpen(vle, factor: float = 4.0) -> None:
    """A random tiny model's logits barely depend on position; scale weights so they do."""
    with torch.no_grad():
        for name, p in vle.model.language_model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight")):
                p.mul_(factor)


@pytest.mark.parametrize("preview", ["official", "half"])
def test_teacher_forced_logits_equal_generation_logits(model_dir, preview):
    vle = load_component(model_dir, "vision_language_encoder")
    processor = load_component(model_dir, "processor")
    processor.preview_grid = preview
    sharpen(vle)
    # two prompts of different lengths: left padding must not shift the positions
    prompt = P.prompt_inputs(processor, ['a red sign that says "OPEN"', "blue"], 96, 64)
    token_h, token_w, prev_h, prev_w = P.grids(prompt["image_grid_thw"])
    assert (token_h, token_w) == (2, 3) and (prev_h, prev_w) == image_grid(96, 64, preview)[2:]
    n_new = prev_h * prev_w + token_h * token_w + 1
    with torch.no_grad():
        gen = vle.generate(**prompt, max_new_tokens=n_new, do_sample=False, output_logits=True,
                           return_dict_in_generate=True)
    prompt_len = prompt["input_ids"].shape[1]
    generated = gen.sequences[:, prompt_len:]
    assert generated.shape == (2, n_new)
    step_logits = torch.stack(gen.logits, dim=1)

    inputs = P.sequence_inputs(vle, prompt, generated)
    with torch.no_grad():
        forced = vle(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                     position_ids=inputs["position_ids"], use_cache=False).logits[:, prompt_len - 1:]
        naive = vle(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                    use_cache=False).logits[:, prompt_len - 1:]
    assert forced.shape == step_logits.shape
    torch.testing.assert_close(forced, step_logits, atol=1e-4, rtol=1e-4)
    # the check has teeth: the model's own (text) positions give different logits
    assert (naive - step_logits).abs().max() > 1e-2
    # the labels are the generated ids, shifted, and nothing on the prompt
    labels = inputs["labels"]
    assert (labels[:, : prompt_len - 1] == -100).all()
    assert torch.equal(labels[:, prompt_len - 1:], generated)


def test_batch_layout_matches_the_pipeline(model_dir):
    stage = make(model_dir)
    drawn = stage.batch(0, 0, 1)  # host work only: workers may draw it, they cannot use the GPU
    assert set(drawn) == {"captions", "size", "preview_pixels", "preview_grid", "full_pixels", "full_grid"}
    assert drawn["size"].tolist() == list(SIZE)
    batch = stage.make_batch(drawn, drawn["captions"])
    vle, processor = stage.vle, stage.processor
    token_h, token_w, prev_h, prev_w = image_grid(*SIZE)
    n_targets = prev_h * prev_w + token_h * token_w  # tiny's head is the codebook: no end target
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape and batch["position_ids"].shape == (3, *ids.shape)
    assert ((labels != -100).sum(1) == n_targets).all()
    assert labels[labels != -100].max() < vle.config.vq_config.num_embeddings
    # the prompt ends exactly like the processor's t2i suffix, then the image tokens follow
    first_target = ids.shape[1] - n_targets + 1
    suffix = processor.tokenizer.decode(ids[0, :first_target])
    assert suffix.endswith(f"<sop>{token_h} {token_w}<eop><sop>{prev_h} {prev_w}<eop>{processor.tokenizer.bos_token}")
    # the targets are the frozen tokenizer's codes: preview grid first, then the full grid
    samples = draw_samples(stage.args, [0, 1])
    targets = P.image_targets(vle, processor.image_processor, [s["pixels"] for s in samples], *SIZE)
    assert torch.equal(labels[labels != -100].view(2, -1), targets)
    full = image_tokens(vle, processor.image_processor, [s["pixels"] for s in samples], token_h, token_w)
    assert torch.equal(targets[:, -token_h * token_w:], full)
    # what `blueprint eval --true-blueprint` feeds the decoder: those targets on the DiT patch grid
    perfect = perfect_prior_ids(vle, processor.image_processor, [s["pixels"] for s in samples], *SIZE)
    assert perfect.shape == (2, 4 * token_h * token_w)
    assert torch.equal(perfect.view(2, 2 * token_h, 2 * token_w)[:, ::2, ::2].reshape(2, -1), full)
    # same (seed, step, rank) -> same batch; another rank -> another batch
    again = stage.batch(0, 0, 1)
    assert torch.equal(drawn["full_pixels"], again["full_pixels"]) and drawn["captions"] == again["captions"]
    other = stage.batch(0, 1, 2)
    assert not torch.equal(other["full_pixels"], drawn["full_pixels"])


def test_token_noise_replaces_only_image_tokens_the_model_reads(model_dir):
    stage = make(model_dir, token_noise=0.5)
    drawn = stage.batch(0, 0, 1)
    clean = stage.make_batch(drawn, drawn["captions"])
    torch.manual_seed(0)
    noisy = P.noisy_image_inputs(clean, 0.5, stage.vle.config.vq_config.num_embeddings)
    assert torch.equal(noisy["labels"], clean["labels"]) and torch.equal(noisy["position_ids"], clean["position_ids"])
    changed = noisy["input_ids"] != clean["input_ids"]
    image = torch.zeros_like(changed)
    image[:, 1:] = clean["labels"][:, :-1] != -100
    assert not (changed & ~image).any()  # the prompt and its padding are never touched
    share = changed[image].float().mean().item()
    assert 0.35 < share < 0.55, share  # 0.5 drawn, minus random codes equal to the true one (1 in 128)
    assert noisy["input_ids"][image].max() < stage.vle.config.vq_config.num_embeddings
    # the stage applies it in `loss`: same batch and seed, a different loss than without noise
    torch.manual_seed(1)
    loss_noisy, _ = stage.loss(drawn)
    torch.manual_seed(1)
    loss_clean, _ = make(model_dir).loss(drawn)
    assert loss_noisy.item() != loss_clean.item()
    with pytest.raises(BlueprintError, match="token-noise"):
        make(model_dir, token_noise=1.0)


def test_content_weights_lift_the_tokens_whose_code_holds_an_element():
    content = torch.tensor([False, True, False, True])  # codes 1 and 3 hold a text, shape or bar
    targets = torch.tensor([[0, 1, 2, 3, 3, 7]])  # 7: past the codebook (an end token)
    assert P.content_weights(targets, content, 2.0).tolist() == [[1, 3, 1, 3, 3, 1]]
    labels = torch.tensor([[-100, -100, 0, 1, 2, 3, 3, 7]])
    laid = P.label_weights(labels, P.content_weights(targets, content, 2.0))
    assert laid.tolist() == [[0, 0, 1, 3, 1, 3, 3, 1]]


@pytest.fixture(scope="module")
def headed_dir(model_dir, tmp_path_factory) -> Path:
    """The tiny folder plus an untrained semantic head (what --content-weight reads)."""
    path = tmp_path_factory.mktemp("headed") / "run"
    shutil.copytree(model_dir, path)
    vq = load_component(path, "vision_language_encoder").model.vqmodel.quantize
    torch.manual_seed(0)
    head = SemanticHead(vq.embedding.weight.shape[1], vq.embedding.weight.shape[0], SemanticVocab.from_data())
    save_semantic_head(head, path)
    return path


def test_content_codes_are_the_semantic_heads_text_shape_and_bar_codes(model_dir, headed_dir):
    vle = load_component(model_dir, "vision_language_encoder")
    with pytest.raises(BlueprintError, match="semantic head"):
        P.content_codes(vle, model_dir)
    content = P.content_codes(vle, headed_dir)
    kinds = codebook_readings(vle, load_semantic_head(headed_dir))["kind"].argmax(-1)
    names = SemanticVocab.from_data().kinds
    expected = [names[k] in ("text", "shape", "bar") for k in kinds.tolist()]
    assert content.tolist() == expected and 0 < sum(expected) < len(expected)


def test_content_weight_weights_the_loss_and_logs_the_plain_one(model_dir, headed_dir):
    plain, weighted = make(headed_dir, prompt_drop=0.0), make(headed_dir, prompt_drop=0.0, content_weight=3.0)
    drawn = plain.batch(0, 0, 1)
    inputs = weighted.make_batch(drawn, drawn["captions"])
    keep = inputs["labels"] != -100
    assert (inputs["weights"][~keep] == 0).all() and set(inputs["weights"][keep].unique().tolist()) == {1.0, 4.0}
    with torch.no_grad():
        loss_plain, metrics_plain = plain.loss(drawn)
        loss_weighted, metrics = weighted.loss(drawn)
        ce = torch.nn.functional.cross_entropy(P.sequence_logits(weighted.vle, inputs).transpose(1, 2),
                                               inputs["labels"], ignore_index=-100, reduction="none")
    expected = (ce * inputs["weights"]).sum() / inputs["weights"].sum()
    assert loss_weighted.item() == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["ce"] == pytest.approx(loss_plain.item(), rel=1e-5) and "ce" not in metrics_plain
    assert loss_weighted.item() != pytest.approx(loss_plain.item(), rel=1e-4)
    with pytest.raises(BlueprintError, match="content-weight"):
        make(headed_dir, content_weight=-1.0)
    with pytest.raises(BlueprintError, match="semantic head"):
        make(model_dir, content_weight=3.0)


def test_prior_overfits_a_fixed_batch_and_freezes_the_tokenizer(model_dir):
    torch.manual_seed(0)
    stage = make(model_dir)
    batch = stage.batch(0, 0, 1)
    modules = stage.trainable()
    assert set(modules) == {"language_model", "lm_head"}
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in stage.vle.model.visual.parameters())
    for m in modules.values():
        m.train()
    vq_before = stage.vle.model.vqmodel.quantize.embedding.weight.clone()
    opt = torch.optim.AdamW(params, lr=1e-2)
    losses = []
    for _ in range(20):
        loss, metrics = stage.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 4.0  # about ln(128) at the start
    assert losses[-1] < losses[0] / 2, losses  # 4.77 -> 2.02 measured
    assert metrics["token_acc"] > 0.3
    assert torch.equal(stage.vle.model.vqmodel.quantize.embedding.weight, vq_before)


def test_export_then_generate_from_the_folder(model_dir, tmp_path):
    from blueprint.cli.train import resolve_stage  # noqa: F401  (the CLI maps "prior" to this module)
    from blueprint.train.loop import LoopArgs, train

    run = tmp_path / "run"
    save_components(build_components("tiny", seed=0), run)
    args = StageArgs(config="tiny", out_dir=run, size=SIZE, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(P.make_stage, args, LoopArgs(steps=3, lr=3e-3, ckpt_every=3, log_every=1, progress=False))
    assert result["exported"] and result["step"] == 3
    before = load_component(model_dir, "vision_language_encoder")  # same seed, untrained
    vle = load_component(run, "vision_language_encoder")
    # the language model changed; the tokenizer was left alone
    assert not torch.equal(vle.lm_head.weight, before.lm_head.weight)
    for a, b in zip(vle.model.visual.parameters(), before.model.visual.parameters()):
        assert torch.equal(a, b)
    processor = load_component(run, "processor")
    width, height = 128, 96
    token_h, token_w, prev_h, prev_w = image_grid(width, height)
    prompt = P.prompt_inputs(processor, ['a poster that says "HELLO"'], width, height)
    n_new = prev_h * prev_w + token_h * token_w + 1
    torch.manual_seed(0)
    with torch.no_grad():
        out = vle.generate(**prompt, max_new_tokens=n_new, do_sample=True)
    new = out[0, prompt["input_ids"].shape[1]:]
    assert new.numel() == n_new
    assert int(new.min()) >= 0 and int(new.max()) < vle.config.vq_config.num_embeddings


def test_half_preview_trains_is_recorded_and_generates(tmp_path):
    """--preview-grid half: targets, the folder's setting, and the pipeline's prompt and length."""
    from blueprint.models.settings import read_settings
    from blueprint.pipeline.prior import generate_prior_tokens
    from blueprint.train.loop import LoopArgs, train

    run = tmp_path / "run"
    save_components(build_components("tiny", seed=0), run)
    stage = make(run, preview_grid="half")
    drawn = stage.batch(0, 0, 1)
    assert drawn["preview_grid"][0].tolist() == [1, 2, 2] and drawn["full_grid"][0].tolist() == [1, 4, 4]
    batch = stage.make_batch(drawn, drawn["captions"])
    assert ((batch["labels"] != -100).sum(1) == 2 * 2 + 4 * 4).all()

    args = StageArgs(config="tiny", out_dir=run, size=SIZE, batch_size=2, preview_grid="half")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(P.make_stage, args, LoopArgs(steps=2, ckpt_every=2, log_every=1, progress=False))
    assert read_settings(run)["preview_grid"] == "half"
    processor = load_component(run, "processor")  # the folder's setting, without the flag
    assert processor.preview_grid == "half"
    prompt = P.prompt_inputs(processor, ["blue"], 128, 96)
    suffix = processor.tokenizer.decode(prompt["input_ids"][0, -12:])
    assert suffix.endswith(f"<sop>3 4<eop><sop>1 2<eop>{processor.tokenizer.bos_token}")
    totals = []
    ids = generate_prior_tokens(load_component(run, "vision_language_encoder"), processor, ["blue"], 128, 96, seed=0,
                                progress=lambda done, total: totals.append(total))
    assert totals[0] == 1 * 2 + 3 * 4 + 1 and ids.shape == (1, 6 * 8)
    # the folder keeps the official processor files: only blueprint.json says "half"
    assert '"GlmImageProcessor"' in (run / "processor" / "processor_config.json").read_text()


def test_a_resume_on_another_preview_grid_is_refused(tmp_path):
    from blueprint.train.loop import LoopArgs, train

    run = tmp_path / "run"
    save_components(build_components("tiny", seed=0), run)

    def prior(steps, **kw):
        args = StageArgs(config="tiny", out_dir=run, size=SIZE, batch_size=2, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return train(P.make_stage, args, LoopArgs(steps=steps, ckpt_every=2, log_every=1, progress=False))

    assert prior(4, preview_grid="half")["exported"]
    # a killed run: checkpoint at 6, nothing exported, so the folder still says "half" (from step 4's export)
    args = StageArgs(config="tiny", out_dir=run, size=SIZE, batch_size=2, preview_grid="half")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(P.make_stage, args, LoopArgs(steps=8, stop_after=6, ckpt_every=2, log_every=1, progress=False))
    with pytest.raises(BlueprintError, match="preview_grid 'half' -> 'official'"):
        prior(8, preview_grid="official")
    assert prior(8)["step"] == 8  # without the flag: the folder's grid, the run's own


def test_a_bad_preview_grid_is_refused(tmp_path):
    from blueprint.models.folder import load_components
    from blueprint.models.settings import update_settings

    run = tmp_path / "run"
    save_components(build_components("tiny", seed=0), run)
    with pytest.raises(BlueprintError, match="preview-grid"):
        make(run, preview_grid="quarter")
    update_settings(run, preview_grid="quarter")
    with pytest.raises(BlueprintError, match="preview_grid must be one of"):
        load_components(run)


def test_prior_rejects_a_folder_without_the_model(tmp_path):
    args = StageArgs(config="tiny", out_dir=tmp_path, size=SIZE)
    with pytest.raises(BlueprintError, match="vision_language_encoder"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P.make_stage(args)
    with pytest.raises(BlueprintError, match="does not exist"):
        P.make_stage(StageArgs(config="tiny", out_dir=tmp_path, size=SIZE, data=str(tmp_path / "nowhere")))
