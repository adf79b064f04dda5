"""Text metrics: word accuracy, NED and exact match, on strings only.

These functions know nothing about images or OCR engines; `score.py` feeds
them the spec's texts and what an engine read. The definitions follow the
CVTG-2K / LongText-Bench conventions and are written out here because those
benchmarks ship no metric code:

- **word accuracy**: the target words are the spec's texts split on
  whitespace, normalised by `normalize_word` (lower case, surrounding
  punctuation stripped, inner punctuation kept so "$3.50" must read "$3.50").
  The score is |Counter(target) & Counter(read)| / |target|: a multiset match,
  so each word read can match one target word only, in any order, and extra
  words read are not penalised.
- **NED**: 1 - Levenshtein(T, R) / max(|T|, |R|), where T is the normalised
  target words joined by single spaces in the spec's reading order and R is
  the words read, re-ordered to follow T (`align_words`): each target word
  takes the closest unused word read, if it is close enough; the words read
  that no target took are appended at the end, so spurious text costs score
  (single characters excepted: shapes read as "A" or "*" are not text).
  A perfect read scores 1; reading nothing scores 0.
- **exact match**: one text element, case-sensitive, after collapsing runs of
  whitespace; used on the OCR of the element's own box.
"""

from __future__ import annotations

from collections import Counter

from rapidfuzz.distance import Levenshtein

# Punctuation stripped from both ends of a word. Symbols that carry meaning in
# design text ($ % # & + @ / -) are kept: "$3.50" is not "3.50".
STRIP_CHARS = "\"'`.,:;!?()[]{}<>«»“”‘’*_|~"

# A word read may stand for a target word in `align_words` when its
# similarity (1 - normalised edit distance) is at least this.
ALIGN_MIN_SIMILARITY = 0.5
# Words read that align with no target word count against NED only from this
# length on: OCR reads shapes and the corners of frames as "a", "A" or "*",
# which says nothing about the text.
MIN_EXTRA_LENGTH = 2


def normalize_word(word: str) -> str:
    """Lower case, surrounding punctuation stripped; '' if nothing is left."""
    return word.strip().strip(STRIP_CHARS).lower()


def words_of(texts: list[str] | str) -> list[str]:
    """Split texts on whitespace and normalise; words that normalise to '' are dropped."""
    if isinstance(texts, str):
        texts = [texts]
    words = (normalize_word(w) for t in texts for w in t.split())
    return [w for w in words if w]


def word_accuracy(target_texts: list[str], read_texts: list[str]) -> float | None:
    """Share of target words found among the words read (multiset); None if no target words."""
    target = Counter(words_of(target_texts))
    total = sum(target.values())
    if total == 0:
        return None
    found = target & Counter(words_of(read_texts))
    return sum(found.values()) / total


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    return Levenshtein.distance(a, b)


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance (by the longer string); 1.0 for two empty strings."""
    return Levenshtein.normalized_similarity(a, b)


def align_words(target: list[str], read: list[str]) -> list[str]:
    """Re-order `read` to follow `target` (see the module docstring).

    Words read that no target word took are appended, except single characters.
    """
    unused = list(range(len(read)))
    aligned = []
    for word in target:
        if not unused:
            break
        best = max(unused, key=lambda i: similarity(word, read[i]))
        if similarity(word, read[best]) >= ALIGN_MIN_SIMILARITY:
            aligned.append(read[best])
            unused.remove(best)
    return aligned + [read[i] for i in unused if len(read[i]) >= MIN_EXTRA_LENGTH]


def ned(target_texts: list[str], read_texts: list[str]) -> float | None:
    """1 - normalised edit distance between target and aligned read text; None if no target."""
    target = words_of(target_texts)
    if not target:
        return None
    t = " ".join(target)
    r = " ".join(align_words(target, words_of(read_texts)))
    return similarity(t, r)


def normalize_line(text: str) -> str:
    """Collapse whitespace runs to one space and strip the ends; case is kept."""
    return " ".join(text.split())


def exact_match(target: str, read: str) -> bool:
    return normalize_line(target) == normalize_line(read)
