"""The aggregator on synthetic run trees with known values, broken runs, and a real tiny sweep."""

import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, TINY, run_cli
from synthetic_runs import make_tree, write_run

from multirun_analysis import figures
from multirun_analysis.aggregate_results import (
    across_processors,
    compute_used,
    main,
    overflow_rows,
    recorded_compute,
)
from multirun_analysis.collect import planned_values
from multirun_analysis.stats import bootstrap_interval, chance_best_batch, convergence, overflow
from seqlab import rundir

AGGREGATE = [sys.executable, "-m", "multirun_analysis.aggregate_results"]
BASE = {  # mean held-out accuracy per (model, length); seeds add -0.01, 0, +0.01
    ("rnn", 5): 1.0, ("rnn", 10): 0.995, ("rnn", 15): 0.5,
    ("lstm", 5): 1.0, ("lstm", 10): 0.98, ("lstm", 15): 1.0,
    ("gru", 5): 1.0, ("gru", 10): 1.0, ("gru", 15): 1.0,
}  # fmt: skip


def known_accuracy(config: dict) -> float:
    return BASE[config["model.name"], config["data.length"]] + 0.01 * (config["seed"] - 2)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "sweep"
    make_tree(root, known_accuracy, seeds=(1, 2, 3), model__name=["rnn", "lstm", "gru"], data__length=[5, 10, 15])
    return root


def test_table_confidence_intervals_and_capacity_are_exact(tree):
    assert main([str(tree)]) == 0
    out = tree / "analysis"
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 27 and set(runs["status"]) == {"completed"}
    assert {"model.name", "data.length", "seed", "eval_accuracy", "steps_to_converge", "run_dir"} <= set(runs.columns)
    summary = pd.read_csv(out / "summary.csv")
    for row in summary.itertuples():
        mean = BASE[row._1, row._2]  # model.name, data.length
        seeds = [mean - 0.01, mean, mean + 0.01]
        assert row.n == 3
        assert row.mean == pytest.approx(mean, abs=1e-12)
        assert (row.ci_low, row.ci_high) == bootstrap_interval(seeds)  # the same resamples every time
        assert min(seeds) <= row.ci_low < mean < row.ci_high <= max(seeds)  # inside what the seeds took
        assert row._8 == f"{sum(a >= 0.99 for a in seeds)}/3"  # solved (k/n): converged at accuracy >= 0.99
    # Solved = converged = accuracy >= 0.99. rnn: seed 1 fails at 10 (0.985), seeds 2, 3 at 15. lstm: seeds 1, 2
    # fail at 10 and solve 15 (non-monotone: the later success does not count), seed 3 solves all. gru: all.
    per_seed = pd.read_csv(out / "capacity_per_seed.csv").set_index(["model.name", "seed"])
    expected = {("rnn", 1): (5, 10, False), ("rnn", 2): (10, 15, False), ("rnn", 3): (10, 15, False),
                ("lstm", 1): (5, 10, False), ("lstm", 2): (5, 10, False), ("lstm", 3): (15, None, True),
                ("gru", 1): (15, None, True), ("gru", 2): (15, None, True), ("gru", 3): (15, None, True)}  # fmt: skip
    for key, (found, first_failure, censored) in expected.items():
        row = per_seed.loc[key]
        assert row["capacity"] == found and row["censored"] == censored and row["tested"] == 3
        assert row["first_failure"] == first_failure if first_failure else math.isnan(row["first_failure"])
        assert row["non_monotone"] == (key in (("lstm", 1), ("lstm", 2)))
    capacity = pd.read_csv(out / "memory_capacity.csv").set_index("model.name")
    assert capacity.loc["rnn", ["capacity_median", "capacity_min", "capacity_max"]].tolist() == [10, 5, 10]
    assert capacity.loc["lstm", ["capacity_median", "censored_at_least", "non_monotone"]].tolist() == [5, 1, 2]
    assert capacity.loc["gru", ["seeds", "capacity_median", "censored_at_least", "censored_below"]].tolist() == [
        3, 15, 3, 0]  # fmt: skip
    assert capacity.loc["rnn", "solved (k/n) by data.length"] == "5: 3/3, 10: 2/3, 15: 0/3"
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 27 * 4 and {"run_dir", "step", "eval_accuracy", "model.name"} <= set(curves.columns)


