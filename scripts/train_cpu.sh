#!/usr/bin/env bash
# The CPU recipe that produced the committed default model (blueprint/weights/default/):
# every stage of the `small` configuration, cut to about one hour on 2 CPU cores.
# It is a micro version of scripts/train_small.sh (the one-GPU recipe), for machines
# without a GPU; expect far weaker text than the GPU recipe.
#
#   scripts/train_cpu.sh [RUN_DIR]      trains into RUN_DIR (default runs/cpu-small),
#                                       then installs it as the default model (fp16)
#
# Safe to kill and rerun: every stage resumes from its newest checkpoint.
# Step times measured on 2 cores at batch 8: vae 128^2 ~1.3 s, tokenizer 0.12 s,
# glyph 0.05 s, decoder 256^2 ~2.7 s, prior 256^2 ~1.5 s.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
DIR=${1:-runs/cpu-small}
common=(--config small --model-dir "$DIR" --ckpt-every 50 --log-every 10 --no-progress)

# The VAE is convolutional: train it on 128^2 designs (4x cheaper) and use it at 256^2.
$PY -m blueprint.cli train vae       "${common[@]}" --size 128x128 --steps 750  --batch-size 8  --lr 5e-4 --warmup 20
$PY -m blueprint.cli train tokenizer "${common[@]}" --size 256x256 --steps 1500 --batch-size 8
$PY -m blueprint.cli train glyph     "${common[@]}" --size 256x256 --steps 500  --batch-size 32 --lr 3e-4 --warmup 50
$PY -m blueprint.cli train decoder   "${common[@]}" --size 256x256 --steps 600  --batch-size 8  --lr 3e-4 --warmup 50 --ema-decay 0.99
$PY -m blueprint.cli train prior     "${common[@]}" --size 256x256 --steps 400  --batch-size 8  --lr 1e-3 --warmup 20

$PY scripts/install_default_model.py "$DIR"
