"""Glyph embeddings: what the decoder knows about the text to draw.

Only the *quoted* substrings of a prompt reach the glyph encoder (ByT5 bytes
into a T5 encoder); everything else reaches the decoder through the AR prior
tokens. This module is the single implementation shared by training (the
decoder stage) and sampling, and it reproduces diffusers'
`GlmImagePipeline._get_glyph_embeds` exactly, quirks included:

- quoted groups are collected by quote style, not by position:
  '...' first, then \u201c...\u201d, then "...", then \u300c...\u300d;
- a prompt with no quotes encodes the empty string (one EOS token);
- each string is ByT5-tokenized with EOS; one pad token is *prepended* to
  every string when the number of strings is even;
- the valid (unpadded) T5 outputs of all strings are concatenated into one
  sequence per prompt, and prompts of a batch are left-padded with zeros.
"""

from __future__ import annotations

import re

import torch

# Longest glyph sequence per string, in ByT5 tokens (bytes + EOS); longer strings are cut.
MAX_GLYPH_TOKENS = 2048

QUOTE_PATTERNS = (
    re.compile(r"'([^']*)'"),
    re.compile("\u201c([^\u201c\u201d]*)\u201d"),
    re.compile(r'"([^"]*)"'),
    re.compile("\u300c([^\u300c\u300d]*)\u300d"),
)


def get_glyph_texts(prompt: str) -> list[str]:
    """The quoted substrings of one prompt, in diffusers' order (by quote style)."""
    texts: list[str] = []
    for pattern in QUOTE_PATTERNS:
        texts += pattern.findall(prompt)
    return texts


def _glyph_token_ids(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    ids = tokenizer(texts, max_length=max_length, truncation=True).input_ids
    # The official pipeline prepends one pad token to every string when their
    # count is even; the released decoder was trained that way, so keep it.
    lead = [tokenizer.pad_token_id] * ((len(ids) + 1) % 2)
    return [lead + x for x in ids]


def _encode_one(tokenizer, text_encoder, prompt: str, device, max_length: int, whole_prompt: bool) -> torch.Tensor:
    texts = [prompt] if whole_prompt else (get_glyph_texts(prompt) or [""])
    ids = _glyph_token_ids(tokenizer, texts, max_length)
    width = max(len(x) for x in ids)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
    input_ids = torch.tensor([x + [tokenizer.pad_token_id] * (width - len(x)) for x in ids], device=device)
    hidden = text_encoder(input_ids, attention_mask=mask).last_hidden_state
    return hidden[mask.bool()]  # (sum of valid tokens, d_model): all strings in one sequence


def encode_glyphs(
    tokenizer,
    text_encoder,
    prompts: str | list[str],
    device: str | torch.device | None = None,
    max_length: int = MAX_GLYPH_TOKENS,
    whole_prompt: bool = False,
    batched: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Glyph embeddings for a batch of prompts: (embeds (B, L, d_model), mask).

    `whole_prompt=True` encodes each prompt as it is rather than its quoted
    text: the pure-diffusion baseline (see blueprint.models.conditioning).

    `mask` is a (B, L) bool tensor marking real tokens (prompts are
    left-padded with zeros to the longest), or None when no padding was
    needed. The official pipeline passes no mask to the decoder (its masked
    attention path is broken), so sampling ignores it; training may use it.
    Gradients flow if the caller is not in no-grad mode (the glyph stage trains
    `text_encoder` through this function).

    `batched=True` runs every string of every prompt through the encoder in one
    right-padded, masked forward instead of one forward per prompt: the same
    embeddings up to float rounding, with no host-device round trip per
    prompt, which is what a training step on a shared GPU needs.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    device = device if device is not None else text_encoder.device
    if batched:
        return _encode_batched(tokenizer, text_encoder, prompts, device, max_length, whole_prompt)
    per_prompt = [_encode_one(tokenizer, text_encoder, p, device, max_length, whole_prompt) for p in prompts]
    longest = max(e.shape[0] for e in per_prompt)
    embeds = torch.zeros(len(per_prompt), longest, per_prompt[0].shape[-1], device=device, dtype=per_prompt[0].dtype)
    mask = torch.zeros(len(per_prompt), longest, dtype=torch.bool, device=device)
    for i, e in enumerate(per_prompt):
        embeds[i, longest - e.shape[0]:] = e  # left padding, as the official pipeline
        mask[i, longest - e.shape[0]:] = True
    return embeds, (None if bool(mask.all()) else mask)


def _encode_batched(tokenizer, text_encoder, prompts, device, max_length: int, whole_prompt: bool):
    groups = [_glyph_token_ids(tokenizer, [p] if whole_prompt else (get_glyph_texts(p) or [""]), max_length)
              for p in prompts]
    rows = [ids for group in groups for ids in group]
    width = max(len(x) for x in rows)
    input_ids = torch.tensor([x + [tokenizer.pad_token_id] * (width - len(x)) for x in rows])
    row_mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in rows])
    hidden = text_encoder(input_ids.to(device), attention_mask=row_mask.to(device)).last_hidden_state
    # Index bookkeeping on the host: valid token t of row r goes to prompt b's
    # sequence, left-padded to the longest prompt (the layout of the per-prompt path).
    lengths = [sum(len(x) for x in group) for group in groups]
    longest = max(lengths)
    src, dst, r = [], [], 0
    for b, group in enumerate(groups):
        at = b * longest + longest - lengths[b]
        for ids in group:
            src += range(r * width, r * width + len(ids))
            dst += range(at, at + len(ids))
            at += len(ids)
            r += 1
    flat = hidden.reshape(-1, hidden.shape[-1])
    embeds = flat.new_zeros(len(prompts) * longest, flat.shape[-1])
    embeds[torch.tensor(dst, device=device)] = flat[torch.tensor(src, device=device)]
    mask = torch.zeros(len(prompts) * longest, dtype=torch.bool)
    mask[dst] = True
    mask = mask.view(len(prompts), longest)
    embeds = embeds.view(len(prompts), longest, -1)
    return embeds, (None if bool(mask.all()) else mask.to(device))
