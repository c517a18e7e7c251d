"""Sweep benchmark: the wall time of a fixed sweep launched up to four ways, measured in one go.

    python -m seqlab.bench --sweep [--sweeps signature,long] [--ways per_process,sweep,packed,stacked] [--steps 100]
                                   [--device cpu] [--out FILE]

- `per_process`: one `python -m seqlab.run` per run, one after another (what an array job of one run per task,
  or a shell loop, does): each run pays the process start, imports and config composition;
- `sweep`: one `python -m seqlab.run -m` process, Hydra's launcher training the runs one after another;
- `packed`: the same with `hydra/launcher=packed` (runs that share their shapes train together, each taking its
  own steps: bit for bit as alone);
- `stacked`: packed with `hydra.launcher.stacked=true` (a pack's steps are one step of a stacked model; the
  launcher's default on a GPU);
- `fused`: packed with `hydra.launcher.stacked=fused` (the stacked step with each layer's recurrence in one Triton
  kernel; needs a CUDA GPU and `seqlab[triton]`);
- `auto`: packed with the launcher's default (on a GPU the faster of stacked and run by run, measured per pack).

Packs group runs across lengths, so a cell's whole signature sweep is one pack. `--packs` instead times training
steps in one process, per cell and length: one run alone against a stacked pack of `--pack-size` runs (PyTorch ops
and, with triton, fused), as run-steps per second; `--stages 1,2,3` times the fused pack at each software-pipelining
depth of the kernels' chunk loop instead of the stacked pack (a column each; `fused`: the depth launched by default).

Every run trains exactly `--steps` steps (no early stop, one evaluation at the end, a checkpoint only there), one
thread each. The sweeps: `signature` is the README's study (RNN, LSTM, RRN x L = 5..50 x seeds 1-3: 90 runs),
`long` its long-length variant (L = 100, 200, 450: 27 runs). The report says, per sweep and way, the wall time,
runs per hour and the speed-up over the first way measured, and whether every run's metrics.csv is byte-identical
across the ways that promise it (all but `stacked` and `fused`). `--markdown` writes the table beside the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from seqlab.engines import fused_config
from seqlab.errors import one_line

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
    "fused": ["hydra/launcher=packed", "hydra.launcher.stacked=fused"],
    "auto": ["hydra/launcher=packed", "hydra.launcher.stacked=auto"],
}
BIT_FOR_BIT = ("per_process", "sweep", "packed")
RUN_DIR = "${model.name}_L${data.length}_seed${seed}"  # Hydra's subdir of a run: the same name as `run_name`


def write_report(path: Path, report: dict, quiet: bool = False) -> None:
    """Write a benchmark's report as JSON to `path` (creating its folder) and say where (unless `quiet`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    if not quiet:
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


def fused_column(stages: int) -> str:
    """The packs report's column of the fused pack `stages` deep: `fused` at the depth launched by default."""
    return "fused" if stages == fused_config.pipeline_stages else f"fused_{stages}_stages"


def pack_ways(stages: tuple[int, ...]) -> list[tuple[str, bool | None, int | None]]:
    """The packs report's columns as (name, stacked, pipelining depth): one run alone (stacked None), the stacked
    pack (False) and the fused one (True) at the depth launched; with `stages`, the fused pack at each of them
    instead of the stacked one."""
    fused = [(fused_column(depth), True, depth) for depth in stages or (fused_config.pipeline_stages,)]
    return [("alone", None, None)] + [("stacked", False, None)] * (not stages) + fused


