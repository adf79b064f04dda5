"""Optional `torch.compile` of the pipeline's hot parts, for a process that
generates many images (an evaluation, a long-running service).

The first call at a new shape compiles, which takes tens of seconds on a CPU;
the calls after it at that shape run faster (`python -m bench.pipeline
--compile` measures both). A single image from a fresh process is faster
without it, so it is off by default.

- **The AR prior** is a few million parameters decoding ~320 tokens one at a
  time, so on a CPU its time is per-op overhead, not arithmetic: most ops
  take a few microseconds, and the dynamic KV cache's concatenations are a
  large share of the time. `generate` with a static cache runs the decode step that
  transformers compiles itself (`CompileConfig`). transformers compiles on a
  GPU by default and on a CPU only when asked (`_compile_all_devices`), which
  `prior_generate_kwargs` does. Sampling is unchanged: the same tokens as the
  eager path for the same seed (tests/test_pipeline_compile.py).
- **Its attention** (`grouped_attention`): the prior has fewer key/value heads
  than query heads. Under compile, transformers' SDPA path copies the keys and
  values out to every query head (`repeat_kv`) unless the device is on its
  list for SDPA's own grouped heads, and the CPU is not; with a static cache
  that copy is the whole cache, every layer and token, so a batch of 16 spent
  most of its decode step copying. `compile()` switches the prior to an
  attention function that hands the grouped heads to SDPA (`enable_gqa`).
- **The DiT** is compiled whole with `dynamic=False`: one graph per batch,
  image size and guidance on or off. The glyph sequence's length follows the
  prompt's quoted text, so each new prompt would recompile; `pad_glyphs` pads
  it on the left to a multiple of `GLYPH_BUCKET` tokens and masks the pads
  out of attention (`blueprint.models.attention`), so prompts of one size
  share a graph. Fused kernels round differently, so images match the eager
  path's to within a few levels of 255, not bit for bit.
- **The VAE decoder** (`compile_decode`), the same way as the DiT: one graph
  per batch and size.
"""

from __future__ import annotations

import math

import torch
from transformers import AttentionInterface, CompileConfig
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

# Glyph sequences are padded to a multiple of this many tokens when compiled.
GLYPH_BUCKET = 32


GROUPED_ATTENTION = "blueprint_grouped_sdpa"


def _grouped_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                  is_causal: bool | None = None, **kwargs):
    """transformers' attention-function signature: (B, heads, q, d) in, ((B, q, heads, d), None) out.
    Causal only for a prompt without a mask, as transformers' own SDPA path decides."""
    is_causal = query.shape[2] > 1 and attention_mask is None and getattr(module, "is_causal", True)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=is_causal,
        enable_gqa=key.shape[1] != query.shape[1])
    return out.transpose(1, 2).contiguous(), None


def grouped_attention(model) -> None:
    """Switch a transformers model (the prior's language model) to `_grouped_sdpa` (see the module docstring)."""
    AttentionInterface.register(GROUPED_ATTENTION, _grouped_sdpa)
    AttentionMaskInterface.register(GROUPED_ATTENTION, sdpa_mask)  # the masks SDPA gets (else none at all)
    model.set_attn_implementation(GROUPED_ATTENTION)


def prior_generate_kwargs() -> dict:
    """Extra `generate` arguments that make transformers compile the AR decode step."""
    config = CompileConfig(fullgraph=False, dynamic=None)
    # transformers' own switch to compile off-GPU too (read in `_valid_auto_compile_criteria`)
    config._compile_all_devices = True
    return {"cache_implementation": "static", "compile_config": config}


def compile_transformer(transformer):
    """The DiT's forward, compiled for fixed shapes (see the module docstring)."""
    return torch.compile(transformer, dynamic=False)


def compile_decode(vae):
    """The VAE's `decode`, compiled for fixed shapes like the DiT (one graph per batch and size)."""
    return torch.compile(vae.decode, dynamic=False)


def pad_glyphs(embeds: torch.Tensor, mask: torch.Tensor | None,
               bucket: int = GLYPH_BUCKET) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad (B, L, D) glyph embeddings to a multiple of `bucket` tokens.

    Returns (embeds, mask): the new pads are masked out (False); the tokens
    that were there keep their mask, all True where `mask` is None (the
    official pipeline's unmasked left padding inside a batch stays unmasked).
    """
    batch, length, _ = embeds.shape
    width = max(bucket, math.ceil(length / bucket) * bucket)
    padded = embeds.new_zeros(batch, width, embeds.shape[2])
    padded[:, width - length:] = embeds
    new_mask = torch.zeros(batch, width, dtype=torch.bool, device=embeds.device)
    new_mask[:, width - length:] = True if mask is None else mask
    return padded, new_mask
