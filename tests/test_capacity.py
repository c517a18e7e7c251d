"""Capacity search: the search itself on known outcomes, and the sweeper against a full grid of real runs."""

import math
import re

import pandas as pd
import pytest
from conftest import run_cli, tiny

from multirun_analysis.aggregate_results import main as aggregate
from seqlab.capacity import Capacity, Search, is_solved

LENGTHS = list(range(5, 455, 5))


def run_search(search: Search, solves) -> Search:
    while (position := search.next_probe()) is not None:
        assert position not in search.outcomes, "a probe is never repeated"
        search.record(position, solves(search.candidates[position]))
    return search


def test_search_finds_every_boundary_in_few_probes():
    for boundary in [0, *LENGTHS]:
        found = run_search(Search(LENGTHS), lambda length, b=boundary: length <= b).capacity()
        if boundary == 0:
            assert math.isnan(found.capacity) and found.censored and found.tested == 1
        else:
            assert found.capacity == boundary and found.censored == (boundary == LENGTHS[-1])
        assert found.tested <= 2 * math.ceil(math.log2(len(LENGTHS))) + 1 and not found.non_monotone


def test_probes_go_up_by_doubling_then_bisect():
    search = run_search(Search(LENGTHS), lambda length: length <= 100)
    assert [LENGTHS[p] for p in search.outcomes] == [5, 10, 20, 40, 80, 160, 120, 100, 110, 105]


def test_verification_probes_report_non_monotone_solving():
    holes = {30, 60}  # not solved although shorter than the boundary
    search = run_search(Search(LENGTHS, verify=3), lambda length: length <= 100 and length not in holes)
    found = search.capacity()
    assert found.non_monotone and found.tested == 13
    assert found.capacity < 100  # the first failure now lies below the boundary the search found


def test_capacity_of_tested_lengths():
    assert Capacity.of({5: True, 10: True, 15: False, 20: True}) == Capacity(10, 15, 20, False, 4, True)
    solved_all = Capacity.of({5: True, 10: True})
    assert solved_all.capacity == 10 and math.isnan(solved_all.first_failure) and solved_all.censored
    below = Capacity.of({5: False, 10: False})
    assert math.isnan(below.capacity) and below.first_failure == 5 and below.censored


# A tiny, deterministic setting whose outcome is monotone in L for these seeds (seed 1 is not: it solves L = 7
# after failing L = 6 - the assumption the sweeper states).
SETTING = ["model=lstm", "model.hidden_size=16", "train.batch_size=32", "train.max_steps=200", "train.eval_every=25",
           "eval.batches=2", "optimizer=adam", "optimizer.lr=0.01", "threads=1", "train.progress=false"]  # fmt: skip
SWEEP = ["seed=2,3", "data.length=range(2,34)"]


