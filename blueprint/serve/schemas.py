"""Request and response bodies (pydantic): they are the OpenAPI schema too.

The fields follow OpenAI's Images API (`prompt`, `model`, `n`, `size`,
`response_format`, `stream`, `partial_images`, `user`); the rest are
Blueprint's extensions. Unknown fields are ignored, as OpenAI's clients send
some (`quality`, `style`) that mean nothing here. Limits that need the model
(the size range, the prompt's token count) are checked in `app.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS, MIN_TEMPERATURE

MAX_SERVED_STEPS = 100  # a request's denoising steps; more only holds up the queue
MAX_PROMPT_CHARS = 4000
MAX_PLAN_CHARS = 8000  # the engine's longest plan is under 1,000 characters
MAX_LAYOUT_PLAN = 1000.0  # past about 100 the plan is already copied


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT_CHARS,
                        description='What to draw; text in double quotes is typeset, e.g. a sign that reads "OPEN".')
    model: str | None = Field(None, description="The served model's id (GET /v1/models); omitted = that one.")
    n: int = Field(1, ge=1, le=10, description="Images to generate, each with its own seed (seed, seed+1, ...).")
    size: str = Field("256x256", pattern=r"^\d{1,5}x\d{1,5}$", description="WIDTHxHEIGHT, multiples of 32.")
    response_format: Literal["b64_json", "url"] = "b64_json"
    stream: bool = Field(False, description="Server-sent events: progress, partial images, then each image.")
    partial_images: int = Field(0, ge=0, le=3, description="With stream: 1 sends the AR blueprint as a "
                                "partial image as soon as the AR stage is done; 2 or 3 add 1 or 2 part-way "
                                "images of the denoising, evenly spaced (each costs a VAE decode).")
    user: str | None = Field(None, max_length=256)
    seed: int | None = Field(None, ge=0, le=2**53, description="Random when omitted; returned in the response.")
    num_inference_steps: int = Field(DEFAULT_STEPS, ge=1, le=MAX_SERVED_STEPS)
    guidance_scale: float = Field(DEFAULT_GUIDANCE, ge=1, le=20, allow_inf_nan=False)
    temperature: float | None = Field(None, ge=MIN_TEMPERATURE, le=10, allow_inf_nan=False,
                                      description="AR sampling temperature; omitted = the model's.")
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False, description="AR top-p; omitted = the model's.")
    return_blueprint: bool = Field(False, description="Add the AR token grid and a picture of it to each image.")
    layout_plan: float | None = Field(None, ge=0, le=MAX_LAYOUT_PLAN, allow_inf_nan=False,
                                      description="Have the model's planner lay out the prompt (each element's "
                                      "kind, colour and box) and lean the AR stage toward it by this much in "
                                      "logits (100 copies it); 0 = off; omitted = the model's.")
    plan: str | None = Field(None, min_length=1, max_length=MAX_PLAN_CHARS,
                             description="A layout plan to follow in place of the planner's: the one a response "
                             "returned (blueprint.plan), edited. `kind background ; element ; ...`, an element "
                             "being `kind role colour [material] [shape | font qN part] x0 y0 x1 y1` in 4-px "
                             "units; line breaks separate elements too. Copied unless layout_plan is given.")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt is empty")
        if "\x00" in v:
            raise ValueError("prompt contains a NUL character")
        return v


class Blueprint(BaseModel):
    grid: list[list[int]] = Field(description="AR codebook ids, one per 32x32 px cell, rows top to bottom.")
    grid_width: int
    grid_height: int
    b64_png: str = Field(description="The grid drawn at the image's size (the semantic head's reading).")
    plan: str | None = Field(None, description="The layout plan the AR stage leaned toward (the request's, "
                                               "or the planner's: each element's kind, colour and box); null "
                                               "when none was followed.")


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    seed: int
    blueprint: Blueprint | None = None


class ImageResponse(BaseModel):
    created: int
    data: list[ImageData]
    model: str
    size: str
    seed: int = Field(description="The first image's seed; image i used seed + i.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds: queue, prior, denoise, total.")


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "blueprint"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["warming", "ready", "failed"]
    model: str
    queue_depth: int
    detail: str | None = None
