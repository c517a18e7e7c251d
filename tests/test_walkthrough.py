"""What a new user hit, each as a test: refused input leaves nothing, run directories are one folder inside their
root, the command line's help and one-line errors, the default thread count, a sweep's planned size in `seqlab
status`, and an aggregator that never pools different configs or counts a copied run twice."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, run_cli, tiny, write_corpus
from synthetic_runs import make_tree

from multirun_analysis.aggregate_results import main as aggregate
from seqlab import rundir
from seqlab.status import render
from seqlab.threads import resolve_threads

REFUSED = [["train.max_steps=abc"], ["dataset=text", "data.path=missing.txt"]]
if not torch.cuda.is_available():
    REFUSED.append(["device=cuda"])


@pytest.mark.slow
@pytest.mark.parametrize("overrides", REFUSED, ids=lambda o: o[-1])
def test_refused_input_leaves_no_run_directory(tmp_path, overrides):
    proc = run_cli(*tiny(*overrides), cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    left = [p for p in tmp_path.rglob("*") if p.name != ".hydra" and ".hydra" not in p.parts]
    assert [p for p in left if p.is_file()] == [], left  # no run directory, no file of one (Hydra's own log aside)


@pytest.mark.slow
def test_a_text_runs_directory_is_one_folder_inside_the_run_root_whatever_its_path(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    write_corpus(tmp_path / "book.txt")
    args = tiny("dataset=text", "data.seq_length=12", "train.max_steps=5")
    for path in (str(tmp_path / "book.txt"), "../book.txt"):
        proc = run_cli(*args, f"data.path={path}", cwd=work)
        assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted((work / "outputs" / "runs").iterdir())
    assert len(runs) == 2 and all((run / rundir.RESULT).exists() and "/" not in run.name for run in runs)
    assert any("data.path=..%2Fbook.txt" in run.name for run in runs)
    assert any(f"data.path={str(tmp_path / 'book.txt').replace('/', '%2F')}"[:200] in run.name for run in runs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.txt", "work"]  # nothing outside the root


@pytest.mark.slow
def test_a_sweep_name_that_is_a_path_is_refused_and_creates_nothing(tmp_path):
    proc = run_cli("-m", *TINY, "sweep_name=../escaped", "seed=1,2", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "seqlab: error: sweep_name='../escaped' is invalid: expected one folder name (no '/', not '.' or '..')"
    ]
    assert not (tmp_path / "outputs" / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_run_directory_names_never_contain_a_separator():
    assert rundir.dir_name("") == "defaults"
    assert rundir.dir_name("data.path=/home/me/book.txt,seed=1") == "data.path=%2Fhome%2Fme%2Fbook.txt,seed=1"
    assert rundir.dir_name("data.path=a%2Fb") != rundir.dir_name("data.path=a/b")  # a literal %2F stays apart
    long = [rundir.dir_name(f"data.path={'x' * 300}{i}") for i in range(2)]
    assert all(len(n.encode()) == 255 for n in long) and long[0] != long[1]


@pytest.mark.slow
def test_seqlab_help_lists_the_commands_and_exits_0():
    for flag in ("--help", "-h"):
        proc = subprocess.run([sys.executable, "-m", "seqlab.cli", flag], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0 and "commands:" in proc.stdout and "aggregate" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sweep", ["model=rnn,lstm", "data.length=range(5,10)"])
def test_a_sweep_without_m_is_one_line_saying_to_add_it(tmp_path, sweep):
    proc = run_cli(*TINY, sweep, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"seqlab: error: {sweep} is a sweep: add -m to run one run per value (python -m seqlab.run -m {sweep}), "
        "or quote it to mean one string"
    ]
    assert not (tmp_path / "outputs").exists()


def test_threads_auto_is_one_outside_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    for launcher in ({}, {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"},
                     {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"}):  # fmt: skip
        assert resolve_threads("auto", launcher) == 1
    slurm = {"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", "cpus_per_task": 4}
    assert resolve_threads("auto", slurm) == 4 and resolve_threads(3, {}) == 3


@pytest.mark.slow
def test_status_knows_the_sweeps_planned_size(tmp_path):
    sweep = tmp_path / "outputs" / "multirun" / "sized"
    proc = run_cli("-m", *TINY, "sweep_name=sized", "seed=1,2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = sweep / "plan.json"
    assert rundir.read_plan(sweep)["finished_at"] >= rundir.read_plan(sweep)["launched_at"]  # the launch returned
    plan.write_text(plan.read_text().replace('"planned_runs": 2', '"planned_runs": 5'))
    first = render(sweep).splitlines()[0]
    assert first.startswith(f"{sweep}: 2 of 5 runs started, ETA ") and "3 runs left" in first
    plan.write_text(plan.read_text().replace('"planned_runs": 5', '"planned_runs": 1'))  # a second, smaller launch
    assert render(sweep).splitlines()[0] == f"{sweep}: 2 runs (the latest launch into this directory planned 1)"


def test_the_aggregator_counts_a_copied_run_once_and_lists_the_copy(tmp_path):
    root = tmp_path / "sweeps"
    make_tree(root / "a", lambda c: 0.5, seeds=(1, 2, 3), model__name=["rnn"], data__length=[10])
    original = sorted((root / "a").iterdir())[0]
    shutil.copytree(original, root / "b" / "copy")
    result = json.loads((root / "b" / "copy" / "result.json").read_text())
    result["fingerprint"] = "recorded-by-an-older-rule"  # the hash changed, the config did not: still a copy
    (root / "b" / "copy" / "result.json").write_text(json.dumps(result))
    assert aggregate([str(root), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["n"].tolist() == [3]
    copies = pd.read_csv(tmp_path / "out" / "copies.csv")
    assert copies.to_dict("records") == [{"run_dir": str(root / "b" / "copy"), "copy_of": str(original)}]
    assert "hold a copy of a run found elsewhere" in (tmp_path / "out" / "report.md").read_text()


def test_the_aggregator_never_pools_runs_whose_other_keys_differ(tmp_path):
    root = tmp_path / "sweeps"
    factors = {"model__name": ["rnn"], "data__length": [10], "optimizer__lr": [1e-3, 1e-2], "seed_offset": [0]}
    make_tree(root / "a", lambda c: 0.5, train__max_steps=[300], train__max_norm=[10.0], **factors)
    make_tree(root / "b", lambda c: 0.5, train__max_steps=[400], train__max_norm=[5.0], **factors)
    assert aggregate([str(root), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["n"].tolist() == [3, 3, 3, 3]  # 2 budgets x 2 learning rates, never pooled
    report = (tmp_path / "out" / "report.md").read_text()
    assert "combines" in report and "train.max_norm" in report and "train.max_steps" in report
