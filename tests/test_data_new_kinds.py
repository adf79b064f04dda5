"""The opt-in kinds (book, whiteboard, infographic, chalkboard, wallsign) and materials."""

import itertools

import numpy as np
import pytest

from blueprint.data import colors
from blueprint.data.dataset import spec_at
from blueprint.data.engine import check_kinds, make_spec
from blueprint.data.kinds import MODULES
from blueprint.data.materials import INK_MARGIN, MATERIAL_COLORS, texture
from blueprint.data.render import render
from blueprint.data.spec import ALL_KINDS, KINDS, MATERIALS, NEW_KINDS
from blueprint.errors import BlueprintError

SIZES = ((256, 384), (384, 256), (256, 256), (512, 512), (128, 128))


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_new_kinds_are_opt_in():
    assert check_kinds(None) == KINDS and not set(KINDS) & set(NEW_KINDS)
    assert check_kinds("all") == ALL_KINDS
    assert check_kinds(["book", "sign"]) == ("book", "sign")
    assert spec_at(10, 256, 256, kinds="all").kind == ALL_KINDS[10] == "wallsign"
    with pytest.raises(BlueprintError, match="unknown design kind"):
        check_kinds(["novel"])


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_layouts_texts_and_boxes(kind):
    layouts = set()
    for seed, (w, h) in itertools.product(range(12), SIZES):
        spec = make_spec(kind, seed, w, h)
        layouts.add(spec.layout)
        texts = [e for e in spec.elements if e.kind == "text"]
        assert texts and all(t.text in spec.caption for t in texts)
        for a, b in itertools.combinations(texts, 2):
            assert not overlap(a.box, b.box), (spec.layout, a.text, b.text)
        for e in spec.elements:
            assert 0 <= e.box[0] < e.box[2] <= w + 1 and 0 <= e.box[1] < e.box[3] <= h + 1
    assert layouts == set(MODULES[kind].LAYOUTS)


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_maps_follow_the_spec(kind):
    spec = make_spec(kind, 3, 384, 384)
    out = render(spec, with_maps=True)
    for e in spec.elements:
        if e.kind == "text":
            assert (out.element_map == e.id).any() and (out.char_map[out.element_map == e.id] > 0).any()
    materials = {e.id: e.material for e in spec.elements if e.material}
    for i, m in materials.items():
        where = out.element_map == i
        if where.any():
            assert (out.material_map[where] == 1 + MATERIALS.index(m)).all()
    assert (out.material_map > 0).any() == any((out.element_map == i).any() for i in materials)


def test_text_sits_on_material_of_the_right_class():
    """Chalkboard menus: light chalk on a dark slate; the slate is recorded as chalkboard."""
    spec = make_spec("chalkboard", 2, 384, 384)
    slate = next(e for e in spec.elements if e.role == "chalkboard")
    assert slate.material == "chalkboard" and slate.color == "black"
    assert all(e.color in colors.LIGHT + ("white",) for e in spec.elements if e.kind == "text")


@pytest.mark.parametrize("material", MATERIALS)
def test_textures_read_as_their_colour_and_are_not_flat(material):
    pixels = texture(material, 96, 64, seed=1, element_id=2)
    names = colors.nearest_color_index(pixels.reshape(-1, 3))
    share = (names == colors.COLOR_NAMES.index(MATERIAL_COLORS[material])).mean()
    assert share > 0.75, share
    assert pixels.astype(float).std(axis=(0, 1)).max() > 2.0
    assert np.array_equal(pixels, texture(material, 96, 64, seed=1, element_id=2))
    assert not np.array_equal(pixels, texture(material, 96, 64, seed=2, element_id=2))


@pytest.mark.parametrize("material", [m for m in MATERIALS if m != "brick"])
def test_textures_that_carry_text_stay_under_the_ink_margin(material):
    """Every pixel stays close to the palette colour itself, or the detector sees the surface as ink."""
    for seed in range(3):
        pixels = texture(material, 200, 120, seed=seed, element_id=5).astype(float)
        distance = np.linalg.norm(pixels - np.array(colors.rgb(MATERIAL_COLORS[material])), axis=2)
        assert distance.max() <= INK_MARGIN, (seed, distance.max())


def test_infographic_arrows_join_stages_in_order():
    spec = make_spec("infographic", 4, 512, 512)
    nodes = [e for e in spec.elements if e.role == "node"]
    arrows = [e for e in spec.elements if e.role == "arrow"]
    stages = [e for e in spec.elements if e.role == "stage"]
    assert len(nodes) == len(stages) and len(arrows) in (len(nodes) - 1, len(nodes))
    assert len({s.text for s in stages}) == len(stages)
    out = render(spec, with_maps=True)
    for a in arrows:
        assert (out.element_map == a.id).sum() > 20


def test_wall_shows_around_a_wall_sign():
    for seed in range(10):
        spec = make_spec("wallsign", seed, 384, 256)
        wall, board = spec.elements[0], next(e for e in spec.elements if e.role == "board")
        assert wall.role == "wall" and wall.box == [0, 0, 384, 256] and board.color != wall.color
        assert board.box[0] > 0 and board.box[1] > 0 and board.box[2] < 384 and board.box[3] < 256