def test_figures_are_real_images(tree):
    assert main([str(tree)]) == 0
    out = tree / "analysis"
    for stem in ("eval_accuracy_vs_data.length", "steps_to_converge_vs_data.length", "memory_capacity",
                 "learning_curves"):  # fmt: skip
        pixels = matplotlib.image.imread(out / f"{stem}.png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert pixels[..., :3].std() > 0.05, f"{stem}.png looks blank"
        assert (out / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    report = (out / "report.md").read_text()
    assert "![" in report and "eval_accuracy_vs_data.length.png" in report
    assert "<img src='memory_capacity.png'" in (out / "report.html").read_text()


def test_broken_and_missing_runs_are_reported_not_fatal(tree, tmp_path):
    runs = sorted(p for p in tree.iterdir() if p.is_dir())
    (runs[0] / "result.json").write_text('{"status": "compl')  # half-written
    (runs[1] / "result.json").unlink()  # killed before the end
    failed = json.loads((runs[2] / "result.json").read_text()) | {"status": "failed", "error": "RuntimeError: boom"}
    (runs[2] / "result.json").write_text(json.dumps(failed))
    (tree / "empty-dir").mkdir()
    files_before = {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()}
    out = tmp_path / "report"
    assert main([str(tree), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    for path, kind in ((runs[0], "unreadable"), (runs[1], "no result.json"), (runs[2], "failed")):
        assert f"| {path} | {kind} |" in report
    assert "RuntimeError: boom" in report
    assert "- completed: 24" in report and "- failed: 1" in report and "- unreadable: 1" in report
    assert {p: p.stat().st_mtime_ns for p in tree.rglob("*") if p.is_file()} == files_before  # wrote nothing there
    assert len(pd.read_csv(out / "runs.csv")) == 25  # the failed run is in the table with its status


def test_a_pool_of_processes_collects_what_one_process_does_problems_included(tree):
    from multirun_analysis.collect import collect

    runs = sorted(p for p in tree.iterdir() if p.is_dir())
    (runs[0] / "result.json").write_text('{"status": "compl')  # a problem in the first share
    (runs[-1] / rundir.METRICS).write_text("step,train_loss\n1,x\n")  # and one in the last
    alone, pooled = collect([tree], workers=1), collect([tree], workers=2)
    for name in ("runs", "curves", "grad_flow", "samples"):
        pd.testing.assert_frame_equal(getattr(pooled, name), getattr(alone, name))
    assert pooled.config_keys == alone.config_keys and pooled.problems == alone.problems
    assert [p.kind for p in alone.problems] == ["unreadable", "unreadable"] and len(alone.runs) == 26


def test_an_aggregate_spread_over_processes_writes_what_one_process_writes(tree, tmp_path, monkeypatch):
    from multirun_analysis import aggregate_results, collect

    assert main([str(tree), "--out", str(tmp_path / "alone")]) == 0
    monkeypatch.setattr(collect, "PARALLEL_FROM", 1)  # the pools, from the first run
    monkeypatch.setattr(aggregate_results, "PARALLEL_FROM", 1)
    assert main([str(tree), "--out", str(tmp_path / "pooled")]) == 0
    alone, pooled = tmp_path / "alone", tmp_path / "pooled"
    assert (pooled / "report.md").read_text() == (alone / "report.md").read_text().replace("/alone", "/pooled")
    assert sorted(p.name for p in pooled.iterdir()) == sorted(p.name for p in alone.iterdir())
    for png in alone.glob("*.png"):
        assert np.array_equal(matplotlib.image.imread(png), matplotlib.image.imread(pooled / png.name)), png.name


def test_a_figure_puts_at_most_four_panels_side_by_side():
    data = pd.DataFrame({"init": list("abcdefg") * 2, "bias": ["1", "n/a"] * 7, "seed": range(14)})
    assert figures._facets(data, "init", "bias") == ("bias", "init", None)  # 7 x 2: the 7 become the rows
    assert figures._facets(data, "bias", "init") == ("bias", "init", None)
    assert figures._facets(data, "init", None) == ("init", None, 4)  # wrapped after 4
    assert figures._facets(data, "bias", None) == ("bias", None, None)


def test_the_two_gradient_norms_are_labelled_apart():
    """metrics.csv's grad_norm is over all weights; grad_flow.csv's is through time, dL/dh_t."""
    run = {"model.name": ["rnn"] * 4, "data.length": [5] * 4}
    flow = figures.gradient_flow(
        pd.DataFrame({**run, "step": [1, 1, 2, 2], "t": [0, 1, 0, 1], "grad_norm": [1.0, 2.0, 3.0, 4.0]}),
        "data.length",
        "model.name",
    )
    curves = figures.learning_curves(pd.DataFrame({**run, "run_dir": ["a"] * 4, "step": [1, 2, 3, 4],
                                                   "grad_norm": [1.0, 2.0, 3.0, 4.0]}),
                                     "data.length", "model.name", None, "grad_norm", log=True)  # fmt: skip
    assert flow.axes[0].get_ylabel() == figures.STATE_GRADIENT == "gradient norm ‖∂L/∂h_t‖"
    assert curves.axes[0].get_ylabel() == "gradient norm ‖∂L/∂θ‖"
    plt.close("all")


def test_sweeps_with_different_keys_and_facets(tmp_path):
    make_tree(tmp_path / "a", lambda c: 1.0, model__name=["rnn", "rrn"], data__length=[5, 10],
              optimizer__name=["sgd", "adam"])  # fmt: skip
    make_tree(tmp_path / "b", lambda c: 0.5, model__name=["lstm"], data__length=[5, 10], init__name=["orthogonal"])
    out = tmp_path / "out"
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 24 + 6 and {"optimizer.name", "init.name"} <= set(runs.columns)
    summary = pd.read_csv(out / "summary.csv")
    assert {"optimizer.name", "init.name", "model.name", "data.length"} <= set(summary.columns)
    assert "columns = optimizer.name, rows = init.name" in (out / "report.md").read_text()


def test_role_overrides(tree):
    assert main([str(tree), "--x", "model.name", "--hue", "data.length", "--metric", "best_eval_accuracy"]) == 0
    summary = pd.read_csv(tree / "analysis" / "summary.csv")
    assert list(summary.columns[:2]) == ["data.length", "model.name"]


@pytest.mark.parametrize("make_arg", [lambda p: p / "missing", lambda p: p / "file.txt", lambda p: p])
def test_nothing_to_aggregate_is_a_clear_error(tmp_path, make_arg):
    (tmp_path / "file.txt").write_text("x")
    proc = subprocess.run([*AGGREGATE, str(make_arg(tmp_path))], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("aggregate_results: error:") and len(proc.stderr.strip().splitlines()) == 1


def test_never_imports_torch_nor_tunes_the_process(tree):
    code = (
        "import os, runpy, sys; sys.argv = ['seqlab-aggregate', sys.argv[1]]\n"
        "try:\n    runpy.run_module('multirun_analysis.aggregate_results', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'THP_MEM_ALLOC_ENABLE' not in os.environ, 'the process was tuned for training'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    proc = subprocess.run([sys.executable, "-c", code, str(tree)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr


def test_single_run_directory_gets_a_sibling_output(tmp_path):
    write_run(tmp_path / "run", {"model": {"name": "rnn"}, "data": {"length": 5}, "seed": 0}, 1.0)
    assert main([str(tmp_path / "run")]) == 0
    assert (tmp_path / "run-analysis" / "report.md").exists()


@pytest.mark.slow
def test_real_tiny_sweep_end_to_end(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "model=rnn,rrn", "data.length=3,5", "seed=0,1", *TINY, "grad_flow.enabled=true",
            f"hydra.sweep.dir={sweep}"]  # fmt: skip
    assert run_cli(*args).returncode == 0
    proc = subprocess.run([*AGGREGATE, str(sweep)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = sweep / "analysis"
    assert len(pd.read_csv(out / "runs.csv")) == 8
    assert (out / "gradient_flow.png").exists() and len(pd.read_csv(out / "grad_flow.csv")) > 0
    assert "None." in (out / "report.md").read_text()  # no problems


def test_keys_that_follow_from_a_group_option_are_not_factors(tmp_path):
    for optimizer, extra in (("sgd", {"momentum": 0.0}), ("adam", {"betas": [0.9, 0.999]})):
        for length in (5, 10):
            for seed in (1, 2):
                config = {"model": {"name": "rnn"}, "data": {"length": length}, "seed": seed,
                          "optimizer": {"name": optimizer, **extra}}  # fmt: skip
                write_run(tmp_path / "runs" / f"{optimizer}-{length}-{seed}", config, 1.0)
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(summary.columns[:3]) == ["optimizer.name", "model.name", "data.length"]


def test_results_page_regenerates_from_run_directories(tmp_path):
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    resumed = make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn", "lstm"], data__length=[5, 10, 15])[0]
    result = json.loads((resumed / rundir.RESULT).read_text())
    (resumed / rundir.RESULT).write_text(json.dumps(result | {"trained_on": ["AMD EPYC", "Intel Xeon"]}))
    docs.mkdir()
    (docs / "results_notes.md").write_text("The RNN holds on longer than the LSTM here.")
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    page = (docs / "results.md").read_text()
    assert "The RNN holds on longer than the LSTM here." in page
    assert "core-hours (AMD EPYC, Intel Xeon). " in page  # every processor that trained a resumed run, as the report
    assert (
        "| rnn | 3 | 10 | 5 to 10 | 0 | 0 | 0 | 5: 3/3, 10: 2/3, 15: 0/3 |" in page
    )  # censored above, below; non-monotone
    assert "95% interval of the share, for each n used here: n = 3: 0/3 [0.00-0.71], 1/3 [0.01-0.91]" in page
    report = (docs / "results/rnn_vs_lstm/report.md").read_text()  # 3 seeds: the bootstrap says it covers less
    assert "mean and 95% bootstrap interval over seeds (n < 10: covers less than 95%)" in report
    caption = "rnn_vs_lstm: eval_accuracy vs data.length by model.name. Setting: seeds 1-3 (n=3)"  # the report's
    assert f"![{caption}](results/rnn_vs_lstm/eval_accuracy_vs_data.length.png)" in page
    assert (docs / "results/rnn_vs_lstm/eval_accuracy_vs_data.length.png").exists()
    assert (
        not list((docs / "results/rnn_vs_lstm").glob("*.svg")) and not (docs / "results/rnn_vs_lstm/runs.csv").exists()
    )


def test_results_page_rebuilds_a_study_from_its_records_in_the_repository(tmp_path):
    from multirun_analysis.records import archive_path
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn", "lstm"], data__length=[5, 10, 15])
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    records, results = archive_path(docs / "results", "rnn_vs_lstm"), docs / "results" / "rnn_vs_lstm"
    tables = {name: (results / name).read_text() for name in ("summary.csv", "memory_capacity.csv", "report.md")}
    packed, page = records.read_bytes(), (docs / "results.md").read_text()
    shutil.rmtree(runs)  # a fresh clone: the run directories are not in the repository, their records are
    shutil.rmtree(results)
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert {name: (results / name).read_text() for name in tables} == tables
    assert (results / "eval_accuracy_vs_data.length.png").exists()
    assert "Rebuilt from each run's records in the repository" in (docs / "results.md").read_text()
    assert (docs / "results.md").read_text() == page  # the same page, whether the run directories are here or not
    assert records.read_bytes() == packed and not runs.exists()  # nothing written back, nothing left behind


def test_results_page_with_nothing_to_publish_writes_nothing(tmp_path, capsys):
    from multirun_analysis.results_page import main as results_page

    docs = tmp_path / "docs"
    assert results_page(["--runs", str(tmp_path / "mistyped"), "--docs", str(docs)]) == 2
    assert "nothing to publish: no study's run directories under" in capsys.readouterr().err
    assert not docs.exists()  # no empty page in place of the page


@pytest.mark.slow
def test_run_studies_reruns_every_study_on_the_results_page():
    """Every section of the page has its sweep in scripts/run_studies.sh (by preset or by sweep_name), so that
    `bash scripts/run_studies.sh` reruns whatever is missing."""
    import re

    from multirun_analysis.results_page import STUDIES

    script = (ROOT / "scripts" / "run_studies.sh").read_text()
    runs = set(re.findall(r"(?:\+experiment|sweep_name)=([\w.-]+)", script))
    missing = [name for name in STUDIES if name not in runs]
    assert not missing, f"studies on the page that run_studies.sh does not run: {missing}"


def test_the_committed_results_page_is_what_the_repository_alone_rebuilds(tmp_path, monkeypatch):
    """docs/results.md regenerated from a copy of docs/ without any run directory (a fresh clone): every section
    from its records or its committed tables, the ledger and the map from those, the notes as committed."""
    from multirun_analysis.results_page import main as results_page

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    assert results_page(["--runs", "outputs/multirun", "--docs", "docs"]) == 0
    rebuilt, committed = (tmp_path / "docs/results.md").read_text(), (ROOT / "docs/results.md").read_text()
    assert rebuilt == committed, "docs/results.md is not what the repository rebuilds: run seqlab-results-page"


def test_records_leave_out_a_run_directory_holding_a_link(tmp_path):
    from multirun_analysis.records import pack

    sweep = tmp_path / "study"
    make_tree(sweep, known_accuracy, model__name=["rnn"], data__length=[5, 10])
    linked = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    (tmp_path / "secret.csv").write_text("step,train_loss\n1,0.5\n")
    (linked / "metrics.csv").unlink()
    (linked / "metrics.csv").symlink_to(tmp_path / "secret.csv")
    runs = pack(sweep, tmp_path / "records.tar.gz")
    with tarfile.open(tmp_path / "records.tar.gz") as tar:
        names = tar.getnames()
    assert runs == len(list(sweep.glob("*/result.json"))) - 1 and not any(linked.name in n for n in names)


def test_records_unpack_only_plain_files_inside_their_folder(tmp_path):
    from multirun_analysis.records import unpacked

    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("study/run/result.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(tarfile.FilterError), unpacked(archive):
        pass


def test_a_study_unfinished_on_one_machine_resumes_on_another_from_its_saved_runs(tmp_path):
    """`seqlab records save` carries only completed runs; `restore` puts them back where a relaunch skips them,
    adds only what is missing and never overwrites a run directory that is there."""
    from multirun_analysis.records import main as records

    here, there, docs = tmp_path / "here", tmp_path / "there", tmp_path / "docs"
    done, failed, stopped = make_tree(here / "course", known_accuracy, model__name=["rnn"], data__length=[5, 10, 15],
                                      seeds=(1,))  # fmt: skip
    rundir.write_result(failed, json.loads((failed / rundir.RESULT).read_text()) | {"status": "failed"})
    (stopped / rundir.RESULT).unlink()  # stopped half-way: a checkpoint is not carried
    make_tree(here / "started", known_accuracy, model__name=["rnn"], data__length=[5], seeds=(1,))
    (next((here / "started").glob("*/" + rundir.RESULT))).unlink()  # nothing completed yet: nothing to save
    assert records(["--docs", str(docs), "save", str(here / "started")]) == 0
    assert not (docs / "results/progress/started.tar.gz").exists()
    assert records(["--docs", str(docs), "save", str(here / "course")]) == 0
    assert (docs / "results/progress/course.tar.gz").exists()
    assert records(["--docs", str(docs), "restore", "--runs", str(there)]) == 0
    assert sorted(p.name for p in there.joinpath("course").iterdir() if p.is_dir()) == [done.name]
    restored = there / "course" / done.name
    assert rundir.verdict(restored, rundir.read_result(restored)["config"]) == ("skip", None)
    (restored / "metrics.csv").write_text("kept\n")  # a run directory that is there is never overwritten
    assert records(["--docs", str(docs), "restore", "--runs", str(there)]) == 0
    assert (restored / "metrics.csv").read_text() == "kept\n"


def test_records_restore_refuses_a_study_folder_that_is_a_link(tmp_path, capsys):
    from multirun_analysis.records import main as records

    docs, runs, elsewhere = tmp_path / "docs", tmp_path / "runs", tmp_path / "elsewhere"
    make_tree(tmp_path / "course", known_accuracy, model__name=["rnn"], data__length=[5], seeds=(1,))
    records(["--docs", str(docs), "save", str(tmp_path / "course")])
    runs.mkdir()
    elsewhere.mkdir()
    (runs / "course").symlink_to(elsewhere)
    assert records(["--docs", str(docs), "restore", "--runs", str(runs)]) == 0
    assert "course: not restored" in capsys.readouterr().out and not list(elsewhere.iterdir())


def test_results_page_saves_a_training_study_and_drops_the_save_once_it_is_published(tmp_path):
    from multirun_analysis.records import PROGRESS, archive_path
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn"], data__length=[5, 10], seeds=(1,))
    rundir.write_plan(runs / "rnn_vs_lstm", planned=3, at_most=3)  # 2 of 3 runs completed: still training
    progress, records = (archive_path(docs / "results", "rnn_vs_lstm", kind) for kind in (PROGRESS, "records"))
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert progress.exists() and not records.exists() and "Vanilla RNN vs LSTM" not in (docs / "results.md").read_text()
    make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn"], data__length=[15], seeds=(1,))
    rundir.finish_plan(runs / "rnn_vs_lstm")
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert records.exists() and not progress.exists()


def test_results_page_shows_overflow_by_configuration_and_length():
    from multirun_analysis.results_page import overflow_table

    overflow = pd.DataFrame({
        "init.name": ["a", "a", "b", "b"], "data.length": [50, 100, 50, 100],
        "overflowed (k/n)": ["0/5", "2/5", "5/5", "5/5"], "in every row": [0, 1, 5, 5],
        "first_step_median": [math.nan, 21, 1, 1], "first_step_min": [math.nan, 2, 1, 1],
        "first_step_max": [math.nan, 40, 1, 1],
    })  # fmt: skip
    table = overflow_table(overflow)
    assert table.columns.tolist() == ["init.name", "L = 50", "L = 100"]
    assert table.values.tolist() == [["a", "0/5", "2/5 at 21 [2-40]"], ["b", "5/5 at 1", "5/5 at 1"]]


def test_results_page_keeps_a_study_that_is_still_training_out(tmp_path):
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn", "lstm"], data__length=[5, 10, 15])
    docs.mkdir()
    training = next(p for p in (runs / "rnn_vs_lstm").iterdir() if p.is_dir())
    hold = "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)"
    hold += "; fcntl.lockf(fd, fcntl.LOCK_EX); os.write(fd, b'host h pid 1'); print(flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(training / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()  # the lock is held
        assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    finally:
        holder.kill()
        holder.wait()  # the kernel releases the lock once the process is gone
    assert "## Vanilla RNN vs LSTM" not in (docs / "results.md").read_text()  # never half a study on the page
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert "## Vanilla RNN vs LSTM" in (docs / "results.md").read_text()


@pytest.mark.parametrize("text", ["step,train_loss\n5,not-a-number\n", "step,step\n5,6\n"])
def test_corrupt_metrics_csv_is_reported(tree, tmp_path, text):
    run = sorted(p for p in tree.iterdir() if p.is_dir())[0]
    (run / "metrics.csv").write_text(text)
    assert main([str(tree), "--out", str(tmp_path / "out")]) == 0
    assert f"| {run} | unreadable | metrics:" in (tmp_path / "out" / "report.md").read_text()


def test_report_warns_when_runs_mix_implementations(tmp_path):
    config = {"model": {"name": "rnn"}, "data": {"length": 5}}
    for seed, impl in enumerate(["fast", "fast", "fused"]):
        write_run(tmp_path / "runs" / f"seed={seed}", config | {"seed": seed}, 1.0, impl=impl)
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "mixed"), "--formats", "png"]) == 0
    report = (tmp_path / "mixed" / "report.md").read_text()
    assert "Mixed implementations" in report and "fast (2 runs)" in report and "fused (1 runs)" in report
    (tmp_path / "runs" / "seed=2").rename(tmp_path / "seed=2")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "same"), "--formats", "png"]) == 0
    assert "Mixed implementations" not in (tmp_path / "same" / "report.md").read_text()


def test_capacity_heatmap_cells_say_median_and_spread():
    from multirun_analysis import figures

    per_seed = pd.DataFrame({
        "optimizer": ["sgd"] * 2 + ["adam"] * 2 + ["rmsprop"] * 2 + ["nag"] * 2 + ["lion"] * 2, "model": ["gru"] * 10,
        "capacity": [None, None, 35, 50, 45, 45, None, 50, 50, 50],
        "first_failure": [5, 5, 40, None, 50, 50, 5, None, None, None],
        "censored": [True, True, False, True, False, False, True, True, True, True], "non_monotone": [False] * 10,
        "largest_tested": [5, 5, 40, 50, 50, 50, 5, 50, 50, 50],
    })  # fmt: skip
    drawn = figures.capacity_heatmap(per_seed, "optimizer", "model", "data.length")
    cells = sorted(text.get_text() for text in drawn.axes[0].texts)
    # lower median: a tested length; a seed that never failed reads >= (its longest tested), one that failed its
    # shortest reads < (that length), as in the tables
    assert cells == ["35\n35–≥50 (n=2)", "45\nall 2 seeds", "<5\n<5–≥50 (n=2)", "<5\nall 2 seeds", "≥50\nall 2 seeds"]
    assert drawn.axes[0].collections[0].get_clim() == (0, 50)  # colours from 0 to the longest tested length


def test_two_categorical_factors_get_a_capacity_heatmap(tmp_path):
    def accuracy(config: dict) -> float:
        capacity = {"rnn": 10, "lstm": 15}[config["model.name"]] + 5 * (config["init.name"] == "orthogonal")
        return 1.0 if config["data.length"] <= capacity else 0.1

    make_tree(tmp_path / "sweep", accuracy, seeds=(1, 2), model__name=["rnn", "lstm"],
              init__name=["default", "orthogonal"], data__length=[5, 10, 15, 20])  # fmt: skip
    assert main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 0
    assert matplotlib.image.imread(tmp_path / "out" / "memory_capacity_heatmap.png").shape[0] > 100
    capacity = pd.read_csv(tmp_path / "out" / "memory_capacity.csv").set_index(["init.name", "model.name"])
    assert capacity.loc[("orthogonal", "rnn"), "capacity_median"] == 15
    assert capacity.loc[("orthogonal", "lstm"), "censored_at_least"] == 2  # every tested L solved: at least 20


def test_compute_counts_core_hours_by_threads_and_gpu_hours_apart():
    runs = pd.DataFrame({
        "wall_time_s": [3600.0, 1800.0, 7200.0, None], "result.threads": [2, 1, 4, 1],
        "result.device": ["cpu", "cpu", "cuda", "cpu"], "device_name": ["AMD EPYC", "AMD EPYC", "NVIDIA H200", None],
    })  # fmt: skip
    assert compute_used(runs) == "4 runs, 2.50 core-hours and 2.00 GPU-hours (AMD EPYC, NVIDIA H200)"
    runs["trained_on"] = [["AMD EPYC", "Intel Xeon"], None, ["NVIDIA H200"], []]  # a run resumed on another CPU
    assert compute_used(runs) == "4 runs, 2.50 core-hours and 2.00 GPU-hours (AMD EPYC, Intel Xeon, NVIDIA H200)"


def test_studies_on_different_processors_are_named_by_processor_from_their_reports(tmp_path):
    for study, processors in [("a", "AMD EPYC"), ("b", "Intel Xeon"), ("c", "AMD EPYC, Intel Xeon"), ("d", "AMD EPYC"),
                              ("e", "AMD EPYC, not recorded"), ("f", "not recorded")]:  # fmt: skip
        (tmp_path / study).mkdir()
        (tmp_path / study / "report.md").write_text(f"# {study}\n\n- compute: 3 runs, 0.10 core-hours ({processors})\n")
    assert recorded_compute(tmp_path / "a") == "3 runs, 0.10 core-hours (AMD EPYC)"
    assert recorded_compute(tmp_path / "none") is None
    assert across_processors(tmp_path, {"a", "d", "none"}) == ""  # one processor; one not recorded
    assert across_processors(tmp_path, {"a", "e", "f"}) == ""  # a processor not recorded is no CPU model of its own
    assert across_processors(tmp_path, {"b", "e"}) == "; runs on different CPU models: AMD EPYC (e), Intel Xeon (b)"
    assert across_processors(tmp_path, {"a", "b", "c", "d"}) == (
        "; runs on different CPU models: AMD EPYC (a, d), AMD EPYC and Intel Xeon (c), Intel Xeon (b)"
    )


def test_a_run_that_never_converged_counts_at_its_budget_even_when_it_stopped_early():
    runs = pd.DataFrame({
        "model": ["a"] * 3 + ["b"] * 3, "train.max_steps": [10_000] * 6,
        "steps_to_converge": [500, None, None, 500, 700, None], "steps": [2_000, 10_000, 1_750, 2_000, 2_200, 1_750],
    })  # fmt: skip
    table = convergence(runs, ["model"]).set_index("model")
    assert table.loc["a"].tolist() == ["1/3", 10_000, True, 10_000, 10_000, True, 2_000]  # the median: a bound
    assert table.loc["b"].tolist() == ["2/3", 700, False, 10_000, 10_000, True, 2_000]  # one stopped, unconverged
    assert convergence(runs.iloc[[0, 3, 4]], ["model"]).set_index("model").loc["b", "max_steps"] == 700


def test_runs_whose_gradient_norm_overflowed_are_counted_and_reported(make_cfg, tmp_path, caplog):
    from seqlab.train import train

    curves = pd.DataFrame({  # b's NaN: inf - inf; c's last row is an evaluation only
        "run_dir": ["a", "a", "b", "b", "c", "c"], "step": [50, 100, 50, 100, 50, 50],
        "train_accuracy": [0.1, 0.1, 0.5, 0.1, 0.5, None], "grad_norm": [math.inf, math.inf, 1.0, math.nan, 2.0, None],
    })  # fmt: skip
    runs = pd.DataFrame({"run_dir": ["a", "b", "c", "d"], "model": ["x", "x", "x", "y"]})
    counts = overflow_rows(runs, curves)
    assert counts["metric_rows"].tolist() == [2, 2, 1, 0] and counts["grad_overflow_rows"].tolist() == [2, 1, 0, 0]
    assert counts["first_overflow_step"].tolist() == [50, 100, pd.NA, pd.NA]
    table = overflow(runs.assign(**counts), ["model"]).set_index("model")
    assert table.loc["x"].tolist() == ["2/3", 1, 75.0, 50.0, 100.0]
    assert table.loc["y", "overflowed (k/n)"] == "0/1" and math.isnan(table.loc["y", "first_step_median"])
    # a real run that overflows: N(0, 1) weights, digits fed as 0-9, an RRN over 60 steps
    train(make_cfg("model=rrn", "data.encoding=scalar", "init=standard_normal", "data.length=60"), tmp_path / "runs/a")
    assert "the gradient norm overflowed float32 (inf) by step 5" in caplog.text  # said once, at the first row
    assert caplog.text.count("overflowed float32") == 1
    train(make_cfg("model=rrn", "data.length=5"), tmp_path / "runs/b")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    runs = pd.read_csv(tmp_path / "out/runs.csv").set_index("data.length")
    assert runs.loc[60, "grad_overflow_rows"] == runs.loc[60, "metric_rows"] == 4
    assert runs.loc[5, "grad_overflow_rows"] == 0
    assert "1 of 2 runs had a gradient norm that overflowed" in (tmp_path / "out/report.md").read_text()
    assert runs.loc[60, "first_overflow_step"] == 5 and pd.isna(runs.loc[5, "first_overflow_step"])
    by_length = pd.read_csv(tmp_path / "out/overflow.csv").set_index("data.length")
    assert by_length.loc[60, "overflowed (k/n)"] == "1/1" and by_length.loc[5, "overflowed (k/n)"] == "0/1"


def test_the_gradient_norm_figure_needs_a_run_with_a_curve_before_its_overflow():
    from multirun_analysis.aggregate_results import overflow_curves

    completed = pd.DataFrame({"run_dir": ["a", "b", "c"], "grad_overflow_rows": [1, 3, 0]})
    at_once = pd.DataFrame({"run_dir": ["a", "a", "b", "c", "c"], "step": [1, 2, 1, 1, 2],
                            "grad_norm": [5.0, math.inf, math.nan, 1.0, 2.0]})  # fmt: skip
    assert overflow_curves(completed, at_once) is None  # a: one finite row, b: none; c never overflowed
    grew = pd.concat([at_once, pd.DataFrame({"run_dir": ["a"], "step": [0], "grad_norm": [1.0]})])
    assert sorted(overflow_curves(completed, grew)["step"]) == [0, 1]  # a's norm before it overflowed
    assert overflow_curves(completed, at_once.drop(columns="grad_norm")) is None


def test_capacity_over_seeds_keeps_censoring_and_never_gives_an_untested_median():
    from multirun_analysis.stats import capacity_over_seeds

    per_seed = pd.DataFrame({"capacity": [math.nan, 50, 200, 200], "first_failure": [50, 100, math.nan, 250],
                             "censored": [True, False, True, False], "non_monotone": [False] * 4})  # fmt: skip
    row = capacity_over_seeds(per_seed, []).iloc[0]
    assert (row["median"], row["range"], row["capacity_median"]) == ("50", "< 50 to >= 200", 50)
    two = capacity_over_seeds(per_seed.iloc[1:3].assign(censored=False), []).iloc[0]
    assert two["median"] == "50" and two["range"] == "50 to 200"  # the lower median, not 125


def test_one_seed_gets_no_interval():
    from multirun_analysis.stats import summarize

    table = summarize(pd.DataFrame({"model.name": ["rnn", "rnn", "lstm"], "eval_accuracy": [0.5, 0.7, 0.9]}),
                      ["model.name"], "eval_accuracy")  # fmt: skip
    lstm, rnn = table.set_index("model.name").loc["lstm"], table.set_index("model.name").loc["rnn"]
    assert lstm["interval"] == "n = 1: no interval" and math.isnan(lstm["ci_low"]) and math.isnan(lstm["ci_high"])
    assert rnn["n"] == 2 and 0.5 <= rnn["ci_low"] < rnn["ci_high"] <= 0.7


def test_runs_that_diverged_are_told_apart_from_runs_that_did_not_remember():
    from multirun_analysis.figures import run_outcome

    runs = pd.DataFrame({"steps_to_converge": [500, None, None, None], "diverged": [False, False, True, None],
                         "grad_overflow_rows": [0, 0, 0, 4], "metric_rows": [4, 4, 4, 4]})  # fmt: skip
    assert run_outcome(runs).tolist() == ["converged", "never (at budget)", "diverged (inf/NaN)", "diverged (inf/NaN)"]


def test_every_figure_carries_its_setting_in_the_image(tree):
    assert main([str(tree)]) == 0
    png = tree / "analysis" / "eval_accuracy_vs_data.length.png"
    stamped = matplotlib.image.imread(png)
    from multirun_analysis import figures

    figures.setup_style()
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(4, 3))
    figure.add_subplot().plot([0, 1])
    bare = figures.save(figure, tree, "bare", ["png"])
    with_setting = plt.figure(figsize=(4, 3))
    with_setting.add_subplot().plot([0, 1])
    figures.save(with_setting, tree, "stamped", ["png"], "encoding onehot, hidden 8, seeds 1-3 (n=3)")
    assert matplotlib.image.imread(tree / "stamped.png").shape[0] > matplotlib.image.imread(tree / bare).shape[0]
    assert stamped.shape[0] > 0
    assert "Setting: " in (tree / "analysis" / "report.md").read_text()


def test_results_page_keeps_a_grid_sweep_that_has_not_finished_out(tmp_path):
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    make_tree(runs / "rnn_vs_lstm", known_accuracy, model__name=["rnn", "lstm"], data__length=[5, 10, 15])
    rundir.write_plan(runs / "rnn_vs_lstm", 20, 20)  # 18 of 20 completed
    docs.mkdir()
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert "Vanilla RNN vs LSTM" not in (docs / "results.md").read_text()
    rundir.write_plan(runs / "rnn_vs_lstm", 18, 18)
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert "Vanilla RNN vs LSTM" not in (docs / "results.md").read_text()  # all 18 completed, but still launching
    rundir.finish_plan(runs / "rnn_vs_lstm")
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert "Vanilla RNN vs LSTM" in (docs / "results.md").read_text()
    assert "Unfinished" not in (docs / "results.md").read_text()
    rundir.write_plan(runs / "rnn_vs_lstm", None, 40)  # a capacity search, one of its runs stopped midway
    first = next(iter(rundir.find_run_dirs(runs / "rnn_vs_lstm")))
    rundir.write_result(first, {**rundir.read_result(first), "status": "interrupted"})
    docs_before = (docs / "results.md").read_text()
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    assert (docs / "results.md").read_text() == docs_before  # its launch stopped with it: the page is kept
    rundir.finish_plan(runs / "rnn_vs_lstm")  # the launch returned with the run stopped (a preempted SLURM job)
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    page = (docs / "results.md").read_text()
    assert "Unfinished: 1 run stopped midway (checkpointed; its command resumes them)" in page


def test_a_capacity_table_from_before_censoring_text_gets_it_from_its_numbers():
    from multirun_analysis.stats import with_censoring_text

    old = pd.DataFrame({  # 2 seeds: 5 and 10 (median 7.5 then); 2 seeds at >= 20; 5 seeds, one below 5
        "model.name": ["lstm", "rrn", "rnn"], "seeds": [2, 2, 5], "capacity_median": [7.5, 20.0, 10.0],
        "capacity_min": [5.0, 20.0, math.nan], "capacity_max": [10.0, 20.0, 20.0], "censored": [0, 2, 2],
        "non_monotone": 0, "solved (k/n) by data.length": ["5: 2/2, 10: 1/2, 20: 0/2", "5: 2/2, 10: 2/2, 20: 2/2",
                                                         "5: 4/5, 10: 3/5, 20: 1/5"],
    })  # fmt: skip
    table = with_censoring_text(old).set_index("model.name")
    assert table.loc["lstm", ["median", "range"]].tolist() == ["5", "5 to 10"]  # the lower median, a tested length
    assert table.loc["rrn", ["median", "range"]].tolist() == [">= 20", "all 2 seeds"]
    assert table.loc["rnn", ["median", "range"]].tolist() == ["10", "< 5 to >= 20"]
    assert list(table.columns[:3]) == ["seeds", "median", "range"]
    assert with_censoring_text(table) is table  # a table that has them stays as it is


@pytest.mark.parametrize(("lengths", "scale"), [([10, 25, 50, 100, 400], "log"), ([5, 10, 25, 50], "linear")])
def test_lengths_spanning_a_factor_of_20_are_drawn_on_a_log_axis_ticked_at_each(lengths, scale):
    seeds = [1] * len(lengths) + [2] * len(lengths)
    runs = pd.DataFrame({"model.name": "gru", "data.length": lengths * 2, "seed": seeds, "eval_accuracy": 0.5})
    ax = figures.metric_vs_x(runs, "data.length", "eval_accuracy", "model.name", None, None, "t").axes[0]
    assert ax.get_xscale() == scale and list(ax.get_xticks()) == lengths
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(n) for n in lengths]
    plt.close("all")


@pytest.mark.parametrize(("lengths", "scale"), [([10, 25, 100, 400], "log"), ([5, 10, 25, 50], "linear")])
def test_capacities_spanning_a_factor_of_20_are_drawn_on_a_log_axis_ticked_at_each_tested_length(lengths, scale):
    from multirun_analysis.stats import capacity_per_seed

    solved = {"gru": lengths, "rnn": lengths[:1], "rrn": []}  # gru never fails; rnn fails the second; rrn the first
    runs = pd.DataFrame([{"model.name": cell, "data.length": n, "seed": 1, "solved": n in passed}
                         for cell, passed in solved.items() for n in lengths])  # fmt: skip
    per_seed = capacity_per_seed(runs, "data.length", ["model.name"])
    ax = figures.capacity_per_seed(per_seed, "model.name", None, None, "data.length").axes[0]
    ticked = [lengths[0], lengths[1], lengths[-1]]  # the capacities and first failures the seeds show
    assert ax.get_yscale() == scale and list(ax.get_yticks()) == ticked
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(n) for n in ticked]
    bottom, top = ax.get_ylim()  # every dot inside: the rrn's ▼ at half its first length, the gru's ▲ at the last
    assert bottom < lengths[0] / 2 and top > lengths[-1] and (bottom > 0) == (scale == "log")
    plt.close("all")


