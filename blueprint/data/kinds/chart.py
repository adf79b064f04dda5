"""Bar charts: a title and 2-6 labelled bars whose lengths are their values.

Bar length is value / largest value x plot size, so the picture agrees with
the numbers in the caption; each bar element carries its `value`.

Layouts:
- vertical:   one colour, bars standing on an axis, labels underneath;
- horizontal: one colour, labels on the left, bars growing to the right;
- colorful:   vertical bars in different colours, each named in the caption.
"""

from __future__ import annotations

from blueprint.data import colors
from blueprint.data.captions import an, capitalize, count_word, join_and, quoted

LAYOUTS = ("vertical", "horizontal", "colorful")
TEXT_RANGE = (3, 7)


def capacity(b) -> tuple[int, int]:
    """How many bars fit with labels under them, and how many as rows of label + bar."""
    pad = max(4, b.short // 24)
    vertical = int((b.width - 2 * pad) // (2.8 * b.min_font))
    plot_h = b.height - 3 * pad - int(b.height * 0.18)
    horizontal = int(plot_h // (b.line_height() + max(3, b.min_font // 2)))
    return vertical, horizontal


def max_texts(b) -> int:
    return min(TEXT_RANGE[1], 1 + max(capacity(b)))


def default_texts(rng, most: int) -> int:
    return 1 + rng.randint(2, most - 1)


def bar_label(b, case, m):
    t = b.text
    m = min(m, 7)
    makers = [lambda k: t.word("common", k), lambda k: t.word("shop", k), t.name, t.pseudo]
    if case != "lower":  # letter strings may be upper case: too wide for narrow columns
        makers.append(t.letters)
    return t.styled(b.rng.choice(makers)(m), case)


def bar_colors(b, n: int, colorful: bool) -> list[str]:
    # Bars take the background's side of light/dark: OCR then sees them as
    # background, not as huge letters that make it give up on the picture.
    options = [c for c in b.surfaces if c != b.background]
    if not colorful:
        return [b.rng.choice(options)] * n
    picked = b.rng.sample(options, min(n, len(options)))
    return [picked[i % len(picked)] for i in range(n)]


def build(b, layout: str, n_texts: int) -> str:
    W, H, rng = b.width, b.height, b.rng
    bg = b.background
    n_bars = n_texts - 1
    pad = max(4, b.short // 24)
    vertical_fits, horizontal_fits = capacity(b)
    if layout != "horizontal" and n_bars > vertical_fits:
        layout = b.layout = "horizontal"  # too narrow for labels under the bars
    elif layout == "horizontal" and n_bars > horizontal_fits:
        layout = b.layout = "vertical"  # too short for a row per bar
    ink = b.text_color(bg)
    face = rng.choice(("sans", "bold", "mono"))  # labels are small: no serif
    title_h = int(H * 0.18)
    title = b.text_in((pad, pad, W - pad, pad + title_h), lambda m: b.text.title(2, m), "title",
                      rng.choice(("bold", "serif", "sans")), ink, max_size=int(b.short * 0.16))
    if title is None:
        raise RuntimeError(f"chart title does not fit at {W}x{H}")
    values = [rng.randint(1, 20) * 5 if rng.random() < 0.5 else rng.randint(1, 99) for _ in range(n_bars)]
    top_value = max(values)
    fills = bar_colors(b, n_bars, layout == "colorful")
    case = rng.choice(("title", "upper", "lower"))
    if layout != "horizontal" and (W - 2 * pad) / n_bars < 3.6 * b.min_font:
        case = "lower"  # narrow columns: lower case is narrowest
    label_size = int(b.short * 0.09)
    gap = max(2, pad // 2)
    x0, y0, x1, y1 = pad, pad + title_h + pad, W - pad, H - pad
    labels, slots = [], []
    if layout == "horizontal":
        # One row per bar: the label on top, the bar under it. Bars never sit
        # beside a word, where OCR would read them as more letters.
        pitch = (y1 - y0) // n_bars
        label_h = max(b.line_height(), pitch * 55 // 100)
        for i, v in enumerate(values):
            top = y0 + i * pitch
            slot = (x0, top, x1, top + label_h)
            e = b.text_in(slot, lambda m: bar_label(b, case, m), "bar_label", face, ink, align="left",
                          max_size=label_size)
            slots.append((slot, "left"))
            thick = max(2, (pitch - label_h) * 7 // 10)
            length = max(1, round((x1 - x0) * v / top_value))
            b.bar([x0, top + label_h, x0 + length, top + label_h + thick], fills[i], v)
            labels.append(e)
    else:
        label_h = max(b.line_height(), int(H * 0.12))
        axis_h = max(1, b.short // 128)
        base = y1 - label_h - gap - axis_h
        pitch = (x1 - x0) // n_bars
        for i, v in enumerate(values):
            left = x0 + i * pitch
            thick = max(2, pitch * 6 // 10)
            length = max(1, round((base - y0) * v / top_value))
            bx = left + (pitch - thick) // 2
            b.bar([bx, base - length, bx + thick, base], fills[i], v)
        b.panel([x0, base, x1, base + axis_h], ink, role="axis")
        for i in range(n_bars):
            left = x0 + i * pitch
            g = b.min_font // 4  # labels of neighbouring bars must not run together
            slot = (left + g, y1 - label_h, left + pitch - g, y1)
            e = b.text_in(slot, lambda m: bar_label(b, case, m), "bar_label", face, ink, max_size=label_size)
            slots.append((slot, "center"))
            labels.append(e)
    if any(e is None for e in labels):
        raise RuntimeError(f"chart labels do not fit at {W}x{H}")
    size = min(e.font_size for e in labels)  # one type size for all labels
    for e, (slot, align) in zip(labels, slots):
        b.place(e, slot, size, align)

    kind = "horizontal bar chart" if layout == "horizontal" else "bar chart"
    opening = rng.choice((
        f"{an(kind)} titled {quoted(title)} on {an(bg)} background",
        f"{an(kind)} on {an(bg)} background, with the title {quoted(title)} at the top in {title.color}",
    ))
    if layout == "colorful":
        bars = [f"{quoted(e)} {v} in {c}" for e, v, c in zip(labels, values, fills)]
        body = f"{capitalize(count_word(n_bars))} bars: " + join_and(bars)
    else:
        bars = [f"{quoted(e)} {v}" for e, v in zip(labels, values)]
        body = f"{capitalize(count_word(n_bars))} {fills[0]} bars, labelled in {ink}: " + join_and(bars)
    return capitalize(opening) + ". " + body + "."
