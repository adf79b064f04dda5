#!/usr/bin/env bash
# Train the `small` model from scratch on one GPU, in two phases of parallel stages.
#
#   scripts/train_small.sh [MODEL_DIR]                 both phases, MINUTES (default 7) each
#   scripts/train_small.sh --phase 1 [MODEL_DIR]       vae, tokenizer, glyph at once
#   scripts/train_small.sh --phase 2 [MODEL_DIR]       decoder, prior, vae-decoder at once (needs phase 1)
#   scripts/train_small.sh --micro [MODEL_DIR]         every stage on `tiny` for 20 steps on the CPU
#
# Measured on one H100: phase 1 works (3 minutes gave the VAE, tokenizer and glyph
# encoder of the embedded model). Phase 2 failed there on cuDNN attention (NaN
# gradients in the prior, a new plan per attention length in the decoders), which the
# loop now switches off on a GPU; on one H200 phase 2 then trained at 0.3-0.4 s a step
# (scripts/phase2_gpu.sh, the one-call version from the embedded model; docs/RESULTS.md).
#
# Why parallel: the `small` components are far too small to fill an H100, so
# stages that do not depend on each other share it. vae, tokenizer and glyph
# read nothing but the data; the decoder reads all three; the prior reads the
# tokenizer. Each stage stops at its --time-limit (a fixed GPU budget), writes
# a checkpoint and exports; the steps it reached are in MODEL_DIR/trained.json
# and MODEL_DIR/logs/<stage>.jsonl (`blueprint train report DIR` prints them as one table,
# as this script does when it ends). Every command resumes from the stage's
# newest checkpoint when rerun.
#
# Phase 2 also trains the ablation's decoders (docs/RESULTS.md) with the same
# budget and batch, each into a copy of the folder as phase 1 left it:
#   MODEL_DIR-prompt      pure diffusion: no prior tokens, no glyph layer, the
#                         whole prompt through the text encoder
#   MODEL_DIR-noglyph     the hybrid without the typeset glyph layer (prior
#                         tokens + quoted text through the glyph encoder only)
# (set ABLATION=0 to skip them).
#
# Rendering designs runs on the CPU: --workers processes per stage.
# Multi-GPU: replace `$BLUEPRINT` by `torchrun --standalone --nproc_per_node N -m blueprint.cli`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
# Up to five stages share the machine, each with its data workers. Torch's default of one
# host thread per core in every one of them would oversubscribe the cores many times over
# (torchrun sets OMP_NUM_THREADS=1 for the same reason); a stage's own host work is small
# now that the image processing runs in its workers.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
BLUEPRINT="$PY -m blueprint.cli"
MINUTES=${MINUTES:-7}       # per phase; every stage of a phase gets the same limit
ABLATION=${ABLATION:-1}

phase=all
if [[ "${1:-}" == "--phase" ]]; then phase=$2; shift 2; fi

if [[ "${1:-}" == "--micro" ]]; then
    DIR=${2:-runs/micro}
    common=(--config tiny --model-dir "$DIR" --steps 20 --batch-size 2 --size 128x128
            --ckpt-every 10 --log-every 5 --workers 0)
    for stage in vae image-tokenizer glyph-encoder dit prior vae-decoder; do
        $BLUEPRINT train "$stage" "${common[@]}"
    done
    $PY -m blueprint.cli train report "$DIR"
    exit 0
fi

DIR=${1:-runs/small}
PRIOR_PRECISION=${PRIOR_PRECISION:-fp32}
[[ $PRIOR_PRECISION =~ ^(auto|bf16|fp32)$ ]] \
    || { echo "train_small: PRIOR_PRECISION must be auto, bf16 or fp32, got '$PRIOR_PRECISION'" >&2; exit 2; }
common=(--config small --steps 1000000 --time-limit "$MINUTES" --ckpt-every 1000 --log-every 25 --no-progress)
# The decoder and the prior train at every size of the benchmark, one size per step in turn.
SIZES=256x256,384x256,256x384,512x256

# Build the folder once, before stages run side by side in it.
$PY -c "import sys; from pathlib import Path; from blueprint.train.model_dir import ensure_model_dir; \
ensure_model_dir(Path(sys.argv[1]), 'small', 0)" "$DIR"
mkdir -p "$DIR/logs"

