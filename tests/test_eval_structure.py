"""Structure and material checks: ground-truth renders pass, broken images fail, and the
structure is found where the image draws it, not at the spec's boxes."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from blueprint.data import make_spec, render
from blueprint.data.spec import ALL_KINDS
from blueprint.data.fonts import get_font
from blueprint.eval.adherence import check_adherence
from blueprint.eval.ocr import get_engine
from blueprint.eval.structure import check_structure

CASES = [(kind, seed) for kind in ALL_KINDS for seed in (1, 2)]


@pytest.mark.parametrize("kind,seed", CASES)
def test_ground_truth_passes(kind, seed):
    spec = make_spec(kind, seed, 384, 384, caption_style="user" if seed == 2 else "exact")
    checks = checks_of(render(spec).image, spec)
    assert all(c.passed for c in checks), [(c.target, c.measured) for c in checks if not c.passed]
    if kind in ("chart", "menu", "chalkboard", "infographic", "book", "wallsign", "whiteboard"):
        assert any(c.name == "structure" for c in checks)


def checks_of(image, spec):
    return check_structure(image, spec, get_engine("tesseract").read_image(image))


def blank(image, box, rgb):
    image = image.copy()
    ImageDraw.Draw(image).rectangle([box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2], fill=tuple(rgb))
    return image


def structure(image, spec):
    return next(c for c in checks_of(image, spec) if c.name == "structure")


def test_missing_price_fails_the_menu():
    spec = make_spec("chalkboard", 3, 384, 384)
    price = next(e for e in spec.elements if e.role == "price")
    image = blank(render(spec).image, price.box, (38, 46, 42))
    assert not structure(image, spec).passed


def test_swapped_title_and_author_fail_the_book():
    spec = make_spec("book", 4, 384, 512)
    image = render(spec).image
    a = np.asarray(image).copy()
    a[:] = a[::-1]  # upside down: the author is now above the title
    assert structure(render(spec).image, spec).passed and not structure(Image.fromarray(a), spec).passed


def test_missing_arrow_fails_the_infographic():
    spec = make_spec("infographic", 5, 512, 512)
    arrow = next(e for e in spec.elements if e.role == "arrow")
    image = blank(render(spec).image, arrow.box, spec.background_rgb)
    assert not structure(image, spec).passed


def test_sign_filling_the_wall_fails():
    spec = make_spec("wallsign", 1, 384, 256)
    board = next(e for e in spec.elements if e.role == "board")
    image = render(spec).image
    ImageDraw.Draw(image).rectangle([0, 0, 383, 255], fill=tuple(board.rgb))
    assert not structure(image, spec).passed


def test_flat_paint_fails_the_material_check():
    spec = make_spec("chalkboard", 6, 384, 384)
    slate = next(e for e in spec.elements if e.role == "chalkboard")
    image = render(spec).image
    assert any(c.name == "material" and c.passed for c in checks_of(image, spec))
    flat = blank(image, slate.box, (20, 20, 20))
    assert not next(c for c in checks_of(flat, spec) if c.target.startswith(f"chalkboard {slate.id}")).passed


def test_bars_out_of_order_fail_the_chart():
    spec = make_spec("chart", 8, 512, 512)
    bars = [e for e in spec.elements if e.kind == "bar"]
    image = blank(render(spec).image, bars[0].box, spec.background_rgb)
    assert not structure(image, spec).passed


def test_user_prompts_check_only_stated_attributes():
    spec = make_spec("wallsign", 2, 384, 384, caption_style="user")
    exact = make_spec("wallsign", 2, 384, 384)
    image = render(spec).image
    stated = spec.stated.get("colors", {})
    user_colors = [c for c in check_adherence(image, spec) if c.name == "color"]
    assert len(user_colors) == len(stated) < len([c for c in check_adherence(image, exact) if c.name == "color"])


@pytest.mark.parametrize("kind,seed,size", [("book", 4, (384, 512)), ("menu", 3, (384, 384)),
                                            ("whiteboard", 2, (384, 384))])
def test_structure_moved_elsewhere_still_passes(kind, seed, size):
    """The prompt leaves the layout to the model: the same design drawn lower down passes."""
    spec = make_spec(kind, seed, *size, caption_style="user")
    a = np.asarray(render(spec).image)
    moved = np.concatenate([np.repeat(a[:1], 48, axis=0), a[:-48]])  # everything 48 px lower
    assert structure(Image.fromarray(moved), spec).passed


@pytest.mark.parametrize("kind,seed", [("chart", 8), ("infographic", 5), ("wallsign", 1), ("menu", 3)])
def test_words_stacked_on_a_flat_field_have_no_structure(kind, seed):
    """What the embedded model drew before its designs: every quoted text, one per line, on one colour."""
    spec = make_spec(kind, seed, 512, 512, caption_style="user")
    image = Image.new("RGB", (512, 512), tuple(spec.background_rgb))
    draw, font = ImageDraw.Draw(image), get_font("sans", 24)
    ink = (20, 20, 20) if sum(spec.background_rgb) > 380 else (245, 245, 245)
    for i, text in enumerate(spec.texts):
        draw.text((40, 20 + 40 * i), text, fill=ink, font=font)
    assert not structure(image, spec).passed


def named(checks, name):
    return [c for c in checks if c.name == name]


@pytest.mark.parametrize("seed", [2, 6])
def test_a_user_charts_bars_are_measured_where_it_draws_them(seed):
    """Values stated, layout not: the bars' order and ratio hold wherever the chart is drawn,
    and a bar cut short fails them."""
    spec = make_spec("chart", seed, 512, 512, caption_style="user")
    a = np.asarray(render(spec).image)
    moved = Image.fromarray(np.concatenate([np.repeat(a[:1], 40, axis=0), a[:-40]]))  # 40 px lower
    checks = checks_of(moved, spec)
    assert {"bar_order", "bar_ratio"} <= {c.name for c in checks} and all(c.passed for c in checks), \
        [(c.name, c.measured) for c in checks if not c.passed]
    assert not named(check_adherence(moved, spec), "bar_order")  # not at the spec's boxes any more
    longest = max((e for e in spec.elements if e.kind == "bar"), key=lambda e: e.value)
    x0, y0, x1, y1 = longest.box
    cut = [x0 + (x1 - x0) // 3, y0, x1, y1] if x1 - x0 > y1 - y0 else [x0, y0, x1, y1 - (y1 - y0) * 2 // 3]
    short = blank(render(spec).image, cut, spec.background_rgb)
    assert not all(c.passed for c in named(checks_of(short, spec), "bar_ratio"))


def test_a_user_scenes_shape_colors_are_found_anywhere():
    spec = make_spec("scene", 3, 512, 512, caption_style="user")
    tinted = [e for e in spec.elements if e.kind == "shape" and str(e.id) in spec.stated.get("colors", {})]
    image = render(spec).image
    mirrored = Image.fromarray(np.asarray(image)[:, ::-1].copy())  # every shape somewhere else
    colors = named(check_adherence(mirrored, spec), "color")
    assert len(colors) == len(tinted) and all(c.passed for c in colors)
    repainted = blank(image, tinted[-1].box, spec.background_rgb)  # the last one gone
    assert not all(c.passed for c in named(check_adherence(repainted, spec), "color"))
