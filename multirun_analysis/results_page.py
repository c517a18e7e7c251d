"""Regenerate docs/results.md from the studies' run directories (see scripts/run_studies.sh).

    seqlab-results-page [--runs outputs/multirun] [--docs docs]

Aggregates each study's sweep directory with aggregate_results.py into docs/results/<study>/ (PNG figures and
the summary and memory-capacity tables), and writes docs/results.md: the scale, the commands, the tables, the
figures, and the observations kept by hand in docs/results_notes.md.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from multirun_analysis import capacity_map, figures, sample_words
from multirun_analysis.aggregate_results import (
    Options,
    UsageError,
    aggregate,
    recorded_compute,
    sample_excerpt,
)
from multirun_analysis.books import STORE, carry
from multirun_analysis.ledger import CHANCE_BEST_BATCH, CPU_MODELS, SCORES, TOLERANCES, ledger
from multirun_analysis.records import PROGRESS, RECORDS, archive_path, pack, save, unpacked
from multirun_analysis.report import Report
from multirun_analysis.stats import (
    CAPACITY_NUMBERS,
    chance_best_batch,
    proportion_intervals_text,
    share_trained_on,
    with_censoring_text,
)
from seqlab import rundir
from seqlab.sweep_index import runs

STUDIES = {
    "course": "The course template at full budget: RNN vs LSTM, digits fed as numbers",
    "course_onehot": "The course template at full budget, digits fed one-hot",
    "course_inits": "The course template with the reports' inits: N(0, 1e-4) and N(0, 1)",
    "course_lstm_xavier": "The course template's LSTM with Xavier-normal weights and lr 1e-4",
    "course_stopping": "The course template with the reports' stopping rules",
    "course_rrn": "The RRN with the LSTM's hyper-parameters in float32: a capacity search over L = 50..450",
    "course_rrn_overflow": "The course template's RRN in its first 100 steps: where float32 overflows",
    "course_rrn_overflow_lr1e-4": "The same at lr 1e-4: does a smaller first step keep the RRN finite?",
    "course_rrn_lr1e-4": "The RRN at lr 1e-4 from the inits that stay finite: how far does it remember?",
    "course_optimizers": "The course template under each optimizer: SGD, SGD with momentum, RMSprop, Adam",
    "course_optimizers_rrn": "The same for the RRN: its capacity under each optimizer, L = 5..50",
    "course_inits_gru_rrn": "The reports' inits for the GRU and the RRN: N(0, 1e-4) and N(0, 1), L = 5..50",
    "course_onehot_gru_rrn": "One-hot digits for the GRU and the RRN: the course template, L = 5..50",
    "course_sgd_lr": "SGD at learning rates of its own: plain and with momentum 0.9, lr 1e-2 and 1e-1, L = 5..50",
    "course_matched": "The RNN at the LSTM's parameter count: hidden 255, the course setting, L = 5..50",
    "ledger_rrn_300": "The course RRN at L = 300 itself, in float32 and float64 (claim C11)",
    "ledger_speed": "The course RNN and LSTM at L = 5, 10, 15, evaluated every 50 steps: which converges sooner (C10)",
    "ledger_rrn_float64": "The course RRN in float64: a capacity search over L = 50..450 (claims C11, C12)",
    "ledger_rrn_lr1e-4": "The RRN at lr 1e-4 in float32: a capacity search over L = 50..450 (C11, C12 nearby)",
    "ledger_rrn_lr1e-4_10k": "The same from N(0, 1e-4) weights with 10,000 steps, past L = 200: L = 200..450",
    "ledger_lstm_xavier": "The course template's LSTM with Xavier-normal weights at lr 1e-3 and 1e-4 (claims C2, C3)",
    "ledger_plateau": "The course template stopped on a loss plateau: windows of 100, epsilon 1e-6 (claim C8)",
    "ledger_n01_streak": "N(0, 1) weights with the 50-perfect-batches stop (claims C13-C15)",
    "ledger_batch_accuracy": "The course template scored by training-batch accuracy as reports 001 and 002 did "
    "(C4, C9)",
    "ledger_text": "The text LSTM as report 000 ran it: Adam 1e-3, batch 64, 100,000 steps, 5 seeds (C16, C17)",
    "ledger_text_rmsprop": "The text LSTM as report 001 ran it: RMSprop 2e-3, batch 64, about 20 epochs, 5 seeds (C16)",
    "text_course": "Character-level language model: the course's two-layer LSTM on Grimms' Fairy Tales",
    "adding_h128": "The adding problem at hidden 128: RNN, LSTM, GRU and RRN, 5 seeds, a 3,000-step budget",
    "copy_h128": "The copy task at hidden 128: RNN, LSTM, GRU and RRN, 5 seeds, a 3,000-step budget",
    "copy_reduced": "The copy task at reduced scale: hidden 64, 1,500 steps, 3 seeds",
    "recall_reduced": "Associative recall at reduced scale: hidden 64, 1,500 steps, 3 seeds",
    "adding_reduced": "The adding problem at reduced scale: hidden 64, 1,500 steps, 3 seeds",
    "rnn_vs_lstm": "Vanilla RNN vs LSTM at reduced scale: one-hot digits, 2,000 steps, 3 seeds",
    "rrn_long": "Long palindromes: RNN, LSTM and RRN",
    "optimizers": "Optimizers",
    "inits": "Init schemes",
    "grad_flow": "Gradient flow through time at L = 100",
}
NO_PAPER_FIGURES = (
    "No paper's figure is set beside these: the papers that define the tasks (the copy task: Arjovsky et al. 2016; "
    "the adding problem in this form: Le et al. 2015) report them as loss curves at their own hidden sizes, budgets "
    "and lengths, not as capacities, and their result sections are not in the sources this project could check."
)
SETTINGS = {  # per study: its scale, its command and its setting, shown under its title
    "course": "Full scale: `python -m seqlab.run -m +experiment=course threads=1` (the preset as defined: scalar "
    "encoding, hidden 128, batch 128, RMSprop 1e-3, clip 10, 10,000 steps, no early stopping, default init, "
    "seeds 1-5; course T = data.length - 1).",
    "course_onehot": "Full scale: `python -m seqlab.run -m +experiment=course hydra/sweeper=capacity "
    "data.encoding=onehot sweep_name=course_onehot threads=1` (the course preset with one-hot digits; the capacity "
    "search tests each seed's lengths instead of the grid, so k/n counts the seeds that tested each length).",
    "course_inits": "Full scale: `python -m seqlab.run -m +experiment=course_inits hydra/sweeper=capacity "
    "threads=1` (the course preset, scalar digits, with init=normal (std 1e-4) and init=standard_normal; capacity "
    "search).",
    "course_lstm_xavier": "Full scale: `python -m seqlab.run -m +experiment=course_lstm_xavier "
    "hydra/sweeper=capacity threads=1` (the course preset's LSTM, scalar digits, Xavier-normal init, RMSprop lr "
    "1e-4; capacity search).",
    "course_stopping": "Full scale: `python -m seqlab.run -m +experiment=course_stopping hydra/sweeper=capacity "
    "threads=1` (the course preset, scalar digits, stopping when the training loss plateaus (windows of 500 "
    "steps, epsilon 1e-4) or after 50 all-correct training batches; capacity search on the held-out criterion).",
    "course_rrn": "Full scale: `python -m seqlab.run -m +experiment=course_rrn hydra/sweeper=capacity "
    "train.early_stop.kind=accuracy threads=1` (the course preset, scalar digits, RNN, LSTM and RRN on L = 50 to "
    "450; a run stops after 3 evaluations at >= 0.99, which does not change whether it converged, the capacity "
    "criterion, and saves most of the compute of the runs that do).",
    "course_rrn_overflow": "Full scale: `python -m seqlab.run -m +experiment=course_rrn_overflow threads=1` (the "
    "course preset, scalar digits, for the RRN under init=default, normal (std 1e-4), standard_normal and identity "
    "(the IRNN recipe: identity recurrent weights, zero biases) on L = 50 to 450, seeds 1-5, 100 steps with a "
    "metrics row at every step: the table counts the runs whose gradient norm overflowed and gives the step of the "
    "first overflow; step 1 is before any update).",
    "course_rrn_overflow_lr1e-4": "Full scale: `python -m seqlab.run -m +experiment=course_rrn_overflow "
    "optimizer.lr=1e-4 sweep_name=course_rrn_overflow_lr1e-4 threads=1` (course_rrn_overflow with RMSprop at lr "
    "1e-4 instead of the course's 1e-3: the same inits, lengths, seeds and 100 steps).",
    "course_rrn_lr1e-4": "Full scale: `python -m seqlab.run -m +experiment=course_rrn hydra/sweeper=capacity "
    "model=rrn init=normal,identity data.length=50,100,150,200 optimizer.lr=1e-4 train.early_stop.kind=accuracy "
    "sweep_name=course_rrn_lr1e-4 threads=1` (course_rrn's RRN with RMSprop at lr 1e-4 from N(0, 1e-4) weights and "
    "from identity recurrent weights, the two inits that course_rrn_overflow_lr1e-4 found finite at every length; "
    "scalar digits, hidden 128, clip 10, up to 10,000 steps, seeds 1-5; a run stops after 3 evaluations at >= "
    "0.99; capacity search over L = 50, 100, 150, 200, so a capacity of 200 means at least 200).",
    "course_optimizers": "Full scale: `python -m seqlab.run -m +experiment=course_optimizers hydra/sweeper=capacity "
    "threads=1` (the course preset, scalar digits, lr 1e-3 under each rule (momentum 0.9; RMSprop alpha 0.99; "
    "Adam betas 0.9, 0.999), RNN, LSTM and GRU; a run stops after 3 evaluations at >= 0.99, which does not change "
    "whether it converged, the capacity criterion; capacity search).",
    "course_optimizers_rrn": "Full scale: `python -m seqlab.run -m +experiment=course_optimizers "
    "hydra/sweeper=capacity model=rrn sweep_name=course_optimizers_rrn threads=1` (course_optimizers for the RRN, "
    "which that study left out: "
    "scalar digits, hidden 128, batch 128, lr 1e-3 under each rule, clip 10, PyTorch's default init, float32, up to "
    "10,000 steps, seeds 1-5; a run stops after 3 evaluations at >= 0.99; capacity search over L = 5..50, so a "
    "capacity of 50 means at least 50; 84 runs, 0.56 core-hours).",
    "course_inits_gru_rrn": "Full scale: `python -m seqlab.run -m +experiment=course_inits hydra/sweeper=capacity "
    "model=gru,rrn sweep_name=course_inits_gru_rrn threads=1` (course_inits for the cells that study left out: "
    "scalar digits, hidden 128, batch 128, RMSprop lr 1e-3, clip 10, 10,000 steps, no early stopping, init=normal "
    "(std 1e-4) and init=standard_normal, seeds 1-5; capacity search over L = 5..50).",
    "course_onehot_gru_rrn": "Full scale: `python -m seqlab.run -m +experiment=course hydra/sweeper=capacity "
    "data.encoding=onehot model=gru,rrn sweep_name=course_onehot_gru_rrn threads=1` (course_onehot for the cells "
    "that study left out: one-hot digits, hidden 128, batch 128, RMSprop lr 1e-3, clip 10, 10,000 steps, no early "
    "stopping, PyTorch's default init, seeds 1-5; capacity search over L = 5..50).",
    "course_sgd_lr": "Full scale: `python -m seqlab.run -m +experiment=course_sgd_lr hydra/sweeper=capacity "
    "threads=1` (the course setting - scalar digits, hidden 128, batch 128, clip 10, up to 10,000 steps, default "
    "init, a run stops once solved - with plain SGD and SGD with momentum 0.9 at lr 1e-2 and 1e-1 instead of "
    "RMSprop's 1e-3, where course_optimizers ran them; RNN, LSTM, GRU and RRN, seeds 1-5; capacity search over "
    "L = 5..50).",
    "course_matched": "Full scale: `python -m seqlab.run -m +experiment=course_matched hydra/sweeper=capacity "
    "threads=1` (the course setting, the RNN at hidden 255: 68,095 parameters against the 128-unit LSTM's 67,850; "
    "scalar digits, batch 128, RMSprop lr 1e-3, clip 10, up to 10,000 steps, default init, seeds 1-5; a run stops "
    "after 3 evaluations at >= 0.99; capacity search over L = 5..50).",
    "ledger_rrn_300": "Full scale: `python -m seqlab.run -m +experiment=ledger_rrn_300 threads=1` (in `bash "
    "scripts/run_studies.sh ledger`; the course preset exactly - scalar digits, hidden 128, batch 128, RMSprop 1e-3, "
    "clip 10, PyTorch's default init, up to 10,000 steps - for the RRN at L = 300, in float32 and in float64, seeds "
    "1-5; a run stops after 3 evaluations at >= 0.99 or once diverged (inf/NaN gradient norm through an evaluation "
    "interval); solved: held-out accuracy >= 0.99).",
    "ledger_speed": "Full scale: `python -m seqlab.run -m +experiment=ledger_speed threads=1` (in `bash "
    "scripts/run_studies.sh ledger`; the course preset exactly - scalar digits, hidden 128, batch 128, RMSprop 1e-3, "
    "clip 10, PyTorch's default init, up to 10,000 steps - for the RNN and LSTM at L = 5, 10, 15, seeds 1-5, with a "
    "held-out evaluation every 50 steps instead of 250; a run stops after 3 evaluations at >= 0.99; steps to "
    "converge: the first evaluation >= 0.99; 30 runs, 0.25 core-hours).",
    "ledger_rrn_float64": "Full scale: `python -m seqlab.run -m +experiment=ledger_rrn_float64 hydra/sweeper=capacity "
    "threads=1` (in `bash scripts/run_studies.sh ledger`; the course preset, scalar digits, hidden 128, RMSprop "
    "1e-3, clip 10, PyTorch's default init, for the RRN in float64, up to 5,000 steps, stopping after 3 evaluations "
    "at >= 0.99 or once diverged, seeds 1-5; capacity search over L = 50..450 in steps of 50; solved: held-out "
    "accuracy >= 0.99). Steps to converge: the first evaluation (every 250 steps) at >= 0.99.",
    "ledger_rrn_lr1e-4": "Full scale: `python -m seqlab.run -m +experiment=ledger_rrn_lr1e-4 hydra/sweeper=capacity "
    "threads=1` (in `bash scripts/run_studies.sh ledger`; as ledger_rrn_float64 but float32 at lr 1e-4, from "
    "N(0, 1e-4) weights and from identity recurrent weights).",
    "ledger_rrn_lr1e-4_10k": "Full scale: `python -m seqlab.run -m +experiment=ledger_rrn_lr1e-4_10k "
    "hydra/sweeper=capacity threads=1` (in `bash scripts/run_studies.sh ledger`; ledger_rrn_lr1e-4 from N(0, 1e-4) "
    "weights with course_rrn_lr1e-4's budget, up to 10,000 steps, continuing its search past L = 200: a capacity "
    "search over L = 200..450, so `< 200` means L = 200 itself failed).",
    "ledger_lstm_xavier": "Full scale: `python -m seqlab.run -m +experiment=ledger_lstm_xavier threads=1` (in "
    "`bash scripts/run_studies.sh ledger`; the course preset's LSTM, scalar digits, Xavier-normal init, RMSprop at "
    "lr 1e-3 and 1e-4, 10,000 steps, no early stopping, seeds 1-5, a grid over L = 5..50).",
    "ledger_plateau": "Full scale: `python -m seqlab.run -m +experiment=ledger_plateau hydra/sweeper=capacity "
    "threads=1` (in `bash scripts/run_studies.sh ledger`; the course preset stopped when the mean training loss of "
    "two consecutive windows of 100 steps differs by less than 1e-6; RNN and LSTM, seeds 1-5, capacity search).",
    "ledger_n01_streak": "Full scale: `python -m seqlab.run -m +experiment=ledger_n01_streak threads=1` (in `bash "
    "scripts/run_studies.sh ledger`; the course preset from N(0, 1) weights, stopping after 50 consecutive "
    "all-correct training batches; RNN and LSTM, seeds 1-5, a grid over L = 5..40).",
    "ledger_batch_accuracy": "Full scale: `python -m seqlab.run -m +experiment=ledger_batch_accuracy threads=1` (in "
    "`bash scripts/run_studies.sh ledger`; the course preset exactly, RNN and LSTM at L = 10 and 30..50, seeds 1-5, "
    "for the training-batch accuracies: the final one, the mean over the last 50 batches, and the best single batch "
    "of 128 in 10,000 steps).",
    "ledger_text": "Full scale: `python -m seqlab.prepare grimm && python -m seqlab.run -m +experiment=ledger_text "
    "threads=1` (in `bash scripts/run_studies.sh ledger`; text_course with Adam lr 1e-3 and no decay; seeds 1-5).",
    "ledger_text_rmsprop": "Full scale: `python -m seqlab.prepare grimm && python -m seqlab.run -m "
    "+experiment=ledger_text_rmsprop threads=1` (in `bash scripts/run_studies.sh ledger`; text_course - RMSprop lr "
    "2e-3 decayed by 0.96 every 5,000 steps, clip 5 - for 168,840 steps: 20 passes of the course template's loader, "
    "which yields as many windows a pass as the book has characters, 8,442 batches of 64; seeds 1-5).",
    "adding_h128": "At a budget a 2-core machine fits: `python -m seqlab.run -m +experiment=adding_capacity "
    "hydra/sweeper=capacity train.max_steps=3000 sweep_name=adding_h128 threads=1` (adding_capacity - RNN, LSTM, GRU, "
    "RRN at hidden 128, batch 128, RMSprop 1e-3, clip 10, default init, stop once solved, seeds 1-5, a capacity "
    "search over T = 10, 25, 50, 100, 200, 400 - with 3,000 steps instead of its 10,000; solved: held-out mean "
    "squared error <= 0.01, where always predicting 1 scores 1/6). " + NO_PAPER_FIGURES,
    "copy_h128": "At a budget a 2-core machine fits: `python -m seqlab.run -m +experiment=copy_capacity "
    "hydra/sweeper=capacity train.max_steps=3000 data.length=1,2,5,10,20 sweep_name=copy_h128 threads=1` "
    "(copy_capacity - RNN, LSTM, GRU, RRN at hidden 128, one-hot symbols, batch 128, RMSprop 1e-3, clip 10, stop "
    "once solved, seeds 1-5 - with 3,000 steps instead of its 10,000 and delays T = 1..20; solved: held-out "
    "accuracy over the 10 copied symbols >= 0.99). A budget, not a memory limit, bounds these capacities: an LSTM "
    "copies at T = 10 with accuracy 0.44 after 6,000 steps, still rising (see the observations). Associative "
    "recall needs more still (2 pairs: 6,500 to 9,250 steps) and is not run at hidden 128 here. " + NO_PAPER_FIGURES,
    "copy_reduced": "Reduced scale: `python -m seqlab.run -m +experiment=copy_capacity hydra/sweeper=capacity "
    "model.hidden_size=64 train.max_steps=1500 seed=1,2,3 data.length=1,2,5,10,20,50 sweep_name=copy_reduced "
    "threads=1` (copy_capacity - RNN, LSTM, GRU, RRN, one-hot symbols, batch 128, RMSprop 1e-3, clip 10, stop once "
    "solved - at hidden 64 and a 1,500-step budget, 3 seeds; solved: held-out accuracy over the 10 copied symbols "
    ">= 0.99). The full preset (hidden 128, 10,000 steps, 5 seeds, T up to 500) has not run here.",
    "recall_reduced": "Reduced scale: `python -m seqlab.run -m +experiment=recall_capacity hydra/sweeper=capacity "
    "model.hidden_size=64 train.max_steps=1500 seed=1,2,3 data.pairs=1,2,4,8,16 sweep_name=recall_reduced "
    "threads=1` (recall_capacity - 32 keys and 32 values, RNN, LSTM, GRU, RRN, RMSprop 1e-3, stop once solved - at "
    "hidden 64 and 1,500 steps, 3 seeds; solved: held-out accuracy >= 0.99; chance 1/32).",
    "adding_reduced": "Reduced scale: `python -m seqlab.run -m +experiment=adding_capacity hydra/sweeper=capacity "
    "model.hidden_size=64 train.max_steps=1500 seed=1,2,3 data.length=10,25,50,100,200 sweep_name=adding_reduced "
    "threads=1` (adding_capacity - RNN, LSTM, GRU, RRN, RMSprop 1e-3, clip 10, stop once solved - at hidden 64 and "
    "1,500 steps, 3 seeds; solved: held-out mean squared error <= 0.01, where predicting 1 scores 1/6; the capacity "
    "table's solved counts that).",
    "rnn_vs_lstm": "Reduced scale: `python -m seqlab.run -m +experiment=rnn_vs_lstm train.max_steps=2000 "
    "hydra/launcher=local_parallel train.progress=false` (in `bash scripts/run_studies.sh reduced`).",
    "rrn_long": "Reduced scale: `python -m seqlab.run -m +experiment=rrn_long model.hidden_size=64 train.max_steps=500 "
    "data.length=50,100,200 seed=1,2 hydra/launcher=local_parallel train.progress=false` (in `bash "
    "scripts/run_studies.sh reduced`).",
    "optimizers": "Reduced scale: `python -m seqlab.run -m +experiment=optimizers model.hidden_size=64 "
    "train.max_steps=1000 data.length=5,10,20 seed=1,2 hydra/launcher=local_parallel train.progress=false` (in `bash "
    "scripts/run_studies.sh reduced`).",
    "inits": "Reduced scale: `python -m seqlab.run -m +experiment=inits model.hidden_size=64 train.max_steps=1000 "
    "data.length=5,10,20 seed=1,2 hydra/launcher=local_parallel train.progress=false`, then the same with `model=lstm "
    "init=default init.forget_bias=1.0` (both in `bash scripts/run_studies.sh reduced`).",
    "grad_flow": "Reduced scale: `python -m seqlab.run -m sweep_name=grad_flow model=rnn,lstm,gru,rrn data.length=100 "
    "seed=1 grad_flow.enabled=true train.max_steps=1000 train.early_stop.kind=none hydra/launcher=local_parallel "
    "train.progress=false` (in `bash scripts/run_studies.sh reduced`).",
    "text_course": "Full scale: `python -m seqlab.prepare grimm && python -m seqlab.run -m +experiment=text_course "
    "threads=1` (the preset as defined: two-layer LSTM of 128, sequences of 30, batch 64, RMSprop 2e-3 decayed by "
    "0.96 every 5,000 steps, clip 5, 100,000 steps, seed 1; the last 5% of the book held out).",
}
KEPT_TABLES = (
    "summary.csv",
    "memory_capacity.csv",
    "capacity_per_seed.csv",
    "convergence.csv",
    "training_accuracy.csv",
    "overflow.csv",
)  # committed with figures
# Studies of the training signal, not of memory capacity: their sections show no capacity table, and of the
# figures only DIAGNOSTIC_FIGURES.
DIAGNOSTICS = ("grad_flow", "course_rrn_overflow", "course_rrn_overflow_lr1e-4")
APPENDIX_FROM = "copy_reduced"  # STUDIES from here on ran at small budgets and 2-3 seeds: the appendix
BATCH_ACCURACY_STUDIES = ("ledger_batch_accuracy",)  # their sections set the reports' training-batch scores beside
# held-out accuracy
DIAGNOSTIC_FIGURES = ("gradient_flow.png", "learning_curves.png", "gradient_norm_curves.png")
FIGURE_ORDER = (
    "eval_",
    "steps_to_converge_vs_",
    "memory_capacity.",
    "memory_capacity_heatmap.",
    "gradient_flow.",
    "gradient_norm_curves.",
    "learning_curves.",
)  # a study's figures on the page, in this order
TEXT_TABLES = ("runs.csv", "curves.csv", "samples.csv", "sample_words.csv", "sample_baselines.csv")  # a text study's
# section comes from these
TEXT_STEPS_SHOWN = 4  # sampled steps of the text run shown on the page (first, last and evenly between)
REDUCED_SCALE = (
    "Run on a 2-core CPU machine with `bash scripts/run_studies.sh reduced` (two single-threaded runs at a time): "
    "rnn_vs_lstm at the course setting but at most 2,000 steps; optimizers and inits with hidden size 64, at most "
    "1,000 steps, lengths 5, 10, 20 and 2 seeds; rrn_long with hidden size 64, at most 500 steps, lengths 50, 100, 200 "
    "and 2 seeds; grad_flow 1,000 steps, 1 seed; copy, recall and adding as their sections say. Step budgets this "
    "small favour fast learners: a model that fails here may still succeed with the full budget."
)


def text_study(page: Report, out: Path) -> None:
    """The text run's numbers (final training loss and accuracy over its last metrics rows, held-out loss, bits per
    character and accuracy, the lowest held-out bpc and its step, steps and time) and its samples at a few steps,
    per temperature."""
    runs = pd.read_csv(out / "runs.csv")
    curves = pd.read_csv(out / "curves.csv")
    rows = []
    for run in runs.to_dict("records"):
        curve = curves[curves["run_dir"] == run["run_dir"]]
        last = curve.dropna(subset=["train_loss"]).tail(10)
        best = curve.loc[curve["eval_bpc"].idxmin()]
        rows.append({"model": run["model.name"], "layers": run["model.num_layers"], "seed": run["seed"],
                     "steps": run["steps"], "hours": round(run["wall_time_s"] / 3600, 2),
                     "steps/s": round(run["steps_per_s"], 1), "train loss (last 10 rows)": last["train_loss"].mean(),
                     "train accuracy (last 10 rows)": last["train_accuracy"].mean(),
                     "lowest batch loss": run.get("min_train_loss", float("nan")),
                     "best batch accuracy": run["best_train_accuracy"], "held-out loss": run["eval_loss"],
                     "held-out bpc": run["eval_bpc"], "held-out accuracy": run["eval_accuracy"],
                     "lowest held-out bpc": best["eval_bpc"], "at step": int(best["step"])})  # fmt: skip
    page.table(pd.DataFrame(rows))
    samples = pd.read_csv(out / "samples.csv", keep_default_na=False)
    excerpt = sample_excerpt(samples[["run_dir", "step", "temperature", "prompt", "text"]], TEXT_STEPS_SHOWN, 150)
    page.paragraph("Samples during training (▸ after the starting character; temperature 0 is greedy; ⏎ a line end):")
    page.table(excerpt.drop(columns="run_dir").rename(columns={"prompt ▸ sample": "text"}))
    scored = out / "sample_words.csv"
    if scored.exists():
        page.paragraph(f"Words in the samples. {sample_words.SUMMARY}")
        page.table(sample_words.summary_by_temperature(pd.read_csv(scored)))
    calibrated = out / "sample_baselines.csv"
    if calibrated.exists():
        page.paragraph(sample_words.BASELINES_TEXT)
        page.table(sample_words.baseline_summary(pd.read_csv(calibrated)))


def held_out_overlap(batch: int = 128, steps: int = 10_000) -> str:
    """What the held-out palindromes are at short lengths: the share of them a course run also trained on."""
    lengths = (10, 12, 14, 15, 20)
    shares = ", ".join(f"{share_trained_on(length, batch * steps):.2g} at L = {length}" for length in lengths)
    return (f"not kept out of training: of {batch * steps:,} training palindromes, a held-out one was also trained on "
            f"with probability {shares} (there are 10^ceil(L/2) palindromes of length L)")  # fmt: skip


def batch_accuracy_table(page: Report, out: Path) -> None:
    """Per model and length, the mean over seeds of the held-out accuracy beside the training-batch accuracies the
    reports counted, and what the best batch scores at chance."""
    held_out = pd.read_csv(out / "summary.csv")[["model.name", "data.length", "mean", "solved (k/n)"]]
    trained = pd.read_csv(out / "training_accuracy.csv").merge(held_out, on=["model.name", "data.length"])
    accuracies = ["final_train_accuracy", "best_train_accuracy", "mean"]
    trained[accuracies] = trained[accuracies].map(lambda value: f"{value:.2f}")
    page.paragraph(
        "Accuracy three ways, each the mean over seeds: held out (1,280 palindromes of a separate evaluation stream, "
        f"at the end of the run; {held_out_overlap()}), the final training accuracy (the mean over the last 50 "
        "training batches, report 001's 'final "
        "accuracy') and the best single training batch of 128 in the run (report 002's score); solved counts "
        f"held-out >= 0.99. A model at chance (1 in 10) scores {CHANCE_BEST_BATCH:.2f} as its best of 10,000 "
        f"batches of 128 (the median), {chance_best_batch(128, 0.1, 1):.2f} on one."
    )
    page.table(trained.rename(columns={"mean": "held-out accuracy", "final_train_accuracy": "final training accuracy",
                                       "best_train_accuracy": "best training batch", "n": "seeds"}))  # fmt: skip


def overflow_table(overflow: pd.DataFrame) -> pd.DataFrame:
    """The aggregator's overflow table with a column per length (when data.length varies) and in each cell
    `k/n at m [lo-hi]`: k of n runs overflowed, first at step m (median; the range where it varies),
    k/n alone where none did."""
    keys = [c for c in overflow.columns[: list(overflow.columns).index("overflowed (k/n)")] if c != "data.length"]
    if "data.length" not in overflow or not keys:
        return overflow
    first = overflow[["first_step_median", "first_step_min", "first_step_max"]].map(figures.number)
    spread = (" [" + first["first_step_min"] + "-" + first["first_step_max"] + "]").where(
        first["first_step_min"] != first["first_step_max"], ""
    )
    at = " at " + first["first_step_median"] + spread
    cell = overflow["overflowed (k/n)"] + at.where(overflow["first_step_median"].notna(), "")
    table = overflow.assign(cell=cell).pivot(index=keys, columns="data.length", values="cell")
    return table.rename(columns=lambda length: f"L = {length}").rename_axis(columns=None).reset_index()


def aggregate_study(study: str, runs_root: Path, out: Path, books: Path) -> str | None:
    """Aggregate the sweep `runs_root`/`study` into `out` (from inside `runs_root`, so that the report names the
    sweep the same way whether it was aggregated from run directories or from records; text runs' books are found by
    their sha256 in `books`); the compute it used (and how much of it stopped midway), or None when there is nothing
    to aggregate (said on stderr)."""
    out, books = out.resolve(), books.resolve()
    try:
        with contextlib.chdir(runs_root):
            aggregate(Options(dirs=[Path(study)], out=out, formats=["png"], books=[books]))
    except UsageError as error:
        print(f"results_page: skipping {study}: {error}", file=sys.stderr)
        return None
    runs = pd.read_csv(out / "runs.csv")
    source = f"Compute: {recorded_compute(out)}."  # the report's line: runs.csv holds `trained_on` as text
    if stopped := int((runs["status"] == "interrupted").sum()):  # a search stopped midway: published so far
        source += (f" Unfinished: {stopped} run{'s' * (stopped > 1)} stopped midway (checkpointed; its command "
                   "resumes them): a capacity may still grow where it is marked `>=`, or where a length between its "
                   "longest solved and its first failure is not tested yet.")  # fmt: skip
    return source


def figure_captions(report: Path) -> dict[str, str]:
    """Each figure's caption in the aggregator's report (what it shows and its setting), by file name."""
    text = report.read_text() if report.exists() else ""
    return {path: caption for caption, path in re.findall(r"!\[(.*?)\]\((.*?)\)", text)}


def unfinished(sweep: Path) -> str | None:
    """Why a sweep is not ready to publish: its latest launch has not returned (still running, or stopped with its
    machine: its command resumes it), or, for a grid sweep, `k of n runs completed` when fewer completed than it
    planned; else None (a capacity search whose launch returned is published as far as it went: its tables say
    what is censored)."""
    plan = rundir.read_plan(sweep)
    if plan and rundir.launch_unfinished(plan):
        return "its latest launch has not finished"
    if not plan or not plan["planned_runs"]:
        return None
    done = runs(sweep).status.count("completed")
    return f"{done} of {plan['planned_runs']} runs completed" if done < plan["planned_runs"] else None


def anchor(title: str) -> str:
    """The link to a section of results.md, as GitHub names a heading's anchor."""
    return "#" + re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def ledger_blocks(docs: Path) -> list[tuple[str, object]]:
    """The claims ledger's heading, key and table (multirun_analysis/ledger.py, from the studies' tables); none
    where `docs` has no claims.md."""
    if not (docs / "claims.md").exists():
        return []
    shown = {
        study: anchor(title) for study, title in STUDIES.items() if (docs / "results" / study / "summary.csv").exists()
    }
    table = ledger(docs, shown)
    verdicts = ", ".join(f"{n} {v}" for v, n in table["verdict"].value_counts().items())
    return [
        ("heading", "Claims ledger: which claims of the course reports hold?"),
        ("paragraph", f"The 17 checkable claims of the five course reports ([claims.md](claims.md)), each settled "
         "at its own setting where seqlab ran it, or the nearest that runs, the difference named. Verdicts "
         f"({verdicts}) and numbers are computed from the tables each section's aggregation wrote "
         "(`multirun_analysis/ledger.py`; [results/ledger.csv](results/ledger.csv)); k/n counts seeds; solved "
         "means held-out accuracy >= 0.99 unless the row says otherwise. Open rows name the runs that settle "
         "them: `bash scripts/run_studies.sh ledger` runs what is missing and regenerates this page. "
         + SCORES + " " + CPU_MODELS + " " + TOLERANCES),
        ("table", table),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs",
        type=Path,
        default=Path("outputs/multirun"),
        help="the folder holding each study's sweep folder (default: outputs/multirun)",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=Path("docs"),
        help="where results.md and results/ (tables, figures, records) are written (default: docs)",
    )
    args = parser.parse_args(argv)
    if not any(published(study, args) for study in STUDIES):  # an empty page would replace the page
        print(f"results_page: error: nothing to publish: no study's run directories under {args.runs}, nor its "
              f"records or tables under {args.docs / 'results'}; nothing written", file=sys.stderr)  # fmt: skip
        return 2
    with one_builder(args.docs):
        return build(args)


