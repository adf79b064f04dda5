"""Component configurations and the helpers shared by sampling and training,
checked against diffusers' GlmImagePipeline (the reference implementation)."""

import pytest
import torch
from diffusers import GlmImagePipeline
from diffusers.pipelines.glm_image.pipeline_glm_image import calculate_shift

from blueprint.errors import BlueprintError
from blueprint.models import (
    COMPONENT_NAMES,
    CONFIGS,
    MODULE_NAMES,
    build_components,
    count_parameters,
    encode_glyphs,
    get_glyph_texts,
    image_grid,
    shift_mu,
    upsample_prior_tokens,
)


@pytest.fixture(scope="module")
def tiny():
    return build_components("tiny", seed=0)


def test_tiny_has_all_components_in_eval_mode(tiny):
    assert set(tiny) == set(COMPONENT_NAMES)
    for name in MODULE_NAMES:
        assert not tiny[name].training, name
        assert all(not m.training for m in tiny[name].modules()), name


def test_build_is_deterministic_in_seed():
    a, b, c = (build_components("tiny", seed=s)["transformer"].state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_unknown_config_is_an_error():
    with pytest.raises(BlueprintError, match="unknown model configuration"):
        build_components("huge")


def test_small_fits_the_embedded_budget():
    counts = count_parameters(build_components("small", device="meta"))
    total = sum(counts.values())
    assert total * 2 <= 80e6, f"small is {total * 2 / 1e6:.1f} MB at fp16"
    assert 10e6 <= counts["transformer"] <= 25e6
    assert counts["vision_language_encoder"] <= 15e6


def test_official_shapes_match_the_released_model():
    counts = count_parameters(build_components("official", device="meta"))
    assert 6.5e9 < counts["transformer"] < 7.2e9  # "7B" decoder
    assert counts["vision_language_encoder"] > 9e9  # GLM-4-9B-based AR model


@pytest.mark.parametrize("name", list(CONFIGS))
def test_token_layout_conventions(name):
    cfg = CONFIGS[name]
    assert cfg.image_start_id == cfg.codebook_size and cfg.image_end_id == cfg.codebook_size + 1


def test_prompt_tokenizer_layout(tiny):
    tok = tiny["processor"].tokenizer
    cfg = CONFIGS["tiny"]
    assert tok.convert_tokens_to_ids("<|dit_token_5|>") == 5
    assert tok.bos_token_id == cfg.image_start_id
    assert tok.padding_side == "left"
    ids = tok("Café \"OPEN\"").input_ids
    assert len(ids) == len("Café \"OPEN\"".encode())  # one token per byte
    assert tok.decode(ids) == "Café \"OPEN\""
    ar = tiny["vision_language_encoder"].config
    assert len(tok) == ar.text_config.vocab_size
    assert tok.convert_tokens_to_ids("<|image|>") == ar.image_token_id


def test_processor_appends_grids_like_the_official_layout(tiny):
    proc = tiny["processor"]
    msgs = [[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]]
    out = proc.apply_chat_template(msgs, tokenize=True, return_dict=True, return_tensors="pt",
                                   processor_kwargs={"target_h": 256, "target_w": 320})
    text = proc.tokenizer.decode(out["input_ids"][0])
    assert text == "hi<sop>8 10<eop><sop>14 17<eop><|dit_token_128|>"
    assert out["image_grid_thw"].tolist() == [[1, 8, 10], [1, 14, 17]]


@pytest.mark.parametrize("prompt", [
    'A sign that reads "OPEN" and \'Hours\'',
    "no quotes at all",
    '\u201cCaf\u00e9\u201d then "A" then \u300cB\u300d and "C"',
])
def test_glyph_texts_match_diffusers(prompt):
    assert [get_glyph_texts(prompt)] == GlmImagePipeline.get_glyph_texts(None, prompt)


def test_glyph_embeddings_match_diffusers(tiny):
    pipe = GlmImagePipeline(**tiny)
    # odd and even numbers of strings (the pad quirk), none, and batch padding
    prompts = ['one "A"', 'two "AB" and "C"', "none", '"x" "y" "zzzzzzzz" \'w\'']
    with torch.no_grad():
        ours, mask = encode_glyphs(tiny["tokenizer"], tiny["text_encoder"], prompts, "cpu")
        ref = pipe._get_glyph_embeds(prompts, device=torch.device("cpu"))
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    assert mask is not None and mask.shape == ours.shape[:2]
    assert mask[3].all() and not mask[2].all()  # longest prompt unpadded, "none" padded


def test_batched_glyph_embeddings_equal_the_per_prompt_path(tiny):
    prompts = ['one "A"', 'two "AB" and "C"', "none", '"x" "y" "zzzzzzzz" \'w\'']
    with torch.no_grad():
        for whole in (False, True):
            ref, ref_mask = encode_glyphs(tiny["tokenizer"], tiny["text_encoder"], prompts, "cpu", whole_prompt=whole)
            ours, mask = encode_glyphs(tiny["tokenizer"], tiny["text_encoder"], prompts, "cpu", whole_prompt=whole,
                                       batched=True)
            torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)  # one padded forward: rounding only
            assert torch.equal(mask, ref_mask)


