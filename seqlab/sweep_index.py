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
VERSION = 4


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


def _load(sweep_dir: Path) -> tuple[dict[str, int], dict[str, list]]:
    """The saved index: its run directories (relative to the sweep) -> their position, and its columns (STAMP and
    the summary's fields, one value per run); ({}, {}) when there is no usable index. Columns, not an entry per
    run: 100,000 runs parse in a third of the time."""
    try:
        saved = json.loads(rundir.inside(sweep_dir, INDEX).read_bytes())
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(saved, dict) or saved.get("version") != VERSION or type(saved.get("names")) is not str:
        return {}, {}
    names, columns = saved["names"].split("\n") if saved["names"] else [], saved.get("columns")  # a name with a
    # line break in it splits in two: the lengths then disagree, and the index is rebuilt
    if not isinstance(columns, dict) or set(columns) != set(COLUMNS):
        return {}, {}
    for name, kinds in COLUMNS.items():
        values = columns[name]
        if type(values) is not list or len(values) != len(names) or not set(map(type, values)) <= set(kinds):
            return {}, {}
    return {name: at for at, name in enumerate(names)}, columns


_TIMES = (float, int, type(None))  # what a wall time or an amount of work may be
# the index's columns -> the types their values may have: the stamp of each result.json, then its summary
COLUMNS = {"inode": (int,), "size": (int,), "mtime_ns": (int,), "status": (str,), "detail": (str,),
           "wall_time_s": _TIMES, "skipped": (bool,), "cell": (str,), "work": _TIMES}  # fmt: skip
STAMP = ("inode", "size", "mtime_ns")


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _run_dirs(sweep_dir: Path) -> Iterator[tuple[str, str, os.stat_result | None]]:
    """(path, key, result.json's lstat or None) of every run directory under `sweep_dir`, sorted. A sweep's runs are
    its entries: each one with a result.json is a run directory, found with one lstat; any other is looked at as
    `rundir.find_run_dirs` does."""
    root = str(sweep_dir)
    if rundir.looks_like_run_dir(sweep_dir):
        yield root, ".", _stat(f"{root}/{rundir.RESULT}")
        return
    for name in rundir.subdirs(root):
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
    positions, saved = _load(sweep_dir)
    stamps = list(zip(*(saved[name] for name in STAMP), strict=True)) if saved else []
    kept = list(zip(*(saved[name] for name in ResultSummary._fields), strict=True)) if saved else []
    names: list[str] = []
    rows: list[tuple] = []
    changed = False
    for path, key, stat in _run_dirs(sweep_dir):
        if stat is None:
            yield path, None
            continue
        stamp, at = _stamp(stat), positions.get(key)
        if at is not None and stamps[at] == stamp:
            summary = ResultSummary._make(kept[at])
        else:
            summary, changed = _summarise(path), True
        names.append(key)
        rows.append((*stamp, *summary))
        yield path, summary
    if changed or len(names) != len(positions):
        values = list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in COLUMNS]
        columns = dict(zip(COLUMNS, values, strict=True))
        index = {"version": VERSION, "names": "\n".join(names), "columns": columns}
        try:
            rundir.atomic_write_text(sweep_dir / INDEX, json.dumps(index) + "\n")
        except OSError:  # a read-only or full sweep directory: the summaries stand without the index
            pass