def sweep_with_plan(sweep: Path, preset: str, given: list[str]) -> Path:
    sweep.mkdir(parents=True, exist_ok=True)
    plan = {"hydra": {"sweeper": {"params": {"seed": "1,2", "data.length": preset}}, "overrides": {"task": given}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(plan))
    return sweep


def test_the_lengths_a_sweep_planned_come_from_its_multirun_yaml(tmp_path):
    preset = sweep_with_plan(tmp_path / "preset", "range(50,500,50)", ["+experiment=x", "model=rrn"])
    given = sweep_with_plan(tmp_path / "given", "range(50,500,50)", ["data.length=50,100,150"])
    assert planned_values([preset], "data.length") == list(range(50, 500, 50))
    assert planned_values([given], "data.length") == [50, 100, 150]  # the command line's sweep wins
    assert planned_values([preset, given], "data.length") == list(range(50, 500, 50))
    assert planned_values([preset], "model.hidden_size") == []  # not swept: the tested values alone
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "multirun.yaml").write_text("hydra: [unclosed")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "multirun.yaml").symlink_to(preset / "multirun.yaml")  # a link out of its sweep: not read
    assert planned_values([tmp_path / "bad", tmp_path / "link", tmp_path / "none"], "data.length") == []


def joined_lines(ax: plt.Axes) -> list[list[float]]:
    """The x values of each solid line drawn on `ax` (the lines that join summary points); closes the figures."""
    lines = [list(line.get_xdata()) for line in ax.lines if line.get_linestyle() == "-" and len(line.get_xdata())]
    plt.close("all")
    return lines


