"""Fixtures shared across test modules."""

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
