"""Words for captions: positions, counts, plurals, and how a text is described.

Captions are what a user would type: natural sentences naming every colour,
position and count, with every string to render in double quotes (GLM-Image
extracts quoted text for its glyph encoder). Several phrasings are drawn from
the design's own random generator, so a seed fixes the caption too.
"""

from __future__ import annotations

import random

from blueprint.data.fonts import FACE_WORDS
from blueprint.data.spec import Element

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def count_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def plural(noun: str, n: int) -> str:
    return noun if n == 1 else noun + "s"


def an(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def capitalize(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def join_and(parts: list[str]) -> str:
    if len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def position(box, width: int, height: int) -> str:
    """Where a box's centre lies on a 3 x 3 grid, in words ("at the top left")."""
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    col = "left" if cx < 1 / 3 else ("right" if cx > 2 / 3 else "")
    row = "top" if cy < 1 / 3 else ("bottom" if cy > 2 / 3 else "")
    if row and col:
        return f"in the {row} {col} corner"
    if row:
        return f"at the {row}"
    if col:
        return f"on the {col}"
    return "in the middle"


def quoted(e: Element) -> str:
    return f'"{e.text}"'


def text_phrase(e: Element, rng: random.Random, where: str = "") -> str:
    """'"SALE" in red bold letters at the top' and variants."""
    face = FACE_WORDS[e.font]
    template = rng.choice((
        '{q} in {color} {face} letters{where}',
        '{q} written in {color} {face} type{where}',
        '{q} in {face} {color} text{where}',
    ))
    return template.format(q=quoted(e), color=e.color, face=face, where=f" {where}" if where else "")
