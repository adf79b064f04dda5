"""The one exception type users see.

Anything raised as `BlueprintError` is bad input or a bad file that the user can
fix; the CLI prints its message without a traceback and exits with status 2.
Everything else is a bug and keeps its traceback.
"""


class BlueprintError(ValueError):
    pass
