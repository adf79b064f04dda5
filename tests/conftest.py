"""Fixtures shared across test modules."""

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread, then restore the setting.

    Decoding one token at a time is faster on one thread than on two threads
    fighting over a busy 2-core CI machine.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_rl_folder(path: Path) -> Path:
    """A tiny model folder with a (random) semantic head: what the RL stages need
    (the token reward reads the prior's grid through it; the glyph layer is typeset from it)."""
    from blueprint.models import build_components, save_components
    from blueprint.models.folder import save_semantic_head
    from blueprint.models.image_tokenizer import SemanticHead, SemanticVocab

    components = build_components("tiny", seed=0)
    save_components(components, path)
    vq = components["vision_language_encoder"].config.vq_config
    torch.manual_seed(0)
    save_semantic_head(SemanticHead(vq.embed_dim, vq.num_embeddings, SemanticVocab.from_data()), path)
    return path


@pytest.fixture(scope="session")
def make_rl_folder():
    """`make_rl_folder(path)` writes a tiny model folder ready for RL (`write_rl_folder`)."""
    return write_rl_folder


@pytest.fixture(scope="session")
def planned_folder(tmp_path_factory):
    """A tiny model folder with a semantic head and a (random) tiny planner."""
    from blueprint.models.planner import Planner, PlannerVocab, build_planner, save_planner

    folder = write_rl_folder(tmp_path_factory.mktemp("layout") / "tiny")
    torch.manual_seed(0)
    vocab = PlannerVocab(["a", "sign", "reads", "letters"])
    save_planner(Planner(build_planner("tiny", vocab), vocab), folder)
    return folder