def test_no_line_is_drawn_across_lengths_a_capacity_search_planned_but_never_tested():
    tested = [50, 100, 200, 400, 450]  # of range(50, 500, 50): nothing ran 150, 250, 300 or 350
    runs = pd.DataFrame({"model.name": "rrn", "data.length": tested * 2, "seed": [1] * 5 + [2] * 5,
                         "eval_accuracy": 1.0})  # fmt: skip

    def segments(planned: list[int]) -> list[list[float]]:
        ax = figures.metric_vs_x(runs, "data.length", "eval_accuracy", "model.name", None, None, "t",
                                 planned=planned).axes[0]  # fmt: skip
        return joined_lines(ax)

    assert segments(list(range(50, 500, 50))) == [[50, 100], [400, 450]]
    assert segments([]) == [[50, 100], [400, 450]]  # without a plan: the tested lengths' regular step is 50


def test_no_line_is_drawn_across_lengths_a_grid_left_out_but_a_geometric_grid_is_joined():
    def segments(tested: list[int]) -> list[list[float]]:
        runs = pd.DataFrame({"model.name": "rnn", "data.length": tested * 2, "seed": [1] * len(tested) +
                             [2] * len(tested), "eval_accuracy": 0.5})  # fmt: skip
        ax = figures.metric_vs_x(runs, "data.length", "eval_accuracy", "model.name", None, None, "t").axes[0]
        return joined_lines(ax)

    assert segments([10, 30, 35, 40]) == [[30, 35], [35, 40]]  # 15..25 left out: no line from 10 to 30
    assert segments([1, 2, 5, 10, 20]) == [[1, 2], [2, 5], [5, 10], [10, 20]]  # no regular step: all joined
    assert segments([5, 10]) == [[5, 10]]


