"""A sweep's index: each run's result.json summarised in one file at the sweep root, so that `seqlab status` on
100,000 runs reads one file and stats each result.json instead of parsing every one.

The run directories stay the source of truth. An entry is used only while its result.json has the inode, size and
modification time it was read at: a run that changed on disk is read again. The index is rebuilt from the run
directories whenever it is missing, unreadable, of another version or of another shape. It is JSON (a shared index
runs no code; its columns packed: stamps and numbers as base64 of machine arrays, texts as lines) written atomically
(a temp file renamed over it): concurrent writers and a `kill -9` mid-write leave the old index or a whole new one,
and either is only a cache. A sweep directory that cannot be written to (read-only, full) is summarised all the
same, without saving the index. Summaries are kept column by column (`Runs`): at 100,000 runs, an object per run
costs more than the stat calls.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
from array import array
from pathlib import Path
from typing import NamedTuple

from seqlab import rundir
from seqlab.data import LENGTH_KEYS

INDEX = ".seqlab_index.json"  # at the sweep root: a dot file, so that no run-directory scan mistakes it for a run
VERSION = 5
STAMP = {"inode": "Q", "size": "Q", "mtime_ns": "q"}  # result.json's stamp: its parts -> their array type codes
TEXTS = ("status", "detail", "cell")  # summary fields saved as text, a line a run (a value with a line break in it
# splits in two: the lengths disagree and the index is rebuilt)
NUMBERS = ("wall_time_s", "work")  # summary fields saved as 64-bit floats, NaN for none
NO_RESULT = ""  # the status of a run directory without a result.json


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


class Runs(NamedTuple):
    """Every run directory under a sweep (sorted) and its result.json's summary, column by column: `paths[at]`'s
    summary is each field's value `at`; its status is NO_RESULT where it has no result.json."""

    paths: list[str]
    status: list[str]
    detail: list[str]
    wall_time_s: list[float | None]
    skipped: list[bool]
    cell: list[str]
    work: list[float | None]

    def summary(self, at: int) -> ResultSummary | None:
        """The summary of run `at`, or None when it has no result.json."""
        if self.status[at] == NO_RESULT:
            return None
        return ResultSummary(*(column[at] for column in self[1:]))


def _summarise(run_dir: str) -> ResultSummary:
    try:
        result = rundir.read_result(Path(run_dir)) or {}
    except ValueError as error:  # not JSON, not of the result schema, or a link out of the run directory
        return ResultSummary("unreadable", str(error), None, False)
    detail = str(result.get("error") or "").splitlines()
    config = result.get("config") or {}
    return ResultSummary(result["status"], detail[0] if detail else "", _float(result.get("wall_time_s")),
                         bool(result.get("skipped")), str(config.get("model.name", "")),
                         work(config, result.get("steps")))  # fmt: skip


def work(config: dict, steps: object) -> float | None:
    """`steps` times the task's length (its LENGTH_KEYS value) of a run with flat `config`; None when unknown."""
    length = config.get(LENGTH_KEYS.get(config.get("data.name"), "data.length"))
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (length, steps))
    return _float(steps * length) if numbers else None


def _float(value: object) -> float | None:
    """`value` (a JSON number, or None) as a float; None where there is none (an integer too large for one too)."""
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except OverflowError:
        return None


def runs(sweep_dir: Path) -> Runs:
    """Every run directory under `sweep_dir` with its result.json's summary, from the index where it is current,
    else read; saves the index when an entry changed."""
    sweep_dir = Path(sweep_dir)
    listing = _scan(sweep_dir)
    saved = _load(sweep_dir)
    if saved is not None and saved.names == listing.names and saved.stamps == listing.stamps:  # nothing changed
        columns = saved.columns
    else:
        columns = _current(listing, saved)
        _save(sweep_dir, listing.names, listing.stamps, columns)
    if len(listing.found) < len(listing.paths):  # directories without a result.json: a row of their own each
        row = dict(zip(listing.found, range(len(listing.found)), strict=True))
        empty = ResultSummary(NO_RESULT, "", None, False, "", None)
        columns = [[column[row[at]] if at in row else empty[field] for at in range(len(listing.paths))]
                   for field, column in enumerate(columns)]  # fmt: skip
    return Runs(listing.paths, *columns)


class _Listing(NamedTuple):
    """A sweep's run directories: their paths (sorted), the positions among them of those with a result.json, and
    these ones' keys (paths relative to the sweep) and result.json stamps."""

    paths: list[str]
    found: list[int]
    names: list[str]
    stamps: dict[str, array]


