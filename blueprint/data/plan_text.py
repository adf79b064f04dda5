"""The layout plan: a design's elements written as a short sequence of words.

What the planner (blueprint.models.planner) writes before the AR stage draws:
the design's kind and background, then one group of words per element, in
the spec's drawing order:

    chart yellow ; text title brown sans q0 all 27 4 69 12 ; bar bar white 8 34 26 52 ; ...

An element is `kind role colour [material] [shape or font] [quote part] x0 y0 x1 y1`:
its box in units of UNIT pixels; a text element names which quoted text of
the prompt it draws (`q2`) and which part of it (`all`; `head`, all but its
last word; `tail`, its last word: a short prompt may quote "Latte $4.25"
where the design sets item and price apart). The words never include the
text itself, so the plan is a closed vocabulary (`VOCAB`) whatever the prompt
quotes, and a planner need not learn to spell. Every word is one token.

A plan is exact for the data engine's specs (`plan_of`) and can be read back
into a spec that `blueprint.data.render` draws (`spec_of_plan`), which is
how the pipeline turns a plan into the codes the AR stage is steered toward.
A person can read and edit one too (`check_plan` refuses, with the reason,
what does not parse); from the planner, words that do not parse are dropped
element by element, never guessed.
"""

from __future__ import annotations

import re

from blueprint.data import colors
from blueprint.data.fonts import FACE_FILES
from blueprint.data.layout import fit_size
from blueprint.data.spec import ALL_KINDS, ARROWS, ELEMENT_KINDS, MATERIALS, SHAPES, Element, Spec
from blueprint.errors import BlueprintError

UNIT = 4            # pixels per box unit
MAX_COORD = 192     # 768 px: the largest image side the engine draws
MAX_QUOTES = 16
PARTS = ("all", "head", "tail")
ROLES = (
    "arrow", "author", "axis", "badge", "band", "banner", "bar", "bar_label", "board", "brand", "bullet",
    "card", "chalkboard", "circle", "cover", "date", "door", "frame", "heading", "hole", "item", "label",
    "leg", "name", "node", "note", "ornament", "plank", "plaque", "plaque_face", "price", "product", "rod",
    "rule", "sheet", "small_print", "square", "stage", "star", "stripe", "subtitle", "tag", "title", "tray",
    "triangle", "wall", "weight", "window", "panel",
)
FACES = tuple(FACE_FILES)  # every face the renderer draws (the whiteboard's "hand" too)
SEPARATOR = ";"
SPECIAL = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2: the planner's T5 pads with 0 and ends with 1
_NUMBERS = tuple(str(i) for i in range(MAX_COORD + 1))
_WORDS = (SEPARATOR,) + ALL_KINDS + ELEMENT_KINDS + ROLES + colors.COLOR_NAMES + MATERIALS + SHAPES \
    + ARROWS + FACES + PARTS + tuple(f"q{i}" for i in range(MAX_QUOTES)) + _NUMBERS
VOCAB = SPECIAL + tuple(dict.fromkeys(_WORDS))  # a word in two groups (chalkboard) is one token
INDEX = {w: i for i, w in enumerate(VOCAB)}
EOS = INDEX["</s>"]


# Quoted texts, for the plan: double quotes, straight or curly (the engine's captions use
# straight ones). Single quotes are left out: they are apostrophes too often ("JEAN'S").
_QUOTE = re.compile('"([^"]*)"|\u201c([^\u201c\u201d]*)\u201d')
_PLAIN_WORD = re.compile(r"[a-z]+|\d+")


def quotes_of(prompt: str) -> list[str]:
    """The prompt's quoted texts in order: what a plan's `q0`, `q1`, ... refer to."""
    return [_quoted(m) for m in _QUOTE.finditer(prompt)]


def _quoted(m: re.Match) -> str:
    return m.group(1) if m.group(1) is not None else m.group(2)


