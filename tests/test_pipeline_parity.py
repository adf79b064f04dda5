"""Parity with diffusers' GlmImagePipeline on identical tiny random components.

Tolerance: decoded images may differ by at most 1/255 per channel (one uint8
step; our batched cond+uncond forward and the masked attention reorder float
sums, so a value sitting on a rounding boundary can flip), and the mean
absolute difference must stay below 0.01/255. As a check that this tolerance
can fail, a different seed must differ by far more.
"""

import numpy as np
import pytest
import torch
from diffusers import GlmImagePipeline

from blueprint.models import build_components
from blueprint.pipeline import DEFAULT_GUIDANCE, BlueprintPipeline

PROMPTS = ['A red sign that reads "OPEN"', "a poster, 'BIG' \"SALE\" and \u201c50%\u201d"]
MAX_DIFF = 1.0  # in uint8 steps
MAX_MEAN_DIFF = 0.01


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipes():
    # Separate but identical component sets, so nothing Blueprint installs can leak into the reference.
    ours = BlueprintPipeline(build_components("tiny", seed=0, glyph_layer=False))
    ref = GlmImagePipeline(**build_components("tiny", seed=0, glyph_layer=False))
    ref.set_progress_bar_config(disable=True)
    return ours, ref


def reference_pixels(ref, prompts, width, height, seed, steps, guidance, prior):
    out = ref(prompts, height=height, width=width, num_inference_steps=steps, guidance_scale=guidance,
              generator=torch.Generator().manual_seed(seed), prior_token_ids=prior, output_type="np")
    return np.round(out.images * 255.0)


def our_pixels(out):
    return np.stack([np.asarray(im) for im in out.images]).astype(np.float64)


@pytest.mark.parametrize("width,height,guidance", [(128, 128, 1.5), (192, 128, 4.0), (128, 160, 1.0)])
def test_same_images_from_the_same_prior_tokens(pipes, width, height, guidance):
    ours, ref = pipes
    prior = torch.randint(0, 128, (2, (height // 16) * (width // 16)), generator=torch.Generator().manual_seed(7))
    out = ours(PROMPTS, height=height, width=width, seed=5, num_inference_steps=3, guidance_scale=guidance,
               prior_token_ids=prior)
    a = our_pixels(out)
    b = reference_pixels(ref, PROMPTS, width, height, 5, 3, guidance, prior)
    assert a.shape == b.shape == (2, height, width, 3)
    assert a.std() > 5  # the images are not flat, so the comparison means something
    diff = np.abs(a - b)
    assert diff.max() <= MAX_DIFF and diff.mean() <= MAX_MEAN_DIFF, (diff.max(), diff.mean())
    other = reference_pixels(ref, PROMPTS, width, height, 6, 3, guidance, prior)
    assert np.abs(a - other).mean() > 100 * MAX_MEAN_DIFF


def test_same_prior_tokens_and_images_end_to_end(pipes):
    ours, ref = pipes
    out = ours(PROMPTS, height=128, width=128, seed=11, num_inference_steps=2)
    prior_ref, _, _ = ref.generate_prior_tokens(PROMPTS, 128, 128, generator=torch.Generator().manual_seed(11))
    assert torch.equal(out.prior_token_ids, prior_ref)
    b = reference_pixels(ref, PROMPTS, 128, 128, 11, 2, DEFAULT_GUIDANCE, None)  # ours ran at its default
    diff = np.abs(our_pixels(out) - b)
    assert diff.max() <= MAX_DIFF and diff.mean() <= MAX_MEAN_DIFF
