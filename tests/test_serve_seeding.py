"""Per-row seeds (what `blueprint serve` batches with): a request's image does not
depend on the requests batched with it, and a batch of one with `[s]` is the image
that the plain seed `s` gives."""

import numpy as np
import pytest
import torch

from blueprint.errors import BlueprintError
from blueprint.models import build_components
from blueprint.pipeline import BlueprintPipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = dict(height=128, width=128, num_inference_steps=2)


@pytest.fixture(scope="module")
def pipe():
    return BlueprintPipeline(build_components("tiny", seed=0))


def pixels(out):
    return np.stack([np.asarray(im, dtype=np.int16) for im in out.images])


@pytest.mark.parametrize("prior_guidance", [1.0, 2.0])
def test_a_list_of_one_seed_is_the_plain_seed(pipe, prior_guidance):
    plain = pipe("a red poster", seed=7, prior_guidance=prior_guidance, **SIZE)
    listed = pipe("a red poster", seed=[7], prior_guidance=prior_guidance, **SIZE)
    assert torch.equal(plain.prior_token_ids, listed.prior_token_ids)
    assert np.array_equal(pixels(plain), pixels(listed))


@pytest.mark.parametrize("prior_guidance", [1.0, 2.0])
def test_a_seeded_row_is_the_same_alone_or_batched(pipe, prior_guidance):
    prompts, seeds = ["a red poster", 'a blue sign that reads "HI"', "a green card"], [3, 11, 5]
    batch = pipe(prompts, seed=seeds, prior_guidance=prior_guidance, **SIZE)
    for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
        alone = pipe(prompt, seed=seed, prior_guidance=prior_guidance, **SIZE)
        assert torch.equal(alone.prior_token_ids[0], batch.prior_token_ids[i])
        # batched matmuls may round differently in the last bit: at most one level of 255
        assert np.abs(pixels(alone)[0] - pixels(batch)[i]).max() <= 1


def test_seed_lists_are_checked(pipe):
    with pytest.raises(BlueprintError, match="2 seeds for 1 prompts"):
        pipe("x", seed=[1, 2], **SIZE)
    with pytest.raises(BlueprintError, match="seed must be"):
        pipe(["x", "y"], seed=[1, -2], **SIZE)
