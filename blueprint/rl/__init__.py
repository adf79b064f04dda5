"""RL post-training, decoupled as GLM-Image does it: GRPO on the AR prior with a
semantic-alignment reward read from its tokens, and GRPO on the DiT with the
decoder's reward (OCR of the quoted text and pixel adherence).

The prior: `reward.py` scores a token grid against its prompt's spec,
`policy.py` samples and scores sequences of the prior, `grpo.py` is the
training stage `rl` (inner epochs, optional LoRA through `lora.py`),
`check.py` watches the token reward against pixel adherence.
The DiT: `flow_sde.py` is the stochastic sampler with per-step
log-probabilities, `decoder_reward.py` the per-image reward, `decoder.py`
the training stage `rl-dit`.

Both stages run on `blueprint.train.loop.train`. This package sits above
train, pipeline and eval; nothing below imports it. The command is
`blueprint rl [--stage prior|dit]` (blueprint/cli/rl.py).
"""
