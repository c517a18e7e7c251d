#!/usr/bin/env bash
# One-command set-up: seqlab, its dependencies and the dev tools, into the current Python environment.
#
# torch: an already installed torch is kept. Otherwise torch 2.13.0 is installed, as the CPU build where no NVIDIA
# GPU is present (from PyTorch's CPU wheel index; from the default index when that one is unreachable) and as
# the default index's build (CUDA) where one is. SEQLAB_TORCH_INDEX=<index URL> chooses the index yourself (a
# CUDA variant's, say); SEQLAB_TORCH_INDEX=default forces the default index.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.13.0
CPU_INDEX=https://download.pytorch.org/whl/cpu

reachable() {  # is the package index at $1 answering (5 s)?
    python - "$1" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5)
except Exception:
    sys.exit(1)
PY
}

install_torch() {
    local index=${SEQLAB_TORCH_INDEX:-}
    if [ -z "$index" ]; then
        if command -v nvidia-smi >/dev/null 2>&1; then index=default; else index=$CPU_INDEX; fi
    fi
    if [ "$index" != default ] && ! reachable "$index/"; then
        echo "setup: $index is unreachable; installing torch $TORCH_VERSION from the default index" >&2
        index=default
    fi
    echo "setup: installing torch $TORCH_VERSION from ${index/default/the default index}" >&2
    if [ "$index" = default ]; then
        python -m pip install --quiet "torch==$TORCH_VERSION"
    else
        python -m pip install --quiet --index-url "$index" "torch==$TORCH_VERSION"
    fi
}

python -m pip install --quiet --upgrade pip
if python -c "import torch" 2>/dev/null; then
    echo "setup: keeping the installed torch $(python -c 'import torch; print(torch.__version__)')" >&2
else
    install_torch
fi
python -m pip install --quiet -e ".[dev]"
# seqlab's C++ CPU kernels (needs a C++ compiler: apt-get install g++); cached under ~/.cache/seqlab/kernels
seqlab-kernels || {
    echo "setup: could not build seqlab's CPU kernels (above); runs would use PyTorch's kernels (model.impl=fused)" >&2
    exit 1
}
python -c "import seqlab, torch, hydra, seaborn, submitit; print('seqlab ready: torch', torch.__version__)"
