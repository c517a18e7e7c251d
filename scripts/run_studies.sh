#!/usr/bin/env bash
# Run the studies behind docs/results.md, then regenerate the page.
#   bash scripts/run_studies.sh reduced   # what a 2-core machine fits: the appendix, and copy and adding at hidden 128 (~3 h)
#   bash scripts/run_studies.sh course    # the full-scale course studies on docs/results.md (core-hours each)
#   bash scripts/run_studies.sh full      # the presets as defined (course scale; use hydra/launcher=slurm)
#   bash scripts/run_studies.sh ledger    # the claims ledger's runs, one after another on one core (resumable)
# Extra arguments go to every sweep, e.g. `bash scripts/run_studies.sh full hydra/launcher=slurm`.
# Each regeneration of the page saves the completed runs of a study still training to docs/results/progress/:
# commit them, and a later `run_studies.sh` on any machine restores them first and trains only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-reduced}
shift || true
launcher=(hydra/launcher=local_parallel)
run() {  # one study, then the page: a study that finished is published whatever comes after it
    python -m seqlab.run -m "$@" "${launcher[@]}" "${extra[@]}" train.progress=false || true
    seqlab-results-page > /dev/null || true
}
extra=("$@")
seqlab records restore  # runs finished on another machine (docs/results/records, progress) are skipped, not retrained

if [ "$scale" = reduced ]; then
    run sweep_name=grad_flow model=rnn,lstm,gru,rrn data.length=100 seed=1 grad_flow.enabled=true \
        train.max_steps=1000 train.early_stop.kind=none
    run +experiment=rnn_vs_lstm train.max_steps=2000
    run +experiment=optimizers model.hidden_size=64 train.max_steps=1000 data.length=5,10,20 seed=1,2
    run +experiment=inits model.hidden_size=64 train.max_steps=1000 data.length=5,10,20 seed=1,2
    run +experiment=inits model.hidden_size=64 train.max_steps=1000 data.length=5,10,20 seed=1,2 \
        model=lstm init=default init.forget_bias=1.0
    run +experiment=rrn_long model.hidden_size=64 train.max_steps=500 data.length=50,100,200 seed=1,2
    run +experiment=copy_capacity hydra/sweeper=capacity model.hidden_size=64 train.max_steps=1500 seed=1,2,3 \
        data.length=1,2,5,10,20,50 sweep_name=copy_reduced
    run +experiment=recall_capacity hydra/sweeper=capacity model.hidden_size=64 train.max_steps=1500 seed=1,2,3 \
        data.pairs=1,2,4,8,16 sweep_name=recall_reduced
    run +experiment=adding_capacity hydra/sweeper=capacity model.hidden_size=64 train.max_steps=1500 seed=1,2,3 \
        data.length=10,25,50,100,200 sweep_name=adding_reduced
    run +experiment=adding_capacity hydra/sweeper=capacity train.max_steps=3000 sweep_name=adding_h128  # ~2 h
    run +experiment=copy_capacity hydra/sweeper=capacity train.max_steps=3000 data.length=1,2,5,10,20 \
        sweep_name=copy_h128
elif [ "$scale" = course ]; then  # the commands of the page's full-scale sections (threads=1 under this launcher)
    run +experiment=course
    run +experiment=course hydra/sweeper=capacity data.encoding=onehot sweep_name=course_onehot
    run +experiment=course_lstm_xavier hydra/sweeper=capacity
    run +experiment=course_inits hydra/sweeper=capacity
    run +experiment=course_stopping hydra/sweeper=capacity
    run +experiment=course_rrn hydra/sweeper=capacity train.early_stop.kind=accuracy
    run +experiment=course_rrn_overflow
    run +experiment=course_rrn_overflow optimizer.lr=1e-4 sweep_name=course_rrn_overflow_lr1e-4
    run +experiment=course_rrn hydra/sweeper=capacity model=rrn init=normal,identity data.length=50,100,150,200 \
        optimizer.lr=1e-4 train.early_stop.kind=accuracy sweep_name=course_rrn_lr1e-4
    run +experiment=course_optimizers hydra/sweeper=capacity
    run +experiment=course_optimizers hydra/sweeper=capacity model=rrn sweep_name=course_optimizers_rrn
    run +experiment=course_inits hydra/sweeper=capacity model=gru,rrn sweep_name=course_inits_gru_rrn
    run +experiment=course hydra/sweeper=capacity data.encoding=onehot model=gru,rrn sweep_name=course_onehot_gru_rrn
    run +experiment=course_matched hydra/sweeper=capacity  # the RNN at the LSTM's parameter count
    run +experiment=course_sgd_lr hydra/sweeper=capacity   # SGD at learning rates of its own
    [ -f data/grimm.txt ] || python -m seqlab.prepare grimm || true  # offline: python -m seqlab.prepare grimm --from FILE
    if [ -f data/grimm.txt ]; then run +experiment=text_course; fi  # the text model at its preset (~1.5 core-hours)
elif [ "$scale" = ledger ]; then  # one core, Hydra's basic launcher: leaves the other core free; rerun to resume
    launcher=(threads=1)
    run +experiment=ledger_rrn_300   # C11 at L = 300 itself, float32 and float64
    run +experiment=ledger_speed     # C10 at a 50-step evaluation interval
    run +experiment=ledger_rrn_float64 hydra/sweeper=capacity   # C11/C12, then C16/C17, C8, C13-C15, C2/C3, C4/C9
    [ -f data/grimm.txt ] || python -m seqlab.prepare grimm || true  # offline: python -m seqlab.prepare grimm --from FILE
    [ -f data/grimm.txt ] && run +experiment=ledger_text
    [ -f data/grimm.txt ] && run +experiment=ledger_text_rmsprop   # C16 at report 001's setting (1-3 core-hours a seed)
    run +experiment=ledger_plateau hydra/sweeper=capacity
    run +experiment=ledger_n01_streak
    run +experiment=ledger_lstm_xavier
    run +experiment=ledger_batch_accuracy
    run +experiment=ledger_rrn_lr1e-4 hydra/sweeper=capacity init=normal  # N(0, 1e-4) weights first: the init of C11-C12 nearby
    run +experiment=ledger_rrn_lr1e-4 hydra/sweeper=capacity  # then identity weights too (reuses the probes above)
    run +experiment=ledger_rrn_lr1e-4_10k hydra/sweeper=capacity  # N(0, 1e-4) with 10,000 steps past L = 200
elif [ "$scale" = full ]; then
    run sweep_name=grad_flow model=rnn,lstm,gru,rrn data.length=100 seed=1,2,3 grad_flow.enabled=true \
        train.early_stop.kind=none
    run +experiment=rnn_vs_lstm
    run +experiment=optimizers
    run +experiment=inits
    run +experiment=inits model=lstm init=default init.forget_bias=1.0
    run +experiment=rrn_long
else
    echo "usage: run_studies.sh reduced|course|ledger|full [overrides...]" >&2
    exit 2
fi
