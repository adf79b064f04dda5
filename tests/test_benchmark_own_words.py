"""benchmarks/own_words.jsonl: hand-written prompts over engine specs, consistent with what they state.

Each row keeps the spec of a row of heldout.jsonl or user_prompts.jsonl (so its
words stay held out and its ground truth renders) under a prompt written by
hand, in other words than the engine's templates; `spec.stated` records what
that prompt commits to, so evaluation checks only that.
"""

import collections
import json
import random
import re
from pathlib import Path

import pytest
from test_data_prompts import QUOTED, allowed_quotes

from blueprint.data.colors import COLOR_NAMES
from blueprint.data.engine import make_spec
from blueprint.data.materials import MATERIAL_WORDS
from blueprint.data.prompts import user_prompt
from blueprint.data.spec import ALL_KINDS, MATERIALS
from blueprint.eval.benchmark import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PER_KIND = 4
# Engine user prompts drawn per row to compare against (rngs other than the file's own).
ENGINE_DRAWS = 100


def own_rows():
    rows, skipped = load_benchmark(BENCH / "own_words.jsonl")
    assert not skipped
    return rows


def source_rows() -> dict[tuple, tuple[str, dict]]:
    """(kind, seed, width, height) -> (benchmark name, row) over both engine-written benchmarks."""
    out = {}
    for name in ("heldout", "user_prompts"):
        for line in (BENCH / f"{name}.jsonl").read_text().splitlines():
            d = json.loads(line)
            out[(d["kind"], d["seed"], d["width"], d["height"])] = (name, d)
    return out


def words(prompt: str, vocabulary) -> set[str]:
    """The words of `vocabulary` the prompt uses outside its quotes (whole words only)."""
    bare = QUOTED.sub(" ", prompt).lower()
    return {w for w in vocabulary if re.search(rf"\b{re.escape(w)}\b", bare)}


def test_file_loads_and_covers_every_kind():
    rows = own_rows()
    assert len({r.id for r in rows}) == len(rows) == PER_KIND * len(ALL_KINDS)
    assert collections.Counter(r.kind for r in rows) == {k: PER_KIND for k in ALL_KINDS}
    assert all(r.id.startswith(f"own-{r.kind}-") for r in rows)
    assert all(r.prompt == r.spec.caption and r.spec.stated is not None for r in rows)
    assert all(r.n_texts == len(r.spec.texts) for r in rows)
    sizes = {(r.width, r.height) for r in rows}
    assert (512, 512) in sizes and any(w != h for w, h in sizes)
    # More than the texts is stated in at least half of the rows.
    assert sum(bool(set(r.spec.stated) - {"texts"}) for r in rows) >= len(rows) // 2


def test_file_is_written_like_the_other_benchmarks():
    for line in (BENCH / "own_words.jsonl").read_text().splitlines():
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def test_specs_are_the_engines_and_kept_from_a_source_row():
    sources = source_rows()
    for r in own_rows():
        name, src = sources[(r.kind, r.seed, r.width, r.height)]
        spec = r.spec.to_dict()
        kept = {k: v for k, v in spec.items() if k not in ("caption", "stated")}
        assert kept == {k: v for k, v in src["spec"].items() if k not in ("caption", "stated")}, r.id
        assert r.spec.split == "heldout"
        # The engine still draws this design, so the ground truth renders from (kind, seed, size).
        n_texts = src["n_texts"] if name == "heldout" else None
        again = make_spec(r.kind, r.seed, r.width, r.height, split="heldout", n_texts=n_texts)
        assert again.elements == r.spec.elements and again.layout == r.spec.layout, r.id


def quote_problems(spec) -> list[str]:
    """What is wrong with the quotes of a spec's prompt (spec.caption): empty when nothing."""
    prompt, problems = spec.caption, []
    quotes = QUOTED.findall(prompt)
    if quotes != spec.stated["texts"]:
        problems.append(f"quotes {quotes} are not stated texts {spec.stated['texts']}")
    if not set(quotes) <= allowed_quotes(spec):
        problems.append(f"quotes not in the spec: {sorted(set(quotes) - allowed_quotes(spec))}")
    # Nothing to draw is left out of the prompt (a menu row may quote item and price as one).
    missing = [t for t in spec.texts if not any(t == x or x.startswith(t + " ") or x.endswith(" " + t) for x in quotes)]
    if missing:
        problems.append(f"texts not quoted: {missing}")
    # The model's glyph parser collects '...' and curly quotes too: none may appear.
    if re.search("['\u2018\u2019\u201c\u201d\u300c\u300d]", prompt):
        problems.append("a quote mark other than a double quote")
    return problems


