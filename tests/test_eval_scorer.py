"""The scorer scores itself: ground-truth renders score high, noise and broken renders low.

Every image here is drawn by the data engine from a held-out spec at 256x256;
a "broken" render is the engine's render of a copy of the spec with one thing
changed (a letter, two colours, the bar lengths, one shape), scored against
the original spec.
"""

import copy

import numpy as np
import pytest
from PIL import Image, ImageDraw

from blueprint.data import KINDS, make_spec, render
from blueprint.eval.adherence import check_adherence, classify_blob
from blueprint.eval.benchmark import parse_row, row_from_spec
from blueprint.eval.harness import RenderedImages, evaluate
from blueprint.eval.score import score_image
from blueprint.eval.text import normalize_word

SIZE = 256
PER_KIND = 4


def heldout(kind, seed):
    return make_spec(kind, seed, SIZE, SIZE, split="heldout")


@pytest.fixture(scope="module")
def ground_truth():
    rows = [parse_row(row_from_spec(heldout(kind, seed))) for kind in KINDS for seed in range(PER_KIND)]
    return evaluate(RenderedImages(rows), rows, engines="tesseract", workers=2)


def test_ground_truth_word_accuracy_is_high(ground_truth):
    acc = ground_truth.summary()["overall"]["tesseract"]["word_accuracy"]
    assert acc >= 0.97, [(r.id, r.text["tesseract"].words_read) for r in ground_truth.results
                         if (r.text["tesseract"].word_accuracy or 1) < 1]


def test_ground_truth_ned_and_exact_match_are_high(ground_truth):
    overall = ground_truth.summary()["overall"]["tesseract"]
    assert overall["ned"] >= 0.9
    assert overall["exact"] >= 0.95


def test_summary_groups_images_by_their_number_of_text_elements(ground_truth):
    groups = ground_truth.by_text_count()
    for name, results in groups.items():  # one line read per text element of the spec
        counts = {len(r.text["tesseract"].lines) for r in results}
        assert counts and all((n == 1) == (name == "one text") and (2 <= n <= 4) == (name == "two to four texts")
                              for n in counts), (name, counts)
    assert sum(len(v) for v in groups.values()) == sum(bool(r.text["tesseract"].lines) for r in ground_truth.results)
    summary = ground_truth.summary()["by_text_count"]
    assert set(summary) == set(groups) and {"one text", "two to four texts"} <= set(summary)
    assert "*one text*" in ground_truth.markdown()


def test_ground_truth_adheres(ground_truth):
    assert ground_truth.summary()["overall"]["adherence"] >= 0.97
    assert all(r.adherence >= 0.75 for r in ground_truth.results)
    names = {c.name for r in ground_truth.results for c in r.checks}
    assert {"background", "color", "count", "bar_order", "bar_ratio"} <= names


def test_noise_scores_near_zero():
    rng = np.random.default_rng(0)
    rows = [parse_row(row_from_spec(heldout(kind, 100))) for kind in KINDS]
    images = {row.id: Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)) for row in rows}
    report = evaluate(images, rows, engines="tesseract", workers=2)
    overall = report.summary()["overall"]
    assert overall["tesseract"]["word_accuracy"] <= 0.02
    assert overall["tesseract"]["ned"] <= 0.1
    assert overall["tesseract"]["exact"] == 0.0
    assert overall["adherence"] <= 0.2


def find_spec(kinds, predicate, seeds=range(200)):
    for kind in kinds:
        for seed in seeds:
            spec = heldout(kind, seed)
            if predicate(spec):
                return spec
    raise AssertionError("no spec found")


def test_one_letter_changed_is_counted_wrong():
    spec = find_spec(["sign", "poster"], lambda s: any(e.kind == "text" and len(e.text.split()[0]) >= 4
                                                       and e.text.split()[0].isalpha() for e in s.elements))
    element = next(e for e in spec.elements if e.kind == "text" and len(e.text.split()[0]) >= 4)
    word = element.text.split()[0]
    swap = "x" if word[1].lower() != "x" else "z"
    changed = word[0] + (swap.upper() if word[1].isupper() else swap) + word[2:]
    broken = copy.deepcopy(spec)
    next(e for e in broken.elements if e.id == element.id).text = element.text.replace(word, changed, 1)

    good = score_image(render(spec).image, spec).text["tesseract"]
    bad = score_image(render(broken).image, spec).text["tesseract"]
    assert normalize_word(word) in [normalize_word(w) for w in good.words_read]
    assert normalize_word(word) not in [normalize_word(w) for w in bad.words_read]
    assert bad.word_accuracy < good.word_accuracy
    assert not next(line for line in bad.lines if line.element_id == element.id).match


