"""The token reward: layout-free (two layouts of one spec both score 1), and it drops for a
wrong colour, a wrong side, and an empty grid; the code table is the semantic head's answer.

Grids are the exact per-cell targets of renders (`cell_targets`, what the image
tokenizer's head is trained to say), so these test the reward's checks, not a
tokenizer; `test_code_table_is_the_head` ties token ids to the same cells."""

import dataclasses

import numpy as np
import pytest
import torch

from blueprint.data.dataset import spec_at
from blueprint.data.render import render
from blueprint.data.spec import Spec
from blueprint.models import build_components
from blueprint.models.glyph_layer import text_presence
from blueprint.models.image_tokenizer import CHAR_SUBGRID, SemanticHead, SemanticVocab
from blueprint.rl.reward import Cells, CodeTable, cell_scores, token_reward
from blueprint.train.semantic_targets import cell_targets

VOCAB = SemanticVocab.from_data()


def find_spec(kind: str, layout: str, size: int = 256) -> Spec:
    for i in range(600):
        spec = spec_at(i, size, size)
        if spec.kind == kind and spec.layout == layout:
            return spec
    raise AssertionError(f"no {kind}/{layout} in the first specs")


def cells_of(spec: Spec) -> Cells:
    out = render(spec, with_maps=True)
    return Cells.from_targets(cell_targets(out.element_map, out.char_map, spec, VOCAB))


def moved(spec: Spec, place) -> Spec:
    """The same spec (caption, texts, colours) with every element's box moved by place(element)."""
    elements = []
    for e in spec.elements:
        dx, dy = place(e)
        elements.append(dataclasses.replace(e, box=[e.box[0] + dx, e.box[1] + dy, e.box[2] + dx, e.box[3] + dy]))
    return dataclasses.replace(spec, elements=elements)


def test_two_layouts_of_a_scene_both_score_1():
    spec = find_spec("scene", "left_right")
    # another layout: each shape slides vertically by its own amount, sides kept
    other = moved(spec, lambda e: (0, [30, -40, 10, -20, 45, -10, 25, -35][e.id % 8]
                                   if 60 < e.box[1] < 180 else 0))
    assert [e.box for e in other.elements] != [e.box for e in spec.elements]
    for s in (spec, other):
        reward = token_reward(cells_of(s), spec, VOCAB)
        assert reward.score == 1.0, [c for c in reward.checks if c.score < 1]
    names = {c.name for c in token_reward(cells_of(spec), spec, VOCAB).checks}
    assert {"background", "color", "count", "position"} <= names


def test_two_layouts_of_a_sign_both_score_1():
    spec = find_spec("poster", "framed")
    texts = {e.id for e in spec.elements if e.kind == "text"}
    other = moved(spec, lambda e: (0, 12) if e.id in texts else (0, 0))  # text block lower on the card
    for s in (spec, other):
        reward = token_reward(cells_of(s), spec, VOCAB)
        assert reward.score == 1.0, [c for c in reward.checks if c.score < 1]
    assert {"text_lines", "text_colors", "extra"} <= {c.name for c in reward.checks}


def test_a_wrong_colour_and_a_wrong_side_score_less():
    spec = find_spec("scene", "left_right")
    color = spec.elements[0].color
    other_color = next(c for c in VOCAB.colors if c not in {e.color for e in spec.elements} | {spec.background})
    recoloured = dataclasses.replace(spec, elements=[dataclasses.replace(e, color=other_color) if e.color == color
                                                     else e for e in spec.elements])
    wrong = token_reward(cells_of(recoloured), spec, VOCAB)
    assert wrong.score < 1 and any(c.name == "color" and c.score == 0 for c in wrong.checks)
    mirrored = moved(spec, lambda e: (spec.width - e.box[2] - e.box[0], 0))
    flipped = token_reward(cells_of(mirrored), spec, VOCAB)
    assert flipped.score < 1 and any(c.name == "position" and c.score == 0 for c in flipped.checks)


def test_cell_scores_mark_the_cells_of_a_wrong_colour_and_leave_unasked_kinds_out():
    spec = find_spec("scene", "left_right")
    right = cell_scores(cells_of(spec), spec, VOCAB)
    assert np.nanmin(right) == 1.0 and (~np.isnan(right)).all()  # a scene asks for its background and shapes
    color = spec.elements[0].color
    other_color = next(c for c in VOCAB.colors if c not in {e.color for e in spec.elements} | {spec.background})
    recoloured = dataclasses.replace(spec, elements=[dataclasses.replace(e, color=other_color) if e.color == color
                                                     else e for e in spec.elements])
    cells = cells_of(recoloured)
    wrong = cell_scores(cells, spec, VOCAB)
    shape = VOCAB.kinds.index("shape")
    recoloured_cells = (cells.kind == shape) & (cells.fg == VOCAB.colors.index(other_color))
    assert recoloured_cells.any() and (wrong[recoloured_cells] == 0).all()
    assert (wrong[~recoloured_cells] == 1).all()
    # a kind the prompt does not ask for is not scored: whether a cell should hold it is layout
    bars = cells.kind.copy()
    bars[0, 0] = VOCAB.kinds.index("bar")
    assert np.isnan(cell_scores(dataclasses.replace(cells, kind=bars), spec, VOCAB)[0, 0])


@pytest.mark.parametrize("layout", [("scene", "left_right"), ("poster", "framed"), ("chart", "vertical")])
def test_an_empty_grid_scores_low(layout):
    spec = find_spec(*layout)
    gh, gw = spec.height // 32, spec.width // 32
    background = VOCAB.colors.index(spec.background)
    empty = Cells(np.zeros((gh, gw), int), np.full((gh, gw), background), np.full((gh, gw), background),
                  np.zeros((gh, gw, CHAR_SUBGRID ** 2), bool))
    reward = token_reward(empty, spec, VOCAB)
    assert reward.score <= 0.35, reward.checks
    assert 0.0 <= reward.score <= 1.0
    assert all(set(c.to_dict()) == {"name", "target", "score", "measured"} for c in reward.checks)


def test_code_table_is_the_head():
    torch.manual_seed(0)
    vle = build_components("tiny", seed=0)["vision_language_encoder"]
    vq = vle.config.vq_config
    head = SemanticHead(vq.embed_dim, vq.num_embeddings, VOCAB).eval()
    table = CodeTable.from_model(vle, head)
    ids = torch.randint(0, vq.num_embeddings, (1, 3 * 4))
    cells = table.cells(ids[0], 3, 4)
    # ink: the glyph layer's own path from ids to sub-cells
    presence = text_presence(vle, head, ids, 3, 4)[0]
    S = CHAR_SUBGRID
    assert np.array_equal(cells.ink.reshape(3, 4, S, S).transpose(0, 2, 1, 3).reshape(3 * S, 4 * S), presence)
    codebook = torch.nn.functional.normalize(vle.model.vqmodel.quantize.embedding.weight.float(), dim=-1)
    with torch.no_grad():
        out = head(codebook[ids.view(1, 3, 4)].permute(0, 3, 1, 2))
    for name in ("kind", "fg", "bg"):
        assert np.array_equal(getattr(cells, name), out[name][0].argmax(-1).numpy())
