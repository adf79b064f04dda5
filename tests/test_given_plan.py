"""A layout plan given by the caller (written or edited by hand): checked whole, then followed,
from Python, the command line and the server."""

import base64
import io
import shutil
import time

import numpy as np
import PIL.Image
import pytest
import torch

from blueprint.cli import main
from blueprint.cli.plan import plan_lines
from blueprint.data.plan_text import check_plan
from blueprint.data.spec import ALL_KINDS
from blueprint.errors import BlueprintError
from blueprint.models.folder import load_component, save_component
from blueprint.models.glyph_layer import with_shape_plane
from blueprint.models.grid import image_grid
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.layout_plan import (
    GIVEN_PLAN_STRENGTH, draw_plans, plan_specs, plan_strength, planned_codes, planned_ink,
)

PROMPT = 'A sign on a red background that reads "OPEN" in white letters.'
PLAN = "sign red ; panel board white 4 4 28 28 ; text name black bold q0 all 6 12 26 20"
BAR = PLAN + " ; bar bar blue 6 22 26 24"  # 8 px thick, under the text: finer than the AR grid's cells
MENU = ["MENU", "Latte $4.25"]


def decode(b64: str) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(b64))), dtype=np.int16)


def test_a_plan_reads_the_same_one_element_a_line():
    lines = plan_lines(PLAN)
    assert lines.splitlines()[0] == "sign red" and len(lines.splitlines()) == 3
    assert check_plan(lines + "\n\n", ["OPEN"], 128, 128) == check_plan(PLAN, ["OPEN"], 128, 128)


def test_a_quote_may_be_drawn_in_parts():
    spec = check_plan("menu white\ntext title red serif q0 all 10 2 50 12\n"
                      "text item black sans q1 head 2 20 30 28\ntext price black sans q1 tail 40 20 60 28",
                      MENU, 256, 256)
    assert [e.text for e in spec.elements] == ["MENU", "Latte", "$4.25"]


@pytest.mark.parametrize("plan, reason", [
    ("menu whit ; text title red serif q0 all 10 2 50 12", "starts with a design kind"),
    ("menu white ; text title red serif q0 all 10 2 50 12", "no text draws q1"),
    ("menu white ; text title red serif q0 all 10 2 50 12 ; text item black sans q1 head 2 20 30 28",
     "no text draws q1"),
    ("menu white ; text title red serif q2 all 10 2 50 12", "'q2' is not a quote"),
    ("menu white ; text title red serif q0 all 1 1 2 2", "does not fit its box"),
    ("menu white ; bar bar red 10 10 5 5", "is empty"),
    ("menu white ; blob bar red 1 1 5 5", "not an element kind"),
    ("menu white ; shape circle reddish 1 1 5 5", "not a colour"),
    ("menu white ; shape circle red 1 1 5 5", "a shape names one of"),
    ("menu white ; text title red serif q0 all 10 2 50", "element 1"),
    ("menu white ; text title red serif q0 everything 10 2 50 12", "not a part of a quote"),
    ("menu white ; text title red serif q0 head 10 2 50 12", "no head"),
])
def test_a_plan_that_does_not_parse_is_refused_with_the_reason(plan, reason):
    with pytest.raises(BlueprintError, match=reason):
        check_plan(plan, MENU, 256, 256)


def test_the_strength_of_a_given_plan():
    assert plan_strength(None, 0.0, None) == 0.0 and plan_strength(None, 6.0, None) == 6.0
    assert plan_strength(None, 0.0, PLAN) == GIVEN_PLAN_STRENGTH  # a plan someone wrote is copied
    assert plan_strength(None, 6.0, PLAN) == 6.0 and plan_strength(3.0, 0.0, PLAN) == 3.0
    with pytest.raises(BlueprintError, match="would ignore it"):
        plan_strength(0.0, 6.0, PLAN)