def test_the_median_steps_are_joined_only_between_neighbouring_lengths_two_or_more_seeds_ran():
    runs = pd.DataFrame({"model.name": "rrn", "data.length": [50, 50, 100, 100, 150, 200, 200], "seed": 1,
                         "steps_to_converge": [500.0, 700, 900, None, 1000, 1500, 1700], "train.max_steps": 5000,
                         "converged": True})  # fmt: skip
    ax = figures.steps_to_converge(runs, "data.length", "model.name", None, None, planned=[50, 100, 150, 200]).axes[0]
    medians = next(line for line in ax.lines if line.get_marker() == "_")
    joined = joined_lines(ax)
    assert joined == [[50, 100]]  # 150: one seed, its own dot; no line across it to 200
    assert list(medians.get_xdata()) == [50, 100, 200] and list(medians.get_ydata()) == [
        500,
        900,
        1500,
    ]  # lower medians


def test_two_page_builds_take_turns_on_the_docs_directory(tmp_path):
    from multirun_analysis.results_page import one_builder

    docs = tmp_path / "docs"
    (docs / "results" / "rnn_vs_lstm").mkdir(parents=True)
    (docs / "results" / "rnn_vs_lstm" / "summary.csv").write_text("model.name\nrnn\n")  # a study to publish
    command = [sys.executable, "-m", "multirun_analysis.results_page", "--runs", str(tmp_path), "--docs", str(docs)]
    with one_builder(docs):  # a first build holds the docs: the second process waits on the lock
        second = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
        for _ in range(600):
            if any("-> FLOCK" in line and f" {second.pid} " in line for line in open("/proc/locks")):
                break
            assert second.poll() is None, "the second build finished while the first held the docs"
            time.sleep(0.1)
        else:
            pytest.fail("the second build never waited on the lock")
        assert not (docs / "results.md").exists()
    assert second.wait(timeout=120) == 0 and (docs / "results.md").exists()


