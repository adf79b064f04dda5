"""The typeset glyph layer: the quoted text drawn where the blueprint puts text.

Why it exists. At this scale a decoder that only *attends* to the characters
of the text (GLM-Image's glyph encoder) learns colours, sizes and places but
not letter shapes: at equal training time the ablation's DiT without the glyph
layer writes no held-out word legibly (docs/RESULTS.md, "The ablation"). Letter shapes are, however, a solved
problem: a font rasteriser draws them exactly. So the blueprint carries, next
to its semantic tokens, one more thing the decoder reads: an ink image of the
quoted text, typeset with a real font into the text regions that the AR stage
laid out. The decoder then only has to *paint* given ink (colour, texture,
anti-aliasing), a local job it learns in minutes and that does not care
whether a word was seen in training.

How the decoder reads it. The ink image (one plane, full resolution) is
folded into the latent grid with `pixel_unshuffle` by the VAE factor (8), so
each latent position gets the 64 ink pixels above it, losslessly, and these
channels are concatenated to the noisy latents: the official
`GlmImageTransformer2DModel` with `in_channels = latent + 64` and
`out_channels = latent` (a configuration, not new code; the same idea as
TextDiffuser's character-mask channels). A transformer whose in_channels
equal its out_channels (the official checkpoint) simply has no glyph layer;
one with latent + 128 has a second plane, for shapes (below).

Where the text goes. In training, the ink is the data engine's own character
map (exact). At sampling time it comes from the blueprint: the semantic
head (blueprint/models/image_tokenizer.py) reads, from each generated token, whether
its 8x8-pixel sub-cells hold characters; connected runs of such sub-cells are
text lines, and the prompt's quoted texts are typeset into them in reading
order (`text_boxes`, `typeset`).

A second plane for shapes, from a followed plan. A chart's bars, an
infographic's arrows, a scene's stars and a menu's rules are a few pixels
thick: finer than the AR grid's 16-px cells, so a decoder given only the
tokens paints them as blobs or not at all. A layout plan
(blueprint/pipeline/layout_plan.py) is drawn by the data engine with exact
shapes, so a planned row's bars, arrows, shapes and rules
(`render.inked_shape`) go to the decoder as a second ink plane
(`layer_planes`), and its quoted texts are typeset into the plan's text boxes
in place of the lines read off the tokens: the plan knows which text goes
where. They are typeset (`typeset`, with its legibility floor), not taken
from the plan's drawing: at the engine's design sizes they read far fewer
words at 256² (docs/notebook/2026-12-07-plan-ink.md). The shapes need a
plane of their own: in the letters' plane, a decoder trained with them lost
its letters' colours. `with_shape_plane` adds the plane to a decoder with zero weights,
and `blueprint train dit --shape-ink P` trains it on the engine's own shapes
(`render.shape_ink_map`) for a share P of the images; the rest, like every
row without a plan at sampling time, see an empty shape plane and draw
shapes from their tokens.
"""

from __future__ import annotations

import re

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from scipy import ndimage

from blueprint.data.fonts import get_font
from blueprint.errors import BlueprintError
from blueprint.models.glyph_encoder import QUOTE_PATTERNS
from blueprint.models.image_tokenizer import CHAR_SUBGRID
from blueprint.sizes import PX_PER_TOKEN

INK_THRESHOLD = 128      # anti-aliased coverage (0..255) from which a pixel counts as ink
MIN_FONT, MAX_FONT = 8, 64
# Share of a text line's box height the letters may fill. A box is whole 8-px sub-cells,
# so it overshoots the ink by up to a sub-cell; filled to the edge, stacked lines touch,
# the decoder's painted strokes merge them and OCR reads neither. 0.8 read the most
# words of the fills tried (docs/notebook/2026-12-02-line-gap.md).
LINE_FILL = 0.8
# The smallest font a text is set in where the image is wide enough, even if its box is
# shorter: the decoder reads under half the words of lines under 24 px, and a prior's
# stray text cells can make a box of a few pixels.
MIN_LEGIBLE = 36
# Space kept between settled lines, as a share of the lower line's height.
LINE_GAP = 0.35
# The semantic head's P(ink) from which a sub-cell is part of a text line. The head is
# nearly certain per code, so the threshold barely matters (docs/notebook/2026-12-02-line-gap.md).
INK_PROBABILITY = 0.5
FACE_PATTERNS = (("mono", r"mono(space)?"), ("sans", r"sans-serif"), ("serif", r"serif"), ("bold", r"bold"))


