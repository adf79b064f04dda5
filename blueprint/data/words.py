"""Text to render: words, names, prices, numbers, pseudo-words, letter strings.

Every whitespace-separated token belongs to exactly one split, decided by a
hash of its lower-cased form (`token_split`): about 10% of all possible tokens
are "heldout", the rest "train". Generators only return text whose every token
is in the requested split, so training never sees a held-out token and the
held-out benchmark only contains held-out tokens, by construction. Word lists
are filtered by the hash; generated tokens (prices, pseudo-words, ...) are
drawn again until they land in the split.

Letter strings and pseudo-words avoid the glyphs OCR cannot tell apart in a
sans-serif face (I/l/|, O/0) so that ground truth stays readable.
"""

from __future__ import annotations

import functools
import hashlib
import random
from importlib import resources

from blueprint.errors import BlueprintError

SPLITS = ("train", "heldout")
HELDOUT_PERCENT = 10
CASES = ("title", "upper", "lower")
POOLS = ("common", "shop", "names")

_UPPER = "ABCDEFGHJKMNPQRSTUVWXYZ"
_LOWER = "abcdefghijkmnpqrstuvwxyz"
_CONSONANTS = "bcdfghkmnprstvz"
_VOWELS = "aeou"


def token_split(token: str) -> str:
    """The split a token belongs to: a stable hash (not Python's salted hash)."""
    digest = hashlib.md5(token.lower().encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:4], "big") % 100 < HELDOUT_PERCENT else "train"


def text_split_ok(text: str, split: str) -> bool:
    return all(token_split(t) == split for t in text.split())


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise BlueprintError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


@functools.cache
def word_list(pool: str, split: str) -> tuple[str, ...]:
    """Lower-case words of a shipped list (blueprint/data/wordlists/POOL.txt) in `split`."""
    if pool not in POOLS:
        raise BlueprintError(f"unknown word pool {pool!r}; expected one of {', '.join(POOLS)}")
    text = resources.files("blueprint.data").joinpath("wordlists", f"{pool}.txt").read_text("utf-8")
    words = sorted({w.strip().lower() for w in text.split() if w.strip()})
    return tuple(w for w in words if token_split(w) == check_split(split))


@functools.cache
def words_up_to(pool: str, split: str, max_chars: int) -> tuple[str, ...]:
    """The words of `word_list(pool, split)` at most max_chars long (cached: asked for a lot)."""
    return tuple(w for w in word_list(pool, split) if len(w) <= max_chars)


def apply_case(text: str, case: str) -> str:
    if case == "upper":
        return text.upper()
    if case == "lower":
        return text.lower()
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


class TextMaker:
    """Draws texts of one split from one random generator (so a seed fixes them all)."""

    def __init__(self, rng: random.Random, split: str):
        self.rng = rng
        self.split = check_split(split)

    def _until_in_split(self, make, max_chars: int, tries: int = 200) -> str | None:
        for _ in range(tries):
            text = make()
            if len(text) <= max_chars and text_split_ok(text, self.split):
                return text
        return None

    def word(self, pool: str = "common", max_chars: int = 99) -> str | None:
        words = words_up_to(pool, self.split, min(max_chars, 99))
        return self.rng.choice(words) if words else None

    def words(self, n: int, pools=("common",), max_chars: int = 99) -> str | None:
        """n words (from the given pools, in order, cycling) joined by spaces."""
        out = []
        for i in range(n):
            left = max_chars - len(" ".join(out)) - (1 if out else 0)
            w = self.word(pools[i % len(pools)], left)
            if w is None:
                break
            out.append(w)
        return " ".join(out) if out else None

    def price(self, max_chars: int = 99) -> str | None:
        def make():
            # Always with cents: OCR misses a lone "$2" far more often than "$2.50".
            dollars = self.rng.choice([self.rng.randint(1, 9), self.rng.randint(10, 99)])
            return f"${dollars}.{self.rng.choice(['00', '25', '50', '75', '95', '99'])}"
        return self._until_in_split(make, max_chars)

    def number(self, max_chars: int = 99) -> str | None:
        def make():
            return str(self.rng.choice([self.rng.randint(2, 99), self.rng.randint(100, 999), self.rng.randint(1990, 2030)]))
        return self._until_in_split(make, max_chars)

    def letters(self, max_chars: int = 99) -> str | None:
        def make():
            alphabet = self.rng.choice([_UPPER, _LOWER])
            return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(3, 6)))
        return self._until_in_split(make, max_chars)

    def pseudo(self, max_chars: int = 99) -> str | None:
        def make():
            syllables = self.rng.randint(2, 3)
            return "".join(self.rng.choice(_CONSONANTS) + self.rng.choice(_VOWELS) for _ in range(syllables)) + (
                self.rng.choice(_CONSONANTS) if self.rng.random() < 0.5 else "")
        return self._until_in_split(make, max_chars)

    def name(self, max_chars: int = 99) -> str | None:
        return self.word("names", max_chars)

    def styled(self, text: str | None, case: str | None = None) -> str | None:
        if text is None:
            return None
        return apply_case(text, case or self.rng.choice(CASES))

    def title(self, max_words: int = 3, max_chars: int = 99) -> str | None:
        """A headline: mostly real words, sometimes a name or an invented word."""
        r = self.rng.random()
        if r < 0.7:
            text = self.words(self.rng.randint(1, max_words), ("common", "shop"), max_chars)
        elif r < 0.85:
            text = self.pseudo(max_chars)
        else:
            text = self.letters(max_chars)
        return self.styled(text)
