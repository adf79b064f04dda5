"""Blueprint: hybrid autoregressive + diffusion image generation.

Layers, each importing only those below it (tests/test_layers.py checks it):

  blueprint.cli       the `blueprint` command line: one module per command group
  blueprint.serve     `blueprint serve`: the HTTP API, its batching engine and the web page
  blueprint.rl        post-training of the AR planner by reward (GRPO)
  blueprint.train     training stages (vae, image-tokenizer, glyph-encoder, dit, prior, vae-decoder)
  blueprint.pipeline  the sampling pipeline (prompt -> prior tokens -> pixels)
  blueprint.eval      the evaluation harness (OCR text accuracy, prompt adherence)
  blueprint.models    the official components: configurations, builders, the model folder,
                      and what sampling and training share (image tokenizer, glyph layer)
  blueprint.data      the procedural design-data engine (images + exact specs)
  blueprint.sizes, .files, .choices, .errors   small shared facts and helpers

train, pipeline and eval are siblings: none imports another.
"""

__version__ = "0.1.0"
