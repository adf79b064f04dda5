"""`BlueprintPipeline`: prompt -> AR prior tokens -> glyph embeddings -> DiT
denoising -> VAE decode -> PIL images.

This is Blueprint's fast pipeline over a diffusers-layout GLM-Image model
folder. The sampling loop is written out here, but its math is diffusers'
`GlmImagePipeline` (text to image) step for step, so that the two produce the
same images from the same prior tokens and seed (see tests/test_pipeline_parity.py):

- timesteps `linspace(1000, 1, N+1)[:-1]` truncated to integers, sigmas t/1000
  shifted by the scheduler with mu = sqrt(seq/256)*0.75 + 0.25;
- the DiT sees the raw timestep `t - 1`; Euler steps use the shifted sigmas;
- latents start as `randn` from a generator seeded with `seed`, and the AR
  stage seeds the global RNG with the same seed;
- `seed` may also be a list, one per prompt: each row then draws its AR
  tokens and its noise from its own generators, so an image does not depend
  on what it was batched with (a server batches concurrent requests); a
  batch of one with `[s]` gives the image `s` gives;
- guidance: `uncond + s * (cond - uncond)`, the unconditional pass seeing the
  glyph embedding of "" and all prior tokens dropped;
- decode: `latents * std + mean` with the VAE config's statistics.

One addition of Blueprint's own: a decoder with a typeset glyph layer
(`blueprint.models.glyph_layer`) also gets, beside the latents, the prompt's
quoted text drawn with a font into the text lines that the semantic head
reads off the AR tokens, or into a followed layout plan's text boxes (and, for
a decoder with a shape plane, the plan's bars, arrows and shapes); the
unconditional rows get an empty layer. With no
glyph layer (the official checkpoint, diffusers-made folders) the loop is
exactly diffusers'.

What differs is speed only: the conditional and unconditional passes run as
one batched forward (the shorter glyph sequence is padded and masked out,
see `blueprint.models.attention`), everything runs under `inference_mode`,
and no component is copied. `set_precision("bf16")` (or "auto") runs the DiT
and the VAE in bfloat16 where the hardware runs it natively, where it is
faster than float32 (`blueprint.models.precision`); the noise, the Euler update, the AR
prior and the glyph encoder stay float32. The parity with diffusers is for
the default, fp32. `compile()` compiles the AR decode step, the DiT and the
VAE decoder for a process that generates many images (`blueprint.pipeline.compiled`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import PIL.Image
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils.torch_utils import randn_tensor

from blueprint.errors import BlueprintError
from blueprint.models import (
    COMPONENT_NAMES,
    MODULE_NAMES,
    denormalize_latents,
    encode_glyphs,
    image_grid,
    load_components,
    read_conditioning,
    shift_mu,
    vae_scale_factor,
)
from blueprint.models.attention import install_masked_attention
from blueprint.models.conditioning import check_conditioning
from blueprint.models.folder import has_semantic_head, load_semantic_head
from blueprint.models.image_tokenizer import codebook_readings
from blueprint.models.glyph_layer import blueprint_ink, fold_ink, glyph_channels_of, ink_planes, layer_planes
from blueprint.models.planner import has_planner, load_planner
from blueprint.models.settings import (
    check_color_plan, check_layout_plan, check_prior_guidance, read_color_plan, read_layout_plan, read_prior_guidance,
)
from blueprint.models.precision import resolve_precision
from blueprint.pipeline.checks import (
    check_glyph_ink, check_plan_ink, check_prior_tokens, check_prompts, check_sampling, check_seeds,
)
from blueprint.pipeline.compiled import (
    compile_decode, compile_transformer, grouped_attention, pad_glyphs, prior_generate_kwargs,
)
from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS
from blueprint.pipeline.layout_plan import LAYOUT_NEEDS_PLANNER, given_plans, plan_rows, plan_strength
from blueprint.pipeline.plan import code_bias, read_plan
from blueprint.pipeline.prior import generate_prior_tokens
from blueprint.sizes import check_size


PLAN_NEEDS_HEAD = "a color plan needs the model's semantic head (it says which colour each code is)"

# callback(stage, step, total): stage "prior" counts AR tokens, "denoise" DiT steps.
Callback = Callable[[str, int, int], None]
# on_latents(step, x0): after denoising step `step`, the clean latents the DiT predicts
# (normalised, as `decode_latents` takes them): a preview of the finished image.
LatentsCallback = Callable[[int, torch.Tensor], None]


@dataclass
class BlueprintPipelineOutput:
    images: list[PIL.Image.Image]
    prior_token_ids: torch.Tensor  # (B, (H/16)*(W/16)) codebook ids on the DiT patch grid
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    glyph_ink: torch.Tensor | None = None  # (B, planes, H, W) the glyph layer (letters, shapes); None without one
    plans: list[str | None] | None = None  # each prompt's layout plan (given or the planner's); None: no plans


class BlueprintPipeline:
    def __init__(self, components: dict[str, object], conditioning: str = "blueprint", semantic_head=None,
                 prior_guidance: float = 1.0, color_plan: float = 0.0, planner=None, layout_plan: float = 0.0):
        """`semantic_head` (blueprint.models.image_tokenizer.SemanticHead) reads text lines off the AR
        tokens for the glyph layer; without it a glyph layer stays empty. `planner`
        (blueprint.models.planner) writes layout plans. `prior_guidance`, `color_plan` and
        `layout_plan` are the AR stage's defaults (blueprint.models.settings)."""
        self.conditioning = check_conditioning(conditioning)  # see blueprint.models.conditioning
        self.prior_guidance = check_prior_guidance(prior_guidance)
        self.color_plan = check_color_plan(color_plan)
        if self.color_plan and semantic_head is None:
            raise BlueprintError(PLAN_NEEDS_HEAD)
        self.planner = planner
        self.layout_plan = check_layout_plan(layout_plan)
        if self.layout_plan and planner is None:
            raise BlueprintError(LAYOUT_NEEDS_PLANNER)
        missing = [name for name in COMPONENT_NAMES if name not in components]
        if missing:
            raise BlueprintError(f"the pipeline needs component(s): {', '.join(missing)}")
        for name in COMPONENT_NAMES:
            setattr(self, name, components[name])
        self.semantic_head = semantic_head.eval() if semantic_head is not None else None
        self.glyph_channels = glyph_channels_of(self.transformer)
        install_masked_attention(self.transformer)
        self.vae_scale = vae_scale_factor(self.vae)
        self.ink_planes = ink_planes(self.transformer, self.vae_scale)  # 1: letters; 2: and shapes
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale)
        # Clock for `timings`; a benchmark on a shared machine may use time.process_time.
        self.clock: Callable[[], float] = time.perf_counter
        self.compiled_transformer = self.compiled_decode = None  # set by `compile()`
        self._code_readings = None  # (kind, bg) of every code, read once by `plan_bias`

    @classmethod
    def from_pretrained(cls, model_dir: str | Path, dtype: torch.dtype = torch.float32, device: str = "cpu",
                        precision: str = "fp32"):
        """Load a model folder. `precision` ("fp32", "bf16", "auto") then sets the DiT and the
        VAE's dtype (`set_precision`); "fp32" keeps every component at `dtype`."""
        resolve_precision(precision, device)  # a bad value fails before the model loads
        head = load_semantic_head(model_dir) if has_semantic_head(model_dir) else None
        planner = load_planner(model_dir) if has_planner(model_dir) else None
        pipe = cls(load_components(model_dir, dtype=dtype), read_conditioning(model_dir), head,
                   read_prior_guidance(model_dir), read_color_plan(model_dir), planner,
                   read_layout_plan(model_dir)).to(device)
        if precision != "fp32":
            pipe.set_precision(precision)
        return pipe

    def set_precision(self, precision: str) -> "BlueprintPipeline":
        """Run the DiT and the VAE in bfloat16 ("bf16"), float32 ("fp32"), or bfloat16 where the
        device has it in hardware ("auto"); see `blueprint.models.precision`."""
        dtype = resolve_precision(precision, self.device)
        for module in (self.transformer, self.vae):
            # torch's own `to`: diffusers' override warns about fp32-only modules even when a model
            # has none (these have none), and adds nothing else for a plain in-memory module.
            torch.nn.Module.to(module, dtype)
        return self

    def compile(self) -> "BlueprintPipeline":
        """Compile the AR decode step, the DiT and the VAE decoder (`blueprint.pipeline.compiled`):
        the first call at each size and batch compiles, later ones run faster."""
        self.compiled_transformer = compile_transformer(self.transformer)
        self.compiled_decode = compile_decode(self.vae)
        grouped_attention(self.vision_language_encoder.model.language_model)
        return self

    def to(self, device: str | torch.device) -> "BlueprintPipeline":
        for name in MODULE_NAMES:
            getattr(self, name).to(device)
        if self.semantic_head is not None:
            self.semantic_head.to(device)
        if self.planner is not None:
            self.planner.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    @property
    def size_range(self) -> tuple[int, int]:
        """(min_side, max_side) this model takes: the processor's pixel bounds."""
        size = self.processor.image_processor.size
        return round(math.sqrt(size["shortest_edge"])), round(math.sqrt(size["longest_edge"]))

    # ---- stages -------------------------------------------------------------

    def _schedule(self, steps: int, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(timesteps (N,), sigmas (N+1,)) exactly as the official pipeline sets them."""
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(self.scheduler.config)  # no shared state
        n_train = scheduler.config.num_train_timesteps
        timesteps = np.linspace(n_train, 1.0, steps + 1)[:-1].astype(np.int64).astype(np.float32)
        mu = shift_mu(height, width, scheduler.config, self.vae_scale, self.transformer.config.patch_size)
        scheduler.set_timesteps(timesteps=timesteps, sigmas=timesteps / n_train, mu=mu, device=self.device)
        return scheduler.timesteps, scheduler.sigmas

    def _glyph_batch(self, prompts: list[str], guidance: float, mask_pads: bool = False):
        """Glyph embeddings for the DiT batch: cond rows, then uncond rows if guided.

        Returns (embeds, mask). Within the cond rows prompts are left-padded with
        zeros and *not* masked, as in the official pipeline, unless `mask_pads`
        (per-row seeds: a row must not depend on its batch mates' text); the
        padding that only exists to stack cond and uncond rows is masked out.
        """
        whole = self.conditioning == "prompt"
        cond, cond_mask = encode_glyphs(self.tokenizer, self.text_encoder, prompts, self.device, whole_prompt=whole)
        cond_mask = cond_mask if mask_pads else None
        if guidance <= 1:
            return pad_glyphs(cond, cond_mask) if self.compiled_transformer is not None else (cond, cond_mask)
        uncond, _ = encode_glyphs(self.tokenizer, self.text_encoder, [""] * len(prompts), self.device)
        width = max(cond.shape[1], uncond.shape[1])
        embeds = torch.zeros(2 * len(prompts), width, cond.shape[2], dtype=cond.dtype, device=self.device)
        mask = torch.zeros(2 * len(prompts), width, dtype=torch.bool, device=self.device)
        for rows, part, part_mask in ((slice(0, len(prompts)), cond, cond_mask), (slice(len(prompts), None), uncond, None)):
            embeds[rows, width - part.shape[1]:] = part
            mask[rows, width - part.shape[1]:] = True if part_mask is None else part_mask
        if self.compiled_transformer is not None:
            return pad_glyphs(embeds, mask)
        return embeds, (None if bool(mask.all()) else mask)

    def _glyph_layer(self, prompts: list[str], prior_ids: torch.Tensor, width: int, height: int):
        """(B, 1, H, W) typeset ink for a decoder with a glyph layer, else None.

        Empty for the ablation conditionings and for a folder without a semantic head."""
        if not self.glyph_channels:
            return None
        if self.conditioning != "blueprint" or self.semantic_head is None:
            return torch.zeros(len(prompts), 1, height, width)
        return blueprint_ink(self.vision_language_encoder, self.semantic_head, prompts, prior_ids, width, height)

    def _denoise(self, glyph, mask, prior_ids, ink, width, height, steps, guidance, generator, callback,
                 on_latents=None):
        dit = self.transformer
        forward = dit if self.compiled_transformer is None else self.compiled_transformer
        batch = prior_ids.shape[0]
        shape = (batch, dit.config.out_channels, height // self.vae_scale, width // self.vae_scale)
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=glyph.dtype)
        timesteps, sigmas = self._schedule(steps, width, height)

        guided = guidance > 1
        n = 2 * batch if guided else batch
        drop = torch.zeros(n, prior_ids.shape[1], dtype=torch.bool, device=self.device)
        if self.conditioning == "prompt":
            drop[:] = True  # the pure-diffusion baseline was trained without prior tokens
        if guided:
            drop[batch:] = True  # the unconditional rows see no prior tokens
            prior_ids = torch.cat([prior_ids, prior_ids])
        target_size = torch.tensor([[height, width]], dtype=dit.dtype, device=self.device).expand(n, 2)
        crop_coords = torch.zeros(n, 2, dtype=dit.dtype, device=self.device)
        glyph = glyph.to(dit.dtype)  # the glyph encoder stays float32 when the DiT runs in bf16
        layer = None
        if ink is not None:  # the glyph layer: cond rows get the typeset ink, uncond rows none
            layer = fold_ink(ink.to(self.device), self.vae_scale).to(dit.dtype)
            if guided:
                layer = torch.cat([layer, torch.zeros_like(layer)])

        for i, t in enumerate(timesteps):
            x = latents.to(dit.dtype)
            x = torch.cat([x, x]) if guided else x
            velocity = forward(
                hidden_states=x if layer is None else torch.cat([x, layer], dim=1),
                encoder_hidden_states=glyph,
                prior_token_id=prior_ids,
                prior_token_drop=drop,
                timestep=(t - 1).expand(n),  # the DiT is conditioned on the raw, unshifted timestep
                target_size=target_size,
                crop_coords=crop_coords,
                attention_mask=mask,
                return_dict=False,
            )[0].float()
            if guided:
                cond, uncond = velocity.chunk(2)
                velocity = uncond + guidance * (cond - uncond)
            if on_latents:  # x_t = (1 - sigma) x0 + sigma noise and velocity = noise - x0
                on_latents(i + 1, latents.float() - sigmas[i] * velocity)
            # Euler step of the flow ODE from sigma_i to sigma_{i+1} (in float32, as the scheduler)
            latents = latents.float() + (sigmas[i + 1] - sigmas[i]) * velocity
            if callback:
                callback("denoise", i + 1, steps)
        return latents

    @torch.inference_mode()
    def decode_latents(self, latents: torch.Tensor) -> list[PIL.Image.Image]:
        """Normalised latents (what the DiT denoises) -> PIL images."""
        latents = denormalize_latents(self.vae, latents.to(self.vae.dtype))
        decode = self.vae.decode if self.compiled_decode is None else self.compiled_decode
        pixels = decode(latents, return_dict=False)[0]
        return self.image_processor.postprocess(pixels.float(), output_type="pil")

    def plan_bias(self, prompts: list[str], strength: float) -> torch.Tensor | None:
        """The AR stage's logit bias toward each prompt's colour plan; None when off or unstated."""
        if check_color_plan(strength) == 0:
            return None
        if self.semantic_head is None:
            raise BlueprintError(PLAN_NEEDS_HEAD)
        if self._code_readings is None:
            out = codebook_readings(self.vision_language_encoder, self.semantic_head)
            self._code_readings = out["kind"].argmax(-1), out["bg"].argmax(-1)
        kind, bg = self._code_readings
        vocab = self.semantic_head.vocab
        return code_bias([read_plan(p) for p in prompts], kind, bg, vocab.kinds, vocab.colors, strength, forbid=True)

    def plan_layout(self, prompts: list[str], width: int, height: int, strengths: list[float],
                    given: list[str | None] | None = None):
        """(plans, (codes, strengths), ink): the codes for the AR stage to lean toward and each
        plan's letters and shapes (None for a decoder without a typeset glyph layer), one strength
        and optional given plan per prompt (`layout_plan.plan_rows`); (None, None, None) when no
        row is planned."""
        for s in strengths:
            check_layout_plan(s)
        given = given if given is not None else [None] * len(prompts)
        plans, planned, ink = plan_rows(self.planner, self.vision_language_encoder, self.processor, prompts,
                                        width, height, strengths, given)
        typeset = self.glyph_channels and self.conditioning == "blueprint"
        return plans, planned, ink if typeset else None

    # ---- call ---------------------------------------------------------------

    def __call__(
        self,
        prompt: str | list[str],
        height: int = 256,
        width: int = 256,
        seed: int | list[int] = 0,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        temperature: float | None = None,
        top_p: float | None = None,
        callback: Callback | None = None,
        prior_token_ids: torch.Tensor | None = None,
        prior_guidance: float | None = None,
        glyph_ink: torch.Tensor | None = None,
        on_latents: LatentsCallback | None = None,
        color_plan: float | None = None,
        layout_plan: float | None = None,
        plan: str | list[str] | None = None,
        plan_ink: list[torch.Tensor | None] | None = None,
    ) -> BlueprintPipelineOutput:
        """Generate one image per prompt.

        `temperature`/`top_p` of None use the AR model's generation config.
        `prior_guidance` of None uses the model folder's (1, no guidance, without one).
        `seed` as a list gives each prompt its own seed (see the module docstring).
        `prior_token_ids` (B, (H/16)*(W/16)) skips the AR stage.
        `glyph_ink` (B, 1, H, W) in [0, 1] is the glyph layer itself, in place of the
        quoted text typeset where the blueprint puts text: letters drawn by the caller
        (a layout of their own, or the data engine's exact ink in an evaluation).
        `on_latents(step, x0)` sees the DiT's clean-image prediction after each step
        (the server's partial images decode some of them).
        `color_plan` > 0 leans the AR stage toward the background colour the prompt
        states, by that much in logits (`blueprint.pipeline.plan`); 0 is off, None the
        model folder's.
        `layout_plan` > 0 has the folder's planner write a layout plan of each prompt and leans
        the AR stage, position by position, toward the codes of that plan drawn, by that much
        in logits (`blueprint.pipeline.layout_plan`); 0 is off, None the model folder's.
        `plan` (one, or one per prompt) is a layout plan to follow in place of the planner's
        (`blueprint.data.plan_text`; a folder needs no planner for it): checked whole first, then
        copied unless `layout_plan` says how strongly to lean to it. A followed plan's bars, arrows,
        shapes and rules go to the glyph layer's shape plane, where the decoder has one, and its
        texts are typeset into its text boxes (`glyph_layer.layer_planes`); `plan_ink` (per prompt,
        (2, H, W) letters and shapes, or None) gives them with
        `prior_token_ids` (the server plans in its AR batch and denoises later).
        """
        prompts = check_prompts(prompt, self.processor.tokenizer)
        width, height = check_size(width, height, *self.size_range)
        seeds = check_seeds(seed, len(prompts))
        check_sampling(num_inference_steps, guidance_scale, temperature, top_p, seeds[0], prior_guidance, color_plan,
                       layout_plan)
        given = given_plans(plan, prompts, width, height)
        strengths = [plan_strength(layout_plan, self.layout_plan, g) for g in given]
        if (plan is not None or layout_plan) and (prior_token_ids is not None or self.conditioning == "prompt"):
            raise BlueprintError("a layout plan steers the AR stage, which this call skips (prior_token_ids, "
                                 "or a model without one): leave plan and layout_plan out")
        seed = seeds if isinstance(seed, (list, tuple)) else seed
        prior_guidance = self.prior_guidance if prior_guidance is None else prior_guidance
        if prior_token_ids is not None:
            codebook = self.transformer.config.prior_vq_quantizer_codebook_size
            prior_token_ids = check_prior_tokens(prior_token_ids, len(prompts), width, height, codebook).to(self.device)
        if glyph_ink is not None:
            glyph_ink = check_glyph_ink(glyph_ink, len(prompts), width, height, self.glyph_channels, self.conditioning)
        plan_ink = check_plan_ink(plan_ink, prior_token_ids is not None, len(prompts), width, height,
                                  self.glyph_channels, self.conditioning)

        timings: dict[str, float] = {}
        clock = self.clock()
        plans = None

        def lap(stage: str) -> None:
            nonlocal clock
            now = self.clock()
            timings[stage] = now - clock
            clock = now

        with torch.inference_mode():
            if prior_token_ids is None and self.conditioning == "prompt":
                token_h, token_w, _, _ = image_grid(width, height)  # no AR stage: placeholder ids, all dropped
                prior_token_ids = torch.zeros(len(prompts), 4 * token_h * token_w, dtype=torch.long, device=self.device)
            if prior_token_ids is None:
                progress = (lambda done, total: callback("prior", done, total)) if callback else None
                bias = self.plan_bias(prompts, self.color_plan if color_plan is None else color_plan)
                plans, planned, plan_ink = self.plan_layout(prompts, width, height, strengths, given)
                if plans is not None:
                    lap("plan")
                prior_token_ids = generate_prior_tokens(
                    self.vision_language_encoder, self.processor, prompts, width, height,
                    seed, temperature, top_p, progress, prior_guidance,
                    prior_generate_kwargs() if self.compiled_transformer is not None else None, bias, planned,
                )
            lap("prior")
            letters = self._glyph_layer(prompts, prior_token_ids, width, height) if glyph_ink is None else glyph_ink
            ink = layer_planes(letters, self.ink_planes, plan_ink, callers_letters=glyph_ink is not None)
            glyph, mask = self._glyph_batch(prompts, guidance_scale, mask_pads=isinstance(seed, list))
            lap("glyph_encoder")
            if isinstance(seed, list):
                generator = [torch.Generator(device=self.device).manual_seed(s) for s in seed]
            else:
                generator = torch.Generator(device=self.device).manual_seed(seed)
            latents = self._denoise(
                glyph, mask, prior_token_ids, ink, width, height, num_inference_steps, guidance_scale, generator,
                callback, on_latents,
            )
            lap("denoise")
            images = self.decode_latents(latents)
            lap("decode")
        timings["total"] = sum(timings.values())
        return BlueprintPipelineOutput(images=images, prior_token_ids=prior_token_ids.cpu(), timings=timings,
                                       glyph_ink=None if ink is None else ink.cpu(), plans=plans)
