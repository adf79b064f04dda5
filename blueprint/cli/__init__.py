"""`blueprint` command line: one sub-command per feature.

Each command group is a module of this package (`data`, `eval`, `train`,
`generate`, `export`) with a `register(subparsers)` function. Those modules
import heavy libraries (torch, OCR engines) inside their handlers, so
`blueprint --help` stays fast.
"""

import argparse
import importlib
import os
import sys

from blueprint.errors import BlueprintError

COMMANDS = (
    "blueprint.cli.data",      # blueprint data preview | shards
    "blueprint.cli.eval",      # blueprint eval
    "blueprint.cli.train",     # blueprint train STAGE | report | reset
    "blueprint.cli.generate",  # blueprint generate
    "blueprint.cli.plan",      # blueprint plan
    "blueprint.cli.serve",     # blueprint serve
    "blueprint.cli.rl",        # blueprint rl [check]
    "blueprint.cli.export",    # blueprint export RUN_DIR
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blueprint", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:  # a real missing dependency, not a stage not yet written
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Blueprint never downloads anything at run time: every model is a local
    # folder. Saying so up front keeps the hub libraries from trying (and
    # waiting on) the network when a path is mistyped.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except BlueprintError as e:
        print(f"blueprint: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("blueprint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
