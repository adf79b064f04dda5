"""Stage `planner`: the layout planner (blueprint.models.planner) learns to write plans.

A training pair is the data engine's prompt (its words, the image size in front),
and the exact plan of its spec (`blueprint.data.plan_text.plan_of`): no pixels
are drawn, so a step costs only the T5's forward and backward. Each sample
draws its own size from `--size` and `--extra-sizes` (sample i takes size
i mod n), so one batch mixes sizes; `--kinds` and `--caption-style` choose
the engine's designs and prompt styles as for the other stages (the planner
is meant to learn all kinds, exact and user prompts: `--kinds all
--caption-style mixed`).

A model folder (`--init-from`, else the run folder) that has a planner
already is fine-tuned from it; one without starts a fresh planner of
`--config`. The loss is the T5's cross-entropy over the plan words. At export the stage
writes plans for designs of the held-out split (words never trained on) and
records, in `logs/planner-eval.json`, how often it gets the kind and the
background, the element count, each element's kind and colour, and how well
its boxes overlap the spec's (mean IoU, elements paired in order).
"""

from __future__ import annotations

from pathlib import Path

import torch

from blueprint.data.dataset import spec_at
from blueprint.data.spec import ALL_KINDS
from blueprint.data.plan_text import SEPARATOR, plan_ids, plan_of, prompt_words, quotes_of
from blueprint.errors import BlueprintError
from blueprint.files import atomic_write_json
from blueprint.models.planner import Planner, PlannerVocab, build_planner, has_planner, load_planner, save_planner
from blueprint.train.data import check_engine_stream, sample_indices
from blueprint.train.stage import StageArgs

EVAL_DESIGNS = 48
VOCAB_PROMPTS = 200  # prompts of each kind and style whose words make the planner's vocabulary


def plan_pair(index: int, size: tuple[int, int], args: StageArgs, split: str = "train") -> tuple[str, str]:
    """(prompt, plan) of engine sample `index` at `size`."""
    width, height = size
    spec = spec_at(index, width, height, args.kinds, split, args.seed, args.caption_style)
    return spec.caption, plan_of(spec, quotes_of(spec.caption))


def engine_vocab() -> PlannerVocab:
    """The words of the engine's prompts, every kind and both styles: the same on every run, whatever
    `--kinds` trains on, so a planner trained on some kinds can be fine-tuned on others."""
    words: dict[str, None] = {}
    for kind in ALL_KINDS:
        for style in ("exact", "user"):
            for i in range(VOCAB_PROMPTS):
                spec = spec_at(i, 256, 256, kind, caption_style=style)
                words.update(dict.fromkeys(prompt_words(spec.caption, 256, 256)))
    return PlannerVocab(sorted(words))


def _box_iou(a: list[int], b: list[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare_plans(written: str, true: str) -> dict[str, float]:
    """How a written plan agrees with the true one (see the module docstring)."""
    w = [g.split() for g in written.split(SEPARATOR)]
    t = [g.split() for g in true.split(SEPARATOR)]
    pairs = list(zip(w[1:], t[1:]))
    same = [a[:3] == b[:3] for a, b in pairs]  # kind, role, colour
    ious = [_box_iou([int(x) for x in a[-4:]], [int(x) for x in b[-4:]])
            for a, b in pairs if len(a) >= 4 and all(x.isdigit() for x in a[-4:])]
    n = max(1, len(t) - 1)
    return {"head": float(w[0] == t[0]), "count": float(len(w) == len(t)),
            "elements": sum(same) / n, "iou": sum(ious) / n, "exact": float(written == true)}


def _padded(rows: list[list[int]], pad: int) -> torch.Tensor:
    longest = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (longest - len(r)) for r in rows])


class PlannerStage:
    name = "planner"
    lr = 1e-3
    ema_decay = None

    def __init__(self, args: StageArgs):
        if args.data != "engine":
            raise BlueprintError("the planner learns from the engine's specs; use --data engine")
        check_engine_stream(args.data, args.kinds, args.caption_style)
        self.args = args
        self.sizes = [tuple(args.size)] + [tuple(s) for s in args.extra_sizes]
        self.vocab = engine_vocab()
        self.planner = self._start(Path(args.init_from or args.out_dir)).to(args.device)

    def _start(self, model_dir: Path):
        """The folder's planner to fine-tune, if it has one, else a fresh one."""
        if not has_planner(model_dir):
            return build_planner(self.args.config, self.vocab)
        planner = load_planner(model_dir)
        if planner.vocab.words != self.vocab.words:
            raise BlueprintError(f"the planner in {model_dir} reads another vocabulary than this version's "
                                 "engine prompts; train a fresh one in a folder without planner/")
        return planner.model.train()

    def trainable(self):
        return {"planner": self.planner}

    def batch(self, step, rank, world_size):
        indices = sample_indices(step, rank, world_size, self.args.batch_size)
        sizes = [self.sizes[i % len(self.sizes)] for i in indices]
        pairs = [plan_pair(i, size, self.args) for i, size in zip(indices, sizes)]
        inputs = [self.vocab.ids(prompt_words(prompt, *size)) for (prompt, _), size in zip(pairs, sizes)]
        labels = [plan_ids(plan) for _, plan in pairs]
        return {"input_ids": _padded(inputs, 0), "attention_mask": _padded([[1] * len(x) for x in inputs], 0),
                "labels": _padded(labels, -100)}

    def loss(self, batch):
        out = self.planner(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           labels=batch["labels"])
        mask = batch["labels"] != -100
        acc = (out.logits.argmax(-1) == batch["labels"])[mask].float().mean().item()
        return out.loss, {"word_acc": acc}

    def heldout_scores(self, n: int = EVAL_DESIGNS) -> dict:
        """Mean agreement of written and true plans on n held-out designs (sizes in turn)."""
        totals: dict[str, float] = {}
        for j, size in enumerate(self.sizes):  # one batch per size
            pairs = [plan_pair(i, size, self.args, split="heldout") for i in range(j, n, len(self.sizes))]
            if not pairs:
                continue
            written = Planner(self.planner, self.vocab).write([prompt for prompt, _ in pairs], *size)
            for plan, (_, true) in zip(written, pairs):
                for k, v in compare_plans(plan, true).items():
                    totals[k] = totals.get(k, 0.0) + v / n
        return {"heldout_designs": n, **totals}

    def export(self, model_dir):
        self.planner.eval()
        scores = self.heldout_scores()
        logs = Path(self.args.out_dir) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        atomic_write_json(logs / "planner-eval.json", scores)
        print("planner: held-out " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if k != "heldout_designs"))
        save_planner(Planner(self.planner, self.vocab), model_dir)


def make_stage(args: StageArgs) -> PlannerStage:
    return PlannerStage(args)
