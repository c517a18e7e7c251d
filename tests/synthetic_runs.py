"""Synthetic run directories with known values: fixtures of the aggregator's tests and benchmark."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from seqlab import rundir

Accuracy = Callable[[dict], float]


def write_run(
    run_dir: Path, config: dict, accuracy: float, steps: int = 100, log_every: int = 25, impl: str = "fast"
) -> None:
    """A completed run directory following the contract, whose eval accuracy is `accuracy`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / rundir.HYDRA).mkdir(exist_ok=True)
    (run_dir / rundir.HYDRA / "config.yaml").write_text(json.dumps(config) + "\n")
    converged_at = steps // 2 if accuracy >= 0.99 else None
    rows = [
        {"step": s, "train_loss": 1.0 / s, "train_accuracy": accuracy * s / steps, "lr": 1e-3, "grad_norm": 1.0,
         "eval_loss": 1.0 / s, "eval_accuracy": accuracy * s / steps}
        for s in range(log_every, steps + 1, log_every)
    ]  # fmt: skip
    rundir.CsvLog(run_dir / rundir.METRICS, rundir.METRIC_COLUMNS).append(rows)
    result = {
        "status": "completed", "config": rundir.flatten(config), "impl": impl, "impl_fallback": None,
        "fingerprint": rundir.fingerprint(rundir.flatten(config)),
        "eval_accuracy": accuracy, "eval_loss": 1.0 / steps,
        "steps": steps, "converged": converged_at is not None, "steps_to_converge": converged_at,
        "best_eval_accuracy": accuracy, "num_params": 1000, "wall_time_s": 1.0, "steps_per_s": float(steps),
        "device": "cpu", "versions": {"python": "3", "torch": "2", "seqlab": "0"}, "git_commit": None, "error": None,
    }  # fmt: skip
    (run_dir / rundir.RESULT).write_text(json.dumps(result))  # not fsynced (rundir.write_result): 100,000 of them


def make_tree(root: Path, accuracy: Accuracy, seeds: Sequence[int] = (1, 2, 3), **factors: Sequence) -> list[Path]:
    """One run per combination of `factors` (dotted keys given with '__' for '.') and seed."""
    keys = [k.replace("__", ".") for k in factors]
    dirs = []
    for values in itertools.product(*factors.values(), seeds):
        flat = dict(zip([*keys, "seed"], values, strict=True))
        config: dict = {}
        for key, value in flat.items():
            node = config
            *parents, leaf = key.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = value
        run_dir = root / ",".join(f"{k}={v}" for k, v in flat.items())
        write_run(run_dir, config, accuracy(flat))
        dirs.append(run_dir)
    return dirs
