"""Find text-line candidates in a design image from pixels (a classical detector).

Tesseract's own page layout analysis is built for documents: on designs it
drops text that sits inside panels, frames or next to big shapes, and it
cannot read very large letters, so whole-image reading misses many
ground-truth words. So for tesseract the harness finds candidate
lines itself and reads each one as a single line:

1. `ink_map`: every pixel's colour distance to its *local background*, the
   palette colour most common in a window around it (a quarter of the short
   side). Panels, frames and backgrounds vanish whatever their colours, and
   dark-on-light and light-on-dark text look the same. Where objects fill
   that window (a chart's bars) the map is wrong, so a second map measures
   against the image's own background, and both maps give candidates. Text
   on a box smaller than the window (a card, a stage of a flow chart) has
   the colour around the box as its local background, so the box merges
   with its letters into one blob; a third map with a narrow window sees
   the box's own colour there (`find_text_lines` says where it may add).
2. Threshold and take connected components (letters, mostly; blobs too
   thick for their size to be a letter are dropped). Join two components of
   about the same colour when they sit on one line with a gap of
   less than LINE_GAP_SHARE of their height (letters into words, words into
   lines; the threshold scales with the text, so 14 px and 80 px text both
   join), and join the dots of i and j to their stems; never join a solid
   block (a bar) to the letters beside it.
3. Keep joined groups of a plausible text height that are not solid blocks
   (shapes, bars: mostly one colour that differs from the colour around
   them); their boxes are the candidates.

Some shapes and frame corners still become candidates; what OCR reads in
them is mostly dropped by its low confidence, word accuracy ignores extra
words, and NED ignores extra single characters (see `text.py`).

It is one of the tesseract path's two detectors; the other is learned
(`ocr.RapidOcrEngine.find_lines`), and `ocr.better_reading` merges what
tesseract reads in each. How the harness scores on the ground-truth renders:
docs/RESULTS.md (`blueprint eval --ground-truth`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from blueprint.data.colors import PALETTE_RGB as _RGB
from blueprint.data.colors import nearest_color_index as _palette_index

# Windows for the local background, as shares of the image's short side: the
# wide one sees past big letters; the narrow one sees the panel of a small box
# (a stage of a flow chart, a card, a tag), which the wide window would
# average away into the colour around the box.
BACKGROUND_WINDOW_SHARE = 0.25
SMALL_WINDOW_SHARE = 0.1
# The narrow map adds only lines at least this many times as wide as tall: a
# word of three letters or more. Lone squares and pieces of shapes (a legend's
# swatch, the corner of a bar) are near square, and each one read adds noise.
# Nor lines taller than its window: inside a shape that big the window sees
# the shape's own colour, so a filled disc turns into a ring, an "o".
NARROW_MIN_ASPECT = 1.5
# Colour distance that counts as full ink in the map (palette colours are ~90+ apart).
FULL_INK_DISTANCE = 90.0
# Ink-map level above which a pixel is ink (1 = FULL_INK_DISTANCE).
INK_LEVEL = 0.5
# Two components of one colour that overlap vertically are on one line if the
# gap between them is at most this share of the taller one's height (a word
# space is about 0.5 of a cap height; columns of a menu are further apart).
LINE_GAP_SHARE = 0.8
MIN_COMPONENT_AREA = 3
# A component whose widest point (in px from its edge) is at least this share
# of its longer side is a blob, not a letter: a bold "I" is ~0.11, a bold "a"
# up to ~0.25, a disc or a square 0.5.
BLOB_THICKNESS = 0.3
# Blobs smaller than this (px, or share of the short side) are kept: the
# full stop of a large price is a blob too.
BLOB_MIN_SIDE = 12
BLOB_MIN_SIDE_SHARE = 0.06
# A component filling this share of its box is solid (a bar, a dash, an I).
SOLID_FILL = 0.9
# Components whose strongest pixels are this close (RGB) may be one line.
SAME_COLOR_DISTANCE = 120.0
MAX_COMPONENTS = 600
MIN_LINE_HEIGHT = 5
MAX_LINE_HEIGHT_SHARE = 0.6
# Text covers well under this share of its box; solid shapes, bars and
# panels cover more, and are not worth an OCR read.
MAX_INK_FILL = 0.65
DUPLICATE_IOU = 0.6
# A candidate box this much of one colour, unlike its surroundings, is a filled object.
SOLID_MAJORITY = 0.55


def ink_map(a: np.ndarray, index: np.ndarray, window: int | None) -> np.ndarray:
    """(H, W) float32: each pixel's colour distance to its background, / FULL_INK_DISTANCE.

    The background is the palette colour most common in a `window`-pixel
    square around the pixel, or on the image border if `window` is None.
    1 and above is full ink; not clipped, so the strongest pixel of a letter
    (its true colour, not an anti-aliased blend) can still be told apart.
    """
    if window is None:
        border = np.concatenate([index[0], index[-1], index[:, 0], index[:, -1]])
        background = np.full(index.shape, np.bincount(border).argmax())
    else:
        # Local share of each palette colour; the largest share names the background.
        best = np.full(index.shape, -1.0, dtype=np.float32)
        background = np.zeros(index.shape, dtype=np.int64)
        for c in np.unique(index):
            share = ndimage.uniform_filter((index == c).astype(np.float32), size=window, mode="nearest")
            better = share > best
            best[better] = share[better]
            background[better] = c
    return np.linalg.norm(a - _RGB[background], axis=2) / FULL_INK_DISTANCE


def _components(ink_level: np.ndarray, rgb: np.ndarray):
    """Letter-like ink components: boxes (n, 4) as x0 y0 x1 y1, areas (n,), colours (n, 3).

    Components thick for their size (squares, discs, the corners a frame
    leaves in the ink map) are dropped: a letter's strokes are thin, its
    widest point (max of the distance transform) is well under BLOB_THICKNESS
    of its longer side. Tiny ones (dots) are kept whatever their shape.
    """
    ink = ink_level >= INK_LEVEL
    labels, n = ndimage.label(ink, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros((0, 4), int), np.zeros(0, int), np.zeros((0, 3), np.float32)
    ids = np.arange(1, n + 1)
    slices = ndimage.find_objects(labels)
    boxes = np.array([(x.start, y.start, x.stop, y.stop) for y, x in slices])
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    # Each component's colour: that of its strongest ink pixel (the edge
    # pixels of thin strokes are blends of ink and background).
    strongest = ndimage.maximum_position(ink_level, labels, ids)
    colors = np.array([rgb[p] for p in strongest], dtype=np.float32)
    thickness = np.asarray(ndimage.maximum(ndimage.distance_transform_edt(ink), labels, ids))
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    small = longer < max(BLOB_MIN_SIDE, BLOB_MIN_SIDE_SHARE * min(ink.shape))
    letter = (thickness < BLOB_THICKNESS * longer) | small
    keep = letter & (areas >= MIN_COMPONENT_AREA)
    return boxes[keep], areas[keep], colors[keep]


def _joined(boxes: np.ndarray, areas: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(n, n) bool: which pairs of components belong to one line."""
    x0, y0, x1, y1 = (boxes[:, i].astype(np.float32) for i in range(4))
    h, w = y1 - y0, x1 - x0
    big = np.maximum(h[:, None], h[None, :])
    small = np.minimum(h[:, None], h[None, :])
    overlap_y = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    gap_x = np.maximum(x0[:, None], x0[None, :]) - np.minimum(x1[:, None], x1[None, :])
    # Letters of one line: overlapping rows, a gap under LINE_GAP_SHARE of the taller.
    same_line = (overlap_y >= 0.5 * small) & (gap_x <= LINE_GAP_SHARE * big)
    # The dot of an i or j: tiny, just above a narrow stem, within its columns.
    inside_x = (x0[:, None] >= x0[None, :] - 2) & (x1[:, None] <= x1[None, :] + 2)
    dot = ((h[:, None] <= 0.4 * h[None, :]) & (w[:, None] <= 2 * w[None, :] + 2)
           & (w[None, :] <= 0.6 * h[None, :]) & inside_x & (-overlap_y <= 0.5 * h[None, :]))
    # A solid block as thick as the other's height (a bar beside its label)
    # is not part of its text; a thin solid (I, l, -, .) is.
    solid = areas >= SOLID_FILL * w * h
    block = solid[:, None] & (np.minimum(w, h)[:, None] >= 0.5 * h[None, :])
    # One line has one colour; the strongest pixel of a thin or tiny letter is
    # still a blend, so colours only need to be close.
    close = np.linalg.norm(colors[:, None, :] - colors[None, :, :], axis=-1) <= SAME_COLOR_DISTANCE
    return (same_line | dot | dot.T) & ~(block | block.T) & close