def test_swapped_colours_fail_the_colour_checks():
    def two_colours(s):
        shapes = [e for e in s.elements if e.kind == "shape"]
        return len({e.color for e in shapes}) == 2
    spec = find_spec(["scene"], two_colours)
    a, b = sorted({e.color for e in spec.elements if e.kind == "shape"})
    broken = copy.deepcopy(spec)
    for e in broken.elements:
        if e.kind == "shape" and e.color in (a, b):
            e.color = b if e.color == a else a
            e.rgb = list(next(x.rgb for x in spec.elements if x.color == e.color))

    good = check_adherence(render(spec).image, spec)
    bad = check_adherence(render(broken).image, spec)
    assert all(c.passed for c in good if c.name == "color")
    shape_colour_checks = [c for c in bad if c.name == "color" and c.target.startswith("shape")]
    assert shape_colour_checks and not any(c.passed for c in shape_colour_checks)


def _distinct_bars(spec, n=3):
    values = sorted(e.value for e in spec.elements if e.kind == "bar")
    return len(values) >= n and all(b - a > 0.15 * values[-1] for a, b in zip(values, values[1:]))


def test_shuffled_bar_lengths_fail_the_bar_checks():
    spec = find_spec(["chart"], _distinct_bars)
    bars = [e for e in spec.elements if e.kind == "bar"]
    horizontal = len({e.box[0] for e in bars}) == 1
    lengths = [(e.box[2] - e.box[0]) if horizontal else (e.box[3] - e.box[1]) for e in bars]
    # Give the longest bar the shortest length and so on: every pair's order flips.
    ranked = sorted(range(len(bars)), key=lambda i: lengths[i])
    new_length = {i: lengths[j] for i, j in zip(ranked, reversed(ranked))}
    broken = copy.deepcopy(spec)
    for i, e in enumerate(e for e in broken.elements if e.kind == "bar"):
        if horizontal:
            e.box[2] = e.box[0] + new_length[i]
        else:
            e.box[1] = e.box[3] - new_length[i]

    good = {c.name: c.passed for c in check_adherence(render(spec).image, spec)}
    bad = {c.name: c.passed for c in check_adherence(render(broken).image, spec)}
    assert good["bar_order"] and good["bar_ratio"]
    assert not bad["bar_order"] and not bad["bar_ratio"]


def test_a_removed_shape_fails_the_count_check():
    spec = find_spec(["scene"], lambda s: sum(e.kind == "shape" for e in s.elements) >= 3)
    removed = next(e for e in reversed(spec.elements) if e.kind == "shape")
    broken = copy.deepcopy(spec)
    broken.elements = [e for e in broken.elements if e.id != removed.id]

    target = lambda c: c.name == "count" and c.target.endswith(f"{removed.color} {removed.shape}")
    good = [c for c in check_adherence(render(spec).image, spec) if target(c)]
    bad = [c for c in check_adherence(render(broken).image, spec) if target(c)]
    assert good and good[0].passed
    assert bad and not bad[0].passed


def _star(cx, cy, r):
    return [(cx + r * (1 if i % 2 == 0 else 0.42) * np.cos(np.radians(-90 + 36 * i)),
             cy + r * (1 if i % 2 == 0 else 0.42) * np.sin(np.radians(-90 + 36 * i))) for i in range(10)]


@pytest.mark.parametrize("side", [16, 40, 90])
def test_classify_blob(side):
    drawings = {
        "circle": lambda d: d.ellipse((5, 5, 5 + side, 5 + side), fill=1),
        "square": lambda d: d.rectangle((5, 5, 5 + side, 5 + side), fill=1),
        "triangle": lambda d: d.polygon([(5, 5 + side), (5 + side, 5 + side), (5 + side / 2, 5)], fill=1),
        "star": lambda d: d.polygon(_star(5 + side / 2, 5 + side / 2, side / 2), fill=1),
    }
    for shape, draw in drawings.items():
        canvas = Image.new("L", (side + 10, side + 10), 0)
        draw(ImageDraw.Draw(canvas))
        assert classify_blob(np.asarray(canvas) > 0) == shape, (shape, side)


def test_palette_index_agrees_with_the_engines_nearest_color():
    from blueprint.data import PALETTE, nearest_color
    from blueprint.eval.adherence import palette_index

    pixels = np.random.default_rng(1).integers(0, 256, (500, 3))
    names = list(PALETTE)
    assert [names[i] for i in palette_index(pixels)] == [nearest_color(p) for p in pixels]