def pack_rates(device: torch.device, cells: list[str], lengths: list[int], pack: int, steps: int,
               each: Callable[[list[dict]], None] = lambda rows: None,
               stages: tuple[int, ...] = ()) -> list[dict]:  # fmt: skip
    """Run-steps per second of a training step's forward and backward (hidden 128, batch 128, one-hot digits): one
    run alone (PyTorch's fused kernels: cuDNN on a GPU), and `pack` runs as one stacked model with PyTorch ops and,
    where it can run, with the fused Triton recurrences (`pack_ways(stages)`). Each is timed after 3 warm-up steps,
    synchronised. A measurement that fails is its row's error, the others go on; `each(rows)` after every row (the
    report so far)."""
    from seqlab.engines import fused_unavailable  # noqa: PLC0415
    from seqlab.engines.stacked_model import StackedModel  # noqa: PLC0415
    from seqlab.models import build_model  # noqa: PLC0415

    def rate(model: torch.nn.Module, inputs: torch.Tensor, runs: int) -> float:
        for i in range(3 + steps):
            if i == 3:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                tic = time.perf_counter()
            model.zero_grad(set_to_none=True)
            model(inputs).float().square().mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return runs * steps / (time.perf_counter() - tic)

    ways = pack_ways(stages)
    rows = []
    fused_why = fused_unavailable(device, "float32")
    for name, length in itertools.product(cells, lengths):
        row: dict = {"cell": name, "length": length, "pack": pack}
        try:
            models = [build_model(name, 128, 1, "onehot", "fused").to(device) for _ in range(pack)]
            inputs = torch.randint(0, 10, (pack, 128, length - 1), device=device)
        except Exception as error:  # noqa: BLE001 - out of memory, say: this row says so, the others run
            models, row["error"] = [], one_line(error)
        for way, stacked, depth in ways:
            if not models or (stacked and fused_why):
                row[way] = None
                continue
            model, runs = (models[0], 1) if stacked is None else (StackedModel(models, fused=stacked), pack)
            batch = inputs if runs > 1 else inputs[0]
            with pipelined(depth):
                row[way] = measured(lambda m=model, b=batch, r=runs: rate(m.to(device), b, r))
        rows.append(row)
        each(rows)
        print(f"{name:5} {length:5d} " + " ".join(f"{shown(row[w]):>9}" for w, _, _ in ways), flush=True)
    if fused_why:
        print(f"fused: not measured ({fused_why})")
    return rows


@contextlib.contextmanager
def pipelined(stages: int | None) -> Iterator[None]:
    """Launch the fused kernels `stages` deep inside (None: as they are), then as before."""
    launched = fused_config.pipeline_stages
    fused_config.pipeline_stages = launched if stages is None else stages
    try:
        yield
    finally:
        fused_config.pipeline_stages = launched


def measured(call: Callable[[], float]) -> float | str:
    """`call()`'s figure, or the one-line error it raised (a kernel that does not launch, out of memory)."""
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - one failing measurement never costs the other rows
        return one_line(error)


