#!/usr/bin/env bash
# Smoke test of a non-editable install: `pip install .` into a fresh virtual environment, then the entry points
# from a directory outside the checkout (configs from the package, a user's conf/ extending them, a sweep,
# the aggregator). CI runs it; it needs the package index (torch: see scripts/setup.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet "$repo"
cd "$work"
test "$(python -c 'import seqlab, pathlib; print(pathlib.Path(seqlab.__file__).parent.parent)')" != "$repo"
tiny=(model.hidden_size=8 train.batch_size=16 train.max_steps=20 eval.batches=2 train.progress=false)
seqlab-run "${tiny[@]}" hydra.run.dir=one
python -c "import json; r = json.load(open('one/result.json')); assert r['status'] == 'completed', r; print('impl:', r['impl'])"
mkdir -p conf/experiment  # a user's own preset, found through Hydra's search path
cat > conf/experiment/smoke.yaml <<'YAML'
# @package _global_
sweep_name: smoke
hydra:
  sweeper:
    params:
      model: rnn,gru
YAML
seqlab-run -m +experiment=smoke "${tiny[@]}" data.length=5
test "$(ls -d outputs/multirun/smoke/*/ | wc -l)" = 2
seqlab-aggregate outputs/multirun/smoke
test -s outputs/multirun/smoke/analysis/report.md
echo "check_install: non-editable install OK"
