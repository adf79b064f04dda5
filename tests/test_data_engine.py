"""Data engine: determinism, layout invariants, maps, captions, colours, fonts, bad input."""

import io
import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from blueprint.data import CHARSET, KINDS, PALETTE, Spec, make_spec, nearest_color, render, sample
from blueprint.data import colors, fonts
from blueprint.data.engine import text_range
from blueprint.errors import BlueprintError

SIZES = [(256, 256), (128, 256), (256, 128), (128, 128), (1024, 1024), (384, 256)]


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes(kind):
    a_spec, a = sample(kind, 11, 256, 384)
    b_spec, b = sample(kind, 11, 256, 384)
    assert a_spec.to_json() == b_spec.to_json()
    assert png(a.image) == png(b.image)
    assert np.array_equal(a.element_map, b.element_map) and np.array_equal(a.char_map, b.char_map)
    other, _ = sample(kind, 12, 256, 384)
    assert other.to_json() != a_spec.to_json()


def test_determinism_across_processes():
    """A fresh interpreter (new hash salt, cold caches) draws the same bytes."""
    code = ("import hashlib, io; from blueprint.data import sample; s, r = sample('menu', 5, 256, 256); "
            "b = io.BytesIO(); r.image.save(b, format='PNG'); "
            "print(hashlib.sha256(b.getvalue() + s.to_json().encode()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    import hashlib
    spec, rendered = sample("menu", 5, 256, 256)
    assert out == hashlib.sha256(png(rendered.image) + spec.to_json().encode()).hexdigest()


def test_render_from_json_reproduces_image():
    spec, rendered = sample("poster", 3, 384, 256)
    again = render(Spec.from_json(spec.to_json()))
    assert png(again.image) == png(rendered.image)


def check_layout(spec: Spec, rendered) -> None:
    W, H = spec.width, spec.height
    texts = [e for e in spec.elements if e.kind == "text"]
    for e in spec.elements:
        x0, y0, x1, y1 = e.box
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H, (spec.kind, spec.layout, e)
    for a, b in itertools.combinations(texts, 2):
        assert not overlaps(a.box, b.box), (spec.kind, spec.layout, a.text, b.text)
    # Captions quote exactly the texts, in order.
    assert re.findall(r'"([^"]*)"', spec.caption) == spec.texts
    emap, cmap = rendered.element_map, rendered.char_map
    assert emap.shape == cmap.shape == (H, W) and emap.dtype == cmap.dtype == np.uint8
    # Topmost-element ids only appear inside their element's box.
    by_id = {e.id: e for e in spec.elements}
    for i in np.unique(emap):
        if i == 0:
            continue
        ys, xs = np.nonzero(emap == i)
        x0, y0, x1, y1 = by_id[int(i)].box
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1, by_id[int(i)]
    for e in texts:
        ink = emap == e.id
        assert ink.sum() > 0, e  # every text is visible
        # Characters on this text's ink are characters of this text.
        labels = set(CHARSET[c] for c in np.unique(cmap[ink]) if c)
        assert labels <= set(e.text), (e.text, labels)
        # The text contrasts with everything drawn under it.
        x0, y0, x1, y1 = e.box
        under = np.unique(emap[y0:y1, x0:x1][~ink[y0:y1, x0:x1]])
        for j in under:
            behind = spec.background if j == 0 else by_id[int(j)].color
            assert colors.contrast(e.color, behind) >= colors.MIN_CONTRAST, (e.text, e.color, behind)
    text_ids = [e.id for e in texts]
    assert not cmap[~np.isin(emap, text_ids)].any()  # no character outside text ink


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_size(kind):
    lo, hi = text_range(kind)
    for (w, h), seed in itertools.product(SIZES, range(3)):
        for split in ("train", "heldout"):
            spec, rendered = sample(kind, seed, w, h, split=split)
            assert (spec.width, spec.height) == (w, h) and rendered.image.size == (w, h)
            assert lo <= len(spec.texts) <= hi
            check_layout(spec, rendered)


@pytest.mark.parametrize("kind", KINDS)
def test_n_texts_is_honoured(kind):
    lo, hi = text_range(kind)
    for n in range(max(lo, 1) if kind != "scene" else 0, min(hi, 4) + 1):
        spec = make_spec(kind, 4, 256, 256, split="heldout", n_texts=n)
        assert len(spec.texts) == n


def test_all_layouts_and_fonts_are_used():
    layouts, faces = set(), set()
    for kind, seed in itertools.product(KINDS, range(30)):
        spec = make_spec(kind, seed, 256, 256)
        layouts.add((kind, spec.layout))
        faces.update(e.font for e in spec.elements if e.kind == "text")
    for kind in KINDS:
        assert len({l for k, l in layouts if k == kind}) >= 3, kind
    assert faces == {"sans", "serif", "mono", "bold"}


def test_chart_bars_agree_with_caption_numbers():
    for seed in range(10):
        spec = make_spec("chart", seed, 256, 256)
        bars = [e for e in spec.elements if e.kind == "bar"]
        assert len(bars) == len(spec.texts) - 1
        for label, bar in zip(spec.texts[1:], bars):
            assert f'"{label}" {int(bar.value)}' in spec.caption
        horizontal = spec.layout == "horizontal"
        lengths = [(b.box[2] - b.box[0]) if horizontal else (b.box[3] - b.box[1]) for b in bars]
        top = max(bars, key=lambda b: b.value)
        top_len = lengths[bars.index(top)]
        for b, n in zip(bars, lengths):
            assert abs(n - top_len * b.value / top.value) <= 1.5


def test_shape_ink_covers_bars_arrows_and_shapes_and_not_text_or_panels():
    for kind in ("chart", "infographic", "scene"):
        spec = make_spec(kind, 3, 256, 256)
        out = render(spec, with_maps=True)
        for e in spec.elements:
            top = out.element_map == e.id  # where e is the topmost element
            if not top.any():
                continue
            inked = e.kind in ("shape", "bar") or e.role in ("arrow", "axis", "rule")
            assert out.shape_ink[top].all() if inked else not out.shape_ink[top].any(), (kind, e.role)
        assert out.shape_ink.any() and not (out.shape_ink & (out.char_map > 0)).any()
    assert render(make_spec("chart", 3, 256, 256)).shape_ink is None  # maps only on request


def test_scene_caption_counts_match_shapes():
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
    for seed in range(12):
        spec = make_spec("scene", seed, 256, 256)
        shapes = [e for e in spec.elements if e.kind == "shape"]
        for count, color, shape in re.findall(r"(\w+) (\w+) (circle|square|triangle|star)s?\b", spec.caption.lower()):
            n = sum(1 for e in shapes if e.color == color and e.shape == shape)
            assert words[count] == n, spec.caption


def test_palette_is_far_apart_and_self_consistent():
    for a, b in itertools.combinations(PALETTE, 2):
        assert np.linalg.norm(np.subtract(PALETTE[a], PALETTE[b])) > 80, (a, b)
    for name, rgb in PALETTE.items():
        assert nearest_color(rgb) == name
        assert nearest_color(np.clip(np.add(rgb, 12), 0, 255)) == name
    for bg in colors.LIGHT + colors.DARK:
        assert colors.readable_on(bg), bg


def test_missing_font_file_is_a_clear_error(monkeypatch):
    fonts.font_path.cache_clear()
    monkeypatch.setattr(fonts, "FONT_DIRS", ("/nonexistent",))
    try:
        with pytest.raises(BlueprintError, match="setup.sh"):
            fonts.font_path("serif")
    finally:
        fonts.font_path.cache_clear()


def test_font_folder_from_the_environment_is_searched_first(monkeypatch, tmp_path):
    # a machine without the Debian font packages: the files copied to a folder of one's own
    real = fonts.font_path("serif")
    (tmp_path / os.path.basename(real)).write_bytes(open(real, "rb").read())
    fonts.font_path.cache_clear()
    monkeypatch.setattr(fonts, "FONT_DIRS", ("/nonexistent",))
    monkeypatch.setenv(fonts.FONT_DIR_ENV, str(tmp_path))
    try:
        assert fonts.font_path("serif") == str(tmp_path / os.path.basename(real))
        with pytest.raises(BlueprintError, match=fonts.FONT_DIR_ENV):
            fonts.font_path("mono")  # not copied
    finally:
        fonts.font_path.cache_clear()


@pytest.mark.parametrize("args, message", [
    (("poem", 0, 256, 256), "unknown design kind"),
    (("sign", 0, 250, 256), "multiple of 32"),
    (("sign", 0, 2048, 1024), "out of range"),
    (("sign", 0, 512, 128), "aspect"),
    (("sign", -1, 256, 256), "seed"),
])
def test_bad_input(args, message):
    with pytest.raises(BlueprintError, match=message):
        make_spec(*args)


def test_bad_split_and_text_counts():
    with pytest.raises(BlueprintError, match="split"):
        make_spec("sign", 0, 256, 256, split="test")
    with pytest.raises(BlueprintError, match="text elements"):
        make_spec("sign", 0, 256, 256, n_texts=9)
    with pytest.raises(BlueprintError, match="holds at most"):
        make_spec("menu", 0, 128, 128, n_texts=13)
