"""One table of how a model folder's training went, stage by stage, from its logs.

    python scripts/train_report.py runs/small          # after scripts/train_small.sh
    python scripts/train_report.py runs/small --last 20

For every MODEL_DIR/logs/<stage>.jsonl: the steps reached, the exported step
(trained.json), the mean loss and gradient norm over the last N log lines,
and where a step's time goes: `step_s` (wall seconds per step) and `data_s`
(of it, waiting for the next batch). A stage whose data_s is most of its
step_s is starved by rendering (more --workers); one whose data_s is near 0
is bound by its own step. A stage that stopped early says so, with the last
line of its `.out` file when the recipe wrote one.
"""

import argparse
import json
import math
import sys
from pathlib import Path


def read_log(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise SystemExit(f"error: {path}:{number} is not a JSON line") from None
    return rows


def mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def stage_row(name: str, rows: list[dict], trained: dict, last: int) -> dict:
    tail = rows[-last:]
    return {
        "stage": name,
        "steps": rows[-1]["step"] if rows else 0,
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--last", type=int, default=10, help="log lines averaged per stage (default 10)")
    args = parser.parse_args()
    if args.last < 1:
        parser.error("--last must be a positive integer")
    logs = args.model_dir / "logs"
    paths = sorted(logs.glob("*.jsonl")) if logs.is_dir() else []
    if not paths:
        print(f"error: no training logs under {logs}", file=sys.stderr)
        return 1
    trained_file = args.model_dir / "trained.json"
    trained = json.loads(trained_file.read_text()) if trained_file.is_file() else {}

    print(f"{'stage':<16}{'steps':>8}{'exported':>10}{'loss':>10}{'grad norm':>11}{'s/step':>9}{'data s':>9}")
    problems = []
    for path in paths:
        row = stage_row(path.stem, read_log(path), trained, args.last)
        print(f"{row['stage']:<16}{row['steps']:>8}{row['exported']!s:>10}{row['loss']:>10.4f}"
              f"{row['grad_norm']:>11.3f}{row['step_s']:>9.3f}{row['data_s']:>9.3f}")
        if row["exported"] == "-":
            problems.append(f"{row['stage']}: not exported. {last_words(logs / (path.stem + '.out'))}".rstrip())
    for problem in problems:
        print(problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