def test_the_pipeline_follows_a_given_plan_without_a_planner(planned_folder, tmp_path):
    folder = shutil.copytree(planned_folder, tmp_path / "m")
    shutil.rmtree(folder / "planner")
    pipe = BlueprintPipeline.from_pretrained(folder)
    other = 'A blue poster that reads "SALE"'
    out = pipe([PROMPT, other], height=128, width=128, seed=[1, 2], num_inference_steps=1, plan=[PLAN, None])
    assert out.plans == [PLAN, None]
    vle, processor = load_component(folder, "vision_language_encoder"), load_component(folder, "processor")
    codes = planned_codes(vle, processor, draw_plans([PLAN], [PROMPT], 128, 128), 128, 128)
    token_h, token_w, _, _ = image_grid(128, 128, processor.preview_grid)
    full = codes[0, -token_h * token_w:]  # the full grid: the DiT's patch grid holds each code 2x2
    written = out.prior_token_ids[0].view(2 * token_h, 2 * token_w)[::2, ::2].flatten()
    assert torch.equal(written, full)
    unplanned = pipe([PROMPT, other], height=128, width=128, seed=[1, 2], num_inference_steps=1)
    assert torch.equal(out.prior_token_ids[1], unplanned.prior_token_ids[1])  # the row without a plan
    assert not torch.equal(out.prior_token_ids[0], unplanned.prior_token_ids[0])
    with pytest.raises(BlueprintError, match="trained planner"):
        pipe(other, height=128, width=128, num_inference_steps=1, layout_plan=2.0)


def test_a_plans_letters_and_shapes_go_to_the_glyph_layer(planned_folder, tmp_path, one_torch_thread):
    specs = plan_specs([BAR, PLAN], [PROMPT, PROMPT], 128, 128)
    ink = planned_ink(specs, draw_plans([BAR, PLAN], [PROMPT, PROMPT], 128, 128))
    bar = (slice(88, 96), slice(24, 104))  # the bar's box in pixels: 4 px a unit
    assert ink[0][1][bar].min() == 1 and ink[0][1].sum() == ink[0][1][bar].sum() and ink[1][1].max() == 0
    ys, xs = torch.nonzero(ink[0][0], as_tuple=True)  # "OPEN" typeset centred on its box (24..104 x 48..80)
    centre = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    assert ink[0][0].sum() > 50 and abs(centre[0] - 64) <= 4 and abs(centre[1] - 64) <= 4

    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    assert pipe.ink_planes == 1  # tiny: letters only, so a plan's shapes are left out
    out = pipe([PROMPT, PROMPT], height=128, width=128, seed=[1, 1], num_inference_steps=1, plan=[BAR, None])
    assert out.glyph_ink.shape == (2, 1, 128, 128) and torch.equal(out.glyph_ink[0, 0], ink[0][0])

    folder = shutil.copytree(planned_folder, tmp_path / "m")  # a decoder with a shape plane
    wider = with_shape_plane(load_component(folder, "transformer"), 8)
    with torch.no_grad():  # weights on the new plane, so that its shapes change the image
        wider.image_projector.proj.weight[:, -64 * wider.config.patch_size ** 2:].normal_(0, 0.5)
    save_component(wider, folder, "transformer")
    pipe = BlueprintPipeline.from_pretrained(folder)
    assert pipe.ink_planes == 2
    out = pipe([PROMPT, PROMPT], height=128, width=128, seed=[1, 1], num_inference_steps=1, plan=[BAR, None])
    assert out.glyph_ink.shape == (2, 2, 128, 128)
    assert torch.equal(out.glyph_ink[0], ink[0]) and out.glyph_ink[1, 1].max() == 0  # no plan: no shapes
    unplanned = pipe(PROMPT, height=128, width=128, seed=[1], num_inference_steps=1,
                     prior_token_ids=out.prior_token_ids[1:])
    assert torch.equal(out.glyph_ink[1, :1], unplanned.glyph_ink[0, :1])  # no plan: letters set from the tokens
    again = pipe(PROMPT, height=128, width=128, seed=[1], num_inference_steps=1,
                 prior_token_ids=out.prior_token_ids[:1], plan_ink=ink[:1])
    assert torch.equal(again.glyph_ink, out.glyph_ink[:1])  # given with the tokens: the server's way
    ids = out.prior_token_ids[:1]
    with pytest.raises(BlueprintError, match=r"plan_ink entry must be a tensor of shape \(2, 128, 128\)"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, prior_token_ids=ids,
             plan_ink=[torch.zeros(1, 128, 128)])
    with pytest.raises(BlueprintError, match="a list of 1 entries"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, prior_token_ids=ids, plan_ink=ink)
    with pytest.raises(BlueprintError, match="goes with prior_token_ids"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, plan_ink=ink[:1])
    with pytest.raises(BlueprintError, match=r"values must lie in \[0, 1\]"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, prior_token_ids=ids, plan_ink=[2 * ink[0]])

    from fastapi.testclient import TestClient

    from blueprint.serve.app import create_app

    with TestClient(create_app(pipe, compile=False, warmup=False)) as client:  # the server plans, then denoises
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        served = client.post("/v1/images/generations", json={"prompt": PROMPT, "size": "128x128", "seed": 5,
                                                              "num_inference_steps": 1, "plan": BAR})
    alone = pipe(PROMPT, height=128, width=128, seed=[5], num_inference_steps=1, plan=BAR).images[0]
    assert served.status_code == 200, served.text
    assert np.array_equal(decode(served.json()["data"][0]["b64_json"]), np.asarray(alone, dtype=np.int16))


