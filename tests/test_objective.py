"""A run returns its objective (`optimized_metric`) to Hydra's sweepers: Optuna's optimises it, the basic sweeper
runs, and seqlab's sweepers still count what became of each run."""

import pickle

import pytest
from conftest import TINY, needs, run_cli

from seqlab.jobs import Outcome
from seqlab.rundir import OPTIMIZED_METRICS

OPTUNA = ["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.direction=maximize",
          "hydra.sweeper.sampler.seed=7", "optimizer.lr=interval(1e-4,1e-2)", "sweep_name=optuna"]  # fmt: skip


def test_an_outcome_is_a_float_that_keeps_what_the_sweepers_count_across_processes():
    outcome = Outcome.of({"status": "completed", "eval_accuracy": 0.75}, "eval_accuracy", "/runs/a", skipped=True)
    copy = pickle.loads(pickle.dumps(outcome))
    assert float(copy) == 0.75 and (copy.status, copy.skipped, copy.run_dir) == ("completed", True, "/runs/a")
    never = Outcome.of({"status": "completed", "steps_to_converge": None}, "steps_to_converge", "/runs/b")
    assert never != never  # NaN: the run never converged
    assert {"eval_accuracy", "eval_loss", "steps_to_converge", "best_eval_accuracy"} <= set(OPTIMIZED_METRICS)


@pytest.mark.slow
@needs("hydra_plugins.hydra_optuna_sweeper", "optuna")
def test_a_real_optuna_sweep_optimises_the_runs_metric_and_a_relaunch_skips_its_runs(tmp_path):
    first = run_cli(*OPTUNA, *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Best value: " in first.stdout + first.stderr and "No trials are completed" not in first.stderr
    runs = [p for p in (tmp_path / "outputs" / "multirun" / "optuna").iterdir() if p.is_dir()]
    assert len(runs) == 3 and all((p / "result.json").exists() for p in runs)
    again = run_cli(*OPTUNA, *TINY, cwd=tmp_path)  # the same seed proposes the same trials: each is skipped
    assert again.returncode == 0 and (again.stdout + again.stderr).count("skipping") == 3


@pytest.mark.slow
def test_hydras_basic_sweeper_runs_seqlabs_task(tmp_path):
    proc = run_cli("-m", "hydra/sweeper=basic", *TINY, "seed=1,2", "sweep_name=basic", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list((tmp_path / "outputs" / "multirun" / "basic").glob("*/result.json"))) == 2


@pytest.mark.slow
def test_an_unknown_optimized_metric_is_one_line_naming_the_accepted(tmp_path):
    proc = run_cli(*TINY, "optimized_metric=score", cwd=tmp_path)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("seqlab: error: optimized_metric='score' is invalid: expected one of eval_accuracy, ")
