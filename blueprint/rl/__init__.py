"""RL post-training of the AR prior (GRPO on a semantic-alignment reward read from the tokens).

`reward.py` scores a token grid against its prompt's spec, `policy.py` samples
and scores sequences of the prior, `grpo.py` is the training stage (run by
`blueprint.train.loop.train`), `check.py` watches the token reward against
pixel adherence. This package sits above train, pipeline and eval; nothing
below imports it. The command is `blueprint rl` (blueprint/cli/rl.py).
"""
