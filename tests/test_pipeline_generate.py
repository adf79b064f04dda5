"""BlueprintPipeline on the tiny configuration: shapes, seeding, batches,
progress callbacks and input validation. Small sizes and few steps keep it fast;
the AR stage (about 270 sequential tokens even at 128x128) runs only where needed."""

import numpy as np
import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.models import build_components
from blueprint.pipeline import MAX_PROMPT_TOKENS, BlueprintPipeline
from blueprint.pipeline.limits import MAX_BATCH

PROMPT = 'A red sign that reads "OPEN"'


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe():
    return BlueprintPipeline(build_components("tiny", seed=0))


def pixels(out):
    return np.stack([np.asarray(im) for im in out.images])


def random_prior(batch, width, height, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 128, (batch, (height // 16) * (width // 16)), generator=g)


@pytest.fixture(scope="module")
def seeded(pipe):
    """Two full runs (AR + DiT) with seed 0 and one with seed 1, at 128x128."""
    kw = dict(height=128, width=128, num_inference_steps=2)
    return pipe(PROMPT, seed=0, **kw), pipe(PROMPT, seed=0, **kw), pipe(PROMPT, seed=1, **kw)


def test_square_output_shapes(seeded):
    out = seeded[0]
    assert len(out.images) == 1 and out.images[0].size == (128, 128) and out.images[0].mode == "RGB"
    assert out.prior_token_ids.shape == (1, 8 * 8) and out.prior_token_ids.dtype == torch.long
    assert 0 <= int(out.prior_token_ids.min()) and int(out.prior_token_ids.max()) < 128
    assert set(out.timings) == {"prior", "glyph_encoder", "denoise", "decode", "total"}


def test_same_seed_same_image_different_seed_different(seeded):
    a, b, c = seeded
    assert torch.equal(a.prior_token_ids, b.prior_token_ids)
    assert np.array_equal(pixels(a), pixels(b))
    assert not torch.equal(a.prior_token_ids, c.prior_token_ids)
    assert not np.array_equal(pixels(a), pixels(c))


def test_caller_random_state_is_untouched(pipe):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    pipe(PROMPT, height=128, width=128, num_inference_steps=1, prior_token_ids=random_prior(1, 128, 128))
    assert torch.equal(torch.rand(3), expected)


def test_batch_of_two_non_square_with_callback(pipe):
    events = []
    out = pipe([PROMPT, "a blue 'SALE' poster"], height=128, width=192, seed=3, num_inference_steps=3,
               callback=lambda stage, step, total: events.append((stage, step, total)))
    assert [im.size for im in out.images] == [(192, 128), (192, 128)]
    assert out.prior_token_ids.shape == (2, 8 * 12)
    prior = [e for e in events if e[0] == "prior"]
    denoise = [e for e in events if e[0] == "denoise"]
    total = 13 * 19 + 4 * 6 + 1  # preview grid (about 256 tokens at 2:3), full grid, end token
    assert prior[-1][1] == prior[-1][2] == total
    assert [s for _, s, _ in prior] == list(range(1, total + 1))  # one event per token, in order
    assert denoise == [("denoise", i, 3) for i in (1, 2, 3)]
    assert events.index(prior[-1]) < events.index(denoise[0])  # prior first, then denoising
    assert not np.array_equal(*pixels(out))  # two prompts, two different images


def test_on_latents_predicts_the_clean_image_and_changes_nothing(pipe):
    """The prediction after the last step is the finished latents; the image is the same with the hook."""
    kw = dict(height=128, width=128, seed=2, num_inference_steps=3, prior_token_ids=random_prior(1, 128, 128))
    seen = []
    out = pipe(PROMPT, on_latents=lambda step, x0: seen.append((step, x0.clone())), **kw)
    assert [step for step, _ in seen] == [1, 2, 3]
    assert not torch.allclose(seen[0][1], seen[-1][1])  # the prediction sharpens as it goes
    assert np.array_equal(pixels(out), pixels(pipe(PROMPT, **kw)))
    last = np.asarray(pipe.decode_latents(seen[-1][1])[0]).astype(int)
    assert np.abs(last - pixels(out)[0].astype(int)).max() <= 1


@pytest.mark.parametrize("width,height", [(128, 256), (256, 128), (160, 224)])
def test_non_square_shapes_from_prior_tokens(pipe, width, height):
    out = pipe(PROMPT, height=height, width=width, num_inference_steps=1,
               prior_token_ids=random_prior(1, width, height))
    assert out.images[0].size == (width, height)


def test_prior_tokens_change_the_image(pipe):
    kw = dict(height=128, width=128, num_inference_steps=2, guidance_scale=1.0)
    a = pipe(PROMPT, prior_token_ids=random_prior(1, 128, 128, seed=0), **kw)
    b = pipe(PROMPT, prior_token_ids=random_prior(1, 128, 128, seed=1), **kw)
    assert not np.array_equal(pixels(a), pixels(b))


def test_glyph_text_changes_the_image(pipe):
    kw = dict(height=128, width=128, num_inference_steps=2, prior_token_ids=random_prior(1, 128, 128))
    assert not np.array_equal(pixels(pipe('"OPEN"', **kw)), pixels(pipe('"SHUT"', **kw)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(width=100), "not a multiple of 32"),
    (dict(height=96), r"out of range \[128, 1024\]"),
    (dict(width=512, height=128), "aspect ratio"),
    (dict(num_inference_steps=0), "steps"),
    (dict(num_inference_steps=2.5), "steps"),
    (dict(guidance_scale=0.5), "guidance"),
    (dict(guidance_scale=float("nan")), "guidance"),
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=1e-40), "temperature"),
    (dict(top_p=1.5), "top_p"),
    (dict(seed=-1), "seed"),
    (dict(prior_token_ids=torch.zeros(1, 10, dtype=torch.long)), "shape"),
    (dict(prior_token_ids=torch.full((1, 64), 128)), r"\[0, 128\)"),
    (dict(prior_token_ids=torch.zeros(1, 64)), "integer"),
])
def test_bad_arguments(pipe, kwargs, match):
    args = dict(height=128, width=128, num_inference_steps=1)
    args.update(kwargs)
    with pytest.raises(BlueprintError, match=match):
        pipe(PROMPT, **args)


