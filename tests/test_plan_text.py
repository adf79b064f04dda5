"""The layout plan's words: exact for the engine's specs, read back into a spec the renderer draws."""

import numpy as np
import pytest

from blueprint.data.dataset import spec_at
from blueprint.data.plan_text import (
    EOS, SEPARATOR, UNIT, VOCAB, allowed_next, plan_from_ids, plan_ids, plan_of, prompt_words, quote_part, quotes_of, spec_of_plan,
)
from blueprint.data.render import render
from blueprint.data.spec import ALL_KINDS
from blueprint.errors import BlueprintError

SIZES = [(256, 256), (384, 256), (256, 384), (512, 512), (768, 512)]


def engine_specs(n_per_kind: int = 3):
    for style in ("exact", "user"):
        for i in range(n_per_kind * len(ALL_KINDS)):
            width, height = SIZES[i % len(SIZES)]
            yield spec_at(i, width, height, "all", caption_style=style)


def test_every_engine_spec_round_trips_through_its_plan():
    kinds = set()
    for spec in engine_specs():
        quotes = quotes_of(spec.caption)
        plan = plan_of(spec, quotes)
        assert plan_from_ids(plan_ids(plan)) == plan
        back = spec_of_plan(plan, quotes, spec.width, spec.height)
        kinds.add(back.kind)
        assert (back.kind, back.background) == (spec.kind, spec.background)
        assert [(e.kind, e.role, e.color, e.shape, e.material, e.text) for e in back.elements] == \
               [(e.kind, e.role, e.color, e.shape, e.material, e.text) for e in spec.elements]
        for a, b in zip(back.elements, spec.elements):  # boxes: outward to whole units, clipped to the image
            assert all(abs(x - y) < UNIT for x, y in zip(a.box, b.box)), (a.box, b.box)
    assert kinds == set(ALL_KINDS)


def test_a_plan_draws_close_to_the_design_it_came_from():
    spec = spec_at(3, 384, 256, "chart")
    drawn = render(spec_of_plan(plan_of(spec, quotes_of(spec.caption)), spec.texts, 384, 256))
    a = np.asarray(render(spec).image, dtype=float)
    b = np.asarray(drawn.image, dtype=float)
    assert np.abs(a - b).mean() < 12  # same colours in the same places; text sizes are refitted to the boxes
    assert (np.abs(a - b).max(axis=-1) < 30).mean() > 0.8


def test_a_short_prompt_that_quotes_item_and_price_together_is_planned_in_parts():
    assert quote_part("Latte", ["MENU", "Latte $4.25"]) == (1, "head")
    assert quote_part("$4.25", ["MENU", "Latte $4.25"]) == (1, "tail")
    assert quote_part("MENU", ["MENU", "Latte $4.25"]) == (0, "all")
    assert quote_part("Mocha", ["MENU", "Latte $4.25"]) is None
    plan = "menu white ; text item black sans q1 head 2 2 30 10 ; text price black sans q1 tail 40 2 60 10"
    spec = spec_of_plan(plan, ["MENU", "Latte $4.25"], 256, 256)
    assert [e.text for e in spec.elements] == ["Latte", "$4.25"]


def test_a_text_the_prompt_does_not_quote_cannot_be_planned():
    spec = spec_at(0, 256, 256, "sign")
    with pytest.raises(BlueprintError, match="in no quote"):
        plan_of(spec, ["SOMETHING ELSE"])


def test_words_that_do_not_make_an_element_drop_only_that_element():
    quotes = ["OPEN"]
    plan = ("sign red ; panel board white 2 2 60 40 ; text name black bold q0 all 10 10 50 20 ; "
            "shape circle blue 4 4 8 8 ; text name black bold q5 all 10 10 50 20 ; bar bar green 9 9 3 3 ; "
            "panel board pink 1 2 3")
    spec = spec_of_plan(plan, quotes, 256, 256)
    assert [(e.kind, e.color) for e in spec.elements] == [("panel", "white"), ("text", "black")]
    assert [e.id for e in spec.elements] == [1, 2]
    render(spec)  # it draws


