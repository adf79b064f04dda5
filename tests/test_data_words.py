"""Word lists and the held-out split: disjoint by construction, checked over many samples."""

import itertools
import random

from blueprint.data import KINDS, make_spec
from blueprint.data.words import POOLS, TextMaker, token_split, word_list


def test_word_lists_are_big_and_split_by_hash():
    total = sum(len(word_list(p, "train")) + len(word_list(p, "heldout")) for p in POOLS)
    assert total >= 2000
    for pool in POOLS:
        train, held = set(word_list(pool, "train")), set(word_list(pool, "heldout"))
        assert train and held and not train & held
        assert all(token_split(w) == "heldout" for w in held)
    held_share = sum(len(word_list(p, "heldout")) for p in POOLS) / total
    assert 0.05 < held_share < 0.15


def test_split_is_case_insensitive():
    for word in ("Coffee", "BAKERY", "zebra"):
        assert token_split(word) == token_split(word.lower()) == token_split(word.upper())


def test_no_token_crosses_the_split_over_many_samples():
    for split in ("train", "heldout"):
        tokens = set()
        for kind, seed in itertools.product(KINDS, range(60)):
            spec = make_spec(kind, seed, 256, 256, split=split)
            assert spec.split == split
            for text in spec.texts:
                tokens.update(text.split())
        assert len(tokens) > 300
        wrong = [t for t in tokens if token_split(t) != split]
        assert not wrong, wrong[:10]


def test_generators_cover_the_kinds_of_text():
    maker = TextMaker(random.Random(0), "train")
    prices = [maker.price() for _ in range(50)]
    assert all(p.startswith("$") and "." in p for p in prices)
    assert all(maker.number().isdigit() for _ in range(20))
    letters = [maker.letters() for _ in range(20)]
    assert all(s.isalpha() for s in letters) and any(s.isupper() for s in letters) and any(s.islower() for s in letters)
    cases = {maker.styled("big sale").split()[0] for _ in range(40)}
    assert cases == {"Big", "BIG", "big"}