def _lines(ink_level: np.ndarray, a: np.ndarray, index: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Line boxes from one ink map."""
    height_limit = MAX_LINE_HEIGHT_SHARE * a.shape[0]
    boxes, areas, colors = _components(ink_level, a)
    # A component taller than any line kept below is no letter (an image-edge
    # streak, a frame's side). Left in, it joins every letter level with any
    # part of it, since the join's gap allowance grows with the taller one's
    # height, and the whole line is then dropped as too tall.
    letter_high = boxes[:, 3] - boxes[:, 1] <= height_limit
    boxes, areas, colors = boxes[letter_high], areas[letter_high], colors[letter_high]
    if len(boxes) > MAX_COMPONENTS:  # noise: keep the largest, the rest cannot be text anyway
        keep = areas >= np.sort(areas)[-MAX_COMPONENTS]
        boxes, areas, colors = boxes[keep], areas[keep], colors[keep]
    if len(boxes) == 0:
        return []
    n_groups, group = connected_components(csr_matrix(_joined(boxes, areas, colors)), directed=False)
    lines = []
    for g in range(n_groups):
        members = group == g
        x0, y0 = boxes[members, :2].min(axis=0)
        x1, y1 = boxes[members, 2:].max(axis=0)
        height, width = y1 - y0, x1 - x0
        if not (MIN_LINE_HEIGHT <= height <= height_limit and width >= MIN_LINE_HEIGHT):
            continue
        if areas[members].sum() / (height * width) > MAX_INK_FILL:
            continue
        box = (int(x0), int(y0), int(x1), int(y1))
        if not _is_solid_object(index, box):
            lines.append(box)
    return lines


def _is_solid_object(index: np.ndarray, box) -> bool:
    """True if most of the box is one colour that is not the colour around it.

    That is a filled shape or bar (which the local ink map turns into a ring);
    text keeps the colour around it (its panel or background) as its majority.
    """
    x0, y0, x1, y1 = box
    h, w = index.shape
    inside = np.bincount(index[y0:y1, x0:x1].ravel(), minlength=len(_RGB))
    ring = np.zeros(len(_RGB), np.int64)
    for part in (index[max(0, y0 - 2):y0, x0:x1], index[y1:y1 + 2, x0:x1],
                 index[y0:y1, max(0, x0 - 2):x0], index[y0:y1, x1:x1 + 2]):
        ring += np.bincount(part.ravel(), minlength=len(_RGB))
    major = inside.argmax()
    return inside[major] > SOLID_MAJORITY * inside.sum() and ring.sum() > 0 and ring.argmax() != major


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _contains(outer, inner) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def find_text_lines(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Candidate text-line boxes (x0, y0, x1, y1), top to bottom then left to right.

    Three ink maps, three sets of candidates: the wide local background finds
    text on panels and frames; the image's own background finds text beside
    objects that fill the local window (the bars of a chart). A candidate
    found by both (IoU >= DUPLICATE_IOU) is kept once. The narrow local
    background finds text on boxes smaller than the wide window; it also cuts
    big letters into pieces (inside a big letter, the letter's colour is the
    local majority), so its candidates only go where no other candidate is,
    or replace one they contain that is nearly the same box: a line that the
    other maps saw with a letter lost to the panel it merged with.
    """
    a = np.asarray(image.convert("RGB"), dtype=np.float32)
    index = _palette_index(a)
    wide, narrow = (max(9, int(min(image.size) * share) | 1) for share in (BACKGROUND_WINDOW_SHARE, SMALL_WINDOW_SHARE))
    lines = _lines(ink_map(a, index, wide), a, index)
    for box in _lines(ink_map(a, index, None), a, index):
        if all(_iou(box, other) < DUPLICATE_IOU for other in lines):
            lines.append(box)
    for box in _lines(ink_map(a, index, narrow), a, index):
        if box[2] - box[0] < NARROW_MIN_ASPECT * (box[3] - box[1]) or box[3] - box[1] > narrow:
            continue
        touched = [k for k, other in enumerate(lines) if _iou(box, other) > 0]
        if not touched:
            lines.append(box)
        elif len(touched) == 1 and _contains(box, lines[touched[0]]) and _iou(box, lines[touched[0]]) >= DUPLICATE_IOU:
            lines[touched[0]] = box
    return sorted(lines, key=lambda b: (b[1], b[0]))
