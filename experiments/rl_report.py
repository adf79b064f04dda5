"""An RL run in one picture: training reward against steps, and held-out scores at checkpoints.

    python experiments/rl_report.py runs/rlcc --out docs/rl-cell-credit \
        --eval 0=out/h48-base --eval 200=out/h48-rl200 --eval 400=out/h48-rl400

RUN_DIR/logs/rl.jsonl is the log `blueprint rl` writes; each --eval STEP=DIR is a
folder written by `blueprint eval` (report.json) for the prior at that step, all
on the same benchmark rows and flags. Writes OUT/rl.png (reward, its per-cell
colour score and the KL over steps, in windows; held-out adherence and word
accuracy at the evaluated steps) and OUT/rl.md (the same numbers as tables).
"""

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ENGINE = "tesseract"
CURVES = ("reward_mean", "cell_colors", "kl")


def mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else None


def rollouts(log: Path) -> list[dict]:
    """One line per rollout (its first step): the inner epochs repeat the rollout's rewards."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out, last = [], None
    for line in lines:
        key = (line["metrics"]["reward_mean"], line["metrics"]["reward_std"])
        if key != last:
            out.append(line)
        last = key
    return out


def windows(lines: list[dict], size: int) -> list[dict]:
    """Means over `size` rollouts; a last window under half that size joins the one
    before it, so a few rollouts at the end do not make a point of their own."""
    starts = list(range(0, len(lines), size))
    if len(starts) > 1 and len(lines) - starts[-1] < size / 2:
        starts.pop()
    rows = []
    for i, start in enumerate(starts):
        chunk = lines[start:starts[i + 1] if i + 1 < len(starts) else len(lines)]
        row = {"steps": f"{chunk[0]['step']}-{chunk[-1]['step']}", "step": mean([r["step"] for r in chunk])}
        for key in CURVES:
            row[key] = mean([r["metrics"].get(key) for r in chunk])
        rows.append(row)
    return rows


def held_out(evals: list[tuple[int, Path]]) -> list[dict]:
    rows = []
    for step, folder in sorted(evals):
        images = json.loads((folder / "report.json").read_text())["images"]
        rows.append({"step": step, "n": len(images),
                     "adherence": mean([im["adherence"] for im in images]),
                     "word_accuracy": mean([im["text"][ENGINE]["word_accuracy"] for im in images]),
                     "ned": mean([im["text"][ENGINE]["ned"] for im in images])})
    return rows


def fmt(v):
    return "–" if v is None else f"{v:.4f}" if abs(v) < 0.01 else f"{v:.3f}"


def table(rows: list[dict], keys: list[str]) -> list[str]:
    lines = ["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) if isinstance(r[k], (int, str)) else fmt(r[k]) for k in keys) + " |")
    return lines


def plot(train: list[dict], evals: list[dict], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["step"] for r in train]
    left.plot(steps, [r["reward_mean"] for r in train], "o-", label="token reward (mean of window)")
    left.plot(steps, [r["cell_colors"] for r in train], "s-", label="cells of a right colour")
    left.set_xlabel("RL step")
    left.set_ylim(0, 1)
    left.legend(loc="lower right")
    left.set_title("training rollouts")
    kl = left.twinx()
    kl.plot(steps, [r["kl"] for r in train], "k:", label="KL to the start")
    kl.set_ylabel("KL (k3, per token)")
    es = [r["step"] for r in evals]
    right.plot(es, [r["adherence"] for r in evals], "o-", label="adherence")
    right.plot(es, [r["word_accuracy"] for r in evals], "s-", label="word accuracy")
    right.set_xlabel("RL step")
    right.set_ylim(0, 1)
    right.legend(loc="center right")
    right.set_title(f"held-out prompts ({evals[0]['n'] if evals else 0} images)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--eval", action="append", default=[], metavar="STEP=DIR")
    p.add_argument("--window", type=int, default=20, help="rollouts per point of the training curve (default 20)")
    args = p.parse_args(argv)
    log = args.run_dir / "logs" / "rl.jsonl"
    if not log.is_file():
        print(f"error: {log} does not exist", file=sys.stderr)
        return 2
    evals = []
    for item in args.eval:
        step, sep, folder = item.partition("=")
        if not sep or not step.isdigit() or not (Path(folder) / "report.json").is_file():
            print(f"error: --eval takes STEP=DIR with DIR/report.json, got {item!r}", file=sys.stderr)
            return 2
        evals.append((int(step), Path(folder)))
    train, scores = windows(rollouts(log), args.window), held_out(evals)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(train, scores, args.out / "rl.png")
    md = ["# " + str(args.run_dir), "", "Training rollouts, in windows:", ""] + table(train, ["steps", *CURVES])
    md += ["", "Held out:", ""] + table(scores, ["step", "n", "adherence", "word_accuracy", "ned"])
    (args.out / "rl.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
