"""`blueprint plan`: the layout plan the model's planner writes for a prompt, to read or edit.

    blueprint plan 'A bar chart titled "Fruit Sales" with bars "Apples" 5, "Pears" 3' --size 384x256 > plan.txt
    # edit plan.txt, then
    blueprint generate 'A bar chart titled "Fruit Sales" with bars "Apples" 5, "Pears" 3' --size 384x256 \\
        --plan-file plan.txt -o chart.png

The plan is printed one element a line: first the design's kind and
background, then `kind role colour [material] [shape | font qN part] x0 y0 x1 y1`
per element, boxes in 4-px units, `qN` the prompt's N-th quoted text (from 0)
and `part` all of it, its `head` (all but the last word) or its `tail`.
"""

from __future__ import annotations

import argparse

from blueprint.data.plan_text import SEPARATOR


def plan_lines(plan: str) -> str:
    """A plan written one element a line (`check_plan` reads it back the same)."""
    return "\n".join(group.strip() for group in plan.split(SEPARATOR))


def run_plan(args: argparse.Namespace) -> int:
    from blueprint.models import folder
    from blueprint.models.planner import load_planner
    from blueprint.pipeline.checks import check_prompts
    from blueprint.pipeline.layout_plan import write_plans
    from blueprint.sizes import parse_size

    check_prompts([args.prompt])
    width, height = parse_size(args.size)
    planner = load_planner(folder.resolve_model_dir(args.model))
    print(plan_lines(write_plans(planner, [args.prompt], width, height)[0]))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="print the layout plan the model's planner writes for a prompt",
                              description=__doc__.splitlines()[0])
    p.add_argument("prompt", help='the prompt; text to draw in quotes, e.g. a sign that reads "OPEN"')
    p.add_argument("--size", default="256x256", help="WIDTHxHEIGHT, multiples of 32 (default 256x256)")
    p.add_argument("--model", default=None, help="model folder (default: the model shipped with the package)")
    p.set_defaults(func=run_plan)
