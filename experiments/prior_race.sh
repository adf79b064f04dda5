#!/usr/bin/env bash
# Two priors trained from the same fresh start, side by side for the same minutes
# on this machine's cores: the byte-level prompt against word tokens (BPE merges
# learned from the engine's captions, blueprint.models.processor).
#
#   experiments/prior_race.sh RUN_PREFIX [MINUTES] [MERGES] [BASE_DIR]
#
# Rows (each in its own folder RUN_PREFIX-ROW, a copy of BASE_DIR with a fresh AR
# language model over its trained vision tower and VQ, `blueprint train reset prior`):
#   bytes   one token per byte, as the embedded model
#   words   MERGES (default 1000) merges on top
# Both train with the prior flags of scripts/train_cpu.sh on one core each and
# the same seed, so they see the same batches; their logs give the image-token
# loss at equal steps, and `blueprint eval --model RUN_PREFIX-ROW` scores
# them on held-out prompts. Rerunning resumes. docs/notebook/2026-12-02-word-tokens-prior.md has
# the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
RUN=${1:?usage: experiments/prior_race.sh RUN_PREFIX [MINUTES] [MERGES] [BASE_DIR]}
RUN=${RUN%/}
MINUTES=${2:-60}
MERGES=${3:-1000}
BASE=${4:-blueprint/weights/default}
[[ -f $BASE/model_index.json ]] || { echo "prior_race: no model folder at $BASE" >&2; exit 2; }
[[ $MERGES =~ ^[0-9]+$ ]] || { echo "prior_race: MERGES must be a whole number, got '$MERGES'" >&2; exit 2; }
[[ $MINUTES =~ ^[0-9]*[.]?[0-9]+$ && ! $MINUTES =~ ^[0.]+$ ]] \
    || { echo "prior_race: MINUTES must be a positive number, got '$MINUTES'" >&2; exit 2; }

declare -A ROW_MERGES=([bytes]=0 [words]=$MERGES)
export OMP_NUM_THREADS=1
pids=()
for row in bytes words; do
    dir=$RUN-$row
    if [[ ! -d $dir/checkpoints/prior ]]; then   # a new row: copy the base, reset its prior
        rm -rf "$dir" && mkdir -p "$dir/logs"
        (cd "$BASE" && tar cf - --exclude=./checkpoints --exclude=./logs .) | (cd "$dir" && tar xf -)
        $PY -m blueprint.cli train reset prior "$dir" --config small --seed 0 --prompt-merges "${ROW_MERGES[$row]}"
    fi
    $PY -m blueprint.cli train prior --config small --model-dir "$dir" --size 256x256,384x256 \
        --time-limit "$MINUTES" --steps 1000000 --ckpt-every 100 --log-every 10 --workers 0 --no-progress \
        --batch-size 8 --lr 3e-4 --warmup 100 --prompt-drop 0 > "$dir/logs/prior-cpu.out" 2>&1 & pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
(( failed == 0 )) || { tail -n 20 "$RUN"-*/logs/prior-cpu.out; exit 1; }
echo "done: $RUN-bytes and $RUN-words"
