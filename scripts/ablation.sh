#!/usr/bin/env bash
# The ablation of docs/RESULTS.md: the hybrid model against pure diffusion with
# the same decoder, at equal parameters and equal training (steps x batch).
#
#   scripts/ablation.sh RUN_DIR     RUN_DIR: a finished run of scripts/train_small.sh
#
# Row "hybrid":          RUN_DIR as trained (prior tokens + glyph embeddings of the quoted text).
# Row "pure diffusion":  a copy of RUN_DIR whose decoder is retrained from scratch with
#                        --conditioning prompt: no prior tokens, the whole prompt through the
#                        text encoder; the same flags as step 4 of scripts/train_small.sh.
# Each row is scored by scripts/eval_model.py on the same held-out prompts; the reports
# (report.md, metrics.png, grid.png) land in out/ablation/<row>/.
#
# Not scripted yet: the hybrid without glyph pretraining (a decoder trained over a
# random text encoder), which needs a way to mark the glyph stage as skipped for `small`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
RUN=${1:?usage: scripts/ablation.sh RUN_DIR}
PURE=${RUN%/}-pure
EVAL=(--per-kind 8 --sizes 256x256,384x256)

$PY scripts/eval_model.py --model "$RUN" --out out/ablation/hybrid "${EVAL[@]}"

if [[ ! -d "$PURE" ]]; then
    mkdir -p "$PURE"
    # everything but the decoder's training state; the transformer is retrained from scratch
    (cd "$RUN" && tar cf - --exclude=./checkpoints --exclude=./logs .) | (cd "$PURE" && tar xf -)
    $PY -c "import sys; from blueprint.models import build_components; from blueprint.train.model_dir import save_component; \
save_component(build_components('small')['transformer'], sys.argv[1], 'transformer')" "$PURE"
fi
$PY -m blueprint.cli train decoder --config small --model-dir "$PURE" --size 256x256 --ckpt-every 500 \
    --log-every 25 --steps 4000 --batch-size 16 --lr 2e-4 --warmup 200 --conditioning prompt
$PY scripts/eval_model.py --model "$PURE" --out out/ablation/pure-diffusion "${EVAL[@]}"