def test_the_best_batch_at_chance_is_the_median_of_simulated_runs():
    best = np.random.default_rng(0).binomial(128, 0.1, size=(2001, 10_000)).max(axis=1)  # right, of 128
    median = chance_best_batch(128, 0.1, 10_000) * 128
    assert median == 27 and (best <= median).mean() > 0.5 > (best <= median - 1).mean()  # 0.21, not 0.1
    assert chance_best_batch(128, 0.1, 1) == 13 / 128 and chance_best_batch(10, 1.0, 5) == 1.0


def test_results_page_sets_the_reports_batch_accuracies_beside_held_out(tmp_path):
    from multirun_analysis.results_page import main as results_page

    runs, docs = tmp_path / "multirun", tmp_path / "docs"
    for run in make_tree(runs / "ledger_batch_accuracy", known_accuracy, model__name=["rnn"], data__length=[5, 15]):
        result = rundir.read_result(run)
        rundir.write_result(run, result | {"best_train_accuracy": 0.25})
    assert results_page(["--runs", str(runs), "--docs", str(docs)]) == 0
    page = (docs / "results.md").read_text()
    assert "A model at chance (1 in 10) scores 0.21 as its best of 10,000 batches of 128" in page
    header = "| model.name | data.length | seeds | final training accuracy | best training batch | held-out accuracy |"
    assert header in page and "| rnn | 15 | 3 | 0.50 | 0.25 | 0.50 | 0/3 |" in page


