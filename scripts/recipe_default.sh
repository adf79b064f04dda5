#!/usr/bin/env bash
# The embedded default model (blueprint/weights/default/), stage by stage, as it was made.
#
#   scripts/recipe_default.sh [RUN_DIR]           the real sequence (a GPU for phase 1, then hours on a CPU)
#   scripts/recipe_default.sh --micro [RUN_DIR]   the same sequence on `tiny`, 2 steps a piece (a smoke test)
#
# Where each part was trained:
#   phase 1 on one GPU (an H100): vae, image-tokenizer, glyph-encoder, side by side, and a
#     40-step DiT start; each stage ran to a time limit, and the steps it reached are the
#     counts below (trained.json of the shipped model has them);
#   phase 2 on a 2-core CPU, one core per stage, in fp32: the DiT and the prior in pieces,
#     then the VAE's decoder side on both cores, the export, and a last DiT run on the
#     exported weights with an edge weight;
#   phase 3 on the same CPU, in bf16: both fine-tuned on every design kind with exact and
#     user-style prompts (2026-12-05); then the layout planner, in fp32, and a fine-tune
#     of it (2026-12-06); then the DiT with shapes in its glyph layer, on both cores (2026-12-07).
# The pieces ran with time limits and were resumed; here each is given its step count, so
# the sequence is the recipe of the shipped model, not a bit-for-bit replay (data order,
# step counts and flags are the same; the GPU's kernels and a CPU's are not).
# docs/notebook/2026-11-23-embedded-model-cpu.md has the history of each piece.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BLUEPRINT="$PY -m blueprint.cli"

micro=0
if [[ "${1:-}" == "--micro" ]]; then micro=1; shift; fi
RUN=${1:-runs/default}
if (( micro )); then
    CONFIG=tiny; SIZES=128x128; GPU_SIZES=128x128; KIND_SIZES=128x128; PLAN_SIZES=128x128; EXPORT_TO="$RUN-export"
    steps() { echo $(( $2 )); }          # piece N of a stage: 2 steps each ($2 = its index)
    extra=(--batch-size 2 --workers 0 --ckpt-every 2 --log-every 1 --no-progress)
else
    CONFIG=small; SIZES=256x256,384x256; GPU_SIZES=256x256,384x256,256x384,512x256; KIND_SIZES=256x256,384x256,256x384
    PLAN_SIZES=256x256,384x256,256x384,512x512,384x512,512x384,768x512,512x768
    EXPORT_TO=blueprint/weights/default
    steps() { echo "$1"; }               # the recorded step count
    extra=(--no-progress)
fi
stage() { $BLUEPRINT train "$@" --config "$CONFIG" "${extra[@]}"; }

# Phase 1 (GPU): the stages that read only the data (flags of scripts/train_small.sh --phase 1).
(( micro )) || extra+=(--ckpt-every 1000 --log-every 25)
stage vae --model-dir "$RUN" --size "${SIZES%%,*}" --steps "$(steps 1493 2)" --lr 5e-4 --warmup 200 \
    $( (( micro )) || echo --batch-size 32 --workers 4)
stage image-tokenizer --model-dir "$RUN" --size "${SIZES%%,*}" --steps "$(steps 1271 2)" --warmup 200 \
    $( (( micro )) || echo --batch-size 32 --workers 5)
stage glyph-encoder --model-dir "$RUN" --size "${SIZES%%,*}" --steps "$(steps 2754 2)" --lr 3e-4 --warmup 100 \
    $( (( micro )) || echo --batch-size 256 --workers 3)
stage dit --model-dir "$RUN" --size "$GPU_SIZES" --steps "$(steps 40 2)" --lr 3e-4 --warmup 200 --text-weight 0 \
    $( (( micro )) || echo --batch-size 64 --workers 3)

# Phase 2 (CPU, fp32, one core per stage; flags of scripts/train_cpu.sh).
(( micro )) || { extra=(--no-progress --batch-size 8 --workers 0 --ckpt-every 100 --log-every 10); export OMP_NUM_THREADS=1; }
cpu=(--model-dir "$RUN" --size "$SIZES" --lr 3e-4 --warmup 100 --precision fp32)
# piece 1: the plain flow-matching MSE (the text weight came later), and the prior without empty prompts
stage dit "${cpu[@]}" --steps "$(steps 630 4)" --text-weight 0
stage prior "${cpu[@]}" --steps "$(steps 918 2)" --prompt-drop 0
# piece 2: the prior on
stage prior "${cpu[@]}" --steps "$(steps 3382 4)" --prompt-drop 0
# piece 3: the DiT with the text-weighted loss, then with each rendered batch reused for 2 steps
stage dit "${cpu[@]}" --steps "$(steps 700 6)" --text-weight 4
stage dit "${cpu[@]}" --steps "$(steps 2635 8)" --text-weight 4 --batch-reuse 2
# piece 4: the VAE's decoder side on both cores, with a cooldown
OMP_NUM_THREADS=2 stage vae-decoder --model-dir "$RUN" --size "$SIZES" --lr 2e-4 --warmup 50 \
    --steps "$(steps 3200 2)" --cooldown "$(steps 1000 1)" $( (( micro )) || echo --ckpt-every 200)
