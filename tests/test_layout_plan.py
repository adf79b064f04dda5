"""The planner (a T5 that writes layout plans), its training stage, and the AR stage steered by its plans."""

import shutil
import time

import pytest
import torch

from blueprint.data.plan_text import VOCAB, plan_ids, quotes_of, spec_of_plan
from blueprint.errors import BlueprintError
from blueprint.models.folder import load_component
from blueprint.models.planner import Planner, PlannerVocab, build_planner, has_planner, load_planner, save_planner
from blueprint.models.settings import update_settings
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.layout_plan import (
    background_apart, bars_at_values, draw_plans, planned_codes, shapes_as_stated, stated_shapes, stated_values,
    write_plans,
)
from blueprint.pipeline.prior import generate_prior_tokens, sample_prior_sequences
from blueprint.train.loop import LoopArgs, train
from blueprint.train.planner import compare_plans, make_stage
from blueprint.train.stage import StageArgs

PROMPT = 'A sign on a red background that reads "OPEN" in white letters.'
PLAN = "sign red ; panel board white 4 4 28 28 ; text name black bold q0 all 6 12 26 20"


def test_the_planner_saves_and_loads_with_safetensors(planned_folder, tmp_path):
    assert has_planner(planned_folder) and not has_planner(tmp_path)
    planner = load_planner(planned_folder)
    assert len(planner.vocab) == len(VOCAB) + 3  # "sign" is a plan word already
    assert planner.vocab.ids(["sign", "reads", "zebra"]) == [VOCAB.index("sign"), len(VOCAB) + 1, 2, 1]
    assert sorted(p.name for p in (planned_folder / "planner").iterdir()) == \
           ["config.json", "generation_config.json", "model.safetensors", "vocab.json"]
    with pytest.raises(BlueprintError, match="no trained planner"):
        load_planner(tmp_path)
    broken = shutil.copytree(planned_folder / "planner", tmp_path / "planner")
    (broken / "vocab.json").write_text('{"plan_words": 3, "prompt_only": []}')
    with pytest.raises(BlueprintError, match="not a planner vocabulary"):
        load_planner(tmp_path)
    (broken / "vocab.json").write_text('{"plan_words": %d, "prompt_only": []}' % len(VOCAB))
    with pytest.raises(BlueprintError, match="ids, its vocabulary"):
        load_planner(tmp_path)


def test_a_planner_writes_only_plan_words(planned_folder):
    plans = load_planner(planned_folder).write([PROMPT, "two bars"], 256, 256, max_words=24)
    assert len(plans) == 2
    for plan, prompt in zip(plans, [PROMPT, "two bars"]):
        plan_ids(plan)  # every word is a plan word (raises otherwise)
        groups = plan.split(" ; ")
        # under the grammar every element parses, even from a random planner (the last may be cut short)
        spec = spec_of_plan(plan, quotes_of(prompt), 256, 256)
        assert len(spec.elements) >= len(groups) - 2


def test_the_planner_stage_learns_a_plan(tmp_path):
    args = StageArgs(config="tiny", out_dir=tmp_path / "m", batch_size=4, kinds="sign",
                     size=(256, 256), extra_sizes=((384, 256),))
    fresh = make_stage(args)
    first = fresh.loss(fresh.batch(0, 0, 1))[0].item()
    result = train(make_stage, args, LoopArgs(steps=40, lr=3e-3, log_every=40, ckpt_every=40, progress=False))
    assert result["exported"] and has_planner(tmp_path / "m")
    assert result["loss"] < first * 0.7
    scores = (tmp_path / "m" / "logs" / "planner-eval.json").read_text()
    assert '"head"' in scores and '"iou"' in scores
    # a folder with a planner is fine-tuned from it: the next run starts where this one ended
    again = make_stage(StageArgs(config="tiny", out_dir=tmp_path / "ft", init_from=tmp_path / "m", batch_size=4,
                                 kinds="sign", size=(256, 256), extra_sizes=((384, 256),)))
    assert again.loss(again.batch(0, 0, 1))[0].item() < first * 0.7


def test_a_planner_of_another_vocabulary_is_not_fine_tuned(tmp_path, planned_folder):
    folder = shutil.copytree(planned_folder, tmp_path / "m")
    with pytest.raises(BlueprintError, match="another vocabulary"):
        make_stage(StageArgs(config="tiny", out_dir=folder, batch_size=2, kinds="sign"))