def markdown(rows: list[dict]) -> str:
    """A markdown table of report rows."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(shown(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def shown(value: object) -> str:
    """A table cell: floats to 3 significant digits, None as '-'."""
    return f"{value:.3g}" if isinstance(value, float) else "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", default="signature,long", help=f"any of {', '.join(SWEEPS)}")
    parser.add_argument("--ways", default="per_process,sweep,packed,stacked",
                        help=f"any of {', '.join(WAYS)}; the first is the baseline")  # fmt: skip
    parser.add_argument("--steps", type=int, default=100, help="training steps of every run")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--packs", action="store_true", help="time one run against packs instead of sweeps")
    parser.add_argument("--pack-size", type=int, default=16)
    parser.add_argument("--lengths", default="10,50,450", help="--packs: the lengths")
    parser.add_argument("--stages", default="", help="--packs: the fused kernels' pipelining depths to time, e.g. "
                        f"1,2,3 (any of {fused_config.STAGES}; default: the one launched)")  # fmt: skip
    parser.add_argument("--cells", default="rnn,lstm,gru,rrn", help="--packs: the cells")
    parser.add_argument("--markdown", action="store_true", help="also write the table as markdown beside --out")
    parser.add_argument("--out", type=Path, default=Path("bench_results/sweep.json"))
    args = parser.parse_args(argv)
    if args.packs:
        print(f"run-steps/s, hidden 128, batch 128, packs of {args.pack_size}, device {args.device}")
        stages = tuple(int(n) for n in args.stages.split(",") if n)
        if unknown := sorted(set(stages) - set(fused_config.STAGES)):
            parser.error(f"--stages {','.join(map(str, unknown))} is invalid: expected any of {fused_config.STAGES} "
                         "(the depths the resource record covers)")  # fmt: skip
        print(f"{'cell':5} {'L':>5} " + " ".join(f"{name:>9}" for name, _, _ in pack_ways(stages)))
        header = {**machine(args.device), "steps": args.steps}
        rows = pack_rates(torch.device(args.device), args.cells.split(","), [int(n) for n in args.lengths.split(",")],
                          args.pack_size, args.steps, stages=stages,
                          each=lambda done: write_report(args.out, {**header, "rows": done}, quiet=True))  # fmt: skip
        return finish(args, {**header, "rows": rows})
    for option, names, known in (("--sweeps", args.sweeps, SWEEPS), ("--ways", args.ways, WAYS)):
        if unknown := sorted(set(names.split(",")) - set(known)):
            parser.error(f"{option} {','.join(unknown)} is invalid: expected any of {', '.join(known)}")
    ways = args.ways.split(",")
    settings = fixed_settings(args.steps, args.device)
    print(f"{args.steps} steps per run, one thread per run, runs one after another; device {args.device}")
    print(f"{'sweep':10} {'runs':>5} {'way':12} {'wall s':>9} {'runs/h':>9} {'speed-up':>9}")
    rows = []
    for sweep in args.sweeps.split(","):
        models, lengths, seeds = SWEEPS[sweep]
        runs = len(models) * len(lengths) * len(seeds)
        with tempfile.TemporaryDirectory() as tmp:
            walls = {way: measured(lambda w=way, s=sweep: launch(w, s, settings, Path(tmp) / w)) for way in ways}
            exact = [way for way in BIT_FOR_BIT if isinstance(walls.get(way), float)]
            same = identical_metrics([Path(tmp) / way for way in exact]) if len(exact) > 1 else None
        base = walls[ways[0]]
        for way, wall in walls.items():
            timed = isinstance(wall, float)
            row = {"sweep": sweep, "runs": runs, "way": way, "wall_s": wall if timed else None,
                   "runs_per_hour": runs * 3600 / wall if timed else None,
                   f"speedup_vs_{ways[0]}": base / wall if timed and isinstance(base, float) else None,
                   "identical_metrics": same if way in exact else None, "error": None if timed else wall}  # fmt: skip
            rows.append(row)
            write_report(args.out, {"device": args.device, "steps": args.steps, "rows": rows}, quiet=True)
            print(f"{sweep:10} {runs:5d} {way:12} " + " ".join(f"{shown(row[k]):>9}" for k in list(row)[3:6])
                  + (f"  {wall}" if not timed else ""), flush=True)  # fmt: skip
        print(f"{sweep}: every run's metrics.csv byte-identical across {', '.join(exact)}: {same}")
    return finish(args, {**machine(args.device), "steps": args.steps,
                         "threads_per_run": 1, "cpu_count": os.cpu_count(),
                         "sweeps": {s: SWEEPS[s] for s in args.sweeps.split(",")}, "rows": rows})  # fmt: skip


def machine(device: str) -> dict[str, str | None]:
    """What a report was measured on: the device, the GPU's name, torch's and triton's versions (None: absent)."""
    try:
        triton = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        triton = None
    gpu = torch.cuda.get_device_name(device) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {"device": device, "gpu": gpu, "torch": torch.__version__, "triton": triton}


def finish(args: argparse.Namespace, report: dict) -> int:
    """Write the report (and, with --markdown, its table) under --out."""
    write_report(args.out, report)
    if args.markdown:
        args.out.with_suffix(".md").write_text(markdown(report["rows"]))
        print(f"wrote {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
