"""OCR engines and the text-line detector, on images drawn here with PIL."""

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from blueprint.errors import BlueprintError
from blueprint.eval.detect import find_text_lines
from blueprint.eval.ocr import better_reading, get_engine, ink_image

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def draw_text(image, xy, text, size, fill, font=FONT):
    d = ImageDraw.Draw(image)
    f = ImageFont.truetype(font, size)
    d.text(xy, text, font=f, fill=fill)
    return d.textbbox(xy, text, font=f)


@pytest.fixture(scope="module")
def design():
    """A small design: a red panel with white text, dark text outside, a solid square."""
    image = Image.new("RGB", (256, 256), (250, 225, 40))
    d = ImageDraw.Draw(image)
    d.rectangle((10, 10, 245, 110), fill=(220, 30, 30))
    boxes = {
        "GRAND OPENING": draw_text(image, (22, 40), "GRAND OPENING", 19, (245, 245, 245), BOLD),
        "Espresso $3.50": draw_text(image, (20, 140), "Espresso $3.50", 16, (20, 20, 20)),
        "Open 24/7": draw_text(image, (20, 200), "Open 24/7", 14, (35, 80, 220)),
    }
    d.rectangle((180, 180, 230, 230), fill=(30, 150, 60))
    return image, boxes


def test_ink_image_makes_dark_ink_on_white_whatever_the_colours():
    light_on_dark = Image.new("RGB", (60, 30), (20, 20, 20))
    ImageDraw.Draw(light_on_dark).rectangle((20, 5, 40, 25), fill=(245, 245, 245))
    ink = np.asarray(ink_image(light_on_dark))
    assert ink[0, 0] == 255 and ink[15, 30] == 0


def test_detector_finds_each_line_and_skips_solid_shapes(design):
    image, boxes = design
    found = find_text_lines(image)
    for text, (x0, y0, x1, y1) in boxes.items():
        assert any(abs(f[0] - x0) <= 3 and abs(f[2] - x1) <= 3 and abs(f[1] - y0) <= 3 for f in found), text
    assert not any(f[0] >= 178 and f[1] >= 178 for f in found)  # the green square


@pytest.mark.parametrize("name", ["tesseract", "rapidocr"])
def test_engines_read_a_design(design, name):
    image, boxes = design
    words, lines = get_engine(name).read(image, list(boxes.values()))
    assert lines == list(boxes)
    read = {w.text for w in words}
    assert {"Espresso", "$3.50"} <= read
    for w in words:
        assert 0 <= w.confidence <= 1 and 0 <= w.box[0] < w.box[2] <= 256


def test_tesseract_reads_low_contrast_colours_and_small_text():
    # Red on green: almost the same luminance, read through the ink image.
    image = Image.new("RGB", (200, 40), (30, 150, 60))
    box = draw_text(image, (8, 10), "Fresh Bakery", 14, (220, 30, 30))
    engine = get_engine("tesseract")
    assert engine.read_line(image.crop((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4))) == "Fresh Bakery"


def test_blank_image_reads_nothing():
    words, lines = get_engine("tesseract").read(Image.new("RGB", (128, 128), (245, 245, 245)), [(10, 10, 60, 30)])
    assert words == [] and lines == [""]


def test_the_thread_limit_reaches_tesseract_only(monkeypatch):
    """Tesseract runs with OMP_THREAD_LIMIT=1; this process's environment (which every other
    program started from it inherits: a torch subprocess with the limit crawls) stays as it was."""
    import pytesseract

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    get_engine("tesseract")
    assert "OMP_THREAD_LIMIT" not in os.environ
    env = pytesseract.pytesseract.subprocess_args()["env"]
    assert env["OMP_THREAD_LIMIT"] == "1" and env["PATH"] == os.environ["PATH"]
    monkeypatch.setenv("BLUEPRINT_PROBE", "seen")  # read at each call, not copied once
    assert dict(pytesseract.pytesseract.subprocess_args()["env"].items())["BLUEPRINT_PROBE"] == "seen"


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(BlueprintError, match="unknown OCR engine 'easyocr'"):
        get_engine("easyocr")


def test_words_read_from_an_image_do_not_depend_on_the_spec_boxes():
    """A generated image (the embedded model's, held-out poster-0016) whose one word,
    "WUQ", sits off the spec's box. Read in one tesseract call with the crop of
    that empty box, the word was lost; the image's words must be its own."""
    from pathlib import Path

    from blueprint.eval.benchmark import load_benchmark

    here = Path(__file__).parent
    rows, _ = load_benchmark(here.parent / "benchmarks" / "heldout.jsonl")
    spec = next(r for r in rows if r.id == "poster-0016").spec
    image = Image.open(here / "data" / "generated-poster-0016.png")
    boxes = [e.box for e in spec.elements if e.kind == "text"]
    engine = get_engine("tesseract")
    alone = [w.text for w in engine.read_image(image)]
    with_boxes, lines = engine.read(image, boxes)
    assert alone == ["WUQ"]
    assert [w.text for w in with_boxes] == alone
    assert len(lines) == len(boxes)


