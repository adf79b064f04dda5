"""The layout planner: a small T5 that reads the prompt and writes the layout plan.

Why a separate model. The AR prior reads its prompt poorly: past the first
token its loss barely moves when it is given another prompt, and its grids
are background nearly everywhere. Its target is hundreds of codes per image,
most of them texture, so what the prompt says is a small part of what it
learns. The planner's target is the part that matters and nothing else: a
plan of 20 to 190 words (`blueprint.data.plan_text`) that names each
element's kind, colour and box. That is the design TextDiffuser-2 uses (an
LM layout planner ahead of the image model) and the seeds' "the LLM parses
the prompt: three items, three prices, menu format" made literal. The
pipeline turns the plan into the codes the AR prior is steered toward
(`blueprint.pipeline.layout_plan`), so the prior still writes the grid.

The class is transformers' `T5ForConditionalGeneration`, configured small.
Both sides read and write words, not bytes (`PlannerVocab`): the plan's
closed vocabulary first (so plan ids are the same in every planner), then
the words of the engine's prompts. A byte-level encoder had to learn what
"red" is from three bytes before it could learn where red goes; on two CPU
cores it had not, after 500 steps, learnt to read even the background colour
(docs/notebook/2026-12-06-layout-planner.md). The price is that a word no
engine prompt uses is unknown to the planner (`<unk>`). Quoted texts are
never read (`plan_text.prompt_words`), so unseen words in quotes cost nothing.

Saved as `planner/` (config.json, model.safetensors, vocab.json) in a model
folder; a folder without one has no planner and the pipeline runs as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import T5Config, T5ForConditionalGeneration

from blueprint.data.plan_text import (
    EOS, INDEX, SPECIAL, VOCAB, allowed_next, plan_from_ids, prompt_words, quotes_of,
)
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json, replace_folder_files

PLANNER_DIR = "planner"
VOCAB_FILE = "vocab.json"
MAX_PROMPT_WORDS = 256
MAX_PLAN_WORDS = 256  # the engine's largest plan is under 200 words
UNK = SPECIAL.index("<unk>")

# Sizes by model configuration name (blueprint.models.configs): the planner has its own
# few numbers, so a configuration's other components keep theirs.
PLANNER_CONFIGS = {
    "tiny": {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 4},
    "small": {"d_model": 192, "d_kv": 32, "d_ff": 512, "num_layers": 3, "num_decoder_layers": 3, "num_heads": 6},
    "official": {"d_model": 512, "d_kv": 64, "d_ff": 1536, "num_layers": 6, "num_decoder_layers": 6, "num_heads": 8},
}


class PlannerVocab:
    """Words <-> ids: the plan words (`plan_text.VOCAB`, ids fixed), then `prompt_only` words."""

    def __init__(self, prompt_only: list[str] | tuple[str, ...] = ()):
        self.words = VOCAB + tuple(w for w in dict.fromkeys(prompt_only) if w not in VOCAB)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, words: list[str]) -> list[int]:
        return [self.index.get(w, UNK) for w in words[:MAX_PROMPT_WORDS - 1]] + [EOS]

    def encode(self, prompts: list[str], width: int, height: int) -> dict[str, torch.Tensor]:
        """Padded `input_ids` and `attention_mask` of the prompts at one size."""
        rows = [self.ids(prompt_words(p, width, height)) for p in prompts]
        longest = max(len(r) for r in rows)
        return {"input_ids": torch.tensor([r + [0] * (longest - len(r)) for r in rows]),
                "attention_mask": torch.tensor([[1] * len(r) + [0] * (longest - len(r)) for r in rows])}

    def to_json(self) -> dict:
        return {"plan_words": len(VOCAB), "prompt_only": list(self.words[len(VOCAB):])}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "PlannerVocab":
        if not isinstance(d, dict) or d.get("plan_words") != len(VOCAB) or not isinstance(d.get("prompt_only"), list):
            raise BlueprintError(f"{where}: not a planner vocabulary of this version's {len(VOCAB)} plan words")
        return cls(d["prompt_only"])


def build_planner(config: str, vocab: PlannerVocab) -> T5ForConditionalGeneration:
    """A freshly initialised planner of a configuration ("tiny", "small", "official")."""
    if config not in PLANNER_CONFIGS:
        raise BlueprintError(f"unknown planner configuration {config!r}; expected one of {', '.join(PLANNER_CONFIGS)}")
    cfg = T5Config(vocab_size=len(vocab), relative_attention_num_buckets=32, dropout_rate=0.0,
                   feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=EOS, decoder_start_token_id=0,
                   **PLANNER_CONFIGS[config])
    return T5ForConditionalGeneration(cfg)


class _PlanGrammar:
    """Logits processor: each row writes only words `plan_text.allowed_next` allows after what it
    wrote so far (plan words, never a prompt-only one), and a text only a quote its prompt has;
    where a row's background colour is known, that colour as the background."""

    def __init__(self, quotes: list[list[str]], width: int, height: int, backgrounds: list[str | None]):
        self.quotes, self.width, self.height, self.backgrounds = quotes, width, height, backgrounds
        self._allowed: dict[tuple, torch.Tensor] = {}  # allowed words -> their ids

    def _ids(self, words: list[str], quotes: list[str], background: str | None) -> torch.Tensor:
        allowed = allowed_next(words, quotes, self.width, self.height)
        if len(words) == 1 and background is not None:  # the plan's second word is its background
            allowed = (background,)
        if allowed not in self._allowed:
            self._allowed[allowed] = torch.tensor([INDEX[w] for w in allowed])
        return self._allowed[allowed]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        mask = torch.full_like(scores, -float("inf"))
        for b, row in enumerate(input_ids.tolist()):
            if EOS in row[1:]:  # finished: generate pads it whatever the scores
                mask[b] = 0
                continue
            words = [VOCAB[i] for i in row[1:]]  # row[0] is the decoder start
            mask[b, self._ids(words, self.quotes[b], self.backgrounds[b]).to(scores.device)] = 0
        return scores + mask


