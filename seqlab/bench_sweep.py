"""Sweep benchmark: the wall time of a fixed sweep launched up to four ways, measured in one go.

    python -m seqlab.bench --sweep [--sweeps signature,long] [--ways per_process,sweep,packed,stacked] [--steps 100]
                                   [--device cpu] [--out FILE]

- `per_process`: one `python -m seqlab.run` per run, one after another (what an array job of one run per task,
  or a shell loop, does): each run pays the process start, imports and config composition;
- `sweep`: one `python -m seqlab.run -m` process, Hydra's launcher training the runs one after another;
- `packed`: the same with `hydra/launcher=packed` (runs that share their shapes train together, each taking its
  own steps: bit for bit as alone);
- `stacked`: packed with `hydra.launcher.stacked=true` (a pack's steps are one step of a stacked model; the
  launcher's default on a GPU).

Every run trains exactly `--steps` steps (no early stop, one evaluation at the end, a checkpoint only there), one
thread each. The sweeps: `signature` is the README's study (RNN, LSTM, RRN x L = 5..50 x seeds 1-3: 90 runs),
`long` its long-length variant (L = 100, 200, 450: 27 runs). The report says, per sweep and way, the wall time,
runs per hour and the speed-up over `per_process`, and whether every run's metrics.csv is byte-identical across
the ways that promise it (all but `stacked`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = {  # name -> swept values: models, lengths, seeds
    "signature": (("rnn", "lstm", "rrn"), tuple(range(5, 55, 5)), (1, 2, 3)),
    "long": (("rnn", "lstm", "rrn"), (100, 200, 450), (1, 2, 3)),
    "smoke": (("rnn", "lstm"), (5,), (1, 2)),  # 4 runs: checks that the benchmark itself works
}
WAYS = {  # way -> launcher overrides (per_process: no sweep at all)
    "per_process": [],
    "sweep": [],
    "packed": ["hydra/launcher=packed", "hydra.launcher.stacked=false"],
    "stacked": ["hydra/launcher=packed", "hydra.launcher.stacked=true"],
}
BIT_FOR_BIT = ("per_process", "sweep", "packed")
RUN_DIR = "${model.name}_L${data.length}_seed${seed}"  # Hydra's subdir of a run: the same name as `run_name`


def write_report(path: Path, report: dict) -> None:
    """Write a benchmark's report as JSON to `path` (creating its folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def run_name(model: str, length: int, seed: int) -> str:
    """A run's directory name in every way (RUN_DIR, resolved)."""
    return f"{model}_L{length}_seed{seed}"


def fixed_settings(steps: int, device: str) -> list[str]:
    """Overrides shared by every run of the benchmark."""
    return [f"train.max_steps={steps}", f"train.eval_every={steps}", "train.checkpoint_every=0",
            "train.early_stop.kind=none", "train.progress=false", "threads=1", f"device={device}"]  # fmt: skip


def launch(way: str, sweep: str, settings: list[str], root: Path) -> float:
    """Train `sweep` the `way` into `root`; the wall time in seconds."""
    models, lengths, seeds = SWEEPS[sweep]
    command = [sys.executable, "-m", "seqlab.run"]
    tic = time.perf_counter()
    if way == "per_process":
        for model, length, seed in itertools.product(models, lengths, seeds):
            run_dir = root / run_name(model, length, seed)
            overrides = [f"model={model}", f"data.length={length}", f"seed={seed}", f"hydra.run.dir={run_dir}"]
            subprocess.run([*command, *overrides, *settings], cwd=ROOT, check=True, capture_output=True)
    else:
        swept = [f"model={','.join(models)}", f"data.length={','.join(map(str, lengths))}",
                 f"seed={','.join(map(str, seeds))}", f"hydra.sweep.dir={root}",
                 f"hydra.sweep.subdir={RUN_DIR}"]  # fmt: skip
        subprocess.run([*command, "-m", *swept, *settings, *WAYS[way]], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - tic


def identical_metrics(roots: list[Path]) -> bool:
    """Whether every run directory under the first root has a byte-identical metrics.csv under the others."""
    runs = sorted(p.parent.name for p in roots[0].glob("*/metrics.csv"))
    return bool(runs) and all(len({(root / run / "metrics.csv").read_bytes() for root in roots}) == 1 for run in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", default="signature,long", help=f"any of {', '.join(SWEEPS)}")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"any of {', '.join(WAYS)} (per_process always)")
    parser.add_argument("--steps", type=int, default=100, help="training steps of every run")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--out", type=Path, default=Path("bench_results/sweep.json"))
    args = parser.parse_args(argv)
    for option, names, known in (("--sweeps", args.sweeps, SWEEPS), ("--ways", args.ways, WAYS)):
        if unknown := sorted(set(names.split(",")) - set(known)):
            parser.error(f"{option} {','.join(unknown)} is invalid: expected any of {', '.join(known)}")
    ways = ["per_process", *(way for way in WAYS if way in args.ways.split(",") and way != "per_process")]
    settings = fixed_settings(args.steps, args.device)
    print(f"{args.steps} steps per run, one thread per run, runs one after another; device {args.device}")
    print(f"{'sweep':10} {'runs':>5} {'way':12} {'wall s':>9} {'runs/h':>9} {'speed-up':>9}")
    rows = []
    for sweep in args.sweeps.split(","):
        models, lengths, seeds = SWEEPS[sweep]
        runs = len(models) * len(lengths) * len(seeds)
        with tempfile.TemporaryDirectory() as tmp:
            walls = {way: launch(way, sweep, settings, Path(tmp) / way) for way in ways}
            exact = [way for way in BIT_FOR_BIT if way in walls]
            same = identical_metrics([Path(tmp) / way for way in exact])
        for way, wall in walls.items():
            row = {"sweep": sweep, "runs": runs, "way": way, "wall_s": wall, "runs_per_hour": runs * 3600 / wall,
                   "speedup_vs_per_process": walls["per_process"] / wall,
                   "identical_metrics": same if way in BIT_FOR_BIT else None}  # fmt: skip
            rows.append(row)
            print(f"{sweep:10} {runs:5d} {way:12} {wall:9.1f} {row['runs_per_hour']:9.0f} "
                  f"{row['speedup_vs_per_process']:8.2f}x", flush=True)  # fmt: skip
        print(f"{sweep}: every run's metrics.csv byte-identical across {', '.join(exact)}: {same}")
    write_report(args.out, {"device": args.device, "torch": torch.__version__, "steps": args.steps,
                            "threads_per_run": 1, "cpu_count": os.cpu_count(),
                            "sweeps": {s: SWEEPS[s] for s in args.sweeps.split(",")}, "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