def _scan(sweep_dir: Path) -> _Listing:
    """The run directories under `sweep_dir`. A sweep's runs are its entries: each one with a result.json is a run
    directory, found with one lstat (a file among them: one lstat too); any other folder is looked at as
    `rundir.find_run_dirs` does. One loop, each stamp kept as three machine integers: at 100,000 runs, a stat
    object kept per run costs more than the stat calls."""
    root = str(sweep_dir)
    listing = _Listing([], [], [], {key: array(code) for key, code in STAMP.items()})
    paths, found, names = listing.paths, listing.found, listing.names
    inodes, sizes, mtimes = listing.stamps.values()

    def keep(path: str, name: str, stat: os.stat_result | None) -> None:  # stat: result.json's; None: none
        if stat is not None:
            found.append(len(paths))
            names.append(name)
            inodes.append(stat.st_ino)
            sizes.append(stat.st_size)
            mtimes.append(stat.st_mtime_ns)
        paths.append(path)

    if rundir.looks_like_run_dir(sweep_dir):
        keep(root, ".", _stat(f"{root}/{rundir.RESULT}"))
        return listing
    for name in sorted(name for name in os.listdir(root) if not name.startswith(".")):
        path = f"{root}/{name}"
        try:
            keep(path, name, os.lstat(f"{path}/{rundir.RESULT}"))
        except NotADirectoryError:  # a file
            continue
        except FileNotFoundError:  # a folder without a result: a run directory, or one that holds some
            for run_dir in rundir.find_run_dirs(Path(path)) if os.path.isdir(path) else ():
                keep(str(run_dir), str(run_dir.relative_to(sweep_dir)), _stat(run_dir / rundir.RESULT))
    return listing


Columns = list[list]  # a summary's fields, a list each, a value a run


def _current(listing: _Listing, saved: _Saved | None) -> Columns:
    """The summaries of the runs with a result.json, as columns: from `saved` where its stamp is the current one,
    else read."""
    paths = [listing.paths[at] for at in listing.found]
    if saved is None:
        rows = [_summarise(path) for path in paths]
    else:
        positions = {name: at for at, name in enumerate(saved.names)}
        old_stamps = list(zip(*saved.stamps.values(), strict=True))
        stamps = zip(*listing.stamps.values(), strict=True)
        rows = []
        for path, name, stamp in zip(paths, listing.names, stamps, strict=True):
            at = positions.get(name)
            current = at is not None and old_stamps[at] == stamp
            rows.append(ResultSummary(*(column[at] for column in saved.columns)) if current else _summarise(path))
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in ResultSummary._fields]


class _Saved(NamedTuple):
    """An index as read: its run directories (relative to the sweep), their result.json's stamps, their summaries."""

    names: list[str]
    stamps: dict[str, array]
    columns: Columns


def _load(sweep_dir: Path) -> _Saved | None:
    """The saved index, or None when there is no usable one."""
    try:
        saved = json.loads(rundir.inside(sweep_dir, INDEX).read_bytes())
        if saved.get("version") != VERSION or saved.get("byteorder") != sys.byteorder:
            return None
        names = _lines(saved["names"])
        stamps = {key: _unpack(saved[key], code, len(names)) for key, code in STAMP.items()}
        texts = {key: _lines(saved[key], len(names)) for key in TEXTS}
        numbers = {key: [None if math.isnan(v) else v for v in _unpack(saved[key], "d", len(names))]
                   for key in NUMBERS}  # fmt: skip
        skipped = [flag == "1" for flag in _lines(saved["skipped"], len(names), separator="")]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # garbage, or of another shape: rebuilt
        return None
    columns = texts | numbers | {"skipped": skipped}
    return _Saved(names, stamps, [columns[field] for field in ResultSummary._fields])


def _lines(text: str, count: int | None = None, separator: str = "\n") -> list[str]:
    """`text` split into its values (`count` of them, else ValueError; separator "": a character each)."""
    if type(text) is not str:
        raise TypeError("not text")
    values = (text.split(separator) if separator else list(text)) if text else []
    if count is not None and len(values) != count:
        raise ValueError("a column of another length")
    return values


def _unpack(text: str, code: str, count: int) -> array:
    """The array (type `code`, `count` values) packed in `text` (base64 of its machine bytes), else ValueError."""
    values = array(code, base64.b64decode(text, validate=True))
    if len(values) != count:
        raise ValueError("a column of another length")
    return values


def _save(sweep_dir: Path, names: list[str], stamps: dict[str, array], columns: Columns) -> None:
    """Write the index atomically; a sweep directory that cannot be written to (read-only, full) goes without."""
    column = dict(zip(ResultSummary._fields, columns, strict=True))
    index = {"version": VERSION, "byteorder": sys.byteorder, "names": "\n".join(names)}
    index |= {key: base64.b64encode(stamps[key].tobytes()).decode("ascii") for key in STAMP}
    index |= {key: "\n".join(column[key]) for key in TEXTS}
    index |= {key: base64.b64encode(array("d", (math.nan if v is None else v for v in column[key])).tobytes())
              .decode("ascii") for key in NUMBERS}  # fmt: skip
    index["skipped"] = "".join("1" if flag else "0" for flag in column["skipped"])
    try:
        rundir.atomic_write_text(sweep_dir / INDEX, json.dumps(index) + "\n")
    except OSError:
        pass


def _stat(path: str | Path) -> os.stat_result | None:
    """`path`'s lstat (a link is not followed), or None when it does not exist."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
