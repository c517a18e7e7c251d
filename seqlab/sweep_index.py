"""A sweep's index: each run's result.json summarised in one file at the sweep root, so that `seqlab status` on
100,000 runs reads one file and stats each result.json instead of parsing every one.

The run directories stay the source of truth. An entry is used only while its result.json has the inode, size and
modification time it was read at: a run that changed on disk is read again. The index is rebuilt from the run
directories whenever it is missing, unreadable, of another version or of another shape. It is JSON (a shared index
runs no code) written atomically (a temp file renamed over it): concurrent writers and a `kill -9` mid-write leave
the old index or a whole new one, and either is only a cache. A sweep directory that cannot be written to
(read-only, full) is summarised all the same, without saving the index.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from seqlab import rundir
from seqlab.data import LENGTH_KEYS

INDEX = ".seqlab_index.json"  # at the sweep root: a dot file, so that no run-directory scan mistakes it for a run
VERSION = 3


class ResultSummary(NamedTuple):
    """What `seqlab status` needs of one result.json: its status (or `unreadable`), the error's first line (or why
    it is unreadable), its wall time, whether it was a skipped relaunch, its cell and the work it did (steps times
    its task's length: what the ETA scales by)."""

    status: str
    detail: str
    wall_time_s: float | None
    skipped: bool
    cell: str = ""
    work: float | None = None


def _summarise(run_dir: str) -> ResultSummary:
    try:
        result = rundir.read_result(Path(run_dir)) or {}
    except ValueError as error:  # not JSON, not of the result schema, or a link out of the run directory
        return ResultSummary("unreadable", str(error), None, False)
    detail = str(result.get("error") or "").splitlines()
    config = result.get("config") or {}
    return ResultSummary(result["status"], detail[0] if detail else "", result.get("wall_time_s"),
                         bool(result.get("skipped")), str(config.get("model.name", "")),
                         work(config, result.get("steps")))  # fmt: skip


def work(config: dict, steps: object) -> float | None:
    """`steps` times the task's length (its LENGTH_KEYS value) of a run with flat `config`; None when unknown."""
    length = config.get(LENGTH_KEYS.get(config.get("data.name"), "data.length"))
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (length, steps))
    return float(steps) * float(length) if numbers else None


def _load(sweep_dir: Path) -> dict[str, list]:
    """The saved entries (run directory relative to the sweep -> [inode, size, mtime_ns, *summary]), or {} when
    there is no usable index."""
    try:
        saved = json.loads(rundir.inside(sweep_dir, INDEX).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict) or saved.get("version") != VERSION or not isinstance(saved.get("runs"), dict):
        return {}
    return saved["runs"]


_TIMES = (float, int, type(None))  # what an entry's wall time may be


def _cached(entry: object, stat: os.stat_result) -> ResultSummary | None:
    """The summary an index entry holds, if it belongs to a result.json with this inode, size and modification time
    and has the right shape."""
    if type(entry) is not list or len(entry) != 9:
        return None
    if entry[0] != stat.st_ino or entry[1] != stat.st_size or entry[2] != stat.st_mtime_ns:
        return None
    status, detail, wall_time_s, skipped, cell, done = entry[3:]
    shaped = type(status) is str and type(detail) is str and type(skipped) is bool and type(cell) is str
    numbers = type(wall_time_s) in _TIMES and type(done) in _TIMES
    return ResultSummary(status, detail, wall_time_s, skipped, cell, done) if shaped and numbers else None


def _run_dirs(sweep_dir: Path) -> Iterator[tuple[str, str, os.stat_result | None]]:
    """(path, key, result.json's lstat or None) of every run directory under `sweep_dir`, sorted. A sweep's runs are
    its entries: each one with a result.json is a run directory, found with one lstat; any other is looked at as
    `rundir.find_run_dirs` does."""
    root = str(sweep_dir)
    if rundir.looks_like_run_dir(sweep_dir):
        yield root, ".", _stat(f"{root}/{rundir.RESULT}")
        return
    with os.scandir(root) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    for name in names:
        path = f"{root}/{name}"
        if (stat := _stat(f"{path}/{rundir.RESULT}")) is not None:
            yield path, name, stat
            continue
        for run_dir in rundir.find_run_dirs(Path(path)):
            yield str(run_dir), str(run_dir.relative_to(sweep_dir)), _stat(run_dir / rundir.RESULT)


def _stat(path: str | Path) -> os.stat_result | None:
    """`path`'s lstat (a link is not followed), or None when it does not exist."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def result_summaries(sweep_dir: Path) -> Iterator[tuple[str, ResultSummary | None]]:
    """Every run directory under `sweep_dir` (as a path string) with its result.json's summary (None: it has no
    result.json), from the index where it is current, else read; saves the index when an entry changed."""
    sweep_dir = Path(sweep_dir)
    saved, current, changed = _load(sweep_dir), {}, False
    for path, key, stat in _run_dirs(sweep_dir):
        if stat is None:
            yield path, None
            continue
        summary = _cached(saved.get(key), stat)
        if summary is None:
            summary, changed = _summarise(path), True
        current[key] = [stat.st_ino, stat.st_size, stat.st_mtime_ns, *summary]
        yield path, summary
    if changed or current.keys() != saved.keys():
        try:
            rundir.atomic_write_text(sweep_dir / INDEX, json.dumps({"version": VERSION, "runs": current}) + "\n")
        except OSError:  # a read-only or full sweep directory: the summaries stand without the index
            pass