def test_a_bad_plan_is_refused_before_any_work(planned_folder):
    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    calls = []
    with pytest.raises(BlueprintError, match="no text draws q0"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, plan="sign red ; panel board white 4 4 28 28",
             callback=lambda *a: calls.append(a))
    assert calls == []
    with pytest.raises(BlueprintError, match="2 layout plans for 1 prompts"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, plan=[PLAN, PLAN])
    with pytest.raises(BlueprintError, match="skips"):
        pipe(PROMPT, height=128, width=128, num_inference_steps=1, plan=PLAN,
             prior_token_ids=torch.zeros(1, 64, dtype=torch.long))


def test_generate_and_plan_on_the_command_line(planned_folder, tmp_path, capsys):
    assert main(["plan", PROMPT, "--size", "128x128", "--model", str(planned_folder)]) == 0
    written = capsys.readouterr().out
    assert written.splitlines()[0].split()[0] in ALL_KINDS
    plan_file = tmp_path / "plan.txt"
    plan_file.write_text(plan_lines(PLAN))
    image = tmp_path / "a.png"
    assert main(["generate", PROMPT, "--model", str(planned_folder), "--size", "128x128", "--steps", "1",
                 "--plan-file", str(plan_file), "-o", str(image)]) == 0
    assert image.is_file() and "layout plan: sign red ; panel board white" in capsys.readouterr().out
    bad = tmp_path / "b.png"
    assert main(["generate", PROMPT, "--model", str(planned_folder), "--size", "128x128", "--steps", "1",
                 "--plan", "sign red", "-o", str(bad)]) == 2
    assert "no text draws q0" in capsys.readouterr().err and not bad.exists()
    assert main(["generate", PROMPT, "--model", str(planned_folder), "--plan-file", str(tmp_path / "none.txt"),
                 "-o", str(bad)]) == 2
    assert "cannot read the plan file" in capsys.readouterr().err


def test_the_server_follows_a_given_plan_and_refuses_a_bad_one(planned_folder, one_torch_thread):
    from fastapi.testclient import TestClient

    from blueprint.serve.app import create_app

    pipe = BlueprintPipeline.from_pretrained(planned_folder)
    request = {"prompt": PROMPT, "size": "128x128", "num_inference_steps": 1, "return_blueprint": True, "seed": 5}
    with TestClient(create_app(pipe, compile=False, warmup=False)) as client:
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        given = client.post("/v1/images/generations", json={**request, "plan": plan_lines(PLAN)})
        free = client.post("/v1/images/generations", json=request)
        planned = client.post("/v1/images/generations", json={**request, "layout_plan": 2})
        bad = client.post("/v1/images/generations", json={**request, "plan": "sign red ; text name black bold q3 "
                                                                            "all 6 12 26 20"})
        off = client.post("/v1/images/generations", json={**request, "plan": PLAN, "layout_plan": 0})
        health = client.get("/health")
    assert given.status_code == 200, given.text
    assert given.json()["data"][0]["blueprint"]["plan"] == PLAN  # returned in the planner's form
    assert free.json()["data"][0]["blueprint"]["plan"] is None
    assert given.json()["data"][0]["blueprint"]["grid"] != free.json()["data"][0]["blueprint"]["grid"]
    assert isinstance(planned.json()["data"][0]["blueprint"]["plan"], str)
    for r, what in ((bad, "'q3' is not a quote"), (off, "would ignore it")):
        assert r.status_code == 400 and r.json()["error"]["param"] == "plan" and what in r.json()["error"]["message"]
    assert health.status_code == 200

    pipe.planner = None  # a model without a planner follows a given plan, and cannot plan one itself
    with TestClient(create_app(pipe, compile=False, warmup=False)) as client:
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        given = client.post("/v1/images/generations", json={**request, "plan": PLAN})
        planned = client.post("/v1/images/generations", json={**request, "layout_plan": 2})
    assert given.status_code == 200 and given.json()["data"][0]["blueprint"]["plan"] == PLAN
    assert planned.status_code == 400 and planned.json()["error"]["param"] == "layout_plan"
