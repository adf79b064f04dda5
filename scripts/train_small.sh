#!/usr/bin/env bash
# Train the `small` model from scratch, one stage after another, into one model folder.
#
#   scripts/train_small.sh [MODEL_DIR]           the recipe: one GPU, about 20 GPU-minutes in all
#   scripts/train_small.sh --micro [MODEL_DIR]   every stage on `tiny` for 20 steps on the CPU (a smoke run)
#
# Stages run in dependency order: vae and tokenizer first (the decoder needs
# both, the prior needs the tokenizer), glyph (the decoder reads its text
# encoder), then decoder and prior. Each command is safe to rerun: it resumes
# from the stage's newest checkpoint, and a finished stage just re-exports.
# Logs: MODEL_DIR/logs/<stage>.jsonl; the glyph stage's held-out retrieval
# accuracy: MODEL_DIR/logs/glyph_eval.json.
#
# Multi-GPU: replace `$BLUEPRINT` by
#   torchrun --standalone --nproc_per_node N -m blueprint.cli
# (--batch-size is per process; divide --steps by N to keep the samples seen).
#
# Budget (one H100; estimates, NOT measured on a GPU: this recipe was only run
# in its --micro form on a CPU). Rendering designs on the CPU is the likely
# limit, hence --workers 12 batch-drawing processes:
#   vae       1500 steps x 16 images  ~ 2 min
#   tokenizer 1500 steps x 16 images  ~ 3 min
#   glyph     2000 steps x 128 words  ~ 2 min
#   decoder   4000 steps x 16 images  ~ 8 min
#   prior     3000 steps x 16 images  ~ 6 min
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
BLUEPRINT="$PY -m blueprint.cli"

if [[ "${1:-}" == "--micro" ]]; then
    DIR=${2:-runs/micro}
    common=(--config tiny --model-dir "$DIR" --steps 20 --batch-size 2 --size 128x128
            --ckpt-every 10 --log-every 5 --workers 0)
    for stage in vae tokenizer glyph decoder prior; do
        $BLUEPRINT train "$stage" "${common[@]}"
    done
    exit 0
fi

DIR=${1:-runs/small}
common=(--config small --model-dir "$DIR" --size 256x256 --ckpt-every 500 --log-every 25 --workers 12)

# 1. Autoencoder: L1 + edge + small KL; stores latents_mean/std in vae/config.json.
$BLUEPRINT train vae "${common[@]}" --steps 1500 --batch-size 16 --lr 5e-4 --warmup 100

# 2. Semantic tokenizer: the AR model's vision tower + VQ (writes vision_language_encoder/).
$BLUEPRINT train tokenizer "${common[@]}" --steps 1500 --batch-size 16

# 3. Glyph encoder: T5 over ByT5 bytes, contrastive against rendered words (writes text_encoder/).
$BLUEPRINT train glyph "${common[@]}" --steps 2000 --batch-size 128 --lr 3e-4 --warmup 100

# 4. Decoder: the DiT by flow matching on normalised VAE latents, EMA 0.999 (writes transformer/).
$BLUEPRINT train decoder "${common[@]}" --steps 4000 --batch-size 16 --lr 2e-4 --warmup 200

# 5. Prior: the AR language model on the tokenizer's codes (writes vision_language_encoder/).
$BLUEPRINT train prior "${common[@]}" --steps 3000 --batch-size 16

echo "done: $DIR is loadable by BlueprintPipeline.from_pretrained and GlmImagePipeline.from_pretrained"