def test_an_aggregate_of_faceted_figures_with_long_row_titles_prints_no_warning(tmp_path, capsys):
    factors = {"model__name": ["rnn"], "data__length": [10], "optimizer__lr": [1e-3, 1e-2]}  # rows: a combined
    make_tree(tmp_path / "a", lambda c: 0.5, train__max_steps=[300], train__max_norm=[10.0], **factors)  # config
    make_tree(tmp_path / "b", lambda c: 0.5, train__max_steps=[400], train__max_norm=[5.0], **factors)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert [str(w.message) for w in caught] == []  # "Tight layout not applied" was printed for 5 figures
    assert "arning" not in capsys.readouterr().err


def test_dense_per_seed_dots_are_an_image_inside_the_svg(tmp_path):
    runs = pd.DataFrame({"model.name": "rnn", "data.length": np.repeat([5, 10, 15, 20, 25], 500),
                         "eval_accuracy": np.linspace(0, 1, 2500), "steps_to_converge": 100.0})  # fmt: skip
    figures.save(figures.metric_vs_x(runs, "data.length", "eval_accuracy", "model.name", None, None, "t"), tmp_path,
                 "dense", ["svg"])  # fmt: skip
    svg = (tmp_path / "dense.svg").read_text()
    assert "<image" in svg and svg.count("<path") < 500  # 2,500 dots as one image, not 2,500 paths


