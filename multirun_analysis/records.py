"""A study's per-run records: what the aggregator reads of each run directory (config, result.json, metrics.csv and
the run's other logs), in one small archive under docs/results/records/, so that the results page rebuilds every
table and figure of the study from the repository alone.

The archive is deterministic (sorted members, fixed times and owners): packing the same runs again gives the same
bytes, so a rebuild leaves git with nothing to commit. Unpacking follows the rule for run directories: only plain
files and folders, every path inside the destination (tarfile's `data` filter refuses links, devices, absolute
paths and `..`), nothing executed.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqlab import rundir

RECORDS = "records"  # docs/results/records/<study>.tar.gz
# What a run directory contributes: the files the aggregator reads, and the config it was composed from.
RUN_FILES = (rundir.RESULT, rundir.METRICS, rundir.GRAD_FLOW, rundir.SAMPLES, rundir.FINGERPRINT,
             f"{rundir.HYDRA}/config.yaml", f"{rundir.HYDRA}/overrides.yaml")  # fmt: skip
SWEEP_FILES = ("multirun.yaml", rundir.PLAN)  # at the sweep's root


def archive_path(results: Path, study: str) -> Path:
    """Where `study`'s records are kept under docs/results/."""
    return results / RECORDS / f"{study}.tar.gz"


def pack(sweep: Path, archive: Path) -> int:
    """Write the records of every run directory under `sweep` to `archive` (members under `<sweep name>/`); returns
    how many runs it holds. A sweep file that is a link, and a run directory holding one (`rundir.link_in`: it,
    its entries or `.hydra/`'s), are left out: a record never carries a file from elsewhere."""
    members: list[tuple[str, bytes]] = []
    runs = 0
    for name in SWEEP_FILES:
        if (sweep / name).is_file() and not (sweep / name).is_symlink():
            members.append((f"{sweep.name}/{name}", (sweep / name).read_bytes()))
    for run_dir in rundir.find_run_dirs(sweep):
        if rundir.link_in(run_dir) is not None:
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
