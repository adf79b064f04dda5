"""Stage `glyph-encoder`: pretrain the glyph encoder (T5 over ByT5 bytes) on rendered text.

As in Glyph-ByT5, the text encoder learns embeddings that match how the text
*looks*: a small CNN encodes a rendered crop of a word, the T5 encoder reads
the word's bytes, and a CLIP-style contrastive loss pulls each word's pooled
T5 embedding towards its own crop and away from the other words in the batch.
The DiT later reads the same T5's per-byte outputs (through
`blueprint.models.glyph_encoder.encode_glyphs`), which then carry how the text looks.

Words come from the data engine's "train" split (`blueprint.data.words`), drawn
in its fonts with random face, size, offset and contrast (so `--data` must be
`engine`, and `--size` does not apply). At export the stage
measures top-1 retrieval accuracy on words of the "heldout" split that training
never sees, and writes it to `logs/glyph-encoder-eval.json` (chance is 1/N). Only
`text_encoder/` goes into the model folder; the CNN and projection heads are
training aids and stay in the checkpoints.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from blueprint.data.fonts import get_font
from blueprint.data.spec import FONT_FACES
from blueprint.data.words import TextMaker
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json
from blueprint.models.folder import load_component, save_component
from blueprint.train.stage import StageArgs

CROP_H, CROP_W = 32, 128   # rendered word crops (grayscale)
EMBED_DIM = 128            # shared embedding space of the contrastive loss
EVAL_WORDS = 64            # held-out words in the retrieval test


class GlyphImageEncoder(nn.Module):
    """Four stride-2 conv blocks, then a linear map of the whole (2 x 8) feature grid.

    No global pooling: which letter sits where is the whole point, so the
    projection sees every position of the crop.
    """

    def __init__(self, widths=(32, 64, 128, 128), out_dim: int = EMBED_DIM):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.GELU()]
            cin = w
        self.convs = nn.Sequential(*layers)
        scale = 2 ** len(widths)
        self.proj = nn.Linear(cin * (CROP_H // scale) * (CROP_W // scale), out_dim)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(crops).flatten(1))


def render_word(word: str, rng: random.Random) -> np.ndarray:
    """One word as a (CROP_H, CROP_W) float crop in [-1, 1], random face/size/offset/contrast."""
    face = rng.choice(FONT_FACES)
    size = rng.randint(14, 26)
    font = get_font(face, size)
    while size > 6 and font.getlength(word) > CROP_W - 4:  # shrink long words to fit
        size -= 1
        font = get_font(face, size)
    bg = rng.randint(0, 255)
    fg = rng.randint(0, 95) if bg > 127 else rng.randint(160, 255)
    image = Image.new("L", (CROP_W, CROP_H), bg)
    left, top, right, bottom = font.getbbox(word)
    x = rng.randint(0, max(0, CROP_W - (right - left))) - left
    y = rng.randint(0, max(0, CROP_H - (bottom - top))) - top
    ImageDraw.Draw(image).text((x, y), word, fill=fg, font=font)
    return np.asarray(image, dtype=np.float32) / 127.5 - 1.0


def draw_words(rng: random.Random, split: str, n: int) -> list[str]:
    """n distinct words of a split: real words, names, pseudo-words, letters, prices, numbers."""
    maker = TextMaker(rng, split)
    makers = (maker.title, maker.name, maker.pseudo, maker.letters, maker.price, maker.number)
    words: list[str] = []
    while len(words) < n:
        text = rng.choice(makers)(max_chars=16)
        text = maker.styled(text) if text and text[0].isalpha() and rng.random() < 0.5 else text
        if text and text not in words:  # duplicates would be false negatives in the contrastive loss
            words.append(text)
    return words


class GlyphEncoderStage:
    name = "glyph-encoder"
    lr = 3e-4
    ema_decay = None

    def __init__(self, args: StageArgs):
        if args.data != "engine":
            raise BlueprintError("the glyph stage trains on words it renders itself; use --data engine")
        self.args = args
        model_dir = Path(args.init_from or args.out_dir)
        self.tokenizer = load_component(model_dir, "tokenizer")
        self.text_encoder = load_component(model_dir, "text_encoder", args.device)
        d_model = self.text_encoder.config.d_model
        self.heads = nn.ModuleDict({
            "glyph": GlyphImageEncoder(),
            "text": nn.Linear(d_model, EMBED_DIM),
        }).to(args.device)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=args.device))
        self.heads.register_parameter("logit_scale", self.logit_scale)

    def trainable(self):
        return {"text_encoder": self.text_encoder, "heads": self.heads}

    def batch(self, step, rank, world_size):
        rng = random.Random(f"glyph-{self.args.seed}-{step}-{rank}-{world_size}")
        words = draw_words(rng, "train", self.args.batch_size)
        crops = np.stack([render_word(w, rng) for w in words])[:, None]
        return {"words": words, "crops": torch.from_numpy(crops)}

    def embed(self, words: list[str], crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-norm (text, glyph) embeddings."""
        tok = self.tokenizer(words, padding=True, return_tensors="pt").to(crops.device)
        hidden = self.text_encoder(tok.input_ids, attention_mask=tok.attention_mask).last_hidden_state
        mask = tok.attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)  # mean over the word's bytes
        text = F.normalize(self.heads["text"](pooled).float(), dim=-1)
        glyph = F.normalize(self.heads["glyph"](crops).float(), dim=-1)
        return text, glyph

    def loss(self, batch):
        text, glyph = self.embed(batch["words"], batch["crops"])
        logits = text @ glyph.T * self.logit_scale.clamp(max=math.log(100)).exp()
        labels = torch.arange(len(text), device=logits.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        acc = (logits.argmax(1) == labels).float().mean().item()
        return loss, {"acc": acc}

    @torch.no_grad()
    def heldout_accuracy(self, n: int = EVAL_WORDS) -> dict:
        """Top-1 retrieval among n held-out words, both directions."""
        rng = random.Random(f"glyph-eval-{self.args.seed}")
        words = draw_words(rng, "heldout", n)
        crops = torch.from_numpy(np.stack([render_word(w, rng) for w in words])[:, None]).to(self.args.device)
        text, glyph = self.embed(words, crops)
        sim = text @ glyph.T
        labels = torch.arange(n, device=sim.device)
        top5 = sim.topk(5, dim=1).indices == labels[:, None]
        return {"heldout_words": n, "chance": 1 / n,
                "text_to_glyph_top1": (sim.argmax(1) == labels).float().mean().item(),
                "glyph_to_text_top1": (sim.argmax(0) == labels).float().mean().item(),
                "text_to_glyph_top5": top5.any(1).float().mean().item()}

    def export(self, model_dir):
        self.text_encoder.eval()
        self.heads.eval()
        result = self.heldout_accuracy()
        logs = Path(self.args.out_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        atomic_write_json(logs / "glyph-encoder-eval.json", result)
        print(f"glyph-encoder: held-out retrieval top-1 {result['text_to_glyph_top1']:.3f} "
              f"(text->glyph), {result['glyph_to_text_top1']:.3f} (glyph->text), chance {result['chance']:.3f}")
        save_component(self.text_encoder, model_dir, "text_encoder")


def make_stage(args: StageArgs) -> GlyphEncoderStage:
    return GlyphEncoderStage(args)