def test_the_stage_batch_is_a_function_of_the_step(tmp_path):
    args = StageArgs(config="tiny", out_dir=tmp_path / "m", batch_size=3, kinds="all", caption_style="mixed")
    from blueprint.train.model_dir import ensure_model_dir

    ensure_model_dir(args.out_dir, "tiny", 0)
    stage = make_stage(args)
    a, b = stage.batch(5, 0, 1), stage.batch(5, 0, 1)
    assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["input_ids"], b["input_ids"])
    assert not torch.equal(a["labels"][:, :3], stage.batch(6, 0, 1)["labels"][:, :3])


def test_compare_plans_scores_agreement():
    assert compare_plans(PLAN, PLAN) == {"head": 1.0, "count": 1.0, "elements": 1.0, "iou": 1.0, "exact": 1.0}
    moved = PLAN.replace("4 4 28 28", "4 4 16 28")
    scores = compare_plans(moved, PLAN)
    assert scores["elements"] == 1.0 and 0.7 < scores["iou"] < 1.0 and scores["exact"] == 0.0
    recoloured = compare_plans(PLAN.replace("panel board white", "panel board blue"), PLAN)
    assert recoloured["elements"] == 0.5


def test_a_large_strength_makes_the_prior_write_the_planned_codes(planned_folder):
    vle = load_component(planned_folder, "vision_language_encoder")
    processor = load_component(planned_folder, "processor")
    drawings = draw_plans([PLAN, "not a plan"], [PROMPT, PROMPT], 128, 128)
    assert drawings[1] is None
    codes = planned_codes(vle, processor, drawings, 128, 128)
    assert (codes[0] >= 0).all() and (codes[1] == -1).all()
    _, out = sample_prior_sequences(vle, processor, [PROMPT, PROMPT], 128, 128, [1, 2], temperature=1.0,
                                    top_p=1.0, planned=(codes, 1e4))
    assert torch.equal(out[0, :codes.shape[1]], codes[0])
    _, free = sample_prior_sequences(vle, processor, [PROMPT, PROMPT], 128, 128, [1, 2], temperature=1.0, top_p=1.0)
    assert torch.equal(out[1], free[1])  # a row without a plan samples as it would alone
    assert not torch.equal(free[0, :codes.shape[1]], codes[0])
    ids = generate_prior_tokens(vle, processor, [PROMPT], 128, 128, 1, planned=(codes[:1], 1e4), guidance=2.0)
    assert ids.shape[0] == 1
    with pytest.raises(ValueError, match="planned codes must be"):
        sample_prior_sequences(vle, processor, [PROMPT], 128, 128, 0, planned=(codes, 1.0))


def test_a_background_the_prompt_states_is_the_plans(planned_folder):
    planner = load_planner(planned_folder)
    free = planner.write([PROMPT, "two bars"], 256, 256, max_words=4)
    forced = planner.write([PROMPT, "two bars"], 256, 256, max_words=4, backgrounds=["purple", None])
    assert forced[0].split()[1] == "purple" and forced[1] == free[1]
    stated = 'A yellow label on a purple background that reads "SALE".'
    assert write_plans(planner, [stated], 256, 256)[0].split()[1] == "purple"
    with pytest.raises(BlueprintError, match="one colour name or None per prompt"):
        planner.write([PROMPT], 256, 256, backgrounds=["reddish"])
    with pytest.raises(BlueprintError, match="one colour name or None per prompt"):
        planner.write([PROMPT], 256, 256, backgrounds=[])


