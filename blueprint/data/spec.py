"""The ground-truth spec of one design: what the data engine drew, exactly.

A `Spec` is the contract between the data engine (which writes it), training
(which reads captions, texts and semantic maps) and the evaluation harness
(which scores a generated image against it). It round-trips through JSON.

Coordinates are pixels, boxes are [x0, y0, x1, y1] with x1/y1 exclusive.
Element ids start at 1; id 0 is the background in the element map.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from blueprint.errors import BlueprintError

# Design kinds the engine draws. Each has several layouts (see blueprint.data.kinds).
KINDS = ("sign", "poster", "label", "menu", "chart", "scene")

# Element kinds inside a design.
ELEMENT_KINDS = ("text", "shape", "bar", "panel")

# Shapes a scene or a decoration can contain.
SHAPES = ("circle", "square", "triangle", "star")

# Font faces; each maps to one font file installed by the set-up (blueprint.data.fonts).
FONT_FACES = ("sans", "serif", "mono", "bold")


@dataclass
class Element:
    id: int
    kind: str                     # one of ELEMENT_KINDS
    role: str                     # what it is in the design: "title", "price", "bar_label", "circle", ...
    box: list[int]                # [x0, y0, x1, y1], tight around the ink
    color: str                    # colour name from blueprint.data.colors
    rgb: list[int]                # [r, g, b]
    text: str | None = None       # text elements: the exact string drawn
    font: str | None = None       # text elements: one of FONT_FACES
    font_size: int | None = None  # text elements: pixels
    shape: str | None = None      # shape elements: one of SHAPES
    value: float | None = None    # bar elements: the number the bar stands for

    def __post_init__(self):
        if self.kind not in ELEMENT_KINDS:
            raise BlueprintError(f"element {self.id}: unknown element kind {self.kind!r}")
        if len(self.box) != 4 or self.box[0] >= self.box[2] or self.box[1] >= self.box[3]:
            raise BlueprintError(f"element {self.id}: bad box {self.box}")
        if self.kind == "text" and not self.text:
            raise BlueprintError(f"element {self.id}: a text element needs text")
        if self.kind == "shape" and self.shape not in SHAPES:
            raise BlueprintError(f"element {self.id}: unknown shape {self.shape!r}")


@dataclass
class Spec:
    kind: str                      # one of KINDS
    layout: str                    # layout name within the kind
    seed: int
    width: int
    height: int
    background: str                # colour name
    background_rgb: list[int]
    caption: str                   # the prompt; every text to render is in double quotes
    elements: list[Element] = field(default_factory=list)
    split: str = "train"           # "train" or "heldout": which word set the texts came from

    def __post_init__(self):
        if self.kind not in KINDS:
            raise BlueprintError(f"unknown design kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        self.elements = [e if isinstance(e, Element) else Element(**e) for e in self.elements]

    @property
    def texts(self) -> list[str]:
        """The strings to render, in reading order (the quoted strings of the caption)."""
        return [e.text for e in self.elements if e.kind == "text"]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        # sort_keys + fixed separators: the same spec gives the same bytes.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "Spec":
        try:
            return cls(**d)
        except TypeError as e:
            raise BlueprintError(f"malformed spec: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> "Spec":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise BlueprintError(f"spec is not valid JSON: {e}") from None
        return cls.from_dict(d)
