#!/usr/bin/env bash
# One-shot set-up for a fresh machine: system packages (tesseract OCR, the
# fonts the data engine renders with, g++), then a virtual environment in .venv with
# every Python dependency pinned in pyproject.toml.
#   scripts/setup.sh          run-time dependencies
#   scripts/setup.sh --dev    plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

# g++: torch.compile builds its CPU kernels with it (BlueprintPipeline.compile)
apt_packages=(tesseract-ocr tesseract-ocr-eng fonts-dejavu-core fonts-liberation2 g++)
# chromium + its driver: the browser test of `blueprint serve`'s page (never downloaded at run time)
[[ -n "$extras" ]] && apt_packages+=(chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if (( ${#missing[@]} )); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=24"
.venv/bin/python -m pip install -q -e ".${extras}"
echo "setup: done (.venv)"
