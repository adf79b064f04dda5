"""User-style prompts: short, the way people write them, naming only some attributes.

`user_prompt(spec, rng) -> (prompt, stated)` writes a prompt for a finished
design. Every text to render is quoted (a menu row as `"Latte $4.25"`, the
item and its price in one quote; a chart bar as `"Apples" 5`), the kind is
named, and by chance a colour or a material; the rest (layout, fonts, most
colours) is left to the model. `stated` records what the prompt commits to,
so evaluation checks only that:

- "texts": the quoted strings, in order;
- "background": the background colour, when named;
- "colors": {element id (str): colour} of the elements whose colour is named;
- "materials": {element id (str): material} of the surfaces whose material is named;
- "values": the bar values (charts), "shapes" / "positions" (scenes): True when stated.

Only the spec's own texts appear in quotes, so held-out words stay held out.
"""

from __future__ import annotations

import random

from blueprint.data.captions import an, capitalize, count_word, join_and, plural
from blueprint.data.materials import MATERIAL_WORDS
from blueprint.data.spec import Spec


def q(text: str) -> str:
    return f'"{text}"'


def quotes(texts) -> str:
    return ", ".join(q(t) for t in texts)


class Prompt:
    """Collects what a prompt states while it is being written."""

    def __init__(self, spec: Spec, rng: random.Random):
        self.spec, self.rng = spec, rng
        self.stated: dict = {"texts": []}

    def quote(self, *texts: str) -> list[str]:
        self.stated["texts"] += list(texts)
        return [q(t) for t in texts]

    def color(self, e) -> str:
        self.stated.setdefault("colors", {})[str(e.id)] = e.color
        return e.color

    def background(self) -> str:
        self.stated["background"] = self.spec.background
        return self.spec.background

    def material(self, e) -> str:
        self.stated.setdefault("materials", {})[str(e.id)] = e.material
        return MATERIAL_WORDS[e.material]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)


def role(spec: Spec, name: str):
    return next((e for e in spec.elements if e.role == name), None)


def texts_of(spec: Spec, *roles: str):
    return [e for e in spec.elements if e.kind == "text" and (not roles or e.role in roles)]


def sign(p: Prompt) -> str:
    s = p.spec
    texts = [e.text for e in texts_of(s)]
    board = next((e for e in s.elements if e.kind == "panel"), None)
    noun = {"board": "shop sign", "banner": "storefront banner", "plaque": "sign"}.get(s.layout, "sign")
    if board is not None and s.layout != "plaque" and p.chance(0.3):
        noun = f"{p.color(board)} {noun}"
    first, *rest = p.quote(*texts)
    out = p.pick(f"{an(noun)} that reads {first}", f"{an(noun)} saying {first}", f"{capitalize(noun)}: {first}")
    if rest:
        out += p.pick(f", with {join_and(rest)} below", f" and {join_and(rest)}")
    if p.chance(0.25):
        out += f" on {an(p.background())} background"
    return out


def poster(p: Prompt) -> str:
    texts = p.quote(*[e.text for e in texts_of(p.spec)])
    noun = f"{p.background()} poster" if p.chance(0.3) else "poster"
    if len(texts) == 1:
        return p.pick(f"{an(noun)} that says {texts[0]}", f"{an(noun)} with the title {texts[0]}")
    return p.pick(f"{an(noun)} with the title {texts[0]} and the lines {join_and(texts[1:])}",
                  f"{capitalize(noun)}: {', '.join(texts)}", f"{an(noun)} reading {join_and(texts)}")


def label(p: Prompt) -> str:
    texts = p.quote(*[e.text for e in texts_of(p.spec)])
    noun = p.pick("product label", "label", "price tag") if p.spec.layout == "tag" else p.pick("product label", "label")
    return p.pick(f"{an(noun)} with {join_and(texts)}", f"{capitalize(noun)}: {', '.join(texts)}",
                  f"{an(noun)} that reads {join_and(texts)}")


def item_list(p: Prompt, items) -> str:
    rows = p.quote(*[f"{items[k].text} {items[k + 1].text}" for k in range(0, len(items), 2)])
    return p.pick(", ".join(rows), join_and(rows))


def menu(p: Prompt) -> str:
    s = p.spec
    title = role(s, "title")
    items = texts_of(s, "item", "price")
    title_q = p.quote(title.text)[0] if title else None
    noun = p.pick("menu", "menu board", "cafe menu")
    head = f"{an(noun)} titled {title_q}" if title else an(noun)
    lead = p.pick(": ", " listing ", " with items: ")
    return f"{head}{lead}{item_list(p, items)}"


def chart(p: Prompt) -> str:
    s = p.spec
    title = role(s, "title")
    labels = texts_of(s, "bar_label")
    bars = [e for e in s.elements if e.kind == "bar"]
    title_q = p.quote(title.text)[0]
    pairs = [f"{q(e.text)} {bar.value:g}" for e, bar in zip(labels, bars)]
    p.stated["texts"] += [e.text for e in labels]
    p.stated["values"] = [bar.value for bar in bars]
    noun = "horizontal bar chart" if s.layout == "horizontal" else "bar chart"
    lead = p.pick("with bars", "showing", "of")
    return p.pick(f"{an(noun)} titled {title_q} {lead} {', '.join(pairs)}",
                  f"{capitalize(noun)} {title_q}: {', '.join(pairs)}")