@pytest.mark.parametrize("prompt,match", [
    ("", "prompt is empty"),
    ("   \n", "prompt is empty"),
    ([], "non-empty list"),
    (["ok", ""], "prompt 1 is empty"),
    (["ok", 3], "must be a string"),
    (["ok"] * (MAX_BATCH + 1), f"the limit is {MAX_BATCH}"),
    ("x" * (MAX_PROMPT_TOKENS + 1), f"limit is {MAX_PROMPT_TOKENS} tokens"),
])
def test_bad_prompts(pipe, prompt, match):
    with pytest.raises(BlueprintError, match=match):
        pipe(prompt, height=128, width=128, num_inference_steps=1)


def test_longest_allowed_prompt_runs(pipe):
    out = pipe("x" * MAX_PROMPT_TOKENS, height=128, width=128, num_inference_steps=1,
               prior_token_ids=random_prior(1, 128, 128))
    assert len(out.images) == 1


def test_pipeline_needs_every_component():
    components = build_components("tiny", seed=0)
    del components["scheduler"]
    with pytest.raises(BlueprintError, match="scheduler"):
        BlueprintPipeline(components)


def test_ids_outside_the_codebook_are_never_sampled():
    # The official AR head has spare ids past the codebook (among them the end
    # token). Make a tiny model that would pick them every time, and check the
    # prior stage still returns a full grid of codebook ids.
    from transformers import GlmImageForConditionalGeneration

    from blueprint.models.build import ar_config, get_config
    from blueprint.pipeline.prior import generate_prior_tokens

    config = ar_config(get_config("tiny"))
    config.text_config.vision_vocab_size = 130  # codebook 128 + image start/end
    torch.manual_seed(0)
    model = GlmImageForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight[128:] = 50 * model.model.language_model.norm.weight.sign()
    processor = build_components("tiny")["processor"]
    with torch.inference_mode():
        ids = generate_prior_tokens(model, processor, ["x"], 128, 128, seed=0)
    assert ids.shape == (1, 64) and int(ids.max()) < 128


def test_bf16_precision_runs_the_dit_and_vae_in_bf16_and_stays_close():
    kw = dict(height=128, width=128, num_inference_steps=2, seed=0, prior_token_ids=random_prior(1, 128, 128))
    exact = BlueprintPipeline(build_components("tiny", seed=0))
    fast = BlueprintPipeline(build_components("tiny", seed=0)).set_precision("bf16")
    assert fast.transformer.dtype == fast.vae.dtype == torch.bfloat16
    assert fast.vision_language_encoder.dtype == fast.text_encoder.dtype == torch.float32  # AR and glyphs stay fp32
    a, b = pixels(exact(PROMPT, **kw)).astype(float), pixels(fast(PROMPT, **kw)).astype(float)
    assert not np.array_equal(a, b)  # it really ran in another dtype
    assert np.abs(a - b).mean() < 4  # and gave nearly the same image (0..255 scale)


def test_auto_precision_follows_the_hardware(monkeypatch):
    from blueprint.models import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.resolve_precision("auto", "cpu") == torch.float32
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve_precision("auto", "cpu") == torch.bfloat16
    assert precision.resolve_precision("fp32", "cpu") == torch.float32


def test_bad_precision_is_refused_and_changes_nothing(pipe):
    with pytest.raises(BlueprintError, match="precision must be one of auto, fp32, bf16"):
        pipe.set_precision("fp16")
    assert pipe.transformer.dtype == torch.float32
