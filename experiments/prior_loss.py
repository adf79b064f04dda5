"""Held-out loss of a model folder's prior: teacher-forced, no sampling.

    python experiments/prior_loss.py [--model DIR] [--per-kind 8] [--sizes 256x256,384x256] [--batch 8]
        [--prompts true|other|empty]

For each held-out benchmark row, the prompt and the frozen tokenizer's codes of
the row's ground-truth render (what the prior is trained to write) go through
the prior in one forward pass, as in training (`blueprint.train.prior`). It
prints the cross-entropy and the top-1 accuracy of the preview grid and of the
full grid (the one the decoder reads), in total and for the first token (top
left: mostly the background colour). The words of the benchmark were never
trained on, so this measures how the prior generalises, in a minute, where
generating and scoring images (`blueprint eval --model DIR`) takes many; a lower
loss is not the same thing as better images, so both are worth reading.

--prompts other gives each row the prompt of another row of the same size
(the next one), --prompts empty the empty prompt, with the same targets. The
loss they add to the true prompt's is what the prior reads from its prompt:
a prior that ignored its prompt would lose nothing.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blueprint.cli.eval import pick_rows
from blueprint.cli.eval_model import batches
from blueprint.data.render import render
from blueprint.errors import BlueprintError
from blueprint.eval import load_benchmark
from blueprint.models import image_grid
from blueprint.models.folder import load_component, resolve_model_dir
from blueprint.train.prior import image_targets, prompt_inputs, sequence_inputs, sequence_logits

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout.jsonl"


@torch.inference_mode()
def row_losses(vle, processor, rows, prompts: list[str]) -> dict[str, torch.Tensor]:
    """Per-row mean CE and accuracy of the preview and the full grid, for rows of one size,
    each row's targets after the given prompt."""
    width, height = rows[0].width, rows[0].height
    _, _, prev_h, prev_w = image_grid(width, height, processor.preview_grid)
    images = [np.asarray(render(row.spec).image.convert("RGB")) for row in rows]
    targets = image_targets(vle, processor.image_processor, images, width, height, processor.preview_grid)
    inputs = sequence_inputs(vle, prompt_inputs(processor, prompts, width, height), targets)
    logits = sequence_logits(vle, inputs)
    n = targets.shape[1]  # the image targets are the last n labels
    logits, labels = logits[:, -n:], inputs["labels"][:, -n:]
    ce = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    hit = (logits.argmax(-1) == labels).float()
    p = prev_h * prev_w
    return {"preview_ce": ce[:, :p].mean(1), "full_ce": ce[:, p:].mean(1), "first_ce": ce[:, 0],
            "preview_acc": hit[:, :p].mean(1), "full_acc": hit[:, p:].mean(1)}


def given_prompts(rows, mode: str) -> dict[str, str]:
    """Row id -> the prompt its targets follow: its own, the next row's of the same size, or ""."""
    if mode == "empty":
        return {r.id: "" for r in rows}
    by_size: dict[tuple[int, int], list] = {}
    for r in rows:
        by_size.setdefault((r.width, r.height), []).append(r)
    if mode == "other" and any(len(group) < 2 for group in by_size.values()):
        raise BlueprintError("--prompts other needs at least two rows of each size")
    shift = 1 if mode == "other" else 0
    return {r.id: group[(i + shift) % len(group)].prompt for group in by_size.values() for i, r in enumerate(group)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the embedded model)")
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--sizes", default="256x256,384x256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--prompts", choices=("true", "other", "empty"), default="true",
                        help="the prompt each row's targets follow (see the module docstring)")
    args = parser.parse_args()
    try:
        if args.batch < 1 or args.per_kind < 1:
            raise BlueprintError("--batch and --per-kind must be positive integers")
        rows = pick_rows(load_benchmark(BENCHMARK)[0], args.per_kind, args.sizes)
        prompts = given_prompts(rows, args.prompts)
        model_dir = resolve_model_dir(args.model)
        vle, processor = load_component(model_dir, "vision_language_encoder"), load_component(model_dir, "processor")
    except BlueprintError as e:
        print(f"prior_loss: error: {e}", file=sys.stderr)
        return 2

    parts: dict[str, list[torch.Tensor]] = {}
    for chunk in batches(rows, args.batch):
        for key, values in row_losses(vle, processor, chunk, [prompts[r.id] for r in chunk]).items():
            parts.setdefault(key, []).append(values)
    mean = {key: torch.cat(v).mean().item() for key, v in parts.items()}
    print(f"prior of {args.model or 'the embedded model'}: {len(rows)} held-out rows at {args.sizes}, "
          f"{args.prompts} prompts")
    print("| grid | cross-entropy | top-1 accuracy |\n|---|---|---|")
    print(f"| preview | {mean['preview_ce']:.3f} | {mean['preview_acc']:.3f} |")
    print(f"| full | {mean['full_ce']:.3f} | {mean['full_acc']:.3f} |")
    print(f"| first token | {mean['first_ce']:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
