#!/usr/bin/env bash
# Fine-tune a trained `small` model folder on every design kind of the engine
# (the original six and book, whiteboard, infographic, chalkboard, wallsign),
# with exact captions and short user-style prompts in turn: its decoder and
# prior side by side on a 2-core CPU, one core each.
#
#   scripts/finetune_all_kinds.sh MODEL_DIR [MINUTES]
#   STEPS=N COOLDOWN=K LR=X scripts/finetune_all_kinds.sh MODEL_DIR [MINUTES]
#
# MODEL_DIR is a copy of a trained folder (cp -r blueprint/weights/default DIR):
# both stages go on from its weights. Each stage trains up to STEPS (default
# 1500) or MINUTES (default 75), whichever ends first, at LR (default 1e-4,
# a third of the from-scratch rate: the six original kinds must not be
# forgotten) with the rate decaying to 0 over the last COOLDOWN steps (default
# 500). Sizes: square, landscape and portrait (book covers are portrait). It
# resumes: run it again to train on. Then `blueprint export MODEL_DIR` writes
# the fp16 folder, and both benchmarks score it (docs/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
DIR=${1:?usage: scripts/finetune_all_kinds.sh MODEL_DIR [MINUTES]}
MINUTES=${2:-75}
STEPS=${STEPS:-1500}
COOLDOWN=${COOLDOWN:-500}
LR=${LR:-1e-4}
for v in STEPS COOLDOWN; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "finetune_all_kinds: $v must be a whole number, got '${!v}'" >&2; exit 2; }
done
[[ -f $DIR/model_index.json ]] || { echo "finetune_all_kinds: $DIR is not a model folder (copy a trained one there first)" >&2; exit 2; }
PRECISION=${PRECISION:-$($PY -c "from blueprint.models.precision import native_bf16; print('bf16' if native_bf16('cpu') else 'fp32')")}
[[ $PRECISION == bf16 || $PRECISION == fp32 ]] || { echo "finetune_all_kinds: PRECISION must be bf16 or fp32, got '$PRECISION'" >&2; exit 2; }
common=(--config small --model-dir "$DIR" --size 256x256,384x256,256x384 --kinds all --caption-style mixed
        --steps "$STEPS" --cooldown "$COOLDOWN" --lr "$LR" --warmup 20 --time-limit "$MINUTES"
        --ckpt-every 50 --log-every 10 --workers 0 --no-progress --precision "$PRECISION")
mkdir -p "$DIR/logs"
export OMP_NUM_THREADS=1   # one core per stage
$PY -m blueprint.cli train dit "${common[@]}" --batch-size 8 --batch-reuse 2 > "$DIR/logs/dit-kinds.out" 2>&1 & p1=$!
$PY -m blueprint.cli train prior "${common[@]}" --batch-size 8 --prompt-drop 0 > "$DIR/logs/prior-kinds.out" 2>&1 & p2=$!
wait $p1 && wait $p2
