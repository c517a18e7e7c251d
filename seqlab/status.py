"""The state of a sweep's runs, live: `seqlab status SWEEP_DIR [--watch [SECONDS]]` (or `python -m seqlab.status`).

Reads only the run directories (no torch, no Hydra): result.json's status; for a run without a result, whether a
live process holds its lock (then: its step from metrics.csv, steps/s since the attempt started, an ETA), or
whether it trained and stopped (killed) or never started. Under SLURM, adds the sweep's job states from squeue.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from seqlab import rundir, sweep_index
from seqlab.sweep_index import ResultSummary, Runs

STALE_S = 300  # a running run's metrics.csv unwritten this long (rows come every log_every steps): say so
STATES = ("completed", "failed", "interrupted", "unreadable", "running", "stopped (no result)", "not started")


def last_step(run_dir: Path) -> int | None:
    """The step of metrics.csv's last row (read from the file's end), or None."""
    try:
        path = rundir.inside(run_dir, rundir.METRICS)
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except (OSError, ValueError):
        return None
    try:
        return int(lines[-1].split(",")[0]) if lines else None
    except ValueError:  # the header alone
        return None


def planned(run_dir: Path) -> tuple[int | None, bool]:
    """(train.max_steps, whether early stopping may end it sooner) of the config this directory is training."""
    config = fingerprint_config(run_dir)
    if not config:
        return None, True
    return config.get("train.max_steps"), config.get("train.early_stop.kind") != "none"


def running(run_dir: Path, holder: str) -> str:
    """`step S/N, R steps/s, ETA E` of a run whose lock `holder` line is `host H pid P step S0 at T0`."""
    words = holder.split()
    start_step, start_time = int(words[words.index("step") + 1]), float(words[words.index("at") + 1])
    step, (total, may_stop) = last_step(run_dir), planned(run_dir)
    text = f"{words[1]}:{words[3]}, step {step if step is not None else '-'}/{total or '?'}"
    if step is None or step <= start_step:
        return text
    written = (run_dir / rundir.METRICS).stat().st_mtime
    rate = (step - start_step) / (written - start_time) if written > start_time else None
    if rate:
        text += f", {rate:.1f} steps/s"
        if (idle := time.time() - written) > STALE_S:  # no ETA from a pace it no longer keeps
            return text + f", no new row for {idle / 60:.0f} min (its process holds the lock: stopped or hung?)"
        if total:
            text += f", ETA {(total - step) / rate / 60:.1f} min"
            text += " (at most: early stopping may end it sooner)" if may_stop else ""
    return text


def run_state(path: str, summary: ResultSummary | None) -> tuple[str, str]:
    """(one of STATES, a detail) of a run directory whose result.json is summarised as `summary` (None: it has none).
    A completed or unreadable result is final; a failed or interrupted run may be training again (its lock says)."""
    if summary is not None and summary.status in ("completed", "unreadable"):
        return summary.status, summary.detail
    run_dir = Path(path)
    holder = rundir.lock_holder(run_dir)
    if holder:
        return "running", running(run_dir, holder)
    if summary is not None:
        return summary.status, summary.detail
    if (run_dir / rundir.METRICS).exists() or (run_dir / rundir.CHECKPOINT).exists():
        return "stopped (no result)", "killed or lost: launching the sweep again resumes it"
    return "not started", ""


def slurm_states(sweep_dir: Path) -> Counter | None:
    """Job states of the sweep's SLURM jobs (their ids are the .submitit/ folders), or None without SLURM."""
    folder = sweep_dir / ".submitit"
    ids = sorted({p.name.split("_")[0] for p in folder.iterdir()}) if folder.is_dir() else []
    if not ids:
        return None
    try:
        done = subprocess.run(["squeue", "-h", "-o", "%T", "-j", ",".join(ids)], capture_output=True, text=True,
                              timeout=5)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return Counter(done.stdout.split()) if done.returncode == 0 else None


def sweep_size(plan: dict | None, started: int, counts: Counter, eta_s: float | None) -> str:
    """`S of N runs started, ETA E` from the plan the sweeper recorded (a capacity search: at most N), or `S runs`
    without one."""
    if plan is None:
        return f"{started} runs"
    planned = plan["planned_runs"]
    if planned and started > planned:  # several launches into one directory: the plan is the latest one's
        return f"{started} runs (the latest launch into this directory planned {planned})"
    text = f"{started} of {planned} runs started" if planned else (
        f"{started} runs started (a capacity search: at most {plan['at_most']})"
    )  # fmt: skip
    left = (planned or 0) - counts["completed"]
    if planned and eta_s is not None and left > 0:
        text += (f", ETA {eta_s / 60:.0f} min ({left} run{'s' * (left > 1)} left; from the work left, at each cell's "
                 "pace so far)")  # fmt: skip
    return text


