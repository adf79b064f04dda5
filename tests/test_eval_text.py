"""Text metrics on strings: word accuracy, NED, exact match (no OCR involved)."""

import pytest

from blueprint.eval import text as tm


@pytest.mark.parametrize("word, expected", [
    ("SALE!", "sale"), ("\"Open\"", "open"), ("$3.50", "$3.50"), ("3.50.", "3.50"),
    ("24/7", "24/7"), ("50%", "50%"), ("(new)", "new"), ("Anna's", "anna's"), ("...", ""),
])
def test_normalize_word(word, expected):
    assert tm.normalize_word(word) == expected


def test_word_accuracy_is_case_insensitive_and_ignores_surrounding_punctuation():
    assert tm.word_accuracy(["Grand Opening", "Espresso $3.50"], ["grand", "OPENING!", "espresso", "$3.50"]) == 1.0


def test_word_accuracy_keeps_inner_punctuation():
    # "$3.50" read as "3.50" or "$350" is a different word.
    assert tm.word_accuracy(["$3.50"], ["3.50"]) == 0.0
    assert tm.word_accuracy(["$3.50"], ["$350"]) == 0.0


def test_word_accuracy_is_a_multiset_match():
    # Two target "sale"s need two read "sale"s; one read word matches one target.
    assert tm.word_accuracy(["sale sale", "today"], ["sale", "today"]) == pytest.approx(2 / 3)
    assert tm.word_accuracy(["sale"], ["sale", "sale", "sale"]) == 1.0


def test_word_accuracy_one_letter_changed_is_wrong():
    assert tm.word_accuracy(["Bakery Fresh"], ["Bakery", "Fresn"]) == 0.5


def test_word_accuracy_without_target_words_is_none():
    assert tm.word_accuracy([], ["x"]) is None
    assert tm.ned(["..."], ["x"]) is None


def test_levenshtein():
    assert tm.levenshtein("kitten", "sitting") == 3
    assert tm.levenshtein("", "abc") == 3
    assert tm.levenshtein("same", "same") == 0


def test_ned_perfect_read_in_any_order_is_one():
    assert tm.ned(["Fresh Bakery", "Open 24/7"], ["open", "24/7", "FRESH", "bakery"]) == 1.0


def test_ned_nothing_read_is_zero_and_noise_is_low():
    assert tm.ned(["Fresh Bakery"], []) == 0.0
    assert tm.ned(["Fresh Bakery", "Open daily"], ["iG", "wae", "57,"]) < 0.25


def test_ned_penalises_extra_and_wrong_characters():
    perfect = tm.ned(["Fresh Bakery"], ["fresh", "bakery"])
    one_off = tm.ned(["Fresh Bakery"], ["fresn", "bakery"])
    extra = tm.ned(["Fresh Bakery"], ["fresh", "bakery", "xyz"])
    assert perfect == 1.0
    assert one_off == pytest.approx(1 - 1 / len("fresh bakery"))
    assert extra < 1.0


def test_align_words_appends_extra_words_but_not_single_characters():
    aligned = tm.align_words(["a1", "b2"], ["zz", "b2", "A", "a1"])
    assert aligned == ["a1", "b2", "zz"]
    assert tm.ned(["sale"], ["sale", "A", "*"]) == 1.0


def test_exact_match_is_case_sensitive_after_whitespace_normalisation():
    assert tm.exact_match("Open  24/7", " Open 24/7 ")
    assert not tm.exact_match("Open 24/7", "open 24/7")
    assert not tm.exact_match("Espresso $3.50", "Espresso $3. 50")


def _textbook_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_library_edit_distance_matches_the_textbook_recurrence():
    import random

    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 9)))
        b = "".join(rng.choice("abcde ") for _ in range(rng.randint(0, 9)))
        assert tm.levenshtein(a, b) == _textbook_levenshtein(a, b)
        longest = max(len(a), len(b))
        expected = 1.0 if longest == 0 else 1.0 - _textbook_levenshtein(a, b) / longest
        assert tm.similarity(a, b) == expected
