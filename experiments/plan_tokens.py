"""The planner's token reward with and without the colour plan, read from the tokens alone.

    python experiments/plan_tokens.py [--model DIR] [--per-kind 2] [--seeds 2] [--plans 0 2 4]

For the first N held-out rows of each kind at 256x256 and 384x256, the prior
samples its grid at the model's own settings (as `blueprint generate` does)
with `color_plan` S for each S of --plans (0: off), from the same seeds; the
RL reward (`blueprint.rl.reward.token_reward`) reads each grid through the
semantic head and checks it against the row's spec. No decoder runs, so this
says in minutes what the plan changes in the blueprint; the pixels are
`blueprint eval --color-plan S`'s to judge.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from blueprint.cli.eval import DEFAULT_BENCHMARK, pick_rows
from blueprint.errors import BlueprintError
from blueprint.eval.benchmark import parse_row
from blueprint.models import image_grid
from blueprint.models.folder import resolve_model_dir
from blueprint.models.settings import check_color_plan
from blueprint.pipeline import BlueprintPipeline
from blueprint.pipeline.prior import sample_prior_sequences
from blueprint.rl.reward import CodeTable, token_reward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--per-kind", type=int, default=2)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--plans", type=float, nargs="+", default=[0.0, 2.0, 4.0])
    args = p.parse_args()
    try:
        for strength in args.plans:
            check_color_plan(strength)
    except BlueprintError as e:
        p.error(f"--plans: {e}")
    if args.per_kind < 1 or args.seeds < 1:
        p.error("--per-kind and --seeds must be at least 1")
    rows = [parse_row(json.loads(line)) for line in Path(DEFAULT_BENCHMARK).read_text().splitlines() if line.strip()]
    rows = pick_rows(rows, args.per_kind, "256x256,384x256")
    pipe = BlueprintPipeline.from_pretrained(resolve_model_dir(args.model))
    vle, vocab = pipe.vision_language_encoder, pipe.semantic_head.vocab
    table = CodeTable.from_model(vle, pipe.semantic_head)
    preview = getattr(pipe.processor, "preview_grid", "official")
    scores = {s: {} for s in args.plans}
    for row in rows:
        token_h, token_w, prev_h, prev_w = image_grid(row.width, row.height, preview)
        for strength in args.plans:
            bias = pipe.plan_bias([row.prompt], strength)
            for seed in range(args.seeds):
                _, seq = sample_prior_sequences(vle, pipe.processor, [row.prompt], row.width, row.height, seed,
                                                code_bias=bias)
                grid = seq[0, prev_h * prev_w: prev_h * prev_w + token_h * token_w]
                reward = token_reward(table.cells(grid, token_h, token_w), row.spec, vocab)
                scores[strength].setdefault("reward", []).append(reward.score)
                for check in reward.checks:
                    scores[strength].setdefault(check.name, []).append(check.score)
    names = list(scores[args.plans[0]])
    print(f"{len(rows)} prompts x {args.seeds} seeds")
    print("| color plan | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for strength, by_name in scores.items():
        print(f"| {strength:g} | " + " | ".join(f"{np.mean(by_name.get(n, [np.nan])):.2f}" for n in names) + " |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