def stated_problems(spec) -> list[str]:
    """What `spec.stated` says that the spec or its prompt does not (and colours named but not stated)."""
    st, prompt, problems = spec.stated, spec.caption, []
    by_id = {str(e.id): e for e in spec.elements}
    unknown = set(st) - {"texts", "background", "colors", "materials", "values", "shapes", "positions"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    named = words(prompt, COLOR_NAMES)
    if "background" in st and not (st["background"] == spec.background and spec.background in named):
        problems.append(f"background {st['background']}")
    for i, color in st.get("colors", {}).items():
        if i not in by_id or by_id[i].color != color or color not in named:
            problems.append(f"element {i} colour {color}")
    stated_colors = set(st.get("colors", {}).values()) | ({st["background"]} if "background" in st else set())
    if named != stated_colors:
        problems.append(f"colours named {sorted(named)}, stated {sorted(stated_colors)}")
    material_words = words(prompt, set(MATERIALS) | set(MATERIAL_WORDS.values()))
    for i, material in st.get("materials", {}).items():
        if i not in by_id or by_id[i].material != material or not {material, MATERIAL_WORDS[material]} & material_words:
            problems.append(f"element {i} material {material}")
    stated_words = {w for m in st.get("materials", {}).values() for w in (m, MATERIAL_WORDS[m])}
    if not material_words <= stated_words:
        problems.append(f"materials named but not stated: {sorted(material_words - stated_words)}")
    bars = [e.value for e in spec.elements if e.kind == "bar"]
    if "values" in st:
        numbers = re.findall(r"(?<![\w$.])\d+(?:\.\d+)?(?!\w|\.\d)", QUOTED.sub(" ", prompt))
        if st["values"] != bars or not all(f"{v:g}" in numbers for v in bars):
            problems.append(f"values {st['values']}")
    shapes = [e for e in spec.elements if e.kind == "shape"]
    if "shapes" in st and not (st["shapes"] is True and shapes
                               and all(str(e.id) in st.get("colors", {}) for e in shapes)):
        problems.append("shapes stated without every shape's colour")
    if "positions" in st and not (st["positions"] is True and st.get("shapes")
                                  and spec.layout in ("left_right", "top_bottom")):
        problems.append("positions")
    return problems


def test_every_quote_is_a_spec_text_and_every_text_is_quoted():
    for r in own_rows():
        assert quote_problems(r.spec) == [], r.id


def test_stated_attributes_are_the_specs_and_in_the_prompt():
    seen = set()
    for r in own_rows():
        assert stated_problems(r.spec) == [], r.id
        seen |= set(r.spec.stated) - {"texts"}
    assert seen >= {"background", "colors", "materials", "values", "shapes", "positions"}


def test_prompts_are_not_the_engines():
    sources = source_rows()
    engine_file_prompts = {d["prompt"] for _, d in sources.values()}
    openings = {d["prompt"].split('"')[0].strip().lower() for _, d in sources.values()}
    for r in own_rows():
        name, src = sources[(r.kind, r.seed, r.width, r.height)]
        n_texts = src["n_texts"] if name == "heldout" else None
        engine = {src["prompt"],
                  make_spec(r.kind, r.seed, r.width, r.height, split="heldout", n_texts=n_texts).caption,
                  make_spec(r.kind, r.seed, r.width, r.height, split="heldout", n_texts=n_texts,
                            caption_style="user").caption}
        drawn = [user_prompt(r.spec, random.Random(k)) for k in range(ENGINE_DRAWS)]
        engine |= {p for p, _ in drawn}
        assert r.prompt not in engine and r.prompt not in engine_file_prompts, r.id
        # Not even its wording before the first quote is one the engine writes.
        opening = r.prompt.split('"')[0].strip().lower()
        assert opening not in openings | {p.split('"')[0].strip().lower() for p, _ in drawn}, r.id
    assert len({r.prompt.split('"')[0] for r in own_rows()}) >= 40  # hardly two open alike


def own_spec(row_id: str):
    return next(r.spec for r in own_rows() if r.id == row_id)


@pytest.mark.parametrize("row_id, change, check", [
    ("own-sign-0000", {"texts": ["Humafap", "extra"]}, quote_problems),   # a stated text the prompt does not quote
    ("own-sign-0000", {"colors": {"1": "white"}}, stated_problems),        # "blue" is named but no longer stated
    ("own-sign-0000", {"colors": {"1": "white", "2": "red"}}, stated_problems),  # not the spec's colour
    ("own-sign-0000", {"background": "white"}, stated_problems),
    ("own-sign-0000", {"materials": {"1": "wood"}}, stated_problems),     # a material neither spec nor prompt has
    ("own-chart-0000", {"values": [10, 2, 26]}, stated_problems),          # not the spec's bar values
    ("own-scene-0003", {"shapes": False}, stated_problems),                # positions without shapes
    ("own-sign-0002", {"positions": True}, stated_problems),
])
def test_the_checks_catch_a_wrong_stated(row_id, change, check):
    spec = own_spec(row_id)
    assert check(spec) == []
    spec.stated = {**spec.stated, **change}
    assert check(spec) != []


@pytest.mark.parametrize("row_id, edit, check", [
    ("own-sign-0000", lambda p: p + " It's for my shop.", quote_problems),   # the glyph parser would pair the '
    ("own-sign-0000", lambda p: p.replace('"Humafap"', "Humafap"), quote_problems),  # a spec text left unquoted
    ("own-sign-0000", lambda p: p + " With a green border.", stated_problems),    # a colour named, not stated
    ("own-chalkboard-0003", lambda p: p + " Chalkboard, of course.", stated_problems),  # a material, not stated
    ("own-chart-0003", lambda p: p.replace(" 50", " fifty"), stated_problems),  # a stated value not written
])
def test_the_checks_catch_a_bad_prompt(row_id, edit, check):
    spec = own_spec(row_id)
    assert check(spec) == []
    spec.caption = edit(spec.caption)
    assert check(spec) != []
