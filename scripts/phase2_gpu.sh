#!/usr/bin/env bash
# Phase 2 on one GPU: the embedded model's DiT and prior trained on, side by side, for a fixed
# number of minutes; then exported (fp16), and the held-out prompts generated on the GPU.
#
#   scripts/phase2_gpu.sh OUT [MINUTES]    on a GPU; MINUTES of training per stage (default 5)
#   scripts/phase2_gpu.sh --micro OUT      the same sequence on `tiny`, on the CPU (a smoke test)
#
# The start is a copy of the embedded model (blueprint/weights/default): its vae, image tokenizer
# and glyph encoder are the phase-1 components trained on a GPU, its DiT and prior were trained on
# a CPU, and both go on from those weights here. --micro first gives a `tiny` folder two steps of
# each phase-1 stage. The run folder is $RUN (default runs/phase2-gpu; OUT/../ never holds it).
#
# OUT gets only what is small enough to carry back from a machine that keeps nothing:
#   summary.md    masked attention's backends on this device (bench.attention), the stages' table
#                 (blueprint train report: steps, batch, seconds per step, data wait, loss)
#   dit.log, prior.log   each stage's output, written as it goes
#   model.tgz.NN  the exported model's trained parts (transformer, vision_language_encoder,
#                 trained.json, blueprint.json) and the stages' logs, in 15 MiB pieces;
#                 `cat OUT/model.tgz.* | tar xz -C FOLDER` over a copy of the embedded model
#   images.tar.NN the held-out prompts generated on this device (`blueprint eval --images` scores them)
#
# The machine needs the pinned diffusers and transformers (GLM-Image's classes change between
# releases) and the engine's fonts: without the Debian packages, put the five files in a folder
# named by BLUEPRINT_FONT_DIR (blueprint/data/fonts.py).
#
# Every stage checkpoints as it goes. A stage that stops early (a divergence) is exported from its
# last checkpoint; a stage that fails in its first two minutes stops the whole run at once, so
# that little device time is lost to it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BLUEPRINT="$PY -m blueprint.cli"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}   # two stages and their data workers share the host's cores

