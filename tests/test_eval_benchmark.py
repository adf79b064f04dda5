"""Benchmark loading: good rows parse; every kind of bad row names file, line and problem."""

import json

import pytest

from blueprint.errors import BlueprintError
from blueprint.eval.benchmark import load_benchmark


def spec_dict(width=256, height=256, kind="sign"):
    return {
        "kind": kind, "layout": "board", "seed": 1, "width": width, "height": height,
        "background": "white", "background_rgb": [245, 245, 245], "caption": 'A sign reading "Open"',
        "elements": [{"id": 1, "kind": "text", "role": "title", "box": [20, 20, 120, 50],
                      "color": "black", "rgb": [20, 20, 20], "text": "Open", "font": "sans", "font_size": 24}],
    }


def row(i=0, **overrides):
    d = {"id": f"sign-{i:04d}", "prompt": 'A sign reading "Open"', "seed": i, "width": 256, "height": 256,
         "kind": "sign", "n_texts": 1, "spec": spec_dict()}
    d.update(overrides)
    return json.dumps(d)


def write(tmp_path, lines):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_rows_load(tmp_path):
    path = write(tmp_path, [row(0), "", row(1)])
    rows, skipped = load_benchmark(path)
    assert [r.id for r in rows] == ["sign-0000", "sign-0001"]
    assert skipped == []
    assert rows[0].spec.texts == ["Open"]


BAD_ROWS = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({"id": "x"}), "missing field"),
    (row(width="256"), "'width' must be int"),
    (row(width=250, spec=spec_dict(width=250)), "not a multiple of 32"),
    (row(width=2048, spec=spec_dict(width=2048)), "out of range"),
    (row(kind="painting"), "unknown kind"),
    (row(spec={"kind": "sign"}), "bad spec"),
    (row(spec={**spec_dict(), "elements": [{"id": 1, "kind": "text", "role": "t", "box": [5, 5, 1, 1],
                                             "color": "black", "rgb": [0, 0, 0], "text": "x"}]}), "bad box"),
    (row(spec={**spec_dict(), "background": "teal"}), "unknown background colour"),
    (row(spec=spec_dict(width=512), width=256), "differs from the row"),
    (row(id="../evil"), "cannot name an image file"),
]


@pytest.mark.parametrize("bad, problem", BAD_ROWS)
def test_bad_row_names_file_line_and_problem(tmp_path, bad, problem):
    path = write(tmp_path, [row(0), bad])
    with pytest.raises(BlueprintError) as e:
        load_benchmark(path)
    message = str(e.value)
    assert str(path) in message and "line 2" in message and problem in message


def test_duplicate_id_is_a_bad_row(tmp_path):
    with pytest.raises(BlueprintError, match="line 2: id 'sign-0000' already used on line 1"):
        load_benchmark(write(tmp_path, [row(0), row(0)]))


def test_skip_bad_rows_reports_what_was_skipped(tmp_path):
    path = write(tmp_path, [row(0), "{oops", row(1), row(2, kind="painting")])
    rows, skipped = load_benchmark(path, skip_bad_rows=True)
    assert [r.id for r in rows] == ["sign-0000", "sign-0001"]
    assert [s.line for s in skipped] == [2, 4]
    assert "not valid JSON" in skipped[0].problem and "unknown kind" in skipped[1].problem


def test_missing_or_empty_file_is_an_error(tmp_path):
    with pytest.raises(BlueprintError, match="does not exist"):
        load_benchmark(tmp_path / "nope.jsonl")
    with pytest.raises(BlueprintError, match="no usable rows"):
        load_benchmark(write(tmp_path, [""]))
    with pytest.raises(BlueprintError, match=r"no usable rows \(1 skipped\)"):
        load_benchmark(write(tmp_path, ["{"]), skip_bad_rows=True)
