"""Benchmark: aggregate a synthetic tree of 10,000 run directories (table, figures, report) and time it.

python tests/bench_aggregate.py [--runs-root DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_runs import make_tree  # beside this file

TARGET_S = 15.0
MODELS = ["rnn", "lstm", "gru", "rrn"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-root", type=Path, help="where to generate the tree (default: a temp dir)")
    args = parser.parse_args()
    root = args.runs_root or Path(tempfile.mkdtemp(prefix="seqlab-bench-agg-"))
    tic = time.perf_counter()
    dirs = make_tree(
        root, lambda c: max(0.1, 1.0 - c["data.length"] / (40 + 20 * MODELS.index(c["model.name"]))),
        seeds=range(25),
        model__name=MODELS, data__length=list(range(5, 55, 5)),
        optimizer__name=["sgd", "rmsprop", "adam", "adamw", "sgd_momentum"], init__name=["default", "normal"],
    )  # fmt: skip
    generated = time.perf_counter() - tic
    tic = time.perf_counter()
    subprocess.run([sys.executable, "-m", "multirun_analysis.aggregate_results", str(root)], check=True)
    elapsed = time.perf_counter() - tic
    print(f"generated {len(dirs)} run directories in {generated:.1f} s under {root}")
    print(f"seqlab-aggregate on {len(dirs)} runs: {elapsed:.2f} s (target <= {TARGET_S:.0f} s: "
          f"ratio {elapsed / TARGET_S:.2f} of the budget)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