@pytest.mark.slow
def test_capacity_sweep_agrees_with_the_grid_in_a_quarter_of_the_runs(tmp_path):
    grid = run_cli("-m", *SETTING, *SWEEP, "sweep_name=grid", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr[-2000:]
    search = run_cli("-m", "hydra/sweeper=capacity", *SETTING, *SWEEP, "sweep_name=capacity", cwd=tmp_path)
    assert search.returncode == 0, search.stderr[-2000:]
    root = tmp_path / "outputs" / "multirun"
    grid_runs = len(list((root / "grid").glob("*/result.json")))
    probes = len(list((root / "capacity").glob("*/result.json")))
    assert grid_runs == 64 and probes <= grid_runs / 4

    assert aggregate([str(root / "grid")]) == 0
    from_grid = pd.read_csv(root / "grid" / "analysis" / "capacity_per_seed.csv").set_index("seed")
    found = pd.read_csv(root / "capacity" / "capacity.csv").set_index("seed")
    assert not from_grid["non_monotone"].any(), "the setting must be monotone for the comparison to hold"
    assert list(found.columns[: len(Capacity.__dataclass_fields__)]) == list(Capacity.__dataclass_fields__)
    for column in ("capacity", "first_failure", "censored"):
        assert (found[column] == from_grid[column]).all(), column
    assert found["finished"].all() and found["tested"].sum() == probes
    for seed, row in found.iterrows():
        line = f"seed={seed}: capacity {row['capacity']} (first failure data.length={row['first_failure']})"
        assert line in search.stderr

    # The aggregator reads the capacity sweep's probes as it reads the grid: the same capacities.
    assert aggregate([str(root / "capacity")]) == 0
    again = pd.read_csv(root / "capacity" / "analysis" / "capacity_per_seed.csv").set_index("seed")
    assert (again["capacity"] == from_grid["capacity"]).all()

    # Relaunching re-uses every probe: nothing trains.
    relaunch = run_cli("-m", "hydra/sweeper=capacity", *SETTING, *SWEEP, "sweep_name=capacity", cwd=tmp_path)
    assert relaunch.returncode == 0 and f"{probes} already completed (skipped)" in relaunch.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (["seed=1,2"], "hydra/sweeper=capacity needs a swept data.length"),
        (["data.length=10"], "data.length: a capacity search needs at least two candidate values, got 1"),
        (["data.length=5,ten"], "data.length='ten' is invalid: capacity candidates must be numbers"),
        (["data.length=5,10", "hydra.sweeper.solved=best"], "hydra.sweeper.solved='best' is invalid: expected one of"),
    ],
)
def test_bad_capacity_sweeps_stop_with_one_line(tmp_path, sweep, message):
    proc = run_cli("-m", "hydra/sweeper=capacity", *sweep, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"seqlab: error: {message}"), proc.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("result.json"))


@pytest.mark.slow
def test_a_probe_holding_another_configs_result_halts_its_search(tmp_path):
    args = ["-m", "hydra/sweeper=capacity", *SETTING, "data.length=2,3,40", "hydra.sweep.dir=sweep"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    (tmp_path / "conf" / "local").mkdir(parents=True)  # a changed default: the same directories, another config
    (tmp_path / "conf" / "local" / "default.yaml").write_text("# @package _global_\ntrain:\n  max_norm: 5.0\n")
    refused = run_cli(*args, cwd=tmp_path)
    assert refused.returncode == 1 and "1 runs: 0 trained, 0 already completed (skipped), 1 failed" in refused.stderr
    assert "HALTED: " in refused.stderr and "another config (train.max_norm: 10.0 -> 5.0)" in refused.stderr
    table = pd.read_csv(tmp_path / "sweep" / "capacity.csv")
    assert not table["finished"].any() and table["tested"].isna().all()  # nothing recorded from the old results


@pytest.mark.slow
def test_a_grid_that_sweeps_the_length_prints_each_configurations_capacity(tmp_path):
    proc = run_cli("-m", *tiny("model=lstm", "model.hidden_size=16", "train.max_steps=200", "data.length=2,3,40"),
                   "seed=2,3", f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("seqlab capacity: ")]
    assert [line.split(":")[1].strip() for line in lines] == ["seed=2", "seed=3"]
    assert all(re.search(r": capacity (\d+|< 2) .*, 3 tested$", line) for line in lines), lines


def test_solved_and_stayed_solved_needs_the_final_evaluation_solved_too():
    base = {"eval.solved_accuracy": 0.99, "eval.solved_mse": 0.01}
    forgot = base | {"converged": True, "eval_accuracy": 0.41}  # solved once, then lost it (the course RNN at L = 15)
    kept = base | {"converged": True, "eval_accuracy": 1.0}
    late = base | {"converged": False, "eval_accuracy": 0.995}  # never counted: it never converged
    regression = base | {"converged": True, "eval_accuracy": None, "eval_loss": 0.004}
    assert [is_solved(r, "converged") for r in (forgot, kept, late, regression)] == [True, True, False, True]
    assert [is_solved(r, "stayed_solved") for r in (forgot, kept, late, regression)] == [False, True, False, True]
    assert [is_solved(r, "final_accuracy") for r in (forgot, kept, late)] == [False, True, True]
