"""The sampling pipeline: prompt -> AR prior tokens -> DiT denoising -> pixels.

    from blueprint.pipeline import BlueprintPipeline
    pipe = BlueprintPipeline.from_pretrained("runs/small")
    out = pipe('A red sign that reads "OPEN"', height=256, width=256, seed=0)
    out.images[0].save("open.png")

`blueprint generate` (blueprint/cli/generate.py) is the command-line front end.
The pipeline classes are imported lazily so that the CLI starts fast.
"""

from blueprint.pipeline.limits import DEFAULT_GUIDANCE, DEFAULT_STEPS, MAX_PROMPT_TOKENS

__all__ = ["BlueprintPipeline", "BlueprintPipelineOutput", "MAX_PROMPT_TOKENS", "DEFAULT_STEPS", "DEFAULT_GUIDANCE"]


def __getattr__(name: str):
    if name in ("BlueprintPipeline", "BlueprintPipelineOutput"):
        from blueprint.pipeline import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'blueprint.pipeline' has no attribute {name!r}")