def published(study: str, args: argparse.Namespace) -> bool:
    """Whether the page has a source for `study`: its run directories, its records or an earlier aggregation."""
    results = args.docs / "results"
    return (args.runs / study).is_dir() or archive_path(results, study).exists() or (
        results / study / "summary.csv").exists()  # fmt: skip


@contextlib.contextmanager
def one_builder(docs: Path) -> Iterator[None]:
    """Hold an exclusive lock on the docs directory while the page is built, waiting for one already held: two
    study queues that each regenerate the page (`run_studies.sh ledger` on each core) take turns, never
    interleave their writes. The lock dies with its process."""
    docs.mkdir(parents=True, exist_ok=True)
    with rundir.exclusive(docs):
        yield


def rebuilt(records: str, sweep: Path) -> str:
    """How a section with records is rebuilt: the same words whether its run directories are on this machine or
    not, so the page a clean clone writes is the committed one."""
    return (
        f" Rebuilt from each run's records in the repository ({records}: config, result.json, metrics.csv) by "
        f"`seqlab-results-page`; from the run directories, `seqlab-aggregate {sweep}` aggregates it again."
    )


def interval_key(page: Report) -> str:
    """One key for every k/n in the page's tables: its Clopper-Pearson 95% interval, for each n they use."""
    counts = " ".join(payload.to_string() for kind, payload in page.blocks if kind == "table")
    return ("Every k/n on this page counts seeds (solving, converging or overflowing, as its table says); its "
            "Clopper-Pearson (exact) 95% interval of the share, for each n used here: "
            f"{proportion_intervals_text(counts)}.")  # fmt: skip


