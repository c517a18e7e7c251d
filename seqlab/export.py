"""`seqlab export tensorboard|mlflow DIR`: every finished run under DIR, from its run directory, to a tracker, as
live tracking would have logged it (`seqlab.tracking`): for sweeps that ran before logging was switched on, runs
copied from a cluster, or a run whose tracker stopped midway (a server that was down).

Exporting twice duplicates nothing: a run whose directory already holds TensorBoard event files, or whose MLflow run
(`tracking.json`) is already closed, is skipped; an MLflow run left open is continued after its last logged step,
then closed. A run directory holding a symbolic link is not written to (the run-directory rule).

    seqlab export tensorboard outputs/multirun/NAME
    seqlab export mlflow outputs/multirun/NAME [--tracking-uri sqlite:///outputs/mlflow.db] [--experiment seqlab]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from seqlab import rundir, tracking
from seqlab.errors import one_line
from seqlab.schema import MLflowConf


def export_run(kind: str, run_dir: Path, settings: MLflowConf) -> str:
    """Log one run directory to `kind`; what became of it: exported, continued, or why it was skipped."""
    if (why := rundir.link_in(run_dir)) is not None:
        return f"skipped: {why}"
    result = rundir.read_result(run_dir)
    if result is None or rundir.lock_holder(run_dir):  # its status is one of rundir.STATUSES (read_result checks)
        return "skipped: not finished (no result.json, or training)"
    flat = rundir.result_config(result)
    rows = tracking.backlog(rundir.CsvLog(run_dir / rundir.METRICS, rundir.METRIC_COLUMNS), int(result["steps"]))
    if kind == "tensorboard":
        if any(run_dir.glob("events.out.tfevents.*")):
            return "skipped: already in TensorBoard"
        tracker: tracking.Tracker = tracking.TensorBoardTracker(run_dir, flat, rows)
        how = "exported"
    else:
        run_id = tracking.mlflow_run_id(tracking.read_ids(run_dir), settings.tracking_uri)
        if run_id is not None and tracking.mlflow_status(settings.tracking_uri, run_id) != "RUNNING":
            return "skipped: already in MLflow"
        cfg = OmegaConf.create({"logger": {"mlflow": OmegaConf.structured(settings)}})
        tracker = tracking.MLflowTracker(cfg, run_dir, flat, str(result.get("impl", "")), rows)
        how = "continued" if run_id else "exported"
    tracker.finish(result)
    return how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqlab export", description=__doc__.split("\n\n")[0])
    parser.add_argument("tracker", choices=("tensorboard", "mlflow"))
    parser.add_argument("dirs", type=Path, nargs="+", help="run directories, or folders holding them (a sweep)")
    parser.add_argument("--tracking-uri", default=MLflowConf.tracking_uri, help="MLflow's store or server")
    parser.add_argument("--experiment", default=MLflowConf.experiment, help="MLflow experiment")
    args = parser.parse_args(argv)
    if missing := tracking.missing_library(args.tracker):
        print(f"seqlab export: error: seqlab export {args.tracker} {missing}", file=sys.stderr)
        return 2
    settings = MLflowConf(enabled=True, tracking_uri=args.tracking_uri, experiment=args.experiment)
    outcomes: Counter[str] = Counter()
    for folder in args.dirs:
        if not folder.is_dir():
            print(f"seqlab export: error: {folder}: not a directory", file=sys.stderr)
            return 2
        before = Counter(outcomes)
        for run_dir in rundir.find_run_dirs(folder):
            try:
                outcome = export_run(args.tracker, run_dir, settings)
            except Exception as error:  # noqa: BLE001 - one bad run never stops the others
                outcome = f"failed: {one_line(error)}"
            outcomes[outcome.split(":")[0]] += 1
            if outcome.startswith("failed"):
                print(f"  FAILED {run_dir}: {outcome.removeprefix('failed: ')}", file=sys.stderr)
        if args.tracker == "mlflow":  # a sweep's parent run, opened by its first exported run, is closed again
            tracking.end_sweep(folder, dict(outcomes - before), settings.tracking_uri)
    print(f"seqlab export {args.tracker}: " + ", ".join(f"{n} {what}" for what, n in outcomes.items()))
    return 1 if outcomes["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