wait_all() {  # wait for every background stage; fail if any failed
    local failed=0
    for pid in "$@"; do wait "$pid" || failed=1; done
    return $failed
}

if [[ $phase == all || $phase == 1 ]]; then
    # Autoencoder: L1 + edge + small KL; stores latents_mean/std in vae/config.json.
    $BLUEPRINT train vae --model-dir "$DIR" "${common[@]}" --size 256x256 --batch-size 32 --lr 5e-4 --warmup 200 --workers 4 \
        > "$DIR/logs/vae.out" 2>&1 & p1=$!
    # Semantic tokenizer: the AR model's vision tower + VQ (writes vision_language_encoder/, semantic_head/).
    $BLUEPRINT train image-tokenizer --model-dir "$DIR" "${common[@]}" --size 256x256 --batch-size 32 --warmup 200 --workers 5 \
        > "$DIR/logs/tokenizer.out" 2>&1 & p2=$!
    # Glyph encoder: T5 over ByT5 bytes, contrastive against rendered words (writes text_encoder/).
    $BLUEPRINT train glyph-encoder --model-dir "$DIR" "${common[@]}" --size 256x256 --batch-size 256 --lr 3e-4 --warmup 100 --workers 3 \
        > "$DIR/logs/glyph.out" 2>&1 & p3=$!
    wait_all $p1 $p2 $p3 || { tail -n 20 "$DIR"/logs/*.out; $PY -m blueprint.cli train report "$DIR"; exit 1; }
fi

if [[ $phase == all || $phase == 2 ]]; then
    conds=()
    if [[ $ABLATION == 1 ]]; then
        conds=(prompt noglyph)
        for cond in "${conds[@]}"; do  # each ablation decoder trains in a copy of the folder as phase 1 left it
            rm -rf "$DIR-$cond" && mkdir -p "$DIR-$cond"
            (cd "$DIR" && tar cf - --exclude=./checkpoints --exclude=./logs .) | (cd "$DIR-$cond" && tar xf -)
        done
    fi
    pids=()
    # Decoder: the DiT by flow matching on normalised VAE latents + the glyph layer, EMA 0.999 (writes transformer/).
    $BLUEPRINT train dit --model-dir "$DIR" "${common[@]}" --size $SIZES --batch-size 64 --lr 3e-4 --warmup 200 \
        --workers 3 > "$DIR/logs/decoder.out" 2>&1 & pids+=($!)
    # Prior: the AR language model on the tokenizer's codes (writes vision_language_encoder/).
    # fp32 by default: under bf16 autocast on an H100 it went to NaN at step 5 (docs/RESULTS.md
    # section 3), and a model this small gains little from bf16. PRIOR_PRECISION=auto to try bf16.
    $BLUEPRINT train prior --model-dir "$DIR" "${common[@]}" --size $SIZES --batch-size 64 --lr 3e-4 --warmup 200 \
        --precision "$PRIOR_PRECISION" --workers 3 > "$DIR/logs/prior.out" 2>&1 & pids+=($!)
    # VAE decoder side: sharpened for letters over the frozen encoder (latents unchanged, so it
    # runs beside the DiT; writes vae/, copied into the ablation folders when the phase ends).
    $BLUEPRINT train vae-decoder --model-dir "$DIR" "${common[@]}" --size $SIZES --batch-size 32 --lr 2e-4 --warmup 50 \
        --workers 2 > "$DIR/logs/vae-decoder.out" 2>&1 & pids+=($!)
    for cond in "${conds[@]}"; do
        $BLUEPRINT train dit --model-dir "$DIR-$cond" --conditioning "$cond" "${common[@]}" --size $SIZES \
            --batch-size 64 --lr 3e-4 --warmup 200 --workers 3 > "$DIR/logs/decoder-$cond.out" 2>&1 & pids+=($!)
    done
    wait_all "${pids[@]}" || { tail -n 20 "$DIR"/logs/*.out; $PY -m blueprint.cli train report "$DIR"; exit 1; }
    for cond in "${conds[@]}"; do  # every ablation row decodes with the same VAE: rows differ only in the DiT
        cp "$DIR"/vae/* "$DIR-$cond/vae/"
    done
fi

$PY -m blueprint.cli train report "$DIR"   # steps, loss and seconds per step of every stage
echo "done: $DIR is loadable by BlueprintPipeline.from_pretrained"