def test_glyph_mask_is_none_without_padding(tiny):
    with torch.no_grad():
        _, mask = encode_glyphs(tiny["tokenizer"], tiny["text_encoder"], ['"ab"', '"cd"'], "cpu")
    assert mask is None


@pytest.mark.parametrize("width,height", [(256, 256), (320, 256), (128, 256), (1024, 512)])
def test_image_grid_matches_processor(tiny, width, height):
    assert image_grid(width, height) == tiny["processor"]._get_target_shape(height=height, width=width)


def test_upsample_matches_diffusers():
    ids = torch.randint(0, 128, (1, 3 * 5))
    ref = GlmImagePipeline._upsample_token_ids(ids, 3, 5)
    assert torch.equal(upsample_prior_tokens(ids, 3, 5), ref)
    assert ref.shape == (1, 60)


def test_shift_matches_diffusers(tiny):
    config = tiny["scheduler"].config
    for w, h in ((256, 256), (1024, 1024), (512, 256)):
        seq = (h // 8) * (w // 8) // 4
        assert shift_mu(h, w, config) == pytest.approx(calculate_shift(seq))


def test_masked_attention_hides_padding(tiny):
    from blueprint.models.attention import install_masked_attention

    dit = build_components("tiny", seed=0, glyph_layer=False)["transformer"]
    install_masked_attention(dit)
    g = torch.Generator().manual_seed(0)
    glyph = torch.randn(1, 5, 32, generator=g)
    padded = torch.cat([torch.zeros(1, 3, 32), glyph], dim=1)
    mask = torch.tensor([[False] * 3 + [True] * 5])
    kw = dict(hidden_states=torch.randn(1, 4, 8, 8, generator=g),
              prior_token_id=torch.randint(0, 128, (1, 16), generator=g),
              prior_token_drop=torch.zeros(1, 16, dtype=torch.bool), timestep=torch.tensor([500.0]),
              target_size=torch.tensor([[64.0, 64.0]]), crop_coords=torch.zeros(1, 2), return_dict=False)
    with torch.no_grad():
        plain = dit(encoder_hidden_states=glyph, **kw)[0]
        masked = dit(encoder_hidden_states=padded, attention_mask=mask, **kw)[0]
        unmasked = dit(encoder_hidden_states=padded, **kw)[0]
        official = build_components("tiny", seed=0, glyph_layer=False)["transformer"](encoder_hidden_states=glyph, **kw)[0]
    torch.testing.assert_close(masked, plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(plain, official)  # without a mask it *is* the official processor
    assert (unmasked - plain).abs().max() > 1e-3  # the pads would matter without the mask


def test_prompt_merges_make_words_single_tokens_and_keep_the_layout(tiny):
    from blueprint.models.processor import build_prompt_tokenizer, learn_prompt_merges, vocab_size

    codebook = CONFIGS["tiny"].codebook_size
    texts = ['A red poster on a blue background. It reads "Bake"', "A blue sign on a red wall."] * 20
    merges = learn_prompt_merges(texts, 40)
    assert 0 < len(merges) <= 40
    plain, words = tiny["processor"].tokenizer, build_prompt_tokenizer(codebook, merges)
    assert len(words) == vocab_size(codebook, len(merges)) == len(plain) + len(merges)
    for token in ("<|dit_token_0|>", f"<|dit_token_{codebook + 1}|>", "<|endoftext|>", "<sop>", "<|image|>", "a"):
        assert words.convert_tokens_to_ids(token) == plain.convert_tokens_to_ids(token)  # ids of the layout kept
    prompt = 'A red poster. It reads "Zyx Café"'
    assert "Ġred" in words.tokenize(prompt) and "Ġposter" in words.tokenize(prompt)
    assert len(words(prompt).input_ids) < 0.6 * len(plain(prompt).input_ids)
    assert words.decode(words(prompt).input_ids) == prompt  # unseen words still encode, byte by byte
    with pytest.raises(ValueError, match="merge"):
        build_prompt_tokenizer(codebook, [("zz", "q")])
    with pytest.raises(BlueprintError, match="official"):
        build_components("official", device="meta", prompt_merges=merges)