# --- ink <-> decoder channels ---------------------------------------------------------

def glyph_channels_of(transformer) -> int:
    """How many glyph-layer channels the decoder takes (0: it has no glyph layer)."""
    return int(transformer.config.in_channels) - int(transformer.config.out_channels)


def ink_planes(transformer, factor: int) -> int:
    """How many ink planes the decoder's glyph layer has: 0 (none), 1 (letters) or 2 (letters,
    then shapes: `with_shape_plane`); each plane is factor^2 channels."""
    return glyph_channels_of(transformer) // factor ** 2


def fold_ink(ink: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, P, H, W) ink planes in {0, 1} -> (B, P * factor^2, H/factor, W/factor) decoder channels,
    plane by plane."""
    if ink.dim() != 4 or ink.shape[-1] % factor or ink.shape[-2] % factor:
        raise BlueprintError(f"ink must be (B, P, H, W) with H, W multiples of {factor}, got {tuple(ink.shape)}")
    return F.pixel_unshuffle(ink.float(), factor)


def with_shape_plane(transformer, factor: int):
    """A copy of a decoder with a one-plane glyph layer (letters) that also takes a second plane,
    shapes. The input projection gains zero weights for the new channels, so the copy computes
    exactly what the decoder did until it is trained with shapes (`blueprint train dit --shape-ink`)."""
    if ink_planes(transformer, factor) != 1:
        raise BlueprintError(f"a shape plane is added to a glyph layer of one plane (letters); this decoder's "
                             f"has {ink_planes(transformer, factor)}")
    config = dict(transformer.config)
    config["in_channels"] += factor ** 2
    wider = type(transformer).from_config(config)
    state = transformer.state_dict()
    weight = state["image_projector.proj.weight"]  # (hidden, in_channels * patch^2), channel-major
    extra = weight.new_zeros(weight.shape[0], factor ** 2 * transformer.config.patch_size ** 2)
    state["image_projector.proj.weight"] = torch.cat([weight, extra], dim=1)
    wider.load_state_dict(state)
    return torch.nn.Module.to(wider, transformer.device, transformer.dtype)  # torch's: diffusers' warns


def layer_planes(letters: torch.Tensor | None, planes: int, plan_ink: list[torch.Tensor | None] | None = None,
                 callers_letters: bool = False) -> torch.Tensor | None:
    """(B, planes, H, W) the decoder's glyph layer from the letters' ink (B, 1, H, W: typeset from
    the tokens, or the caller's; None without a glyph layer). A planned row (a (2, H, W) plan's
    letters and shapes in `plan_ink`; None for a row without a plan) takes its plan's letters,
    unless the caller drew them, and, in a decoder with a shape plane, its plan's shapes; a row
    without a plan gets an empty shape plane and draws shapes from its tokens, as in training
    without shapes. A decoder of one plane gets the letters alone."""
    if letters is None:
        return None
    letters, shapes = letters.clone(), torch.zeros_like(letters)
    for row, ink in enumerate(plan_ink or []):
        if ink is not None:
            ink = ink.to(letters.device, letters.dtype)
            if not callers_letters:
                letters[row, 0] = ink[0]
            shapes[row, 0] = ink[1]
    return letters if planes == 1 else torch.cat([letters, shapes], dim=1)


def ink_from_char_map(char_map: torch.Tensor) -> torch.Tensor:
    """The data engine's character map (B, H, W; 0 = no character) -> (B, 1, H, W) ink."""
    return (char_map > 0).float().unsqueeze(1)


# --- prompt -> texts and their faces ---------------------------------------------------

def quoted_spans(prompt: str) -> list[tuple[str, int, int]]:
    """(text, start, end) of each quoted span of a prompt, in reading order.

    The quote styles are the glyph encoder's (blueprint.models.glyph_encoder); unlike
    the encoder, which groups them by style, typesetting needs them in order."""
    spans = [(m.group(1), m.start(), m.end()) for pattern in QUOTE_PATTERNS for m in pattern.finditer(prompt)]
    return sorted((s for s in spans if s[0].strip()), key=lambda s: s[1])


def text_faces(prompt: str, spans: list[tuple[str, int, int]]) -> list[str]:
    """The font face the prompt asks for each quoted text ("bold", "serif", ...; "sans" if none).

    A face word counts for a text when it stands between that text's closing
    quote and the next quote: '... "Mocha" in sans-serif white text ...'."""
    faces = []
    for i, (_, _, end) in enumerate(spans):
        stop = spans[i + 1][1] if i + 1 < len(spans) else len(prompt)
        tail = prompt[end:stop].lower()
        hits = [(m.start(), face) for face, pat in FACE_PATTERNS for m in re.finditer(pat, tail)]
        # "sans-serif" also matches "serif": at the same place the longer match wins
        hits.sort(key=lambda h: (h[0], h[1] == "serif"))
        faces.append(hits[0][1] if hits else "sans")
    return faces


