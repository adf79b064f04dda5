"""benchmarks/heldout.jsonl: coverage, the held-out split, and no drift from the engine."""

import collections
import json
import os

import pytest

from blueprint.data import KINDS, Spec, render
from blueprint.data.benchmark import benchmark_row, row_line
from blueprint.data.words import token_split

PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "heldout.jsonl")


@pytest.fixture(scope="module")
def lines():
    with open(PATH, encoding="utf-8") as f:
        return f.read().splitlines()


def test_coverage(lines):
    rows = [json.loads(line) for line in lines]
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert set(collections.Counter(r["kind"] for r in rows)) == set(KINDS)
    sizes = {(r["width"], r["height"]) for r in rows}
    assert (256, 256) in sizes and any(w != h for w, h in sizes)
    assert {r["n_texts"] for r in rows} == {1, 2, 3, 4}
    for r in rows:
        spec = Spec.from_dict(r["spec"])
        assert spec.split == "heldout" and r["prompt"] == spec.caption and len(spec.texts) == r["n_texts"]
        assert all(token_split(t) == "heldout" for text in spec.texts for t in text.split())


@pytest.mark.parametrize("number", [0, 1, 57, 130, 222, 323])
def test_rows_match_the_engine_byte_for_byte(lines, number):
    row = json.loads(lines[number])
    kind, i = row["id"].rsplit("-", 1)
    assert row_line(benchmark_row(kind, int(i))) == lines[number]


def test_specs_render(lines):
    spec = Spec.from_dict(json.loads(lines[200])["spec"])
    assert render(spec).image.size == (spec.width, spec.height)
