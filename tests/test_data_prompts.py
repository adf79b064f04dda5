"""User-style prompts: quoted texts and stated attributes are all in the spec; the design is unchanged."""

import itertools
import re

import pytest

from blueprint.data.engine import make_spec
from blueprint.data.spec import ALL_KINDS, Spec
from blueprint.data.words import text_split_ok
from blueprint.errors import BlueprintError

QUOTED = re.compile(r'"([^"]+)"')
SIZES = ((256, 256), (256, 384), (512, 384))


def allowed_quotes(spec: Spec) -> set[str]:
    """Spec texts, and item + price joined (a menu row written as one quote)."""
    texts = [e for e in spec.elements if e.kind == "text"]
    rows = {f"{a.text} {b.text}" for a, b in zip(texts, texts[1:]) if a.role == "item" and b.role == "price"}
    return {e.text for e in texts} | rows


def user_specs(n_seeds=6):
    for kind, seed, (w, h) in itertools.product(ALL_KINDS, range(n_seeds), SIZES):
        yield make_spec(kind, seed, w, h, split="heldout" if seed % 2 else "train", caption_style="user")


def test_every_quote_is_in_the_spec_and_every_text_is_quoted():
    for spec in user_specs():
        quotes = QUOTED.findall(spec.caption)
        assert quotes == spec.stated["texts"], spec.caption
        assert set(quotes) <= allowed_quotes(spec), spec.caption
        # Nothing to draw is left out of the prompt.
        assert all(any(t == x or x.startswith(t + " ") or x.endswith(" " + t) for x in quotes)
                   for t in spec.texts), spec.caption


def test_stated_attributes_are_the_specs():
    seen = set()
    for spec in user_specs():
        by_id = {str(e.id): e for e in spec.elements}
        st = spec.stated
        if "background" in st:
            assert st["background"] == spec.background and st["background"] in spec.caption.lower()
        for i, color in st.get("colors", {}).items():
            assert by_id[i].color == color and color in spec.caption.lower()
        for i, material in st.get("materials", {}).items():
            assert by_id[i].material == material
        if "values" in st:
            assert st["values"] == [e.value for e in spec.elements if e.kind == "bar"]
            for v in st["values"]:
                assert f" {v:g}" in spec.caption
        seen |= set(st) - {"texts"}
    assert seen >= {"background", "colors", "materials", "values", "shapes", "positions"}


def test_user_prompts_are_short_and_vary():
    specs = list(user_specs(4))
    exact = [make_spec(s.kind, s.seed, s.width, s.height, s.split) for s in specs]
    assert sum(len(s.caption) for s in specs) < 0.8 * sum(len(s.caption) for s in exact)
    openings = {s.caption.split('"')[0] for s in specs}
    assert len(openings) > 40


def test_user_style_keeps_the_design_and_held_out_words():
    for kind in ALL_KINDS:
        exact = make_spec(kind, 5, 384, 384, split="heldout")
        user = make_spec(kind, 5, 384, 384, split="heldout", caption_style="user")
        assert user.elements == exact.elements and user.caption != exact.caption
        assert exact.stated is None and "stated" not in exact.to_dict()
        for word in QUOTED.findall(user.caption):
            assert text_split_ok(word, "heldout"), word
        assert Spec.from_json(user.to_json()) == user


def test_bad_caption_style_is_refused():
    with pytest.raises(BlueprintError, match="caption style"):
        make_spec("sign", 1, 256, 256, caption_style="poem")