def prompt_words(prompt: str, width: int, height: int) -> list[str]:
    """What the planner reads: the size in box units, then the prompt as lowercase words and
    numbers, each quoted text replaced by its index and its length in characters (a planner
    sizes a box by the length, and never needs the letters)."""
    words = [str(min(MAX_COORD, width // UNIT)), str(min(MAX_COORD, height // UNIT))]
    start = 0
    for k, m in enumerate(_QUOTE.finditer(prompt)):
        text = _quoted(m)
        words += _PLAIN_WORD.findall(prompt[start:m.start()].lower())
        words += [f"q{k}" if k < MAX_QUOTES else "<unk>", str(min(MAX_COORD, len(text)))]
        start = m.end()
    return words + _PLAIN_WORD.findall(prompt[start:].lower())


def quote_part(text: str, quotes: list[str], taken: set = frozenset()) -> tuple[int, str] | None:
    """Which quote (index, part) holds the text `text`, skipping those `taken`; None if none does."""
    for part in PARTS:
        for i, q in enumerate(quotes[:MAX_QUOTES]):
            if _piece(q, part) == text and (i, part) not in taken:
                return i, part
    return None


def _piece(quote: str, part: str) -> str | None:
    """A part of a quote: "all" of it; its "head", all but the last word; its "tail", the last
    word. None where the quote has no such part (one word has no head or tail)."""
    head, _, tail = quote.rpartition(" ")
    return {"all": quote, "head": head, "tail": tail if head else ""}[part] or None


def plan_of(spec: Spec, quotes: list[str]) -> str:
    """The plan of a spec whose texts come from `quotes` (the prompt's, `quotes_of`).

    Raises BlueprintError if a text is in no quote (the prompt does not say it)."""
    words = [spec.kind, spec.background]
    taken: set[tuple[int, str]] = set()  # a text quoted twice is drawn from each quote in turn
    for e in spec.elements:
        words += [SEPARATOR, e.kind, e.role, e.color]
        if e.material:
            words.append(e.material)
        if e.kind == "text":
            found = quote_part(e.text, quotes, taken)
            if found is None:
                raise BlueprintError(f"element {e.id}: text {e.text!r} is in no quote of the prompt")
            taken.add(found)
            words += [e.font, f"q{found[0]}", found[1]]
        elif e.shape:
            words.append(e.shape)
        x0, y0, x1, y1 = e.box  # outward to whole units: a 2-px rule keeps a height
        words += [str(min(MAX_COORD, v)) for v in (x0 // UNIT, y0 // UNIT, -(-x1 // UNIT), -(-y1 // UNIT))]
    return " ".join(words)


_END = (SEPARATOR, "</s>")


def _quote_parts(words: list[str]) -> dict[str, set[str]]:
    """{quote word: the parts of it that text elements of `words` draw}."""
    used: dict[str, set[str]] = {}
    for w, part in zip(words, words[1:]):
        if w[:1] == "q" and w[1:].isdigit() and part in PARTS:
            used.setdefault(w, set()).add(part)
    return used


def allowed_next(words: list[str], quotes: list[str], width: int, height: int) -> tuple[str, ...]:
    """The words that may follow `words` (a plan so far) in a plan that parses ("</s>": the end).

    The planner decodes under this grammar, so every element it writes is one
    `spec_of_plan` reads: a word out of place, a fifth coordinate or an empty
    or off-image box cannot happen. Each quote is drawn once, whole or (with
    more than one word) as head and tail, and the plan ends only when every
    quote is drawn."""
    if not words:
        return ALL_KINDS
    if len(words) == 1:
        return colors.COLOR_NAMES
    used = _quote_parts(words)
    names = [f"q{i}" for i in range(min(len(quotes), MAX_QUOTES))]
    free = tuple(q for q in names if not used.get(q) or used[q] in ({"head"}, {"tail"}))
    undrawn = any(q not in used for q in names)
    if words[-1] == SEPARATOR:
        return ELEMENT_KINDS if free else tuple(k for k in ELEMENT_KINDS if k != "text")
    end = (SEPARATOR,) if undrawn else _END
    if SEPARATOR not in words:  # the design's kind and background are written
        return end
    element = words[len(words) - words[::-1].index(SEPARATOR):]
    if len(element) == 1:
        return ROLES
    if len(element) == 2:
        return colors.COLOR_NAMES
    kind, rest = element[0], element[3:]
    box = [int(w) for w in rest if w.isdigit()]
    if len(box) == 4:
        return end
    if box:
        return _coordinate(box, width, height)
    if kind == "text":
        if len(rest) == 0:
            return FACES
        if len(rest) == 1:
            return free
        if len(rest) == 2:
            taken = used.get(rest[1], set())  # by earlier elements: a head drawn leaves the tail
            if taken:
                return tuple(p for p in PARTS[1:] if p not in taken)
            return PARTS if " " in quotes[int(rest[1][1:])] else PARTS[:1]
    if kind == "shape" and not rest:
        return SHAPES
    if kind == "panel" and not rest:
        return MATERIALS + SHAPES + ARROWS + _coordinate([], width, height)
    if kind == "panel" and rest[-1] in MATERIALS:
        return SHAPES + ARROWS + _coordinate([], width, height)
    return _coordinate([], width, height)


def _coordinate(box: list[int], width: int, height: int) -> tuple[str, ...]:
    """The next number of a box x0 y0 x1 y1 (in units) inside width x height px: x1 > x0, y1 > y0."""
    w, h = min(MAX_COORD, width // UNIT), min(MAX_COORD, height // UNIT)
    if len(box) == 0:
        lo, hi = 0, w - 1
    elif len(box) == 1:
        lo, hi = 0, h - 1
    elif len(box) == 2:
        lo, hi = box[0] + 1, w
    else:
        lo, hi = box[1] + 1, h
    return _NUMBERS[lo:hi + 1]


def plan_ids(plan: str) -> list[int]:
    """Token ids of a plan, ending with the end token; BlueprintError on an unknown word."""
    unknown = [w for w in plan.split() if w not in INDEX]
    if unknown:
        raise BlueprintError(f"not plan words: {' '.join(unknown[:5])}")
    return [INDEX[w] for w in plan.split()] + [EOS]


def plan_from_ids(ids) -> str:
    """The words of token ids, up to the first end token (special ids are left out)."""
    words = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if len(SPECIAL) <= i < len(VOCAB):
            words.append(VOCAB[i])
    return " ".join(words)


def _element(words: list[str], ident: int, quotes: list[str], width: int, height: int) -> Element | None:
    """One element from its words; None if they do not make one."""
    try:
        return parse_element(words, ident, quotes, width, height)
    except BlueprintError:
        return None


def parse_element(words: list[str], ident: int, quotes: list[str], width: int, height: int) -> Element:
    """One element from its words; BlueprintError saying what is wrong if they do not make one."""
    if len(words) < 7:
        raise BlueprintError("an element is `kind role colour [material] [shape | font quote part] x0 y0 x1 y1`")
    for word, allowed, what in ((words[0], ELEMENT_KINDS, "an element kind"), (words[1], ROLES, "a role"),
                                (words[2], colors.COLOR_NAMES, "a colour")):
        if word not in allowed:
            raise BlueprintError(f"{word!r} is not {what} ({', '.join(allowed[:12])}{', ...' if len(allowed) > 12 else ''})")
    kind, role, color = words[:3]
    rest, box_words = words[3:-4], words[-4:]
    if not all(w.isdigit() for w in box_words):
        raise BlueprintError(f"an element ends with its box x0 y0 x1 y1 in {UNIT}-px units, got {' '.join(box_words)!r}")
    x0, y0, x1, y1 = (int(w) * UNIT for w in box_words)
    x0, x1 = max(0, min(x0, width - 1)), min(width, x1)
    y0, y1 = max(0, min(y0, height - 1)), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        raise BlueprintError(f"the box {' '.join(box_words)} is empty inside the {width}x{height} image")
    fields = {"id": ident, "kind": kind, "role": role, "color": color, "rgb": list(colors.rgb(color)),
              "box": [x0, y0, x1, y1]}
    if rest and rest[0] in MATERIALS:
        fields["material"], rest = rest[0], rest[1:]
    if kind == "text":
        return _text_element(fields, rest, quotes)
    if kind == "shape" and (len(rest) != 1 or rest[0] not in SHAPES):
        raise BlueprintError(f"a shape names one of {', '.join(SHAPES)} before its box")
    if kind == "panel" and rest and (len(rest) != 1 or rest[0] not in SHAPES + ARROWS):
        raise BlueprintError(f"a panel may name a material, then one of {', '.join(SHAPES + ARROWS)}, before its box")
    if kind == "bar" and rest:
        raise BlueprintError("a bar has only its role, colour and box")
    return Element(**fields, shape=rest[0] if rest else None)


def _text_element(fields: dict, rest: list[str], quotes: list[str]) -> Element:
    if len(rest) != 3 or rest[0] not in FACES:
        raise BlueprintError(f"a text names its font ({', '.join(FACES)}), its quote and its part before its box")
    if rest[1][1:] not in map(str, range(len(quotes))):
        raise BlueprintError(f"{rest[1]!r} is not a quote of the prompt, which has {len(quotes)} "
                             f"(q0 is the first)")
    if rest[2] not in PARTS:
        raise BlueprintError(f"{rest[2]!r} is not a part of a quote ({', '.join(PARTS)})")
    text = _piece(quotes[int(rest[1][1:])], rest[2])
    if text is None:
        raise BlueprintError(f"{rest[1]} is one word: it has no {rest[2]}")
    x0, y0, x1, y1 = fields["box"]
    size = fit_size(text, rest[0], x1 - x0, y1 - y0, 6, 96)
    if size is None:
        raise BlueprintError(f"{text!r} does not fit its box of {x1 - x0}x{y1 - y0} px")
    return Element(**fields, text=text, font=rest[0], font_size=size)


def normal_plan(plan: str) -> str:
    """A plan as the planner writes it, from one a person wrote: line breaks as separators, one
    space between words; empty lines and doubled separators are harmless and dropped."""
    groups = [" ".join(g.split()) for g in plan.replace("\n", f" {SEPARATOR} ").split(SEPARATOR)]
    return f" {SEPARATOR} ".join(groups[:1] + [g for g in groups[1:] if g])


def check_plan(plan: str, quotes: list[str], width: int, height: int) -> Spec:
    """The spec of a plan a person wrote or edited; BlueprintError naming the first element that does
    not parse, or the first quote no text draws.

    Unlike `spec_of_plan` (for the planner's plans, which may lose an element), nothing is dropped:
    a plan someone typed is followed as written or refused. A line break separates elements
    too, so the plan can be written one element a line."""
    groups = [g.split() for g in normal_plan(plan).split(SEPARATOR)]
    try:
        spec = spec_of_plan(" ".join(groups[0]), quotes, width, height)
    except BlueprintError as e:
        raise BlueprintError(f"layout plan: {e} (e.g. `poster red`)") from None
    elements = []
    for k, words in enumerate(groups[1:], 1):
        try:
            elements.append(parse_element(words, k, quotes, width, height))
        except BlueprintError as e:
            raise BlueprintError(f"layout plan, element {k} ({' '.join(words)!r}): {e}") from None
    drawn = {e.text for e in elements if e.kind == "text"}
    for i, q in enumerate(quotes[:MAX_QUOTES]):
        if q not in drawn and not {_piece(q, "head"), _piece(q, "tail")} <= drawn:
            raise BlueprintError(f"layout plan: no text draws q{i} ({q!r}); each quoted text needs a text "
                                 f"element (`text ROLE COLOUR FONT q{i} all x0 y0 x1 y1`)")
    spec.elements = elements
    return spec


def spec_of_plan(plan: str, quotes: list[str], width: int, height: int, seed: int = 0) -> Spec:
    """A spec the renderer draws, read from a plan; elements that do not parse are dropped.

    BlueprintError if the plan does not start with a design kind and a background colour."""
    groups = [g.split() for g in plan.split(SEPARATOR)]
    head = groups[0] if groups else []
    if len(head) != 2 or head[0] not in ALL_KINDS or head[1] not in colors.COLOR_NAMES:
        raise BlueprintError(f"a plan starts with a design kind and a background colour, got {' '.join(head)!r}")
    elements = []
    for words in groups[1:]:
        e = _element(words, len(elements) + 1, quotes, width, height)
        if e is not None:
            elements.append(e)
    return Spec(kind=head[0], layout="plan", seed=seed, width=width, height=height, background=head[1],
                background_rgb=list(colors.rgb(head[1])), caption=" ".join(f'"{q}"' for q in quotes),
                elements=elements)