def test_a_diverged_run_is_clipped_on_a_log_axis_and_said_to_be():
    """The adding problem's error at T = 100: GRU 0.004, LSTM 0.09 and an RRN that diverged to 1e23, over a baseline
    of 1/6. The RRN's seeds are drawn at 100x the baseline (16.7), a dashed line there says so, and the axis stops
    short of 1e23."""
    figures.setup_style("adding")
    try:
        errors = {"gru": 0.004, "lstm": 0.09, "rrn": 1e23}
        runs = pd.DataFrame([{"model.name": m, "data.length": 100, "seed": s, "eval_loss": e, "run_dir": f"{m}{s}"}
                             for m, e in errors.items() for s in (1, 2)])  # fmt: skip
        figure = figures.metric_vs_x(runs, "data.length", "eval_loss", "model.name", None, None, "t", 1 / 6, False)
        ax = figure.axes[0]
        assert ax.get_yscale() == "log" and ax.get_ylim()[1] < 1000
        dots = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())])
        assert dots.max() == pytest.approx(100 / 6) and 0.004 in dots
        notes = [text.get_text() for text in ax.texts]
        assert "2 runs diverged (> 100x baseline): drawn here" in notes
        plain = figures.metric_vs_x(runs[runs["model.name"] != "rrn"], "data.length", "eval_loss", "model.name",
                                    None, None, "t", 1 / 6, False)  # fmt: skip
        assert not any("diverged" in text.get_text() for text in plain.axes[0].texts)  # nothing clipped, nothing said
    finally:
        figures.setup_style()
        plt.close("all")
