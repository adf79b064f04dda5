"""Input limits and sampling defaults of the pipeline (no heavy imports, so the
CLI can show them in `--help` without loading torch)."""

# Longest prompt, in tokens of the model's prompt tokenizer (one token per UTF-8
# byte for Blueprint's own models). It also keeps each glyph string well inside
# the glyph encoder's 2048-byte window.
MAX_PROMPT_TOKENS = 512
MAX_STEPS = 1000
MAX_BATCH = 64  # prompts per call: the AR stage decodes them in lockstep
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.0
# Lowest AR sampling temperature: logits / T must stay finite in float32 (a temperature
# that rounds to 0 there makes every probability NaN); below it sampling is greedy anyway.
MIN_TEMPERATURE = 0.01
