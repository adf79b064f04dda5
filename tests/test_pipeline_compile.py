"""`BlueprintPipeline.compile()` on the tiny configuration: the compiled AR stage
samples the eager stage's tokens, the compiled DiT paints the eager DiT's image
to within float rounding, and a prompt with other quoted text reuses the graph
instead of recompiling (the glyph sequence is padded to a bucket and masked;
the AR stage recompiles once, for a second prompt length, then marks it dynamic)."""

import shutil

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from blueprint.models import build_components
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.compiled import GLYPH_BUCKET, pad_glyphs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ['A red sign that reads "OPEN"', 'A blue poster. The title "SUMMER NIGHT MARKET" in white letters.',
           'A chart titled "Sales by region" with five purple bars, labels "north" and "south" below.']
KW = dict(height=128, width=128, num_inference_steps=2, seed=3)


def test_pad_glyphs_masks_only_the_new_pads():
    embeds = torch.randn(2, 5, 4)
    inner = torch.tensor([[False, True, True, True, True], [True] * 5])  # row 0 left-padded by the batch
    padded, mask = pad_glyphs(embeds, inner, bucket=8)
    assert padded.shape == (2, 8, 4) and mask.shape == (2, 8)
    assert torch.equal(padded[:, 3:], embeds) and not padded[:, :3].any()
    assert torch.equal(mask[:, 3:], inner) and not mask[:, :3].any()
    _, unmasked = pad_glyphs(embeds, None, bucket=8)
    assert unmasked[:, 3:].all()  # the official pipeline's unmasked batch padding stays visible
    same, full = pad_glyphs(torch.randn(1, 16, 4), None, bucket=8)
    assert same.shape[1] == 16 and full.all()


def test_bucket_padding_does_not_change_the_dit_output():
    pipe = BlueprintPipeline(build_components("tiny", seed=0))
    dit = pipe.transformer
    glyph = torch.randn(2, 7, dit.config.text_embed_dim)
    x = torch.randn(2, dit.config.in_channels, 16, 16)
    args = dict(hidden_states=x, prior_token_id=torch.randint(0, 128, (2, 64)),
                prior_token_drop=torch.zeros(2, 64, dtype=torch.bool), timestep=torch.tensor([500, 500]),
                target_size=torch.tensor([[128.0, 128.0]] * 2), crop_coords=torch.zeros(2, 2), return_dict=False)
    padded, mask = pad_glyphs(glyph, None)
    assert padded.shape[1] == GLYPH_BUCKET
    with torch.inference_mode():
        plain = dit(encoder_hidden_states=glyph, **args)[0]
        bucketed = dit(encoder_hidden_states=padded, attention_mask=mask, **args)[0]
    torch.testing.assert_close(bucketed, plain, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile on a CPU needs a C++ compiler (scripts/setup.sh installs g++)")
def test_compiled_pipeline_matches_eager_and_reuses_its_graph():
    eager = BlueprintPipeline(build_components("tiny", seed=0))
    expected = [eager(p, **KW) for p in PROMPTS]

    torch._dynamo.reset()
    pipe = BlueprintPipeline(build_components("tiny", seed=0)).compile()
    outputs = [pipe(p, **KW) for p in PROMPTS[:2]]
    graphs = counters["stats"]["unique_graphs"]
    outputs.append(pipe(PROMPTS[2], **KW))  # other quoted text, same glyph bucket: no new graph
    assert counters["stats"]["unique_graphs"] == graphs

    for got, want in zip(outputs, expected):
        assert torch.equal(got.prior_token_ids, want.prior_token_ids)
        diff = np.abs(np.asarray(got.images[0], dtype=float) - np.asarray(want.images[0], dtype=float))
        assert diff.mean() < 1.0 and diff.max() <= 16