# --- blueprint -> text lines -----------------------------------------------------------

def text_boxes(presence: np.ndarray, cell: int, n: int, width: int, height: int) -> list[list[int]]:
    """`n` boxes [x0, y0, x1, y1] in pixels, in reading order, from a map of text sub-cells.

    presence: (h, w) bool, True where a `cell`-pixel sub-cell holds characters.
    Runs of text cells (joined across one-cell gaps in a row) are lines. With
    more lines than texts the largest are kept; with fewer, the largest line is
    cut in two (across, if it is more than one line tall, else along) until
    there are enough; with none, the texts are stacked down the middle.
    """
    if n == 0:
        return []
    joined = ndimage.binary_closing(presence, structure=np.ones((1, 3), bool)) | presence
    labels, count = ndimage.label(joined)
    boxes = []
    for sl in ndimage.find_objects(labels):
        ys, xs = sl
        boxes.append([xs.start * cell, ys.start * cell, xs.stop * cell, ys.stop * cell])
    if not boxes:
        rows = np.linspace(height * 0.15, height * 0.85, n + 1)
        boxes = [[int(width * 0.1), int(rows[i]), int(width * 0.9), int(rows[i + 1])] for i in range(n)]
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])
    boxes = sorted(boxes, key=area, reverse=True)[:n]
    while len(boxes) < n:
        big = max(boxes, key=area)
        boxes.remove(big)
        x0, y0, x1, y1 = big
        if y1 - y0 >= 2 * cell * 2:    # two lines or more tall: cut across
            mid = (y0 + y1) // 2
            boxes += [[x0, y0, x1, mid], [x0, mid, x1, y1]]
        else:                          # one line: cut along
            mid = (x0 + x1) // 2
            boxes += [[x0, y0, mid, y1], [mid, y0, x1, y1]]
    return reading_order(boxes)


def reading_order(boxes: list[list[int]]) -> list[list[int]]:
    """Top to bottom by line, left to right within a line; a box whose vertical
    centre falls inside a line's span is on that line (so a price that starts a
    sub-cell higher than its item still comes after it)."""
    lines: list[list[list[int]]] = []
    for box in sorted(boxes, key=lambda b: (b[1] + b[3]) / 2):
        centre = (box[1] + box[3]) / 2
        if lines and min(b[1] for b in lines[-1]) <= centre <= max(b[3] for b in lines[-1]):
            lines[-1].append(box)
        else:
            lines.append([box])
    return [box for line in lines for box in sorted(line, key=lambda b: b[0])]


# --- typesetting -----------------------------------------------------------------------

def fit_font(text: str, face: str, box: list[int], width: int):
    """The largest font of `face` whose rendering of `text` fits the box's height and,
    allowing for a box that is a little short, the width (never wider than the image);
    where that is under MIN_LEGIBLE, the largest up to MIN_LEGIBLE that fits the image's
    width, past the box."""
    box_w, box_h = box[2] - box[0], (box[3] - box[1]) * LINE_FILL
    max_w = min(width - 4, box_w + 16)
    best = get_font(face, MIN_FONT)
    for size in range(MIN_FONT, MAX_FONT + 1):
        font = get_font(face, size)
        left, top, right, bottom = font.getbbox(text)
        fits_box = right - left <= max_w and bottom - top <= box_h
        legible_floor = size <= MIN_LEGIBLE and right - left <= width - 4
        if not (fits_box or legible_floor):
            break
        best = font
    return best


def settle(rects: list[list[float]], height: int) -> list[list[float]]:
    """Move text rectangles [x0, y0, x1, y1] down, in order of their tops, until no two
    that share columns overlap or come closer than LINE_GAP of the lower one's height;
    then, if the lowest runs off the image, move them all up (not above the top). A line
    set larger than its box would otherwise run into its neighbour, and the decoder's
    strokes merge lines that touch."""
    placed: list[list[float]] = []
    for rect in sorted((list(r) for r in rects), key=lambda r: r[1]):
        gap = max(2.0, LINE_GAP * (rect[3] - rect[1]))
        moved = True
        while moved:
            moved = False
            for other in placed:
                shares_columns = rect[0] < other[2] and other[0] < rect[2]
                if shares_columns and rect[1] < other[3] + gap and other[1] < rect[3] + gap:
                    shift = other[3] + gap - rect[1]
                    rect[1] += shift
                    rect[3] += shift
                    moved = True
        placed.append(rect)
    overflow = min(max((r[3] for r in placed), default=0) - height, min((r[1] for r in placed), default=0))
    if overflow > 0:
        for r in placed:
            r[1] -= overflow
            r[3] -= overflow
    order = sorted(range(len(rects)), key=lambda i: rects[i][1])   # back to the callers' order
    out: list[list[float]] = [[]] * len(rects)
    for i, rect in zip(order, placed):
        out[i] = rect
    return out