def scene(p: Prompt) -> str:
    s = p.spec
    groups: dict = {}
    for e in s.elements:
        if e.kind == "shape":
            groups.setdefault((e.color, e.shape), []).append(e)
    for members in groups.values():
        for e in members:
            p.color(e)
    p.stated["shapes"] = True
    phrases = [f"{count_word(len(m))} {c} {plural(sh, len(m))}" for (c, sh), m in groups.items()]
    if len(phrases) == 2 and s.layout in ("left_right", "top_bottom") and p.chance(0.5):
        p.stated["positions"] = True
        where = ("on the left", "on the right") if s.layout == "left_right" else ("at the top", "at the bottom")
        out = f"{phrases[0]} {where[0]} and {phrases[1]} {where[1]}"
    else:
        out = join_and(phrases)
    text = role(s, "title")
    if text is not None:
        out += f" with the word {p.quote(text.text)[0]} above them"
    return out


def book(p: Prompt) -> str:
    s = p.spec
    title, author, sub = role(s, "title"), role(s, "author"), role(s, "subtitle")
    tq = p.quote(title.text)[0]
    sq = p.quote(sub.text)[0] if sub else None
    aq = p.quote(author.text)[0]
    noun = f"{p.background()} book cover" if p.chance(0.3) and s.layout != "framed" else "book cover"
    subtitle = f", subtitle {sq}," if sq else ""
    return p.pick(f"{an(noun)} with the title {tq}{subtitle} and the author name {aq}",
                  f"{an(noun)} for {tq}{subtitle} by {aq}",
                  f"{capitalize(noun)}: {tq}{subtitle} by {aq}")


def whiteboard(p: Prompt) -> str:
    s = p.spec
    heading = role(s, "heading")
    notes = [e.text for e in texts_of(s, "note")]
    hq = p.quote(heading.text)[0] if heading else None
    nq = p.quote(*notes)
    noun = {"whiteboard": p.pick("whiteboard", "whiteboard covered in meeting notes"),
            "corkboard": p.pick("notice board", "cork board with pinned notes"),
            "flipchart": p.pick("flip chart", "paper flip chart")}[s.layout]
    if s.layout == "corkboard" and p.chance(0.4):
        board = role(s, "board")
        noun = f"{p.material(board)} notice board"
    head = f"{an(noun)} headed {hq}" if hq else an(noun)
    return p.pick(f"{head}: {', '.join(nq)}", f"{head} with the notes {join_and(nq)}",
                  f"{head}, bullet points {', '.join(nq)}")


def infographic(p: Prompt) -> str:
    s = p.spec
    title = role(s, "title")
    tq = p.quote(title.text)[0] if title else None
    stages = p.quote(*[e.text for e in texts_of(s, "stage")])
    shape = {"cycle": "a cycle", "flow": "a flow", "steps": "a process"}[s.layout]
    head = p.pick(f"An infographic showing {shape}", f"A diagram of {shape}", "An infographic")
    if tq:
        head += f" titled {tq}"
    return p.pick(f"{head} with labeled stages: {', '.join(stages)}",
                  f"{head}: {' -> '.join(stages)}", f"{head} with the steps {join_and(stages)}")


def chalkboard(p: Prompt) -> str:
    s = p.spec
    title = role(s, "title")
    items = texts_of(s, "item", "price")
    tq = p.quote(title.text)[0] if title else None
    noun = p.pick("coffee shop chalkboard menu", "chalkboard menu", "chalkboard sign")
    p.material(role(s, "chalkboard"))
    if s.layout == "aframe" and p.chance(0.5):
        noun = "sidewalk chalkboard A-frame sign"
    head = f"{an(noun)} titled {tq}" if tq else an(noun)
    if p.chance(0.3):
        head += f" in a {p.material(role(s, 'frame'))} frame"
    return f"{head}{p.pick(': ', ' with ')}{item_list(p, items)}"


def wallsign(p: Prompt) -> str:
    s = p.spec
    board, wall = role(s, "board"), role(s, "wall")
    texts = p.quote(*[e.text for e in texts_of(s)])
    what = f"{p.material(board)} sign" if board.material and p.chance(0.7) else (
        f"{p.color(board)} sign" if p.chance(0.4) else "sign")
    wall_words = "the wall"
    if wall.material and s.layout != "storefront" and p.chance(0.5):
        wall_words = f"{an(p.material(wall))} wall"
    where = {"mounted": f"mounted on {wall_words}", "storefront": "above a shop window",
             "hanging": f"hanging in front of {wall_words.replace('the wall', 'a wall')}"}[s.layout]
    out = f"{an(what)} {where} that reads {texts[0]}"
    if len(texts) > 1:
        out += f" and {texts[1]}"
    return out


WRITERS = {"sign": sign, "poster": poster, "label": label, "menu": menu, "chart": chart, "scene": scene,
           "book": book, "whiteboard": whiteboard, "infographic": infographic, "chalkboard": chalkboard,
           "wallsign": wallsign}


def user_prompt(spec: Spec, rng: random.Random) -> tuple[str, dict]:
    """A short user-style prompt for `spec` and what it states (see the module docstring)."""
    p = Prompt(spec, rng)
    text = WRITERS[spec.kind](p)
    return capitalize(text.strip()), p.stated
