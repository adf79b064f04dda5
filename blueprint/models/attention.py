"""A key-padding mask for the decoder's joint attention, so that padded glyph
tokens can share a batch with real ones.

The official `GlmImageAttnProcessor` turns its text mask into a 0/1 *float*
matrix and hands it to scaled-dot-product attention, which adds it to the
logits instead of masking (diffusers issue #13587); the official pipeline
therefore never passes a mask. Blueprint needs one to run the conditional
and unconditional passes of classifier-free guidance as one batch: the
unconditional glyph sequence is shorter and is padded to the conditional
length, and those pads must be invisible.

`MaskedGlmImageAttnProcessor` is the official processor when no mask is given
(it calls it), so installing it changes nothing for mask-free callers,
including diffusers' own pipeline. With a mask `(batch, text_len)` of bools
(True = real token), padded text positions are removed from every key set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_glm_image import GlmImageAttnProcessor


class MaskedGlmImageAttnProcessor(GlmImageAttnProcessor):
    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None,
                 image_rotary_emb=None, kv_cache=None):
        if attention_mask is None or kv_cache is not None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask,
                                    image_rotary_emb, kv_cache)
        dtype = encoder_hidden_states.dtype
        batch, text_len, _ = encoder_hidden_states.shape
        image_len = hidden_states.shape[1]
        hidden_states = torch.cat([encoder_hidden_states, hidden_states], dim=1)

        query = attn.to_q(hidden_states).unflatten(2, (attn.heads, -1))
        key = attn.to_k(hidden_states).unflatten(2, (attn.heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (attn.heads, -1))
        if attn.norm_q is not None:
            query = attn.norm_q(query).to(dtype=dtype)
        if attn.norm_k is not None:
            key = attn.norm_k(key).to(dtype=dtype)
        if image_rotary_emb is not None:  # 2D RoPE on the image stream only
            rope = dict(sequence_dim=1, use_real_unbind_dim=-2)
            query[:, text_len:] = apply_rotary_emb(query[:, text_len:], image_rotary_emb, **rope)
            key[:, text_len:] = apply_rotary_emb(key[:, text_len:], image_rotary_emb, **rope)

        # Boolean key mask (True = attend): text pads off, every image token on.
        keep = torch.ones(batch, text_len + image_len, dtype=torch.bool, device=query.device)
        keep[:, :text_len] = attention_mask.to(device=query.device, dtype=torch.bool)
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=keep[:, None, None, :],
        ).transpose(1, 2)
        out = out.flatten(2, 3).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        encoder_out, image_out = out.split([text_len, image_len], dim=1)
        return image_out, encoder_out


def install_masked_attention(transformer) -> None:
    """Give every block of a `GlmImageTransformer2DModel` the masking processor (idempotent)."""
    processor = MaskedGlmImageAttnProcessor()
    for block in transformer.transformer_blocks:
        if not isinstance(block.attn1.processor, MaskedGlmImageAttnProcessor):
            block.attn1.set_processor(processor)