def typeset(texts: list[str], faces: list[str], boxes: list[list[int]], width: int, height: int) -> np.ndarray:
    """(height, width) uint8 ink in {0, 1}: each text centred in its box, clipped to the
    image, then settled so that no two lines touch."""
    if not (len(texts) == len(faces) == len(boxes)):
        raise BlueprintError(f"typeset needs one face and one box per text, got {len(texts)}/{len(faces)}/{len(boxes)}")
    fonts = [fit_font(text, face, box, width) for text, face, box in zip(texts, faces, boxes)]
    rects = []
    for text, font, box in zip(texts, fonts, boxes):
        left, top, right, bottom = font.getbbox(text)
        w, h = right - left, bottom - top
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x = min(max(cx - w / 2, 2), width - 2 - w)
        y = min(max(cy - h / 2, 0), height - h)
        rects.append([x, y, x + w, y + h])
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for text, font, rect in zip(texts, fonts, settle(rects, height)):
        left, top, _, _ = font.getbbox(text)
        draw.text((rect[0] - left, rect[1] - top), text, fill=255, font=font)
    return (np.asarray(canvas) >= INK_THRESHOLD).astype(np.uint8)


# --- the whole layer at sampling time ------------------------------------------------------

@torch.no_grad()
def text_presence(vle, head, ar_ids: torch.Tensor, grid_h: int, grid_w: int) -> np.ndarray:
    """(B, grid_h*S, grid_w*S) bool: which S x S sub-cells of each AR token hold characters.

    A token id is looked up in the VQ codebook exactly as the tokenizer hands it
    to the semantic head in training (unit vectors), and the head's ink output
    says, per sub-cell, how likely it holds characters."""
    S = CHAR_SUBGRID
    codebook = F.normalize(vle.model.vqmodel.quantize.embedding.weight.float(), dim=-1)
    b = ar_ids.shape[0]
    quantized = codebook[ar_ids.reshape(b, grid_h, grid_w)].permute(0, 3, 1, 2)  # (B, E, h, w)
    ink = head.to(quantized.device).float()(quantized)["ink"]                      # (B, h, w, S*S, 2)
    p_ink = ink.softmax(-1)[..., 1]
    grid = p_ink.view(b, grid_h, grid_w, S, S).permute(0, 1, 3, 2, 4).reshape(b, grid_h * S, grid_w * S)
    return (grid > INK_PROBABILITY).cpu().numpy()


def layout_ink(prompts: list[str], presence: np.ndarray, cell: int, width: int, height: int) -> torch.Tensor:
    """(B, 1, H, W) ink: each prompt's quoted texts typeset into its text lines."""
    ink = np.zeros((len(prompts), 1, height, width), np.uint8)
    for b, prompt in enumerate(prompts):
        spans = quoted_spans(prompt)
        if not spans:
            continue
        texts = [t for t, _, _ in spans]
        boxes = text_boxes(presence[b], cell, len(texts), width, height)
        ink[b, 0] = typeset(texts, text_faces(prompt, spans), boxes, width, height)
    return torch.from_numpy(ink)


def blueprint_ink(vle, head, prompts: list[str], prior_ids: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, 1, H, W) the typeset glyph layer of a batch: each prompt's quoted texts set into the
    text lines that the semantic head reads off its AR tokens (`prior_ids`, on the DiT's grid)."""
    grid_h, grid_w = height // PX_PER_TOKEN, width // PX_PER_TOKEN
    # the DiT grid is the AR grid upsampled x2 (nearest): every other id is the AR token
    ar_ids = prior_ids.view(len(prompts), 2 * grid_h, 2 * grid_w)[:, ::2, ::2]
    presence = text_presence(vle, head, ar_ids, grid_h, grid_w)
    return layout_ink(prompts, presence, PX_PER_TOKEN // CHAR_SUBGRID, width, height)
