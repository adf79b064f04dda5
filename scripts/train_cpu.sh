#!/usr/bin/env bash
# Finish the `small` model on a 2-core CPU: the decoder and the prior, side by side,
# one core each, on top of a folder whose vae, tokenizer and glyph stages are trained.
#
#   scripts/train_cpu.sh MODEL_DIR [MINUTES]
#   DECODER_STEPS=N DECODER_COOLDOWN=K PRIOR_STEPS=M PRIOR_COOLDOWN=J scripts/train_cpu.sh MODEL_DIR [MINUTES]
#
# Without the variables each stage trains at a constant rate for MINUTES. With
# them, a stage trains up to that many steps (or MINUTES, whichever ends first)
# and the rate decays linearly to zero over the last K (J) of them: resuming a
# long constant-rate run with a cooldown anneals it (docs/RESULTS.md, section 5).
#
# This is how the committed default model was made: phase 1 of
# scripts/train_small.sh (vae, tokenizer, glyph: 3 minutes on one H100) and a
# 40-step GPU decoder, then about 2.7 hours of this script and 80 minutes of
# its vae-decoder step (docs/RESULTS.md, section 5, gives the exact sequence).
# It resumes: run it again to train on.
#
# Precision: bf16 autocast where the CPU runs bf16 natively (AMX or AVX512-BF16),
# else fp32; PRECISION=fp32 forces fp32. On a 2-core AMX CPU a decoder step took
# 2.1 s in bf16 against 3.2 s in fp32 with the same loss at equal steps
# (docs/RESULTS.md, section 7). The committed model was trained in fp32.
# The decoder uses the text-weighted loss (--text-weight, default 4) and
# reuses each rendered batch for 2 steps, because on a CPU the frozen VAE
# encoder and tokenizer cost as much as the DiT. On a GPU, phase 2 of
# scripts/train_small.sh does the same job.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
DIR=${1:?usage: scripts/train_cpu.sh MODEL_DIR [MINUTES]}
MINUTES=${2:-48}
VD_STEPS=${VAE_DECODER_STEPS:-3200}
[[ $VD_STEPS =~ ^[0-9]+$ ]] || { echo "train_cpu: VAE_DECODER_STEPS must be a whole number, got '$VD_STEPS'" >&2; exit 2; }
common=(--config small --model-dir "$DIR" --size 256x256,384x256 --time-limit "$MINUTES"
        --ckpt-every 100 --log-every 10 --workers 0 --no-progress)
PRECISION=${PRECISION:-$($PY -c "from blueprint.models.precision import native_bf16; print('bf16' if native_bf16('cpu') else 'fp32')")}
[[ $PRECISION == bf16 || $PRECISION == fp32 ]] || { echo "train_cpu: PRECISION must be bf16 or fp32, got '$PRECISION'" >&2; exit 2; }
mkdir -p "$DIR/logs"
export OMP_NUM_THREADS=1   # one core per stage
$PY -m blueprint.cli train dit "${common[@]}" --batch-size 8 --lr 3e-4 --warmup 100 --batch-reuse 2 \
    --precision "$PRECISION" --steps "${DECODER_STEPS:-1000000}" --cooldown "${DECODER_COOLDOWN:-0}" > "$DIR/logs/dit-cpu.out" 2>&1 & p1=$!
# --prompt-drop 0: the committed prior trained on every prompt (guidance for the AR stage
# came later and did not pay at this scale, docs/RESULTS.md section 5); PROMPT_DROP=0.1 enables it.
$PY -m blueprint.cli train prior "${common[@]}" --batch-size 8 --lr 3e-4 --warmup 100 --prompt-drop "${PROMPT_DROP:-0}" \
    --precision "$PRECISION" --steps "${PRIOR_STEPS:-1000000}" --cooldown "${PRIOR_COOLDOWN:-0}" > "$DIR/logs/prior-cpu.out" 2>&1 & p2=$!
wait $p1 && wait $p2
# Then the VAE's decoder side on both cores (stage vae-decoder: frozen encoder, so the latents the
# DiT learned stay valid): 3,200 steps, about 80 minutes; VAE_DECODER_STEPS=0 skips it.
if (( VD_STEPS > 0 )); then
    OMP_NUM_THREADS=2 $PY -m blueprint.cli train vae-decoder --config small --model-dir "$DIR" --size 256x256,384x256 \
        --batch-size 8 --lr 2e-4 --warmup 50 --steps "$VD_STEPS" --cooldown $(( VD_STEPS * 5 / 16 )) \
        --ckpt-every 200 --log-every 10 --workers 0 --no-progress > "$DIR/logs/vae-decoder-cpu.out" 2>&1
fi
