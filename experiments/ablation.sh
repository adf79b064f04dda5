#!/usr/bin/env bash
# The ablation of docs/RESULTS.md: the hybrid model against its ablations, same
# decoder network, same data, same batch, same GPU minutes.
#
#   experiments/ablation.sh RUN_DIR [DEVICE]     RUN_DIR: a finished run of scripts/train_small.sh
#
# Rows (scripts/train_small.sh trains all three in its phase 2, side by side):
#   hybrid    RUN_DIR: prior tokens + glyph embeddings + the typeset glyph layer
#   prompt    RUN_DIR-prompt: pure diffusion, no prior tokens, no glyph layer, the
#             whole prompt through the text encoder
#   noglyph   RUN_DIR-noglyph: the hybrid without the typeset glyph layer (what
#             GLM-Image's own decoder is conditioned on)
# Every row generates the same held-out rows with the same flags
# (`blueprint eval --model`), then experiments/ablation_report.py writes the table,
# the plot and the image grid to out/ablation/.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
RUN=${1:?usage: experiments/ablation.sh RUN_DIR [DEVICE]}
RUN=${RUN%/}
DEVICE=${2:-cpu}
EVAL=(--per-kind 8 --sizes 256x256,384x256 --batch 48 --device "$DEVICE")

rows=()
for row in hybrid prompt noglyph; do
    dir=$RUN; [[ $row != hybrid ]] && dir=$RUN-$row
    if [[ ! -f $dir/transformer/config.json ]]; then echo "skipping $row: no $dir"; continue; fi
    $PY -m blueprint.cli eval --model "$dir" --out "out/ablation/$row" "${EVAL[@]}"
    rows+=("$row=out/ablation/$row")
done
$PY experiments/ablation_report.py --out out/ablation "${rows[@]}"
