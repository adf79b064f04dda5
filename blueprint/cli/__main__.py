"""`python -m blueprint.cli ...`: the same as `blueprint ...` (torchrun launches it this way)."""

import sys

from blueprint.cli import main

sys.exit(main())
