"""`blueprint train report` and `blueprint train reset`: a model folder's training, read back or started again.

    blueprint train report runs/small [--last 20]
    blueprint train reset dit runs/abl-hybrid [--config small] [--seed 0]
    blueprint train reset prior runs/race-words --prompt-merges 1000

`report` prints one table from MODEL_DIR/logs/<stage>.jsonl: for every stage the
steps reached, the exported step (trained.json), the mean loss and gradient
norm over the last N log lines, and where a step's time goes: `s/step` (wall
seconds per step) and `data s` (of it, waiting for the next batch). A stage
whose data time is most of its step is starved by rendering (more --workers);
one whose data time is near 0 is bound by its own step. A stage that stopped
before exporting says so, with the last line of its `.out` file when a recipe
wrote one. Logs of a folder trained before the stage renames (decoder.jsonl)
are shown under today's names.

`reset` replaces the folder's DiT, or its prior's language model, by freshly
initialised weights and forgets that the stage trained, so runs compared at
equal budget start from the same weights (blueprint.train.model_dir). The
configuration is the folder's own unless --config says; a folder holding
checkpoints of the stage is refused (a rerun would resume them).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from blueprint.errors import BlueprintError
from blueprint.train.registry import RENAMED_STAGES

# The order stages train in, which the report follows; other logs come after, by name.
TRAINING_ORDER = ("vae", "image-tokenizer", "glyph-encoder", "dit", "prior", "vae-decoder")
RESETTABLE = ("dit", "prior")


def register_tools(sub) -> None:
    """Add `report` and `reset` beside the stages of `blueprint train`."""
    doc = __doc__.split("\n\n")
    p = sub.add_parser("report", help="one table of a model folder's training, stage by stage, from its logs",
                       description="blueprint train report: one table of a model folder's training, stage by stage",
                       epilog=doc[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a folder `blueprint train` wrote")
    p.add_argument("--last", type=int, default=10, help="log lines averaged per stage (default 10)")
    p.set_defaults(func=run_report)

    p = sub.add_parser("reset", help="fresh weights for a folder's dit or prior (to train again from the same start)",
                       description="blueprint train reset: fresh weights for a folder's dit or prior", epilog=doc[3], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("component", choices=RESETTABLE, help="the stage whose weights start again")
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a model folder")
    p.add_argument("--config", default=None, help="model configuration (default: the folder's, from trained.json)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    p.add_argument("--prompt-merges", type=int, default=None, metavar="N",
                   help="prior only: learn N BPE merges of the engine's captions for the prompt "
                        "(default 0: the byte-level prompt)")
    p.set_defaults(func=run_reset)


# --- report --------------------------------------------------------------------------

def read_log(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise BlueprintError(f"{path}:{number} is not a JSON line") from None
    return rows


def mean(values: list) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def stage_logs(logs: Path) -> list[tuple[str, Path]]:
    """(stage, log file) under today's stage names, in training order; a log under
    the new name wins over one under the old."""
    found: dict[str, Path] = {}
    for path in sorted(logs.glob("*.jsonl")):
        name = RENAMED_STAGES.get(path.stem, path.stem)
        if name not in found or path.stem == name:
            found[name] = path
    rank = {name: i for i, name in enumerate(TRAINING_ORDER)}
    return sorted(found.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def stage_row(name: str, rows: list[dict], trained: dict, last: int) -> dict:
    tail = rows[-last:]
    return {
        "stage": name,
        "steps": rows[-1].get("step", 0) if rows else 0,
        "exported": trained.get(name, {}).get("steps", "-"),
        "loss": mean([r.get("loss") for r in tail]),
        "grad_norm": mean([r.get("grad_norm") for r in tail]),
        "step_s": mean([r.get("step_s") for r in tail]),
        "data_s": mean([r.get("data_s") for r in tail]),
    }


def last_words(out_file: Path) -> str:
    """The last non-empty line of a stage's captured output (its error, if it failed)."""
    if not out_file.is_file():
        return ""
    lines = [line.strip() for line in out_file.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][-160:] if lines else ""


def run_report(args) -> int:
    from blueprint.train.model_dir import read_trained

    if args.last < 1:
        raise BlueprintError(f"--last must be a positive integer, got {args.last}")
    if not args.model_dir.is_dir():
        raise BlueprintError(f"model folder {args.model_dir} does not exist")
    logs = args.model_dir / "logs"
    found = stage_logs(logs) if logs.is_dir() else []
    if not found:
        raise BlueprintError(f"no training logs under {logs}")
    rows = [(stage_row(name, read_log(path), read_trained(args.model_dir), args.last), path)
            for name, path in found]  # every log is read before the table starts

    print(f"{'stage':<16}{'steps':>8}{'exported':>10}{'loss':>10}{'grad norm':>11}{'s/step':>9}{'data s':>9}")
    problems = []
    for row, path in rows:
        print(f"{row['stage']:<16}{row['steps']:>8}{row['exported']!s:>10}{row['loss']:>10.4f}"
              f"{row['grad_norm']:>11.3f}{row['step_s']:>9.3f}{row['data_s']:>9.3f}")
        if row["exported"] == "-":
            problems.append(f"{row['stage']}: not exported. {last_words(path.with_suffix('.out'))}".rstrip())
    for problem in problems:
        print(problem)
    return 0


# --- reset ---------------------------------------------------------------------------

def reset_config(model_dir: Path, config: str | None, recorded: str | None) -> str:
    """The configuration to build fresh weights with: the folder's, which --config may only repeat."""
    if config is None and recorded is None:
        raise BlueprintError(f"{model_dir / 'trained.json'} records no configuration: pass --config")
    if config is not None and recorded is not None and config != recorded:
        raise BlueprintError(f"model folder {model_dir} was built with configuration {recorded!r}, not {config!r}")
    return config or recorded


def run_reset(args) -> int:
    from blueprint.train.model_dir import fresh_dit, fresh_prior, read_trained

    if not (args.model_dir / "model_index.json").is_file():
        raise BlueprintError(f"{args.model_dir} is not a model folder (no model_index.json)")
    if args.component == "dit" and args.prompt_merges is not None:
        raise BlueprintError("--prompt-merges applies to `reset prior` (the prompt vocabulary is the prior's)")
    config = reset_config(args.model_dir, args.config, read_trained(args.model_dir).get("_config"))
    if args.component == "dit":
        fresh_dit(args.model_dir, config, args.seed)
    else:
        fresh_prior(args.model_dir, config, args.seed, args.prompt_merges or 0)
    print(f"reset the {args.component} of {args.model_dir} to fresh weights (configuration {config}, "
          f"seed {args.seed}); train it with `blueprint train {args.component} --config {config} "
          f"--model-dir {args.model_dir}`")
    return 0
