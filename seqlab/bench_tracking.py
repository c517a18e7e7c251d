"""What live tracking costs a run: the seconds a run spends handing its rows to each logger, per training step, as a
share of the rest of its time per step.

    python -m seqlab.bench --tracking [--loggers tensorboard,mlflow] [--steps 1500] [--rounds 3]

Each logger trains the same run (the palindrome at L = 10, LSTM, hidden 128, the default log and evaluation
intervals, one thread, no early stop) in a fresh run directory, with the time spent in the trackers' per-row calls
(`Tracking.log_row`) clocked around each call. Clocking the calls themselves resolves a share of a percent, which
the difference of whole runs' wall times on a shared machine cannot (their spread is 10-20% there). What a run pays
once (opening a tracker, MLflow's store, the summary at the end) is printed beside. Rounds alternate; medians.
TensorBoard's writer thread writes the event file beside the run (not clocked here): on a machine whose every core
trains, it takes its share of them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module

from seqlab.bench_sweep import write_report
from seqlab.tracking import Tracking
from seqlab.train import train

GOAL = 0.02  # the most a tracker may add to a step (issue 38)
RUN = ("model=lstm", "data.length=10", "threads=1", "train.early_stop.kind=none", "train.progress=false")


def one_run(logger: str, steps: int, work: Path) -> tuple[float, float, float]:
    """(seconds a step, of which in the trackers' per-row calls, seconds in opening and closing them) of one run."""
    clocked = {"log_row": 0.0, "open": 0.0, "finish": 0.0}

    def timed(name: str, call: object) -> object:
        def wrapper(*args: object, **kwargs: object) -> object:
            tic = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                clocked[name] += time.perf_counter() - tic

        return wrapper

    originals = {name: Tracking.__dict__[name] for name in clocked}
    Tracking.log_row, Tracking.finish = timed("log_row", Tracking.log_row), timed("finish", Tracking.finish)
    Tracking.open = classmethod(timed("open", Tracking.open.__func__))
    try:
        uri = f"logger.mlflow.tracking_uri=sqlite:///{work / 'mlflow.db'}"
        with initialize_config_module("seqlab.conf", version_base="1.3"):
            cfg = compose("config", overrides=[*RUN, f"logger={logger}", f"train.max_steps={steps}", uri])
        tic = time.perf_counter()
        result = train(cfg, Path(tempfile.mkdtemp(dir=work, prefix=f"{logger}-")))
        wall = time.perf_counter() - tic
    finally:
        for name, original in originals.items():
            setattr(Tracking, name, original)
    once = clocked["open"] + clocked["finish"]
    return (wall - once) / result["steps"], clocked["log_row"] / result["steps"], once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loggers", default="tensorboard,mlflow")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench_results/tracking.json"))
    args = parser.parse_args(argv)
    loggers = ["none", *args.loggers.split(",")]
    measured: dict[str, list[tuple[float, float, float]]] = {logger: [] for logger in loggers}
    with tempfile.TemporaryDirectory(prefix="seqlab-bench-tracking-") as folder:
        for logger in loggers:  # a warm-up round, not counted: MLflow creates its store, TensorBoard loads
            one_run(logger, 2, Path(folder))
        for _ in range(args.rounds):
            for logger in loggers:
                measured[logger].append(one_run(logger, args.steps, Path(folder)))
    print(f"per training step, median of {args.rounds} rounds ({', '.join(RUN)}, {args.steps} steps):")
    rows = []
    for logger in loggers:
        step, tracking, once = (statistics.median(values) for values in zip(*measured[logger], strict=True))
        overhead = tracking / (step - tracking)
        goal = f"goal <= {GOAL:.0%}: ratio {overhead / GOAL:.2f}"
        print(f"  {logger:12} {step * 1000:6.2f} ms a step, {tracking * 1e6:7.1f} us of it in the trackers: "
              f"overhead {overhead:.2%} ({goal}); once a run: {once:.2f} s")  # fmt: skip
        rows.append({"logger": logger, "ms_per_step": step * 1000, "tracking_us_per_step": tracking * 1e6,
                     "overhead": overhead, "once_s": once})  # fmt: skip
    write_report(args.out, {"run": list(RUN), "steps": args.steps, "rounds": args.rounds, "rows": rows})
    return 0