$BLUEPRINT export "$RUN" --out "$EXPORT_TO"
# piece 5: more DiT steps on the exported (half-precision) weights, edges weighted too, then export again
# (the shipped trained.json counts the DiT's steps of both runs, 2,635 + 979; this run's record counts its own)
rm -rf "$RUN-edge" && cp -r "$EXPORT_TO" "$RUN-edge"
stage dit --model-dir "$RUN-edge" --size "$SIZES" --lr 1e-4 --warmup 20 --batch-reuse 2 --text-weight 4 \
    --edge-weight 4 --ema-decay 0.995 --seed 11 --precision fp32 --steps "$(steps 979 2)"
$BLUEPRINT export "$RUN-edge" --out "$EXPORT_TO"
# piece 6: both stages fine-tuned on every design kind, exact captions and user-style prompts in turn,
# in bf16 (scripts/finetune_all_kinds.sh: 1,500 steps each, the last 500 a cooldown), then export again
rm -rf "$RUN-kinds" && cp -r "$EXPORT_TO" "$RUN-kinds"
kinds=(--model-dir "$RUN-kinds" --size "$KIND_SIZES" --kinds all --caption-style mixed --lr 1e-4 --warmup 20
       --batch-size 8 --precision bf16)
stage dit "${kinds[@]}" --steps "$(steps 1500 2)" --cooldown "$(steps 500 1)" --batch-reuse 2
stage prior "${kinds[@]}" --steps "$(steps 1500 2)" --cooldown "$(steps 500 1)" --prompt-drop 0
# piece 7: the layout planner (a small T5 from the prompt's words to each element's kind, colour and
# box; no pixels, 55 minutes on 2 cores; off by default: --layout-plan S), into the same folder, so the export carries it
stage planner --model-dir "$RUN-kinds" --size "$PLAN_SIZES" --kinds all --caption-style mixed --batch-size 32 \
    --lr 1e-3 --warmup "$(steps 100 1)" --steps "$(steps 3500 2)" --cooldown "$(steps 500 1)"
$BLUEPRINT export "$RUN-kinds" --out "$EXPORT_TO"
# a sampling default, chosen by measuring after training: the colour plan (docs/notebook/2026-12-06-color-plan.md)
$PY -c "import sys; from blueprint.models.settings import update_settings as u; u(sys.argv[1], color_plan=2.0)" "$EXPORT_TO"
# piece 8: the exported planner fine-tuned on fresh engine samples (--seed 1; a folder with a planner is
# fine-tuned from it), 33 minutes; the export carries blueprint.json along (trained.json's planner entry
# counts this run's steps only). A second round (--seed 2, lr 3e-4, 2,000 steps) traded words for adherence
# and was not kept (docs/notebook/2026-12-06-plans-by-hand.md)
rm -rf "$RUN-plan" && cp -r "$EXPORT_TO" "$RUN-plan"
stage planner --model-dir "$RUN-plan" --size "$PLAN_SIZES" --kinds all --caption-style mixed --batch-size 32 \
    --lr 5e-4 --warmup "$(steps 100 1)" --steps "$(steps 3000 2)" --cooldown "$(steps 500 1)" --seed 1
$BLUEPRINT export "$RUN-plan" --out "$EXPORT_TO"
# piece 9: the DiT fine-tuned with the ink of bars, arrows, shapes and rules in its glyph layer's shape
# plane on half its images (--shape-ink 0.5: what a followed layout plan gives it; the other half see an
# empty plane, as without a plan), on both cores in bf16; the run adds the plane, with zero weights. It
# ran as 1,200 steps (26 minutes), then resumed to 2,400 with a second cooldown (the rate back at 1e-4
# from step 1,200; 30 minutes). The shipped trained.json counts the DiT's steps of all its runs, 7,514;
# this run's record its own (docs/notebook/2026-12-07-plan-ink.md, 2026-12-07-stated-plans.md).
rm -rf "$RUN-shapes" && cp -r "$EXPORT_TO" "$RUN-shapes"
shapes=(--model-dir "$RUN-shapes" --size "$KIND_SIZES" --kinds all --caption-style mixed --lr 1e-4 --warmup 20
        --batch-size 8 --batch-reuse 2 --precision bf16 --shape-ink 0.5)
OMP_NUM_THREADS=2 stage dit "${shapes[@]}" --steps "$(steps 1200 2)" --cooldown "$(steps 300 1)"
OMP_NUM_THREADS=2 stage dit "${shapes[@]}" --steps "$(steps 2400 3)" --cooldown "$(steps 400 1)"
$BLUEPRINT export "$RUN-shapes" --out "$EXPORT_TO"
$BLUEPRINT train report "$RUN"
