"""Blueprint: hybrid autoregressive + diffusion image generation.

Stages, one folder each:
  blueprint.data      the procedural design-data engine (images + exact specs)
  blueprint.eval      the evaluation harness (OCR text accuracy, prompt adherence)
  blueprint.models    component configurations (tiny / small / official) and builders
  blueprint.train     training stages (vae, tokenizer, glyph, decoder, prior)
  blueprint.pipeline  the sampling pipeline (prompt -> prior tokens -> pixels)
"""

__version__ = "0.1.0"