micro=0
if [[ "${1:-}" == "--micro" ]]; then micro=1; shift; fi
OUT=${1:?usage: scripts/phase2_gpu.sh [--micro] OUT [MINUTES]}
MINUTES=${2:-5}
RUN=${RUN:-runs/phase2-gpu}
[[ $MINUTES =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ ! $MINUTES =~ ^0+([.]0+)?$ ]] \
    || { echo "phase2_gpu: MINUTES must be a positive number, got '$MINUTES'" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$RUN" "$RUN-export" "$RUN-eval"
mkdir -p "$(dirname "$RUN")"

if (( micro )); then
    CONFIG=tiny; SIZES=128x128; MINUTES=0.1; DEVICE=cpu
    dit_run=(--batch-size 2 --workers 0); prior_run=(--batch-size 2 --workers 0)
    every=(--ckpt-every 4 --log-every 2); eval_rows=(--per-kind 1 --sizes 256x256 --limit 2 --batch 2)
    phase1=(--config tiny --model-dir "$RUN" --size 128x128 --steps 2 --batch-size 2 --workers 0 --no-progress)
    for stage in vae image-tokenizer glyph-encoder; do $BLUEPRINT train "$stage" "${phase1[@]}"; done
    attention=(--lengths 64 192 --new-lengths 2 --batch 2)
else
    CONFIG=small; SIZES=256x256,384x256,256x384,512x256; DEVICE=${DEVICE:-cuda}
    # the data workers render on the host: 8 + 6 of its cores, with the two training processes
    dit_run=(--batch-size 128 --workers 8); prior_run=(--batch-size 64 --workers 6)
    every=(--ckpt-every 500 --log-every 20); eval_rows=(--per-kind 14 --sizes 256x256,384x256 --batch 28)
    cp -r blueprint/weights/default "$RUN"
    attention=()
fi

{ echo "# Phase 2 on $DEVICE, $(date -u +%FT%TZ)"; echo; echo '```'; \
  $PY -m bench.attention --device "$DEVICE" "${attention[@]}"; echo '```'; } > "$OUT/summary.md" 2>&1 \
  || echo "(bench.attention failed; see above)" >> "$OUT/summary.md"

common=(--config "$CONFIG" --model-dir "$RUN" --size "$SIZES" --steps 1000000 --time-limit "$MINUTES" \
        --warmup 100 --seed 21 --no-progress "${every[@]}")
# the DiT: bf16 autocast on a GPU (the loop's default), the last CPU piece's loss weights
dit=(dit "${common[@]}" "${dit_run[@]}" --lr 2e-4 --text-weight 4 --edge-weight 4)
# the prior: fp32 (TF32 matrix products), eager attention; 10% empty prompts for AR guidance
prior=(prior "${common[@]}" "${prior_run[@]}" --lr 3e-4 --precision fp32 --prompt-drop 0.1)

start=$SECONDS
$BLUEPRINT train "${dit[@]}" > "$OUT/dit.log" 2>&1 & pid_dit=$!
$BLUEPRINT train "${prior[@]}" > "$OUT/prior.log" 2>&1 & pid_prior=$!
status_dit=0; status_prior=0
wait -n -p first "$pid_dit" "$pid_prior" || status_first=$?
if (( ${status_first:-0} != 0 && SECONDS - start < 120 )); then
    kill "$pid_dit" "$pid_prior" 2>/dev/null || true
    echo "phase2_gpu: a stage failed within two minutes (pid $first); see $OUT/dit.log, $OUT/prior.log" >&2
    tail -n 20 "$OUT/dit.log" "$OUT/prior.log" >&2
    exit 1
fi
if [[ $first == "$pid_dit" ]]; then status_dit=${status_first:-0}; wait "$pid_prior" || status_prior=$?
else status_prior=${status_first:-0}; wait "$pid_dit" || status_dit=$?; fi

# A stage that stopped early is exported from its newest checkpoint: the same flags and --steps
# at that checkpoint's step resume it with nothing left to train, which exports.
export_from_checkpoint() {
    local stage=$1; shift
    local last
    last=$(ls "$RUN/checkpoints/$stage" 2>/dev/null | sed -n 's/^step_0*\([0-9][0-9]*\)$/\1/p' | sort -n | tail -1)
    if [[ -z $last ]]; then echo "phase2_gpu: $stage stopped before its first checkpoint" >&2; return 1; fi
    echo "phase2_gpu: $stage stopped early; exporting its checkpoint at step $last" >&2
    $BLUEPRINT train "$@" --steps "$last" >> "$OUT/$stage.log" 2>&1
}
(( status_dit == 0 )) || export_from_checkpoint dit "${dit[@]}" || true
(( status_prior == 0 )) || export_from_checkpoint prior "${prior[@]}" || true

{ echo; echo "train: dit exit $status_dit, prior exit $status_prior, $((SECONDS - start)) s"; echo; \
  $BLUEPRINT train report "$RUN"; } >> "$OUT/summary.md" 2>&1 || true
$BLUEPRINT export "$RUN" --out "$RUN-export"
tar czf - -C "$RUN-export" transformer vision_language_encoder trained.json blueprint.json \
    -C "$(cd "$RUN" && pwd)" logs | split -b 15M -d - "$OUT/model.tgz."

# The held-out prompts on this device, with a time limit: what is made by then comes back.
eval_s=0
timeout 90 $BLUEPRINT eval --model "$RUN-export" --out "$RUN-eval" --no-score --device "$DEVICE" \
    --no-progress "${eval_rows[@]}" >> "$OUT/summary.md" 2>&1 || eval_s=$?
if [[ -d $RUN-eval/images ]]; then
    tar cf - -C "$RUN-eval" images | split -b 15M -d - "$OUT/images.tar."
fi
echo "eval: exit $eval_s (124: its time ran out), $(ls "$RUN-eval/images" 2>/dev/null | wc -l) images" >> "$OUT/summary.md"
echo "phase2_gpu: done in $((SECONDS - start)) s; $OUT holds $(ls "$OUT" | wc -l) files"
