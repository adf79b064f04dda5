"""The default training stream is pinned: new kinds, materials and prompt styles are opt-in.

The hashes below were computed from the engine before user-style prompts and
the new kinds existed. If one changes, the shipped model's training recipe no
longer reproduces: fix the engine, do not update the hash.
"""

import hashlib

from blueprint.data.dataset import sample_at, spec_at


def _spec_hash(**kw) -> str:
    n = kw.pop("n")
    h = hashlib.sha256()
    for i in range(n):
        h.update(spec_at(i, **kw).to_json().encode())
    return h.hexdigest()


def test_default_specs_are_pinned():
    assert _spec_hash(n=12, width=512, height=512) == \
        "425be8622387fcf8c760e55b680df774aaffe12702820c101df18a7158df7ac7"
    assert _spec_hash(n=6, width=384, height=256, seed=3) == \
        "831668b10debf5abe37a55735b141391220804b3682cefb4fa351fbd518e2b53"
    assert _spec_hash(n=6, width=256, height=256, split="heldout", seed=7) == \
        "c4de40d0db7f25d271968f6aac1b199dc51b6e17e37c072885416aef8f614943"


def test_default_pixels_and_maps_are_pinned():
    h = hashlib.sha256()
    for i in range(3):
        s = sample_at(i, 256, 256)
        for key in ("pixels", "element_map", "char_map"):
            h.update(s[key].numpy().tobytes())
    assert h.hexdigest() == "ab6bb4b8fb6fd0f9e1711d67b1cddf1b4e390082dee5f2efc6ae4857ee64c513"
