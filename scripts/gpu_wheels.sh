#!/usr/bin/env bash
# Fill .whl/ with the wheels scripts/gpu_check.sh installs on a GPU machine that cannot reach PyPI: the lines of
# scripts/gpu_requirements.txt (all, or those of the NAMEs given), for the GPU machine's Python (PYVER, default
# this one's) on x86_64 Linux.
#   bash scripts/gpu_wheels.sh [NAME ...]      then carry .whl/ with the checkout (the device tool's `carry`)
# The H200 image (2026-12: Python 3.12, torch 2.11, triton 3.6, numpy, pandas, matplotlib, seaborn, pytest) lacks
# six of them, 0.5 MB where all are 55 MB (over the device's 64 MiB with the tree; its own numpy is newer):
#   PYVER=312 bash scripts/gpu_wheels.sh hydra-core omegaconf antlr4-python3-runtime submitit \
#       hydra-submitit-launcher hydra-joblib-launcher
# After a dependency changes, in a venv where seqlab and pytest are installed, regenerate the list's pins with
#   python scripts/gpu_requirements.py
set -euo pipefail
cd "$(dirname "$0")/.."
pyver=${PYVER:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')}
mkdir -p .whl
wanted=$(grep -v '^#' scripts/gpu_requirements.txt)
if [ $# -gt 0 ]; then
    wanted=$(grep -E "^($(IFS='|'; echo "$*"))==" <<<"$wanted") || { echo "gpu_wheels: none of $* is listed"; exit 1; }
fi
grep -v '^antlr4' <<<"$wanted" > /tmp/gpu_binary_requirements.txt || true
if [ -s /tmp/gpu_binary_requirements.txt ]; then
    python3 -m pip download --quiet --only-binary=:all: --no-deps --python-version "$pyver" \
        --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform any -d .whl \
        -r /tmp/gpu_binary_requirements.txt
fi
if antlr=$(grep '^antlr4' <<<"$wanted"); then
    python3 -m pip wheel --quiet --no-deps -w .whl "$antlr"  # an sdist
fi
ls .whl | wc -l | xargs echo "wheels in .whl/:"
