"""The decoder's reward, per image: OCR of the prompt's quoted text, plus pixel adherence.

GLM-Image's decoupled GRPO rewards the decoder for what it alone decides: the
high-frequency detail, above all whether the letters spell the text. This is
that reward, measured the way the evaluation harness measures it, with its own
functions (none rewritten here):

- text: the image read by the harness's OCR engine (`blueprint.eval.ocr`,
  tesseract by default; `read_image`, the whole-image read `score.read_text`
  scores) and compared with the spec's texts by `blueprint.eval.text`:
  `ned` (1 - normalised edit distance of the read words aligned to the
  target, Flow-GRPO's OCR reward) by default, or `word_accuracy`. NED is the
  default because it gives partial credit for a word half right, so the
  samples of a group differ in reward more often (a group whose rewards are
  all equal teaches nothing), where word accuracy is 0 until a word is whole;
- adherence: the share of the harness's pixel checks that pass
  (`check_adherence`, plus `check_structure` for user-style specs, as
  `score.score_image` does): background, element colours, shape counts,
  positions, bar order.

score = (TEXT_WEIGHT * text + ADHERENCE_WEIGHT * adherence) / (sum of the weights
of the parts present): a spec without text is scored on adherence alone, and
one with no pixel check on its text alone; neither gives 0. The weights,
0.7 and 0.3: text is the decoder's job here (layout, colours and counts come
mostly from the blueprint, which every sample of a group shares, and the AR
stage has its own reward for them), and the adherence share is a guard, so
that OCR is not bought with colours or shapes the spec did not ask for
(letters pushed to black on white read better). Both are options of the stage.

Tesseract runs with OMP_THREAD_LIMIT=1 (unless set) in its own environment
(`blueprint.eval.ocr`), so its calls between the DiT's do not each start one
OpenMP thread per core; nothing of it reaches this process's environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image

from blueprint.data.spec import Spec
from blueprint.errors import BlueprintError
from blueprint.eval import text as textmetrics
from blueprint.eval.adherence import adherence_score, check_adherence
from blueprint.eval.ocr import ENGINES, get_engine
from blueprint.eval.structure import check_structure

TEXT_METRICS = ("ned", "word_accuracy")
TEXT_WEIGHT = 0.7
ADHERENCE_WEIGHT = 0.3


@dataclass
class ImageReward:
    score: float                 # the weighted reward in [0, 1]
    text: float | None           # the text metric; None when the spec has no text (or its weight is 0)
    adherence: float | None      # share of pixel checks passed; None when no check applies (or its weight is 0)
    words: list[str] = field(default_factory=list)  # what the OCR read


def check_reward_options(text_metric: str, text_weight: float, adherence_weight: float, engine: str) -> None:
    if text_metric not in TEXT_METRICS:
        raise BlueprintError(f"text metric must be one of {', '.join(TEXT_METRICS)}, got {text_metric!r}")
    for name, value in (("text-weight", text_weight), ("adherence-weight", adherence_weight)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise BlueprintError(f"{name} must be a finite number >= 0, got {value!r}")
    if text_weight + adherence_weight <= 0:
        raise BlueprintError("text-weight and adherence-weight cannot both be 0: the reward would be constant")
    if engine not in ENGINES:
        raise BlueprintError(f"unknown OCR engine {engine!r}; expected one of {', '.join(ENGINES)}")


def decoder_reward(image: Image.Image, spec: Spec, text_metric: str = "ned", text_weight: float = TEXT_WEIGHT,
                   adherence_weight: float = ADHERENCE_WEIGHT, engine: str = "tesseract") -> ImageReward:
    """The reward of one image, which must have the spec's size, against its spec."""
    check_reward_options(text_metric, text_weight, adherence_weight, engine)
    if image.size != (spec.width, spec.height):
        raise BlueprintError(f"the image is {image.size[0]}x{image.size[1]}, its spec {spec.width}x{spec.height}")
    image = image.convert("RGB")
    text, found = None, []
    structure = adherence_weight > 0 and spec.stated is not None  # user-style specs: structure too
    if (text_weight > 0 or structure) and spec.texts:  # no OCR call when nothing would use it
        found = get_engine(engine).read_image(image)
    words = [w.text for w in found]
    if text_weight > 0 and spec.texts:
        text = getattr(textmetrics, text_metric)(spec.texts, words)
    adherence = None
    if adherence_weight > 0:
        checks = check_adherence(image, spec)
        if structure:  # what the prompt states, as score_image checks it
            checks += check_structure(image, spec, found)
        adherence = adherence_score(checks)
    parts = [(w, x) for w, x in ((text_weight, text), (adherence_weight, adherence)) if x is not None and w > 0]
    total = sum(w for w, _ in parts)
    score = sum(w * x for w, x in parts) / total if total else 0.0
    return ImageReward(float(score), text, adherence, words)
