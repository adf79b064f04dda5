"""The design kinds. Each module draws one kind through a `layout.Builder`.

A kind module provides:
- `LAYOUTS`: names of its layouts (a spec records which one was drawn);
- `TEXT_RANGE`: (fewest, most) text elements it can draw;
- `max_texts(b)`: the most texts that fit this canvas (<= TEXT_RANGE[1]);
- `default_texts(rng, most)`: how many to draw when the caller does not say;
- `build(b, layout, n_texts) -> caption`: add elements to the builder (texts
  in reading order) and return the caption describing them. A kind may
  switch `b.layout` when the canvas cannot hold the chosen one.
"""

from blueprint.data.kinds import (book, chalkboard, chart, infographic, label, menu, poster, scene, sign, wallsign,
                                  whiteboard)

MODULES = {"sign": sign, "poster": poster, "label": label, "menu": menu, "chart": chart, "scene": scene,
           "book": book, "whiteboard": whiteboard, "infographic": infographic, "chalkboard": chalkboard,
           "wallsign": wallsign}
