"""Benchmark: `seqlab status` and `seqlab aggregate` on a synthetic sweep of many run directories, against goals.

python tests/bench_sweep_tools.py [--runs 100000] [--runs-root DIR] [--skip-aggregate]

Generates (or reuses, from --runs-root) a tree of completed runs: 4 models x 10 lengths x 5 optimizers x 2 inits
x seeds. Times each command as a subprocess, in one run of this script: `status` cold (no index: every result.json
read) and warm (the sweep index current), and `aggregate` with its peak memory. Prints each against its goal.
"""

from __future__ import annotations

import argparse
import resource
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


def timed(*command: str) -> tuple[float, float]:
    """(seconds, peak resident memory in GB) of `python -m COMMAND` run to completion (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", *command], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - tic
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, in KiB
    return elapsed, (peak if peak > before else before) / 2**20


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
    cold, _ = timed("seqlab.status", str(root))
    warm, _ = timed("seqlab.status", str(root))
    scale = 100_000 / runs  # linear in the runs: a figure measured on fewer is scaled to 100,000, and says so
    at_goal = "" if runs == 100_000 else f", {warm * scale:.2f} s scaled linearly to 100,000"
    print(f"seqlab status on {runs} runs: cold (no index) {cold:.2f} s, with the index {warm:.2f} s{at_goal} "
          f"(goal <= {GOALS['status']:.0f} s at 100,000 runs: ratio {warm * scale / GOALS['status']:.2f}; "
          f"cold / warm {cold / warm:.1f}x)")  # fmt: skip
    if not args.skip_aggregate:
        elapsed, peak = timed("multirun_analysis.aggregate_results", str(root))
        print(f"seqlab aggregate on {runs} runs: {elapsed:.1f} s, peak {peak:.2f} GB (goal <= "
              f"{GOALS['aggregate']:.0f} s and <= {MEMORY_GOAL_GB:.0f} GB at 100,000 runs: ratios, scaled linearly "
              f"to 100,000, {elapsed * scale / GOALS['aggregate']:.2f} and "
              f"{peak * scale / MEMORY_GOAL_GB:.2f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
