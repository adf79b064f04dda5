"""make_spec / sample: one procedural design from (kind, seed, size, split).

Everything random comes from one `random.Random` seeded by a string of all the
arguments, so the same arguments give the same spec (and, through `render`,
the same pixels) on any machine and in any process.
"""

from __future__ import annotations

import random

from blueprint.data import colors
from blueprint.data.kinds import MODULES
from blueprint.data.layout import Builder
from blueprint.data.prompts import user_prompt
from blueprint.data.render import Rendered, render
from blueprint.data.spec import ALL_KINDS, CAPTION_STYLES, KINDS, Spec
from blueprint.data.words import check_split
from blueprint.errors import BlueprintError
from blueprint.sizes import check_size

# Backgrounds a design may sit on: the colours text can sit on (colors.LIGHT
# and colors.DARK); each leaves at least one readable text colour.
BACKGROUNDS = colors.LIGHT + colors.DARK


def check_kind(kind: str) -> str:
    if kind not in ALL_KINDS:
        raise BlueprintError(f"unknown design kind {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    return kind


def check_kinds(kinds) -> tuple[str, ...]:
    """The kinds to cycle through. None: the original six (`KINDS`), which the
    default training stream uses and must keep; "all": those plus the opt-in
    `NEW_KINDS` (book, whiteboard, infographic, chalkboard, wallsign)."""
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = [k for k in kinds.replace(",", " ").split() if k]
    kinds = tuple(kinds)
    if kinds == ("all",):
        return ALL_KINDS
    if not kinds:
        raise BlueprintError("no design kinds given")
    for k in kinds:
        check_kind(k)
    return kinds


def check_caption_style(style: str) -> str:
    if style not in CAPTION_STYLES:
        raise BlueprintError(f"unknown caption style {style!r}; expected one of {', '.join(CAPTION_STYLES)}")
    return style


def text_range(kind: str) -> tuple[int, int]:
    return MODULES[check_kind(kind)].TEXT_RANGE


def make_spec(kind: str, seed: int, width: int, height: int, split: str = "train",
              n_texts: int | None = None, caption_style: str = "exact") -> Spec:
    """The ground-truth spec of design `kind` number `seed` at width x height.

    n_texts asks for that many text elements; it must lie in the kind's
    TEXT_RANGE (e.g. a scene draws 0 or 1, a chart 3..7: title + 2..6 bars).
    caption_style "exact" (the default, what the shipped model trained on)
    names every attribute; "user" (opt-in) writes a short prompt naming only
    some, and records them in `spec.stated`. The design is the same either way.
    """
    module = MODULES[check_kind(kind)]
    check_caption_style(caption_style)
    check_size(width, height)
    check_split(split)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise BlueprintError(f"seed must be a non-negative integer, got {seed!r}")
    lo, hi = module.TEXT_RANGE
    if n_texts is not None and (not isinstance(n_texts, int) or not lo <= n_texts <= hi):
        raise BlueprintError(f"a {kind} has {lo}..{hi} text elements, asked for {n_texts!r}")
    rng = random.Random(f"{kind}|{seed}|{width}x{height}|{split}|{n_texts}")
    layout = rng.choice(module.LAYOUTS)
    background = rng.choice(BACKGROUNDS)
    b = Builder(width, height, rng, split, background)
    b.layout = layout
    most = module.max_texts(b)
    if n_texts is not None and n_texts > most:
        raise BlueprintError(f"a {kind} at {width}x{height} holds at most {most} text elements, asked for {n_texts}")
    n = n_texts if n_texts is not None else module.default_texts(rng, most)
    caption = module.build(b, layout, n)
    layout = b.layout
    background = b.background  # the newer kinds may pick their own wall colour
    spec = Spec(kind=kind, layout=layout, seed=seed, width=width, height=height, background=background,
                background_rgb=list(colors.rgb(background)), caption=caption, elements=b.elements, split=split)
    if len(spec.texts) != n:  # a kind that cannot keep its promise is a bug, not bad input
        raise RuntimeError(f"{kind}/{layout} drew {len(spec.texts)} texts, asked for {n} (seed {seed}, {width}x{height})")
    if caption_style == "user":
        # Its own generator: the design above is untouched by the prompt's choices.
        spec.caption, spec.stated = user_prompt(spec, random.Random(f"user|{kind}|{seed}|{width}x{height}|{split}"))
    return spec


def sample(kind: str, seed: int, width: int, height: int, split: str = "train",
           with_maps: bool = True, caption_style: str = "exact") -> tuple[Spec, Rendered]:
    spec = make_spec(kind, seed, width, height, split, caption_style=caption_style)
    return spec, render(spec, with_maps=with_maps)
