#!/usr/bin/env bash
# One-command set-up: seqlab, its dependencies and the dev tools, into the current Python environment.
# torch is installed first from the pinned CPU wheel (unpinned `torch` would pull a multi-GB CUDA build);
# on a GPU machine, install the torch build you want first and this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install --quiet "torch==2.13.0"
fi
python -m pip install --quiet -e ".[dev]"
# seqlab's C++ CPU kernels (needs a C++ compiler: apt-get install g++); cached under ~/.cache/seqlab/kernels
python -m seqlab.kernels || {
    echo "setup: could not build seqlab's CPU kernels (above); runs will use PyTorch's kernels (model.impl=fused)" >&2
    exit 1
}
python -c "import seqlab, torch, hydra, seaborn, submitit; print('seqlab ready: torch', torch.__version__)"
