#!/usr/bin/env bash
# Everything the GPU issue's targets need, on one CUDA GPU, in one command (sized for about 6 minutes on an H100 or
# H200; not yet run on one): the CUDA tests (cuDNN and the stacked packs against the reference, the Triton fused
# recurrences against the stacked PyTorch steps), then the benchmarks, as JSON and markdown tables:
#   packs_gpu.*  run-steps/s per cell at L = 10, 50, 450: one run alone, a stacked pack of 16, a fused pack of 16
#   sweep_gpu.*  the signature sweep (90 runs) and the long one (L = 100, 200, 450) one at a time, packed stacked,
#                packed auto (measured) and packed fused, STEPS steps a run (a 10,000-step sweep scales from there)
#   bash scripts/gpu_check.sh [OUT_DIR]      (default docs/bench; a CUDA build of torch, and triton)
# Where seqlab's other dependencies are not installed (a bare GPU machine), put their wheels in .whl/ (hydra-core,
# omegaconf, antlr4-python3-runtime, submitit, hydra-submitit-launcher, hydra-joblib-launcher, pandas, seaborn, ...):
# they are installed into /tmp/site first. A test failure is reported and the benchmarks still run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/bench}
steps=${STEPS:-50}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$python" -c "import torch, triton; assert torch.cuda.is_available(); print('torch', torch.__version__, 'triton', triton.__version__)" || exit 1
{ "$python" -m pytest -q -p no:cacheprovider tests/test_triton.py \
    && "$python" -m pytest -q -p no:cacheprovider -m "not slow" -k cuda tests/test_models.py tests/test_pack.py; } \
    2>&1 | tee "$out/gpu_tests.log" || echo "gpu_check: tests FAILED (see $out/gpu_tests.log); benchmarks follow"
"$python" -m seqlab.bench --sweep --packs --device cuda --lengths 10,50,450 --pack-size 16 --steps 20 \
    --out "$out/packs_gpu.json" --markdown
"$python" -m seqlab.bench --sweep --device cuda --sweeps signature,long --ways sweep,stacked,auto,fused \
    --steps "$steps" --out "$out/sweep_gpu.json" --markdown