def test_an_edge_streak_does_not_swallow_the_line_beside_it():
    """Generated images can carry a thin streak down an edge (held-out sign-0009
    had one). A component that tall is no letter; joined to the line level with
    it, the line became taller than any text and was dropped unread."""
    image = Image.new("RGB", (256, 256), (245, 245, 245))
    ImageDraw.Draw(image).rectangle((0, 20, 2, 240), fill=(70, 70, 70))
    x0, y0, x1, y1 = draw_text(image, (24, 150), "Clock Sandwich", 20, (30, 30, 30))
    found = find_text_lines(image)
    assert any(abs(f[0] - x0) <= 3 and abs(f[2] - x1) <= 3 and abs(f[1] - y0) <= 3 for f in found), found
    assert [w.text for w in get_engine("tesseract").read_image(image)] == ["Clock", "Sandwich"]


def test_text_on_boxes_smaller_than_the_background_window_is_found():
    """Labels in small boxes (the stages of a flow chart): each box's own colour is the
    local background only in a narrow window; the wide one sees the colour around it."""
    image = Image.new("RGB", (512, 512), (130, 45, 175))
    d = ImageDraw.Draw(image)
    boxes = {}
    for i, word in enumerate(("Bakery", "Crew", "Flag")):
        top = 60 + i * 150
        d.rectangle((150, top, 360, top + 56), fill=(35, 80, 220))
        boxes[word] = draw_text(image, (190, top + 10), word, 30, (245, 245, 245), BOLD)
    d.ellipse((400, 300, 490, 390), fill=(125, 75, 35))  # a filled disc is no text, whatever the window
    found = find_text_lines(image)
    for word, (x0, y0, x1, y1) in boxes.items():
        assert any(f[0] <= x0 + 4 and f[2] >= x1 - 4 and f[1] <= y0 + 4 and f[3] >= y1 - 4 for f in found), word
    assert not any(f[0] >= 390 and f[1] >= 290 for f in found)
    words = [w.text for w in get_engine("tesseract").read_image(image)]
    assert all(word in words for word in boxes)


def test_the_learned_detector_finds_the_lines_of_a_design(design):
    image, boxes = design
    found = get_engine("rapidocr").find_lines(image)
    for text, (x0, y0, x1, y1) in boxes.items():
        assert any(b[0] <= x0 + 4 and b[2] >= x1 - 4 and b[1] <= y0 + 4 and b[3] >= y1 - 4 for b in found), text
    assert not any(b[0] >= 175 and b[1] >= 175 for b in found)  # the green square is no line


def test_where_the_two_detectors_disagree_the_surer_reading_is_kept():
    line = lambda box, *words: (box, list(words))
    classical = [line((10, 10, 60, 30), ("RESUPO", 0.5)), line((62, 10, 80, 30), ("R", 0.8)),
                 line((10, 50, 90, 70), ("Latte", 0.95))]
    learned = [line((8, 8, 82, 32), ("RESUPOR", 0.9)), line((10, 100, 90, 120), ("$4.25", 0.9)),
               line((12, 52, 88, 68), ("Latte", 0.6))]
    kept = better_reading(classical, learned)
    words = [w for _, ws in kept for w, _ in ws]
    assert sorted(words) == ["$4.25", "Latte", "RESUPOR"]  # each region once, the surer side
    assert [w for _, ws in better_reading(classical[2:], [line((12, 52, 88, 68), ("Latte", 0.95))])
            for w, _ in ws] == ["Latte"]                          # a tie keeps one, the classical
    assert better_reading([], []) == []


def test_a_heavy_bold_line_on_a_tight_panel_is_read():
    """Bold letters the decoder thickens fill most of their box, which the classical detector
    takes for a solid object; the learned detector still finds the line."""
    image = Image.new("RGB", (384, 256), (200, 30, 30))
    d = ImageDraw.Draw(image)
    d.rectangle((20, 60, 364, 200), fill=(120, 75, 35))
    draw_text(image, (95, 105), "ALMOND", 44, (250, 250, 250), BOLD)
    heavy = image.filter(ImageFilter.MaxFilter(3))  # the white strokes a pixel thicker all round
    assert find_text_lines(heavy) == []  # what the classical detector alone missed
    words = [w.text for w in get_engine("tesseract").read_image(heavy)]
    assert "ALMOND" in words
