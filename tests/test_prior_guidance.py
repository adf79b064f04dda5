"""Classifier-free guidance of the AR stage: prompt drops in training, the guided
sampler, and the per-model default recorded in blueprint.json."""

import json
import warnings

import pytest
import torch

from blueprint import cli
from blueprint.errors import BlueprintError
from blueprint.models import build_components, image_grid, save_components
from blueprint.models.settings import read_prior_guidance, read_settings, update_settings
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.prior import generate_prior_tokens
from blueprint.train import prior as P
from blueprint.train.stage import StageArgs
from blueprint.models.folder import load_component

WIDTH, HEIGHT = 96, 64  # 2x3 full grid


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.set_num_threads(2)
    return save_components(build_components("tiny", seed=0), tmp_path_factory.mktemp("cfg") / "tiny")


@pytest.fixture(scope="module")
def vle(model_dir):
    vle = load_component(model_dir, "vision_language_encoder")
    with torch.no_grad():  # a random tiny model's logits barely depend on the prompt; make them
        for name, p in vle.model.language_model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight")):
                p.mul_(4.0)
    return vle


def guided_greedy_reference(vle, processor, prompt: str, generated: torch.Tensor, guidance: float) -> torch.Tensor:
    """Teacher-forced logits of the prompt and of the empty prompt on `generated`, each in its
    own unpadded batch of one, combined as guidance does: the argmax at every step."""
    logits = []
    for text in (prompt, ""):
        inputs = P.prompt_inputs(processor, [text], WIDTH, HEIGHT)
        seq = P.sequence_inputs(vle, inputs, generated[None])
        with torch.no_grad():
            out = vle(input_ids=seq["input_ids"], attention_mask=seq["attention_mask"],
                      position_ids=seq["position_ids"], use_cache=False).logits
        logits.append(out[0, inputs["input_ids"].shape[1] - 1:].float())
    cond, uncond = logits
    return (uncond + guidance * (cond - uncond)).argmax(-1)


def test_guided_tokens_follow_the_guided_logits_of_both_rows(model_dir, vle):
    processor = load_component(model_dir, "processor")
    prompts = ['a red sign that says "OPEN"', "blue"]  # different lengths: padding must not matter
    token_h, token_w, prev_h, prev_w = image_grid(WIDTH, HEIGHT)
    n_new = prev_h * prev_w + token_h * token_w + 1
    captured = []
    original = vle.generate

    def spy(**kw):  # keep the full generated sequence, end token included
        out = original(**kw)
        captured.append(out[: len(prompts), kw["input_ids"].shape[1]:])
        return out

    vle.generate = spy
    try:
        # top-p that keeps a single token makes the guided sampler greedy, so it can be checked exactly
        ids = generate_prior_tokens(vle, processor, prompts, WIDTH, HEIGHT, seed=0, top_p=1e-9, guidance=3.0)
        unguided = generate_prior_tokens(vle, processor, prompts, WIDTH, HEIGHT, seed=0, top_p=1e-9)
    finally:
        del vle.generate
    generated = captured[0]
    assert generated.shape == (2, n_new) and ids.shape == (2, 4 * token_h * token_w)
    for k, prompt in enumerate(prompts):
        expected = guided_greedy_reference(vle, processor, prompt, generated[k], 3.0)
        assert torch.equal(generated[k], expected[: n_new])
    # the guidance changed the blueprint (the check above could not pass by ignoring it)
    assert not torch.equal(ids, unguided)


def test_guided_sampling_is_seeded_and_leaves_the_global_rng_alone(model_dir, vle):
    processor = load_component(model_dir, "processor")
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = generate_prior_tokens(vle, processor, ["a green poster"], WIDTH, HEIGHT, seed=5, guidance=2.0)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = generate_prior_tokens(vle, processor, ["a green poster"], WIDTH, HEIGHT, seed=5, guidance=2.0)
    c = generate_prior_tokens(vle, processor, ["a green poster"], WIDTH, HEIGHT, seed=6, guidance=2.0)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.min()) >= 0 and int(a.max()) < vle.config.vq_config.num_embeddings


def test_guided_sampler_keeps_masked_ids_masked():
    """The official head has ids outside the codebook, masked to -inf in both rows before
    guidance (_CodebookOnly); guidance must not turn them into NaN or sample them."""
    from blueprint.pipeline.prior import _CodebookOnly, _GuidedSampler

    scores = torch.randn(4, 10)  # 2 prompts + their 2 empty-prompt rows, 10 ids, 8 in the codebook
    scores = _CodebookOnly(8)(None, scores)
    sampler = _GuidedSampler(3.0, 1.0, 1.0, torch.Generator().manual_seed(0))
    for _ in range(50):
        out = sampler(torch.zeros(4, 1, dtype=torch.long), scores.clone())
        assert not out.isnan().any()
        token = out.argmax(-1)
        assert (token < 8).all() and torch.equal(token[:2], token[2:])


def test_prompt_drop_trains_empty_prompts(model_dir, monkeypatch):
    def stage_with(drop):
        args = StageArgs(config="tiny", out_dir=model_dir, size=(128, 128), batch_size=4, prompt_drop=drop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny: an untrained tokenizer is allowed
            return P.make_stage(args)

    seen = []
    monkeypatch.setattr(P.PriorStage, "make_batch", lambda self, batch, captions: seen.append(captions) or {})
    monkeypatch.setattr(P, "sequence_loss", lambda vle, batch, weights=None: (torch.zeros(()), {}))
    batch = stage_with(0.0).batch(0, 0, 1)
    stage_with(0.0).loss(batch)
    stage_with(0.99).loss(batch)
    torch.manual_seed(0)
    stage_with(0.5).loss(batch)
    torch.manual_seed(0)
    stage_with(0.5).loss(batch)  # the loop reseeds the global RNG per step: drops repeat on resume
    assert seen[0] == batch["captions"] and all(seen[0])
    assert seen[1] == [""] * 4
    assert seen[2] == seen[3] and 0 < seen[2].count("") < 4  # 2 of 4 dropped at seed 0
    with pytest.raises(BlueprintError, match="prompt-drop"):
        stage_with(1.0)


def test_a_folder_sets_its_default_guidance(tmp_path):
    run = save_components(build_components("tiny", seed=0), tmp_path / "run")
    assert BlueprintPipeline.from_pretrained(run).prior_guidance == 1.0  # off unless set
    update_settings(run, conditioning="prompt")
    update_settings(run, prior_guidance=2.5)  # one key at a time: the other stays
    assert read_settings(run) == {"conditioning": "prompt", "prior_guidance": 2.5}
    pipe = BlueprintPipeline.from_pretrained(run)
    assert pipe.prior_guidance == 2.5 and pipe.conditioning == "prompt"


def test_bad_prior_guidance_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert cli.main(["generate", "hi", "--model", str(model_dir), "-o", str(out), "--prior-guidance", "0.5"]) == 2
    assert "prior guidance must be a finite number >= 1" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(BlueprintError, match="prior guidance"):
        BlueprintPipeline.from_pretrained(model_dir)("hi", prior_guidance=float("nan"), width=128, height=128)
    (tmp_path / "blueprint.json").write_text(json.dumps({"prior_guidance": "strong"}))
    with pytest.raises(BlueprintError, match="blueprint.json"):
        read_prior_guidance(tmp_path)
    assert read_prior_guidance(tmp_path / "absent") == 1.0  # an official folder: no AR guidance
    assert cli.main(["train", "prior", "--model-dir", str(tmp_path / "x"), "--prompt-drop", "1"]) == 2
    assert "prompt-drop must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
