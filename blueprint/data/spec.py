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

# Design kinds the engine draws by default. Each has several layouts (see
# blueprint.data.kinds). The default training stream cycles through exactly
# these, so this tuple must not change: the shipped model's recipe depends on it.
KINDS = ("sign", "poster", "label", "menu", "chart", "scene")
# Kinds added later; opt-in (ask for them by name, or for "all").
NEW_KINDS = ("book", "whiteboard", "infographic", "chalkboard", "wallsign")
ALL_KINDS = KINDS + NEW_KINDS

# Procedural surface textures a panel may carry (blueprint.data.materials).
MATERIALS = ("wood", "chalkboard", "paper", "brick", "metal", "cork")

# Caption styles: "exact" names every attribute (the default stream), "user"
# is a short prompt naming only some (spec.stated lists which).
CAPTION_STYLES = ("exact", "user")

# Element kinds inside a design.
ELEMENT_KINDS = ("text", "shape", "bar", "panel")

# Shapes a scene or a decoration can contain.
SHAPES = ("circle", "square", "triangle", "star")

# Panel shapes of connectors (infographics): an arrow from the box's opposite
# side or corner to the named one (arrow_e points right, arrow_se down-right).
ARROWS = tuple("arrow_" + d for d in ("e", "w", "n", "s", "ne", "nw", "se", "sw"))

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
    material: str | None = None   # panels: one of MATERIALS when textured (left out of JSON when None)

    def __post_init__(self):
        if self.kind not in ELEMENT_KINDS:
            raise BlueprintError(f"element {self.id}: unknown element kind {self.kind!r}")
        if len(self.box) != 4 or self.box[0] >= self.box[2] or self.box[1] >= self.box[3]:
            raise BlueprintError(f"element {self.id}: bad box {self.box}")
        if self.kind == "text" and not self.text:
            raise BlueprintError(f"element {self.id}: a text element needs text")
        if self.kind == "shape" and self.shape not in SHAPES:
            raise BlueprintError(f"element {self.id}: unknown shape {self.shape!r}")
        if self.material is not None and self.material not in MATERIALS:
            raise BlueprintError(f"element {self.id}: unknown material {self.material!r}")


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
    # User-style prompts only (left out of JSON when None): what the prompt
    # states, so evaluation checks only that. Keys: "texts" (quoted strings),
    # "background" (colour), "colors" ({element id: colour}), "materials"
    # ({element id: material}), "values" (bar values), "shapes", "positions" (bools).
    stated: dict | None = None

    def __post_init__(self):
        if self.kind not in ALL_KINDS:
            raise BlueprintError(f"unknown design kind {self.kind!r}; expected one of {', '.join(ALL_KINDS)}")
        self.elements = [e if isinstance(e, Element) else Element(**e) for e in self.elements]
        if self.stated is not None and not isinstance(self.stated, dict):
            raise BlueprintError(f"stated must be a dict, got {type(self.stated).__name__}")

    @property
    def texts(self) -> list[str]:
        """The strings to render, in reading order (the quoted strings of the caption)."""
        return [e.text for e in self.elements if e.kind == "text"]

    def to_dict(self) -> dict:
        # Fields added after the first benchmark are left out at their default,
        # so older specs (and the held-out benchmark file) keep their bytes.
        d = asdict(self)
        if d["stated"] is None:
            del d["stated"]
        for e in d["elements"]:
            if e["material"] is None:
                del e["material"]
        return d

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
