"""The colour plan: the background colour read from a prompt, and the AR stage leaning
toward it (blueprint.pipeline.plan, `code_bias` in blueprint.pipeline.prior)."""

import json
from pathlib import Path

import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.models.folder import load_component
from blueprint.models.image_tokenizer import codebook_readings
from blueprint.models.settings import update_settings
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.plan import ColorPlan, code_bias, read_plan
from blueprint.pipeline.prior import sample_prior_sequences

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
KINDS = ("background", "text", "shape", "bar", "panel")
COLORS = ("red", "blue", "black")
WIDTH, HEIGHT = 96, 64


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (BENCHMARKS / name).read_text().splitlines() if line.strip()]


def test_exact_captions_state_their_background_and_the_plan_reads_it():
    held = rows("heldout.jsonl")
    assert [read_plan(r["prompt"]).background for r in held] == [r["spec"]["background"] for r in held]


@pytest.mark.parametrize("name", ["user_prompts.jsonl", "own_words.jsonl"])
def test_user_prompts_plan_only_the_background_they_state(name):
    for r in rows(name):
        stated = "background" in r["spec"]["stated"]
        got = read_plan(r["prompt"]).background
        assert got == (r["spec"]["background"] if stated else None), r["prompt"]


@pytest.mark.parametrize("prompt, background", [
    ('A sign that reads "red background" on a blue background.', "blue"),  # quoted words are text, not a plan
    ('A poster saying "hi". The background is grey.', "gray"),
    ('A label on a red background, with a blue background stripe.', None),  # two stated: nothing enforced
    ('A red sign that reads "OPEN"', None),  # the sign's colour, not the background's
    ("A poster with a tired background", None),  # a colour name inside a word is not a colour
    ("", None),
])
def test_read_plan_phrases(prompt, background):
    assert read_plan(prompt).background == background


def test_code_bias_leans_toward_the_stated_background_and_rules_out_others():
    #                      bg/red bg/blue text on red  shape on black  bg/black
    kind = torch.tensor([0, 0, 1, 2, 0])
    bg = torch.tensor([0, 1, 0, 2, 2])
    plans = [ColorPlan("red"), ColorPlan(None), ColorPlan("black")]
    bias = code_bias(plans, kind, bg, KINDS, COLORS, strength=2.0, forbid=True)
    inf = float("inf")
    assert bias.tolist() == [[2.0, -inf, 2.0, 0.0, -inf], [0.0] * 5, [-inf, -inf, 0.0, 2.0, 2.0]]
    soft = code_bias(plans[:1], kind, bg, KINDS, COLORS, strength=1.0)
    assert soft.tolist() == [[1.0, 0.0, 1.0, 0.0, 0.0]]
    assert code_bias([ColorPlan(None)], kind, bg, KINDS, COLORS, 2.0) is None
    # a codebook with no background code of the stated colour: nothing is ruled out
    assert code_bias([ColorPlan("blue")], torch.tensor([0, 1]), torch.tensor([0, 1]), KINDS, COLORS, 1.0,
                     forbid=True).tolist() == [[0.0, 1.0]]


@pytest.fixture(scope="module")
def rl_folder(tmp_path_factory, make_rl_folder):
    torch.set_num_threads(2)
    return make_rl_folder(tmp_path_factory.mktemp("plan") / "tiny")


@pytest.mark.parametrize("seed, guidance", [(3, 1.0), ([3, 4], 1.0), ([3, 4], 2.0)])
def test_the_prior_writes_only_codes_the_bias_leaves(rl_folder, seed, guidance):
    vle = load_component(rl_folder, "vision_language_encoder")
    processor = load_component(rl_folder, "processor")
    codebook = vle.config.vq_config.num_embeddings
    allowed = torch.zeros(2, codebook, dtype=torch.bool)
    allowed[0, 5:9] = True
    allowed[1, 100:102] = True
    bias = torch.zeros(2, codebook).masked_fill(~allowed, -float("inf"))
    _, out = sample_prior_sequences(vle, processor, ["a red sign", "two blue bars"], WIDTH, HEIGHT, seed,
                                    temperature=1.0, top_p=1.0, guidance=guidance, code_bias=bias)
    assert out.shape[1] > 0
    for row, ok in zip(out, allowed):
        assert ok[row].all()
    with pytest.raises(ValueError, match="code_bias must be"):
        sample_prior_sequences(vle, processor, ["a red sign"], WIDTH, HEIGHT, 0, code_bias=bias)


def test_pipeline_color_plan_puts_the_stated_colour_behind_every_cell(rl_folder):
    pipe = BlueprintPipeline.from_pretrained(rl_folder)
    readings = codebook_readings(pipe.vision_language_encoder, pipe.semantic_head)
    kind, bg = readings["kind"].argmax(-1), readings["bg"].argmax(-1)
    colors = pipe.semantic_head.vocab.colors
    # the colour with the fewest background codes the random head reads (at least one)
    color = min((c for c in colors if ((kind == 0) & (bg == colors.index(c))).any()),
                key=lambda c: int(((kind == 0) & (bg == colors.index(c))).sum()))
    prompt = f'A sign that reads "OPEN" on a {color} background'
    behind = {}
    for plan in (0.0, 100.0):  # 100 in logits: codes with that colour behind them outweigh every other
        out = pipe(prompt, height=128, width=128, seed=1, num_inference_steps=1, temperature=1.0, top_p=1.0,
                   color_plan=plan)
        behind[plan] = bg[out.prior_token_ids[0]]
    assert (behind[100.0] == colors.index(color)).all()
    assert not (behind[0.0] == colors.index(color)).all()
    with pytest.raises(BlueprintError, match="color plan must be"):
        pipe(prompt, height=128, width=128, num_inference_steps=1, color_plan=-1.0)


def test_the_model_folder_sets_the_default_and_a_bad_one_is_refused(rl_folder, tmp_path):
    import shutil

    folder = shutil.copytree(rl_folder, tmp_path / "planned")
    update_settings(folder, color_plan=3.0)
    assert BlueprintPipeline.from_pretrained(folder).color_plan == 3.0
    assert BlueprintPipeline.from_pretrained(rl_folder).color_plan == 0.0
    update_settings(folder, color_plan=-1)
    with pytest.raises(BlueprintError, match="blueprint.json: color plan must be"):
        BlueprintPipeline.from_pretrained(folder)


def test_pipeline_color_plan_needs_a_semantic_head(tmp_path):
    from blueprint.models import build_components, save_components

    pipe = BlueprintPipeline.from_pretrained(save_components(build_components("tiny", seed=0), tmp_path / "m"))
    with pytest.raises(BlueprintError, match="semantic head"):
        pipe('A sign on a red background', height=128, width=128, num_inference_steps=1, color_plan=1.0)
    with pytest.raises(BlueprintError, match="semantic head"):
        BlueprintPipeline.from_pretrained(update_settings(tmp_path / "m", color_plan=2.0) or tmp_path / "m")
    pipe("A sign on a red background", height=128, width=128, num_inference_steps=1)  # off: no head needed
