"""The AR prompt tokenizer and `GlmImageProcessor`, built locally (no hub).

The real GLM-Image tokenizer is GLM-4's 168k-token BPE. Blueprint trains its
AR model from scratch, so it uses a byte-level vocabulary instead: every UTF-8
byte is one token, and any prompt can be encoded. The layout keeps the real
model's conventions so the official processor code drives it unchanged:

    ids 0 .. codebook+1            <|dit_token_i|>   codebook indices, then image start / end
    next 256 ids                   the byte-level alphabet
    then                           <|endoftext|> (pad) [gMASK] <sop> <eop> <|user|> <|assistant|> <|image|>

`<sop>H W<eop>` (the grid sizes) and the bos token `<|dit_token_{codebook}|>`
are appended by the processor itself; the chat template adds no role markers,
as in the released checkpoint.

Optionally, BPE merges learned from captions (`learn_prompt_merges`) follow
the specials: `Ġpurple` or `Ġbackground` become one token each while quoted
words the merges do not cover stay short pieces. A byte-level prompt takes
several tokens per word, so a small AR model spends its first layers assembling
words before it can bind "purple" to the panel it describes; word tokens
hand it that for free and make the sequence much shorter
(`fresh_prior`; docs/notebook/2026-12-02-word-tokens-prior.md measures both).

`BlueprintProcessor` is the official processor with one choice opened up: the
preview grid of text-to-image prompts (`preview_grid`, blueprint.models.grid).
Folders load through `blueprint.models.folder.load_component(dir, "processor")`,
which sets it from blueprint.json.
"""

from __future__ import annotations

import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GlmImageImageProcessorPil, GlmImageProcessor, PreTrainedTokenizerFast

from blueprint.models.grid import image_grid

SPECIAL_TOKENS = ("<|endoftext|>", "[gMASK]", "<sop>", "<eop>", "<|user|>", "<|assistant|>", "<|image|>")


def dit_token(i: int) -> str:
    return f"<|dit_token_{i}|>"


def chat_template(codebook_size: int) -> str:
    """Text items verbatim; an image item becomes start, image placeholder, end."""
    image = dit_token(codebook_size) + "<|image|>" + dit_token(codebook_size + 1)
    return (
        "{%- for message in messages -%}"
        "{%- if message['content'] is string -%}{{ message['content'] }}"
        "{%- else -%}{%- for item in message['content'] -%}"
        "{%- if item['type'] == 'image' -%}{{ '" + image + "' }}"
        "{%- elif item['type'] == 'text' -%}{{ item['text'] }}"
        "{%- endif -%}{%- endfor -%}{%- endif -%}{%- endfor -%}"
    )


def vocab_size(codebook_size: int, merges: int = 0) -> int:
    return codebook_size + 2 + 256 + len(SPECIAL_TOKENS) + merges


def learn_prompt_merges(texts: list[str], n_merges: int) -> list[tuple[str, str]]:
    """Up to `n_merges` BPE merges over the byte-level alphabet, most frequent first.

    Words are split as GPT-2 splits them (a leading space joins the word), so
    merges never cross a word boundary."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet) + n_merges, initial_alphabet=alphabet,
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges][:n_merges]


def special_token_ids(codebook_size: int) -> dict[str, int]:
    first = codebook_size + 2 + 256
    return {tok: first + i for i, tok in enumerate(SPECIAL_TOKENS)}


def build_prompt_tokenizer(codebook_size: int, merges: list[tuple[str, str]] = ()) -> PreTrainedTokenizerFast:
    """Byte-level prompt tokenizer; with `merges`, their tokens follow the specials in merge order."""
    image_tokens = [dit_token(i) for i in range(codebook_size + 2)]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(image_tokens)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    for a, b in merges:
        if a not in vocab or b not in vocab or a + b in vocab:
            raise ValueError(f"merge {a!r} + {b!r} does not build a new token from known ones")
        vocab[a + b] = len(vocab)
    # Without merges: one token per byte. Fast, total, and trainable from scratch.
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in merges]))
    # Merges are learned within words (learn_prompt_merges), so with merges the
    # prompt is split into words the same way; without, the split changes nothing.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=bool(merges))
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(image_tokens + list(SPECIAL_TOKENS))
    assert tok.get_vocab_size() == vocab_size(codebook_size, len(merges))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=dit_token(codebook_size),
        eos_token=dit_token(codebook_size + 1),
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>", "grid_bos_token": "<sop>", "grid_eos_token": "<eop>"},
        chat_template=chat_template(codebook_size),
        padding_side="left",  # batched AR generation appends on the right
    )


def build_processor(codebook_size: int, min_side: int, max_side: int,
                    merges: list[tuple[str, str]] = ()) -> GlmImageProcessor:
    """Processor whose image side maps an HxW image to an (H/32)x(W/32) token grid.

    The image processor halves the image and cuts 16-pixel patches; its
    min/max pixel bounds are set to the configuration's size range so that
    images inside the range are never rescaled before that.
    """
    tokenizer = build_prompt_tokenizer(codebook_size, merges)
    image_processor = GlmImageImageProcessorPil(
        patch_size=16, temporal_patch_size=1, merge_size=1,
        min_pixels=min_side * min_side, max_pixels=max_side * max_side,
    )
    return GlmImageProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template(codebook_size)
    )


class BlueprintProcessor(GlmImageProcessor):
    """`GlmImageProcessor` whose text-to-image preview grid is `preview_grid` ("official" or "half").

    The official processor writes `<sop>h w<eop><sop>ph pw<eop>` after the prompt and returns
    the matching `image_grid_thw`, both from its `_get_target_shape`; here that method is
    `image_grid` with this processor's preview choice, so the prompt, the grids, the model's
    positions (`get_rope_index` reads the grids) and the number of tokens to generate all
    follow it. With "official" it is the official processor exactly.
    """

    preview_grid = "official"

    def _get_target_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        return image_grid(width, height, self.preview_grid)

    def save_pretrained(self, save_directory, **kwargs):
        # Saved as the official class, so any GLM-Image loader reads the folder; the preview
        # choice is the folder's blueprint.json setting, not part of the processor's files.
        official = GlmImageProcessor(image_processor=self.image_processor, tokenizer=self.tokenizer,
                                     chat_template=self.chat_template)
        return official.save_pretrained(save_directory, **kwargs)


def prompt_inputs(processor, prompts: list[str], width: int, height: int, device="cpu") -> dict:
    """Tokenised AR inputs for text to image (left-padded batch) with the target grids appended.

    The one definition of the AR prompt: the pipeline samples after it and the
    prior stage trains after it, so the two cannot drift apart."""
    messages = [[{"role": "user", "content": [{"type": "text", "text": p}]}] for p in prompts]
    inputs = processor.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"target_h": height, "target_w": width, "padding": len(prompts) > 1},
    )
    return dict(inputs.to(device))