class Planner:
    """A planner model and its vocabulary: what a model folder's `planner/` holds."""

    def __init__(self, model: T5ForConditionalGeneration, vocab: PlannerVocab):
        if model.config.vocab_size != len(vocab):
            raise BlueprintError(f"the planner has {model.config.vocab_size} ids, its vocabulary {len(vocab)} words")
        self.model, self.vocab = model, vocab

    def to(self, device) -> "Planner":
        self.model.to(device)
        return self

    @torch.inference_mode()
    def write(self, prompts: list[str], width: int, height: int, max_words: int = MAX_PLAN_WORDS,
              backgrounds: list[str | None] | None = None) -> list[str]:
        """One plan per prompt, greedy (a plan is a reading of the prompt, not a sample). Where
        `backgrounds` names a prompt's background colour (one the prompt states outright), its
        plan has it."""
        backgrounds = backgrounds if backgrounds is not None else [None] * len(prompts)
        if len(backgrounds) != len(prompts) or any(b is not None and b not in INDEX for b in backgrounds):
            raise BlueprintError(f"backgrounds must be one colour name or None per prompt, got {backgrounds!r}")
        inputs = {k: v.to(self.model.device) for k, v in self.vocab.encode(prompts, width, height).items()}
        grammar = _PlanGrammar([quotes_of(p) for p in prompts], width, height, backgrounds)
        out = self.model.generate(**inputs, max_new_tokens=max_words, do_sample=False, num_beams=1,
                                  logits_processor=[grammar])
        return [plan_from_ids(row[1:]) for row in out.tolist()]  # row[0] is the decoder start


def has_planner(model_dir: str | Path) -> bool:
    return (Path(model_dir) / PLANNER_DIR / "model.safetensors").is_file()


def save_planner(planner: Planner, model_dir: str | Path) -> Path:
    def write(tmp: Path) -> None:
        planner.model.save_pretrained(tmp, safe_serialization=True)
        atomic_write_json(tmp / VOCAB_FILE, planner.vocab.to_json())
    return replace_folder_files(Path(model_dir) / PLANNER_DIR, write, last="model.safetensors")


def load_planner(model_dir: str | Path, device: str | torch.device = "cpu") -> Planner:
    path = Path(model_dir) / PLANNER_DIR
    if not has_planner(model_dir) or not (path / VOCAB_FILE).is_file():
        raise BlueprintError(f"no trained planner: {path} needs model.safetensors and {VOCAB_FILE}")
    try:
        vocab = PlannerVocab.from_json(json.loads((path / VOCAB_FILE).read_text()), str(path / VOCAB_FILE))
        model = T5ForConditionalGeneration.from_pretrained(path, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, SafetensorError) as e:
        raise BlueprintError(f"cannot load the planner in {path}: {e}") from None
    model.eval()
    return Planner(model, vocab).to(device)