@pytest.mark.parametrize("plan", ["", "sign", "sign magenta", "circle red ; text", "red sign"])
def test_a_plan_without_a_design_and_a_background_is_refused(plan):
    with pytest.raises(BlueprintError, match="starts with a design kind"):
        spec_of_plan(plan, [], 256, 256)


def test_plan_ids_refuse_unknown_words_and_stop_at_the_end_token():
    with pytest.raises(BlueprintError, match="not plan words: hello"):
        plan_ids("sign red ; hello")
    ids = plan_ids("sign red")
    assert ids[-1] == EOS and len(set(VOCAB)) == len(VOCAB)
    assert plan_from_ids(ids + plan_ids("menu blue")) == "sign red"
    assert plan_from_ids([0, 2, len(VOCAB) + 5] + ids) == "sign red"  # specials and ids past the vocabulary


def test_the_planner_reads_words_numbers_and_quotes_by_index_and_length():
    prompt = 'A bar chart titled "Fruit Sales" on a RED background: \u201cApples\u201d 5 and "JEAN\'S" 12.'
    assert quotes_of(prompt) == ["Fruit Sales", "Apples", "JEAN'S"]
    assert prompt_words(prompt, 384, 256) == [
        "96", "64", "a", "bar", "chart", "titled", "q0", "11", "on", "a", "red", "background",
        "q1", "6", "5", "and", "q2", "6", "12"]
    assert prompt_words("", 256, 256) == ["64", "64"]


def test_the_grammar_accepts_every_engine_plan():
    for spec in engine_specs(n_per_kind=4):
        quotes = quotes_of(spec.caption)
        words = plan_of(spec, quotes).split() + ["</s>"]
        for k, word in enumerate(words):
            assert word in allowed_next(words[:k], quotes, spec.width, spec.height), (words[:k], word)


def test_the_grammar_draws_each_quote_once_and_ends_only_when_all_are_drawn():
    quotes = ["Latte $4.25", "MENU"]
    head = "menu red ; text item black sans".split()
    assert allowed_next(head, quotes, 256, 256) == ("q0", "q1")
    assert allowed_next(head + ["q0"], quotes, 256, 256) == ("all", "head", "tail")
    assert allowed_next(head + ["q1"], quotes, 256, 256) == ("all",)  # one word: no head and tail
    drawn_head = "menu red ; text item black sans q0 head 1 2 3 4 ; text price black sans".split()
    assert allowed_next(drawn_head, quotes, 256, 256) == ("q0", "q1")  # q0's tail is still free
    assert allowed_next(drawn_head + ["q0"], quotes, 256, 256) == ("tail",)
    one = "menu red ; text item black sans q0 all 1 2 3 4".split()
    assert allowed_next(one, quotes, 256, 256) == (SEPARATOR,)  # q1 is not drawn yet
    assert "</s>" in allowed_next(one, quotes[:1], 256, 256)
    assert "text" not in allowed_next(one + [SEPARATOR], quotes[:1], 256, 256)  # no quote left to draw
    assert allowed_next(["sign", "red"], [], 256, 256) == (SEPARATOR, "</s>")


def test_the_grammar_keeps_boxes_inside_the_image_and_not_empty():
    shape = "sign red ; shape circle blue circle".split()
    assert allowed_next(shape, [], 384, 256) == tuple(str(i) for i in range(96))  # x0 < 96 units
    assert allowed_next(shape + ["10"], [], 384, 256)[-1] == "63"
    assert allowed_next(shape + ["10", "20"], [], 384, 256) == tuple(str(i) for i in range(11, 97))
    assert allowed_next(shape + ["10", "20", "11"], [], 384, 256) == tuple(str(i) for i in range(21, 65))
    assert allowed_next(shape + ["10", "20", "11", "21"], [], 384, 256) == (SEPARATOR, "</s>")