def eta_seconds(runs: Runs, states: list[tuple[str, str, str]], planned: int | None) -> float | None:
    """Seconds until the sweep ends: the work left (train.max_steps minus the steps done, times the task's length,
    per run; a planned run not yet started: the started runs' mean) at the seconds per unit of work each cell's
    completed runs took (all cells' where a cell has none yet), over the runs running now. `states`: those of the
    runs not completed. None before any run completed."""
    done = [(cell, wall, work) for status, cell, wall, work, skipped
            in zip(runs.status, runs.cell, runs.wall_time_s, runs.work, runs.skipped, strict=True)
            if status == "completed" and not skipped and wall and work]  # fmt: skip
    if not done:
        return None
    pace = {cell: sum(w for c, w, _ in done if c == cell) / sum(k for c, _, k in done if c == cell)
            for cell in {c for c, _, _ in done}}  # fmt: skip
    overall = sum(w for _, w, _ in done) / sum(k for _, _, k in done)
    left, full = 0.0, []
    for run_dir, state, _ in states:
        if state == "not started":  # a directory not started holds no config yet: counted below
            continue
        config = fingerprint_config(Path(run_dir))
        total = sweep_index.work(config, config.get("train.max_steps"))
        if total is None:
            continue
        full.append(total)
        fraction = 1 - (last_step(Path(run_dir)) or 0) / max(1, config["train.max_steps"])
        left += total * fraction * pace.get(str(config.get("model.name")), overall)
    unstarted = max(0, (planned or 0) - len(runs.paths)) + sum(1 for _, state, _ in states if state == "not started")
    if unstarted and full:
        left += unstarted * sum(full) / len(full) * overall
    running_now = sum(1 for _, state, _ in states if state == "running")
    return left / max(1, running_now)


def fingerprint_config(run_dir: Path) -> dict:
    """The flat config a run directory is training (fingerprint.json), or {}."""
    try:
        return json.loads(rundir.inside(run_dir, rundir.FINGERPRINT).read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def render(sweep_dir: Path) -> str:
    """The status table of every run directory under `sweep_dir`."""
    runs = sweep_index.runs(sweep_dir)
    states = [
        (path, *run_state(path, runs.summary(at)))
        for at, (path, status) in enumerate(zip(runs.paths, runs.status, strict=True))
        if status != "completed"
    ]  # a completed run is counted, not looked at
    counts = Counter(state for _, state, _ in states) + Counter(completed=runs.status.count("completed"))
    plan = rundir.read_plan(sweep_dir)
    eta_s = eta_seconds(runs, states, plan["planned_runs"]) if plan else None
    lines = [f"{sweep_dir}: {sweep_size(plan, len(runs.paths), counts, eta_s)}"]
    lines += [f"  {state:<20} {counts[state]}" for state in STATES if counts[state]]
    jobs = slurm_states(sweep_dir)
    if plan and rundir.launch_unfinished(plan) and not counts["running"] and not jobs:
        lines[0] += "; its launch stopped before it finished (no run is running): its command resumes it"
    if jobs is not None:
        queued = ", ".join(f"{n} {s.lower()}" for s, n in sorted(jobs.items())) or "none in the queue"
        lines.append(f"  SLURM jobs: {queued}")
    for state in ("running", "failed", "unreadable", "stopped (no result)"):
        for run_dir, _, detail in (s for s in states if s[1] == state):
            lines.append(f"{state.upper():<8} {Path(run_dir).relative_to(sweep_dir)}: {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqlab status", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep directory (or any folder holding run directories)")
    parser.add_argument("--watch", type=float, nargs="?", const=2.0, help="refresh every SECONDS (default 2)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"seqlab status: error: {args.sweep_dir}: not a directory", file=sys.stderr)
        return 2
    if args.watch is None:
        try:
            print(render(args.sweep_dir), flush=True)
        except BrokenPipeError:  # `seqlab status DIR | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python exits
        return 0
    try:
        while True:
            text = render(args.sweep_dir)
            print("\033[H\033[J" + time.strftime("%H:%M:%S ") + text if sys.stdout.isatty() else text, flush=True)
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
