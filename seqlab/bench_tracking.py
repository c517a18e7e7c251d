"""What live tracking costs a run: seconds per training step with each logger against none.

    python -m seqlab.bench --tracking [--loggers tensorboard,mlflow] [--steps 300,1500] [--rounds 3]

Each logger trains the same run (the palindrome at L = 10, hidden 128, the default log and evaluation intervals,
one thread, no early stop) twice, for the short and the long number of steps, in a fresh run directory; the
seconds per step are the difference of the two runs' wall times over the difference of their steps, so that what
a run pays once (a tracker's start, MLflow's store) cancels. Loggers are measured in alternating rounds, after a
warm-up round; medians. The overhead is a logger's seconds per step over none's, minus 1 (the bar: at most 2%).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from seqlab.bench_sweep import write_report
from seqlab.train import train

GOAL = 0.02  # the most a tracker may add to a step (issue 38)
RUN = ("model=lstm", "data.length=10", "threads=1", "train.early_stop.kind=none", "train.progress=false")


def seconds_per_step(logger: str, steps: tuple[int, int], work: Path) -> float:
    """(wall(long) - wall(short)) / (long - short) for one logger, each run in a fresh directory under `work`."""
    walls = []
    for count in steps:
        uri = f"logger.mlflow.tracking_uri=sqlite:///{work / 'mlflow.db'}"
        with initialize_config_module("seqlab.conf", version_base="1.3"):
            cfg = compose("config", overrides=[*RUN, f"logger={logger}", f"train.max_steps={count}", uri])
        tic = time.perf_counter()
        train(cfg, Path(tempfile.mkdtemp(dir=work, prefix=f"{logger}-{count}-")))
        walls.append(time.perf_counter() - tic)
    return (walls[1] - walls[0]) / (steps[1] - steps[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loggers", default="tensorboard,mlflow")
    parser.add_argument("--steps", default="300,1500", help="the short and the long run's steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_results/tracking.json"))
    args = parser.parse_args(argv)
    loggers = ["none", *args.loggers.split(",")]
    short, long = map(int, args.steps.split(","))
    measured: dict[str, list[float]] = {logger: [] for logger in loggers}
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-tracking-") as folder:
        for logger in loggers:  # a warm-up round, not counted: MLflow creates its store, TensorBoard loads
            seconds_per_step(logger, (1, 2), Path(folder))
        for _ in range(args.rounds):
            for logger in loggers:
                measured[logger].append(seconds_per_step(logger, (short, long), Path(folder)))
    base = statistics.median(measured["none"])
    rows = []
    print(f"seconds per step, median of {args.rounds} rounds ({', '.join(RUN)}; steps {short} and {long}):")
    for logger in loggers:
        per_step = statistics.median(measured[logger])
        overhead = per_step / base - 1
        goal = f"goal <= {GOAL:.0%}: ratio {overhead / GOAL:.2f}"
        verdict = "" if logger == "none" else f"  overhead {overhead:+.1%} ({goal})"
        print(f"  {logger:12} {per_step * 1000:7.2f} ms{verdict}")
        rows.append({"logger": logger, "ms_per_step": per_step * 1000, "overhead": overhead,
                     "rounds_ms": [s * 1000 for s in measured[logger]]})  # fmt: skip
    write_report(args.out, {"run": list(RUN), "steps": [short, long], "rounds": args.rounds, "rows": rows})
    return 0
