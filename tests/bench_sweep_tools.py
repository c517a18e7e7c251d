"""Benchmark: `seqlab status` and `seqlab aggregate` on a synthetic sweep of many run directories, against goals.

python tests/bench_sweep_tools.py [--runs 100000] [--runs-root DIR] [--skip-aggregate]

Generates (or reuses, from --runs-root) a tree of completed runs: 4 models x 10 lengths x 5 optimizers x 2 inits
x seeds. Times each command as a subprocess, in one run of this script: `status` cold (no index: every result.json
read) and warm (the sweep index current), and `aggregate`, then its peak memory (summed over its processes) in a
second run. Prints each against its goal.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_runs import make_tree  # beside this file

from seqlab.sweep_index import INDEX

GOALS = {"status": 1.0, "aggregate": 30.0}  # seconds, at 100,000 runs (issue 39)
MEMORY_GOAL_GB = 1.0
MODELS = ["rnn", "lstm", "gru", "rrn"]
CONFIGURATIONS = 4 * 10 * 5 * 2  # models x lengths x optimizers x inits: runs per seed


def timed(*command: str) -> float:
    """Seconds of `python -m COMMAND` run to completion (output discarded)."""
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", *command], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - tic


def peak_memory(*command: str) -> float:
    """Peak memory in GB of `python -m COMMAND`, in a run of its own (sampling slows what it samples): the largest
    sum, sampled every 0.1 s, of the proportional set sizes (PSS: shared pages split between the processes sharing
    them) of the command and the processes it forks. The aggregator reads and draws in a pool of forked workers,
    whose copy-on-write pages a per-process peak would miss or count twice."""
    process = subprocess.Popen([sys.executable, "-m", *command], stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(map(_pss_kib, _tree(process.pid))))
        time.sleep(0.1)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return peak / 2**20


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux: /proc/PID/task/*/children)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(c) for c in task.read_text().split()]
        except OSError:
            pass
    return [pid, *(d for child in children for d in _tree(child))]


def _pss_kib(pid: int) -> int:
    try:
        return int(next(line.split()[1] for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:")))
    except (OSError, StopIteration):  # ended between the listing and the read
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="run directories (rounded to whole seeds)")
    parser.add_argument("--runs-root", type=Path, help="where the tree is, or is generated (default: a temp dir)")
    parser.add_argument("--skip-aggregate", action="store_true", help="time status only")
    args = parser.parse_args()
    root = args.runs_root or Path(tempfile.mkdtemp(prefix="seqlab-bench-sweep-"))
    seeds = max(1, args.runs // CONFIGURATIONS)
    if not root.exists() or not any(root.iterdir()):
        tic = time.perf_counter()
        make_tree(
            root, lambda c: max(0.1, 1.0 - c["data.length"] / (40 + 20 * MODELS.index(c["model.name"]))),
            seeds=range(seeds), model__name=MODELS, data__length=list(range(5, 55, 5)),
            optimizer__name=["sgd", "rmsprop", "adam", "adamw", "sgd_momentum"], init__name=["default", "normal"],
        )  # fmt: skip
        print(f"generated {seeds * CONFIGURATIONS} run directories in {time.perf_counter() - tic:.0f} s under {root}")
    runs = sum(1 for p in root.iterdir() if (p / "result.json").is_file())  # not analysis/
    (root / INDEX).unlink(missing_ok=True)
    cold = timed("seqlab.status", str(root))
    warm = timed("seqlab.status", str(root))
    scale = 100_000 / runs  # linear in the runs: a figure measured on fewer is scaled to 100,000, and says so
    at_goal = "" if runs == 100_000 else f", {warm * scale:.2f} s scaled linearly to 100,000"
    print(f"seqlab status on {runs} runs: cold (no index) {cold:.2f} s, with the index {warm:.2f} s{at_goal} "
          f"(goal <= {GOALS['status']:.0f} s at 100,000 runs: ratio {warm * scale / GOALS['status']:.2f}; "
          f"cold / warm {cold / warm:.1f}x)")  # fmt: skip
    if not args.skip_aggregate:
        elapsed = timed("multirun_analysis.aggregate_results", str(root))
        peak = peak_memory("multirun_analysis.aggregate_results", str(root))
        print(f"seqlab aggregate on {runs} runs: {elapsed:.1f} s, peak {peak:.2f} GB (goal <= "
              f"{GOALS['aggregate']:.0f} s and <= {MEMORY_GOAL_GB:.0f} GB at 100,000 runs: ratios, scaled linearly "
              f"to 100,000, {elapsed * scale / GOALS['aggregate']:.2f} and "
              f"{peak * scale / MEMORY_GOAL_GB:.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
