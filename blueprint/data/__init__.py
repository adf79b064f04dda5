"""The design-data engine: procedural designs with exact ground truth.

    spec = make_spec("poster", seed=7, width=256, height=384, split="train")
    out = render(spec, with_maps=True)   # out.image, out.element_map, out.char_map
    spec, out = sample("chart", 3, 256, 256)

Kinds: sign, poster, label, menu, chart, scene (`KINDS`). Colours come from
one named palette (`PALETTE`, `nearest_color`); the character map indexes
`CHARSET`. Training streams are in `blueprint.data.dataset`, shards in
`blueprint.data.shards`, the command line in `blueprint.cli.data`.
"""

from blueprint.data.colors import PALETTE, nearest_color
from blueprint.data.engine import make_spec, sample
from blueprint.data.render import CHARSET, Rendered, render
from blueprint.data.spec import KINDS, Element, Spec

__all__ = ["make_spec", "render", "sample", "Rendered", "Spec", "Element", "KINDS", "PALETTE",
           "nearest_color", "CHARSET"]