def build(args: argparse.Namespace) -> int:
    """Aggregate every study into `args.docs`/results/ and write `args.docs`/results.md."""
    page = Report("seqlab results: how far back can each cell remember?")
    page.paragraph(
        "First a capacity map: which cell remembers longest under which optimizer, init and encoding. Then the "
        "claims ledger: each claim of the course reports, the setting seqlab ran it at and the verdict. "
        "Then the full-scale studies, each with its setting and command; the reduced-scale runs are in the appendix "
        "at the end."
    )
    ledger_at = len(page.blocks)  # the ledger goes here once every study's tables are written
    notes, shelf = args.docs / "results_notes.md", args.docs / "results" / STORE
    for study, title in STUDIES.items():
        if study == APPENDIX_FROM:  # after the full-scale studies: the observations, then the appendix
            if notes.exists():
                page.heading("Observations")
                page.paragraph(notes.read_text().strip())
            page.heading("Appendix: reduced-scale studies (small step budgets and 2-3 seeds; not the course setting)")
            page.paragraph(REDUCED_SCALE)
        sweep, out = args.runs / study, args.docs / "results" / study
        training = sweep.is_dir() and (
            next(filter(rundir.lock_holder, rundir.find_run_dirs(sweep)), None) or unfinished(sweep)
        )  # fmt: skip
        if training:  # never publish half a study; carry its completed runs (`seqlab records restore`)
            print(f"results_page: {study} is still training ({training}): its committed section, if any, is kept; "
                  f"{save(sweep, args.docs / 'results')}", file=sys.stderr)  # fmt: skip
        records = archive_path(args.docs / "results", study)
        shared = f"[results/{RECORDS}/{study}.tar.gz](results/{RECORDS}/{study}.tar.gz)"
        if sweep.is_dir() and not training:
            carry(sweep, shelf)  # the books its text runs trained on, so that a fresh clone scores their samples
            if (source := aggregate_study(study, args.runs, out, shelf)) is None:
                continue
            pack(sweep, records)
            archive_path(args.docs / "results", study, PROGRESS).unlink(missing_ok=True)  # the records supersede it
            source += rebuilt(shared, sweep)
        elif records.exists():  # the run directories are elsewhere: rebuilt from the records in the repository
            with unpacked(records) as folder:
                if (source := aggregate_study(study, folder, out, shelf)) is None:
                    continue
            source += rebuilt(shared, sweep)
        elif (out / "summary.csv").exists():  # aggregated before; no records: the same words on every machine
            source = (f"Compute: {recorded_compute(out) or 'not recorded'}. Not re-aggregated: the repository holds "
                      f"no records of {sweep}, so the tables and figures are the ones committed at its last "
                      "aggregation (run the study again to regenerate them).")  # fmt: skip
        else:
            continue
        page.heading(title)
        if study in SETTINGS:
            page.paragraph(SETTINGS[study])
        page.paragraph(f"{source} Full report: [results/{study}/report.md](results/{study}/report.md).")
        if (out / "samples.csv").exists():
            text_study(page, out)
        if study in BATCH_ACCURACY_STUDIES and (out / "training_accuracy.csv").exists():
            batch_accuracy_table(page, out)
        capacity = out / "memory_capacity.csv"
        if (out / "overflow.csv").exists():
            page.paragraph(
                "Runs whose gradient norm overflowed float32 (inf: clipping by the norm then zeroes the update; NaN: "
                "every weight becomes NaN), k/n seeds, and the median step of their first overflowing metrics row "
                "(range in brackets):"
            )
            page.table(overflow_table(pd.read_csv(out / "overflow.csv")))
        if capacity.exists() and study not in DIAGNOSTICS:
            solved = "held-out MSE <= 0.01" if study.startswith("adding") else "held-out accuracy >= 0.99"
            page.paragraph(
                f"Memory capacity per seed: the longest L with every tested L up to it solved (converged: {solved}); "
                "its lower median and range over seeds (`>= v`: no tested L failed, "
                "`< v`: the shortest tested L failed), and k/n seeds solving each tested L."
                + (f" Per seed: [capacity_per_seed.csv](results/{study}/capacity_per_seed.csv)."
                   if (out / "capacity_per_seed.csv").exists() else "")
            )  # fmt: skip
            table = with_censoring_text(pd.read_csv(capacity, dtype={"median": str, "range": str}))
            page.table(table.drop(columns=[c for c in CAPACITY_NUMBERS if c in table]))
        captions = figure_captions(out / "report.md")
        drawn = sorted((f.name for f in out.glob("*.png")), key=lambda name: next(
            (i for i, start in enumerate(FIGURE_ORDER) if name.startswith(start)), len(FIGURE_ORDER)))  # fmt: skip
        for figure in drawn:
            if study not in DIAGNOSTICS or figure in DIAGNOSTIC_FIGURES:
                caption = captions.get(figure, figure.removesuffix(".png").replace("_", " "))
                page.image(f"results/{study}/{figure}", f"{study}: {caption}")
        kept = KEPT_TABLES + (TEXT_TABLES if (out / "samples.csv").exists() else ())
        for leftover in out.glob("*.csv"):
            if leftover.name not in kept:
                leftover.unlink()  # per-run tables stay with the run directories
        (out / "report.html").unlink(missing_ok=True)
    page.blocks[ledger_at:ledger_at] = capacity_map.blocks(args.docs) + ledger_blocks(args.docs)
    page.blocks.insert(ledger_at, ("paragraph", interval_key(page)))
    (args.docs / "results.md").write_text(page.markdown())
    print(f"wrote {args.docs / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
