#!/usr/bin/env bash
# Fill .whl/ with the wheels scripts/gpu_check.sh installs on a GPU machine that cannot reach PyPI: every line of
# scripts/gpu_requirements.txt, for the GPU machine's Python (PYVER, default this one's) on x86_64 Linux.
#   bash scripts/gpu_wheels.sh            then carry .whl/ with the checkout (the device tool's `carry`)
# After a dependency changes, in a venv where seqlab and pytest are installed, regenerate the list's pins with
#   python scripts/gpu_requirements.py
set -euo pipefail
cd "$(dirname "$0")/.."
pyver=${PYVER:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')}
mkdir -p .whl
grep -v '^#' scripts/gpu_requirements.txt | grep -v '^antlr4' > /tmp/gpu_binary_requirements.txt
python3 -m pip download --quiet --only-binary=:all: --no-deps --python-version "$pyver" \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform any -d .whl \
    -r /tmp/gpu_binary_requirements.txt
python3 -m pip wheel --quiet --no-deps -w .whl "$(grep '^antlr4' scripts/gpu_requirements.txt)"  # an sdist
ls .whl | wc -l | xargs echo "wheels in .whl/:"
