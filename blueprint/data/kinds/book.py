"""Book covers: a title, maybe a subtitle, an ornament, and the author's name at the bottom.

Made for portrait canvases (any size works). The title is always above the
author, which the evaluation checks from pixels.

Layouts:
- classic: lines on the cover colour, an ornament (shape) between title and author;
- band:    the title sits in a coloured band across the upper middle;
- framed:  a border around a face (often paper) that holds every line.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, join_and, text_phrase
from blueprint.data.kinds.common import person_name

LAYOUTS = ("classic", "band", "framed")
TEXT_RANGE = (2, 3)
ORNAMENTS = ("star", "circle", "square", "triangle")


def max_texts(b) -> int:
    # A subtitle needs its own line (a tenth of the height) at the legibility floor.
    return TEXT_RANGE[1] if b.height * 0.1 >= b.line_height() else TEXT_RANGE[0]


def default_texts(rng, most: int) -> int:
    return rng.randint(2, most)


def subtitle(b, m):
    return b.text.styled(b.text.words(b.rng.randint(2, 3), ("common",), m), "lower")


def slots_for(layout: str, W: int, H: int, pad: int, has_subtitle: bool) -> dict:
    """Title, subtitle, author and ornament slots as shares of the canvas, per layout."""
    def box(y0, y1, inset=pad * 2):
        # Never shorter than a line at the floor (small canvases): 20 px at 14 px type.
        return (inset, int(H * y0), W - inset, max(int(H * y1), int(H * y0) + int(H * 0.12)))
    if layout == "framed":
        return {"title": box(0.12, 0.36, pad * 4), "subtitle": box(0.37, 0.47, pad * 4),
                "ornament": box(0.50, 0.70, pad * 4), "author": box(0.76, 0.88, pad * 4)}
    if layout == "band":
        return {"title": box(0.26, 0.50), "subtitle": box(0.54, 0.64),
                "ornament": box(0.66, 0.78), "author": box(0.82, 0.93)}
    return {"title": box(0.08, 0.34), "subtitle": box(0.35, 0.45),
            "ornament": box(0.48 if has_subtitle else 0.40, 0.72), "author": box(0.80, 0.92)}


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    pad = max(4, b.short // 32)
    has_subtitle = n_texts == 3
    s = slots_for(layout, W, H, pad, has_subtitle)
    face_color, material, frame = bg, None, None
    if layout == "framed":
        frame = b.panel([pad, pad, W - pad, H - pad], b.backdrop(), role="frame")
        if bg in colors.LIGHT and rng.random() < 0.6:
            face_color, material = "white", "paper"
        else:
            face_color = b.backdrop(frame.color)
        b.panel([pad * 3, pad * 3, W - pad * 3, H - pad * 3], face_color, role="cover", material=material)
    band = None
    if layout == "band":
        band = b.panel([0, int(H * 0.24), W, int(H * 0.52)], b.backdrop(), role="band")
    title_on = band.color if band else face_color
    ink = b.text_color(title_on, face_color)
    title_face, body_face = rng.choice(("serif", "bold")), rng.choice(("serif", "sans"))
    title = b.text_in(s["title"], lambda m: b.text.title(3, m), "title", title_face, ink, max_size=int(b.short * 0.16))
    texts = [title]
    if has_subtitle:
        texts.append(b.text_in(s["subtitle"], lambda m: subtitle(b, m), "subtitle", body_face, ink,
                               max_size=int(b.short * 0.07)))
    author_ink = ink if rng.random() < 0.6 else b.text_color(face_color)
    texts.append(b.text_in(s["author"], lambda m: person_name(b, m), "author", body_face, author_ink,
                           max_size=int(b.short * 0.08)))
    if any(e is None for e in texts):
        raise RuntimeError(f"book cover text does not fit at {W}x{H}")
    ornament = None
    x0, y0, x1, y1 = s["ornament"]
    side = min(x1 - x0, y1 - y0) * 6 // 10
    if side >= 12 and rng.random() < 0.7:
        options = [c for c in b.surfaces if c not in (face_color, title_on)]
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        ornament = b.shape([cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side],
                           rng.choice(ORNAMENTS), rng.choice(options), role="ornament")
    return caption(b, layout, texts, frame, band, face_color, material, ornament)


def caption(b, layout, texts, frame, band, face_color, material, ornament) -> str:
    rng, bg = b.rng, b.background
    if layout == "framed":
        face = "paper" if material else face_color
        opening = f"A book cover with {an(frame.color)} border around {an(face)} face, on {an(bg)} background"
    elif layout == "band":
        opening = f"{an(bg)} book cover with {an(band.color)} band across it"
    else:
        opening = rng.choice((f"{an(bg)} book cover", f"A book cover in {bg}"))
    where = {"title": "at the top", "subtitle": "below the title", "author": "at the bottom"}
    names = {"title": "the title", "subtitle": "the subtitle", "author": "the author name"}
    parts = [f"{names[e.role]} {text_phrase(e, rng, where[e.role] if e.role != 'title' or not band else 'in the band')}"
             for e in texts]
    out = capitalize(opening) + ". " + capitalize(join_and(parts)) + "."
    if ornament is not None:
        out += f" {capitalize(an(ornament.color))} {ornament.shape} ornament sits between them."
    return out
