"""A study's per-run records: what the aggregator reads of each run directory (config, result.json, metrics.csv and
the run's other logs), in one small archive under docs/results/records/, so that the results page rebuilds every
table and figure of the study from the repository alone (a text study's book is kept apart, once, by `books`).

A study that has not finished yet carries its completed runs the same way, under docs/results/progress/: `seqlab
records restore` (run by `scripts/run_studies.sh` first) puts both kinds back as run directories under
outputs/multirun/, so a study relaunched on another machine skips the runs finished elsewhere (their result.json
and config) and trains only the rest. A checkpoint is not carried: a run stopped half-way starts again.

The archive is deterministic (sorted members, fixed times and owners): packing the same runs again gives the same
bytes, so a rebuild leaves git with nothing to commit. Unpacking follows the rule for run directories: only plain
files and folders, every path inside the destination (tarfile's `data` filter refuses links, devices, absolute
paths and `..`), nothing executed.
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqlab import rundir

RECORDS = "records"  # docs/results/records/<study>.tar.gz: a finished study's runs, from which the page is built
PROGRESS = "progress"  # docs/results/progress/<study>.tar.gz: the completed runs of a study still training
# What a run directory contributes: the files the aggregator reads, and the config it was composed from.
RUN_FILES = (rundir.RESULT, rundir.METRICS, rundir.GRAD_FLOW, rundir.SAMPLES, rundir.FINGERPRINT,
             f"{rundir.HYDRA}/config.yaml", f"{rundir.HYDRA}/overrides.yaml")  # fmt: skip
SWEEP_FILES = ("multirun.yaml", rundir.PLAN)  # at the sweep's root


def archive_path(results: Path, study: str, kind: str = RECORDS) -> Path:
    """Where `study`'s records (or, with kind=PROGRESS, its completed runs so far) are kept under docs/results/."""
    return results / kind / f"{study}.tar.gz"


def completed_result(run_dir: Path) -> dict[str, Any] | None:
    """The run directory's result.json when it is readable and the run completed, else None."""
    try:
        result = rundir.read_result(run_dir)
    except ValueError:
        return None
    return result if result is not None and result.get("status") == "completed" else None


def completed(run_dir: Path) -> bool:
    """Whether the run directory holds a readable result.json of a completed run."""
    return completed_result(run_dir) is not None


def pack(sweep: Path, archive: Path, completed_only: bool = False) -> int:
    """Write the records of every run directory under `sweep` (with completed_only, of its completed runs) to
    `archive` (members under `<sweep name>/`); returns how many runs it holds. A sweep file that is a link, and a run
    directory holding one (`rundir.link_in`: it, its entries or `.hydra/`'s), are left out: a record never carries
    a file from elsewhere."""
    members: list[tuple[str, bytes]] = []
    runs = 0
    for name in SWEEP_FILES:
        if (sweep / name).is_file() and not (sweep / name).is_symlink():
            members.append((f"{sweep.name}/{name}", (sweep / name).read_bytes()))
    for run_dir in rundir.find_run_dirs(sweep):
        if rundir.link_in(run_dir) is not None or (completed_only and not completed(run_dir)):
            continue
        relative = run_dir.relative_to(sweep.parent).as_posix()
        kept = [name for name in RUN_FILES if (run_dir / name).is_file()]
        members += [(f"{relative}/{name}", (run_dir / name).read_bytes()) for name in kept]
        runs += rundir.RESULT in kept
    archive.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for name, data in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    rundir.atomic_write(archive, lambda f: f.write(buffer.getvalue()))
    return runs


@contextmanager
def unpacked(archive: Path) -> Iterator[Path]:
    """The records in `archive` as run directories in a temporary folder (removed afterwards); yields the folder
    that holds the sweep."""
    with tempfile.TemporaryDirectory(prefix="seqlab-records-") as folder, tarfile.open(archive, "r:gz") as tar:
        tar.extractall(folder, filter="data")
        yield Path(folder)


def save(sweep: Path, results: Path) -> str:
    """Carry the completed runs of `sweep`, a study still training, to `results`/progress/<sweep name>.tar.gz;
    with none completed yet, nothing is written (an archive saved earlier stays)."""
    archive = archive_path(results, sweep.name, PROGRESS)
    if not any(completed(run_dir) for run_dir in rundir.find_run_dirs(sweep)):
        return f"{sweep.name}: no completed run to save yet"
    return f"{sweep.name}: {pack(sweep, archive, completed_only=True)} completed runs saved to {archive}"


def restore(results: Path, runs: Path) -> list[str]:
    """Put every study's records (finished, then in progress) back under `runs`/<study>/ as run directories, adding
    only the run directories (and sweep files) that are not there: nothing on this machine is overwritten. A study
    folder that is a link is refused (its writes would land elsewhere). Returns a line per archive."""
    lines = []
    for archive in sorted(results.glob(f"{RECORDS}/*.tar.gz")) + sorted(results.glob(f"{PROGRESS}/*.tar.gz")):
        study = archive.name.removesuffix(".tar.gz")
        sweep = runs / study
        if why := rundir.link_in(sweep):
            lines.append(f"{study}: not restored: {why}")
            continue
        added = 0
        with unpacked(archive) as folder:
            for name in SWEEP_FILES:
                if (folder / study / name).is_file() and not (sweep / name).exists():
                    sweep.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(folder / study / name, sweep / name)
            for run_dir in rundir.find_run_dirs(folder / study):
                target = sweep / run_dir.relative_to(folder / study)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copytree(run_dir, target)
                    added += 1
        lines.append(f"{study}: {added} runs restored from {archive}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="seqlab records", description="Carry studies' runs between machines through the repository."
    )
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="save a study's completed runs under docs/results/progress/")
    saving.add_argument("sweep", type=Path, help="the study's sweep folder, e.g. outputs/multirun/course")
    restoring = commands.add_parser("restore", help="put saved runs back as run directories (only missing ones)")
    restoring.add_argument("--runs", type=Path, default=Path("outputs/multirun"))
    args = parser.parse_args(argv)
    if args.command == "save":
        if not args.sweep.is_dir():
            parser.error(f"{args.sweep} is not a folder")
        print(save(args.sweep, args.docs / "results"))
    else:
        print("\n".join(restore(args.docs / "results", args.runs)) or "nothing to restore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
