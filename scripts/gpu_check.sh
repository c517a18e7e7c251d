#!/usr/bin/env bash
# Everything the GPU issue's targets need, on one CUDA GPU, in one command (not yet run on one): every GPU test
# (pytest -m gpu: cuDNN and the stacked packs against the reference, the Triton fused recurrences against the stacked
# PyTorch steps, a run alone), then the benchmarks, as JSON and markdown tables:
#   packs_gpu.*  run-steps/s per cell at L = 10, 50, 450: one run alone, a stacked pack of 16, a fused pack of 16
#   packs_stages_gpu.*  the fused LSTM and RRN packs of 16 at L = 50, 450 at each pipelining depth (1, 2, 3) of
#                the kernels' chunk loop: the candidates for the two pack targets (fused_config.pipeline_stages)
#   sweep_gpu.*  the signature sweep (90 runs) and the long one (L = 100, 200, 450) one at a time, packed auto
#                (measured) and packed fused, STEPS steps a run; sweep_gpu_x10.*: the signature sweep packed auto
#                and fused at 10 x STEPS (a 10,000-step sweep is the line through the two: start-up is not per step)
#   bash scripts/gpu_check.sh [--dry-run] [OUT_DIR]      (default docs/bench; a CUDA build of torch, and triton)
# Ends with one line per target (seqlab/gpu_targets.py). --dry-run: the installs, the imports, the GPU tests' collection and the plan, then stop (checks this script on a
# machine without a GPU). Where seqlab's other dependencies are not installed (a bare GPU machine), put their wheels
# in .whl/ first (`bash scripts/gpu_wheels.sh`: exactly scripts/gpu_requirements.txt); they are installed into
# /tmp/site. A test failure is reported and the benchmarks still run.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
[ "${1:-}" = --dry-run ] && { dry=1; shift; }
out=${1:-docs/bench}
steps=${STEPS:-50}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
"$python" -c "import seqlab.train, seqlab.bench, multirun_analysis.aggregate_results, pytest" || {
    echo "gpu_check: seqlab or pytest does not import (see above): .whl/ lacks a wheel"; exit 1; }
echo "gpu_check: plan (about 8 minutes on an H200, by its parts' times there on 2026-12-04):"
echo "  1. pytest -m gpu: $("$python" -m pytest --collect-only -q -m gpu -p no:cacheprovider tests/ 2>/dev/null \
    | tail -1) (about 30 s)"
echo "  2. packs: 4 cells x L = 10, 50, 450 x (alone, stacked 16, fused 16), 20 steps each (about 70 s)"
echo "  2b. the fused LSTM and RRN packs at L = 50, 450 at pipelining depths 1, 2, 3, 20 steps each (about 40 s)"
echo "  3. sweeps: signature (90 runs) and long (L = 100, 200, 450) x 3 ways, $steps steps a run (about 3.5 min)"
echo "  4. the signature sweep packed auto and fused at $((steps * 10)) steps a run (about 2 min)"
echo "  5. one line per target: pass or fail, its figure (the sweep at 10,000 steps a run: the line through 3 and 4)"
echo "  results: $out/gpu_tests.log, $out/packs_gpu.{json,md}, $out/packs_stages_gpu.{json,md},"
echo "           $out/sweep_gpu.{json,md}, $out/sweep_gpu_x10.{json,md}"
if [ "$dry" = 1 ]; then
    echo "gpu_check: dry run: stopped before the GPU steps"; exit 0
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$python" -c "import torch, triton; assert torch.cuda.is_available(); print('torch', torch.__version__, 'triton', triton.__version__)" || exit 1
"$python" -m pytest -q -p no:cacheprovider -m gpu tests/ 2>&1 | tee "$out/gpu_tests.log" \
    || echo "gpu_check: tests FAILED (see $out/gpu_tests.log); benchmarks follow"
"$python" -m seqlab.bench --sweep --packs --device cuda --lengths 10,50,450 --pack-size 16 --steps 20 \
    --out "$out/packs_gpu.json" --markdown
"$python" -m seqlab.bench --sweep --packs --device cuda --cells lstm,rrn --lengths 50,450 --pack-size 16 \
    --steps 20 --stages 1,2,3 --out "$out/packs_stages_gpu.json" --markdown
"$python" -m seqlab.bench --sweep --device cuda --sweeps signature,long --ways sweep,auto,fused \
    --steps "$steps" --out "$out/sweep_gpu.json" --markdown
"$python" -m seqlab.bench --sweep --device cuda --sweeps signature --ways auto,fused \
    --steps "$((steps * 10))" --out "$out/sweep_gpu_x10.json" --markdown
echo "gpu_check: the targets (a failing benchmark row is a row with its error; the reports are written as rows arrive):"
"$python" -m seqlab.gpu_targets "$out"