def test_a_charts_stated_values_are_its_bars_lengths():
    prompt = 'Bar chart "Fruit": "Apples" 5, "Pears": 2.5 and "Plums" 10%, no more.'
    assert stated_values(prompt) == [5, 2.5, 10] and stated_values('"Espresso $3.50", "Latte" 4x') == []
    vertical = "chart red ; bar bar blue 10 30 20 100 ; bar bar blue 30 40 40 100 ; bar bar blue 50 30 60 100"
    boxes = [g.split()[-4:] for g in bars_at_values(vertical, [5, 2.5, 10]).split(";")[1:]]
    assert [int(b[1]) for b in boxes] == [65, 82, 30] and all(b[3] == "100" for b in boxes)
    horizontal = "chart red ; text title white sans q0 all 4 4 40 10 ; bar bar blue 5 20 90 26 ; bar bar blue 5 30 120 36"
    assert bars_at_values(horizontal, [1, 4]).split(";")[2].split()[-4:] == ["5", "20", "34", "26"]
    for plan, values in [(horizontal, [1, 2, 3]), (horizontal.replace("chart", "poster", 1), [1, 4]), (vertical, [0, 0, 0])]:
        assert bars_at_values(plan, values) == plan  # not one bar per value, not a chart, no largest value


def test_a_scenes_counted_shapes_are_its_plans():
    prompt = 'Two pink triangles, a grey star and 2 blue circles with the word "three red stars" above them'
    assert stated_shapes(prompt) == [(2, "pink", "triangle"), (1, "gray", "star"), (2, "blue", "circle")]
    shape = "shape circle red circle {0} 10 {1} 20"
    plan = "scene white ; text title black sans q0 all 4 2 60 8 ; " + " ; ".join(
        shape.format(x, x + 10) for x in range(5, 80, 12))  # seven red circles
    groups = [g.split() for g in shapes_as_stated(plan, stated_shapes(prompt)).split(";")[2:]]
    assert [(g[1], g[2], g[3]) for g in groups] == [("triangle", "pink", "triangle")] * 2 + [("star", "gray", "star")] \
        + [("circle", "blue", "circle")] * 2
    assert [g[-4] for g in groups] == ["5", "17", "29", "41", "53"]  # the plan's places, in order; extras dropped
    spec_of_plan(shapes_as_stated(plan, stated_shapes(prompt)), quotes_of(prompt), 320, 320)  # it still parses
    assert shapes_as_stated(plan, [(8, "red", "star")]) == plan  # fewer shapes than stated: as it was
    poster = plan.replace("scene", "poster", 1)
    assert shapes_as_stated(poster, [(1, "blue", "star")]) == poster  # only a scene's shapes are counted
    white = shapes_as_stated(plan, [(2, "white", "star")])  # white stars on white: not drawn at all
    assert background_apart(white).split()[:2] == ["scene", "yellow"]  # white stars, black title: yellow
    assert background_apart(plan) == plan


def test_pipeline_layout_plan_returns_the_plans(planned_folder):
    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    out = pipe(PROMPT, height=128, width=128, seed=1, num_inference_steps=1, layout_plan=3.0)
    assert len(out.plans) == 1 and "plan" in out.timings
    assert pipe(PROMPT, height=128, width=128, seed=1, num_inference_steps=1).plans is None
    with pytest.raises(BlueprintError, match="layout plan must be"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, layout_plan=-1.0)


def test_a_layout_plan_needs_a_planner(planned_folder, tmp_path):
    folder = shutil.copytree(planned_folder, tmp_path / "m")
    update_settings(folder, layout_plan=2.0)
    assert BlueprintPipeline.from_pretrained(folder).layout_plan == 2.0
    shutil.rmtree(folder / "planner")
    with pytest.raises(BlueprintError, match="trained planner"):
        BlueprintPipeline.from_pretrained(folder)
    update_settings(folder, layout_plan=0.0)
    pipe = BlueprintPipeline.from_pretrained(folder)
    with pytest.raises(BlueprintError, match="trained planner"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, layout_plan=1.0)


def test_the_server_steers_by_the_plan_and_returns_it(planned_folder, one_torch_thread):
    from fastapi.testclient import TestClient

    from blueprint.serve.app import create_app

    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    pipe.layout_plan = 2.0  # as a folder's blueprint.json would set it
    with TestClient(create_app(pipe, compile=False, warmup=False)) as client:
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        r = client.post("/v1/images/generations", json={"prompt": PROMPT, "n": 2, "size": "128x128",
                                                         "num_inference_steps": 1, "return_blueprint": True})
    assert r.status_code == 200, r.text
    plans = [item["blueprint"]["plan"] for item in r.json()["data"]]
    assert isinstance(plans[0], str) and plans[0] == plans[1]
    plan_ids(plans[0])
