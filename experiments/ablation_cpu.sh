#!/usr/bin/env bash
# The ablation at CPU scale: three decoders trained from the same random start,
# side by side for the same minutes on this machine's cores, over one folder's
# trained vae, tokenizer, glyph encoder and prior (the embedded model's by default).
#
#   experiments/ablation_cpu.sh RUN_PREFIX [MINUTES] [BASE_DIR]
#
# Rows (each in its own folder RUN_PREFIX-ROW, a copy of BASE_DIR with a fresh DiT):
#   hybrid    prior tokens + glyph embeddings of the quoted text + the typeset glyph layer
#   prompt    pure diffusion: no prior tokens, no glyph layer, the whole prompt through
#             the text encoder (same network, the glyph layer's channels left at zero)
#   noglyph   the hybrid without the typeset glyph layer (GLM-Image's own conditioning)
# Each decoder trains with the flags of scripts/train_cpu.sh and stops after MINUTES
# (wall clock; the three share the cores evenly). Rerunning resumes a row that was
# stopped. Then each row generates the same held-out prompts with the same flags,
# and experiments/ablation_report.py writes the table, plot and image grid to
# out/ablation-cpu/. This is the GPU recipe's ablation (experiments/ablation.sh) at a
# budget a CPU has; docs/RESULTS.md (the ablation) has its numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
RUN=${1:?usage: experiments/ablation_cpu.sh RUN_PREFIX [MINUTES] [BASE_DIR]}
RUN=${RUN%/}
MINUTES=${2:-60}
BASE=${3:-blueprint/weights/default}
EVAL=(--per-kind 4 --sizes 256x256,384x256)
[[ -f $BASE/model_index.json ]] || { echo "ablation_cpu: no model folder at $BASE" >&2; exit 2; }
[[ $MINUTES =~ ^[0-9]*[.]?[0-9]+$ && ! $MINUTES =~ ^[0.]+$ ]] \
    || { echo "ablation_cpu: MINUTES must be a positive number, got '$MINUTES'" >&2; exit 2; }

declare -A COND=([hybrid]=blueprint [prompt]=prompt [noglyph]=noglyph)
ROWS=(hybrid prompt noglyph)
export OMP_NUM_THREADS=1
pids=()
for row in "${ROWS[@]}"; do
    dir=$RUN-$row
    if [[ ! -d $dir/checkpoints/dit ]]; then   # a new row: copy the base, reset its DiT
        rm -rf "$dir" && mkdir -p "$dir/logs"
        (cd "$BASE" && tar cf - --exclude=./checkpoints --exclude=./logs .) | (cd "$dir" && tar xf -)
        $PY -m blueprint.cli train reset dit "$dir" --config small --seed 0
    fi
    $PY -m blueprint.cli train dit --config small --model-dir "$dir" --conditioning "${COND[$row]}" \
        --size 256x256,384x256 --time-limit "$MINUTES" --steps 1000000 --ckpt-every 100 --log-every 10 \
        --workers 0 --no-progress --batch-size 8 --lr 3e-4 --warmup 100 --batch-reuse 2 \
        > "$dir/logs/dit-cpu.out" 2>&1 & pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
(( failed == 0 )) || { tail -n 20 "$RUN"-*/logs/dit-cpu.out; exit 1; }

unset OMP_NUM_THREADS
args=()
for row in "${ROWS[@]}"; do
    $PY -m blueprint.cli eval --model "$RUN-$row" --out "out/ablation-cpu/$row" "${EVAL[@]}"
    args+=("$row=out/ablation-cpu/$row")
done
$PY experiments/ablation_report.py --out out/ablation-cpu "${args[@]}"
