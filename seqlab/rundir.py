"""The run-directory contract, shared by the training run, the sweepers and the aggregator (no torch here).

A run directory holds `.hydra/`, `metrics.csv`, `result.json` (written atomically when the run ends),
`checkpoint.pt`, `fingerprint.json` (the config that its results belong to, written when training starts),
`.lock` (held by the process that trains it), when enabled `grad_flow.csv`, and for the text task `vocab.json`
(the characters, in the order of the model's symbols) and `samples.csv` (text sampled during training). Results
replaced by `rerun=changed` are kept under `.replaced/<time>/`.

A run directory is data, never a pointer elsewhere (it may come from someone else's shared folder): seqlab never
writes through a symbolic link in it (`link_in` refuses the directory before anything is written), and never reads
a file of it that resolves outside it (`inside`). Error messages about its files quote none of their content.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import itertools
import json
import math
import os
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from seqlab.errors import ConfigError

RESULT, METRICS, CHECKPOINT, GRAD_FLOW, HYDRA, FINGERPRINT, LOCK, REPLACED, VOCAB, SAMPLES = (
    "result.json",
    "metrics.csv",
    "checkpoint.pt",
    "grad_flow.csv",
    ".hydra",
    "fingerprint.json",
    ".lock",
    ".replaced",
    "vocab.json",
    "samples.csv",
)
# Config keys that never change what a run computes: left out of its fingerprint (and of its directory's name).
NOT_DEFINING = (
    "sweep_name",
    "train.progress",
    "rerun",
    "optimized_metric",
    "logger.tensorboard.enabled",
    "logger.mlflow.enabled",
    "logger.mlflow.tracking_uri",
    "logger.mlflow.experiment",
)
# Overrides left out of a run directory's name (config.yaml's override_dirname.exclude_keys, through the
# `seqlab_dirname_excluded` resolver): the keys above, `threads` (recorded in the run, but the same run on any number
# of cores) and the `logger` group's choice.
DIRNAME_EXCLUDED = (*NOT_DEFINING, "threads", "logger")
# Config keys added after runs were recorded without them -> the value at which a run computes what it computed
# before the key existed. Such a key at that value is not part of the fingerprint: adding a feature does not turn
# every finished run into "another config".
ADDED_KEYS: dict[str, Any] = {
    "train.early_stop.streak": 50, "train.lr_decay.factor": 1.0, "train.lr_decay.every": 0,
    "precision": "float32", "train.stop_on_divergence": False, "eval.solved_mse": 0.01, "data.queries": 1,
}  # fmt: skip
ADDED_TASK_KEYS = {"data.queries": "recall"}  # an added key of one task's config group: only that task has it
NO_VALUE = object()
RERUN = ("never", "changed")  # rerun=changed retrains a run whose recorded config differs, moving the old aside
METRIC_COLUMNS = ("step", "train_loss", "train_accuracy", "lr", "grad_norm", "eval_loss", "eval_accuracy")
GRAD_FLOW_COLUMNS = ("step", "t", "grad_norm")
SAMPLE_COLUMNS = ("step", "temperature", "prompt", "text")
STATUSES = ("completed", "failed", "interrupted")
MAX_NAME_BYTES = 255  # the longest file name of common file systems (ext4, xfs, APFS, NTFS)
PLAN = "plan.json"  # at a sweep's root: how many runs it plans (seqlab status)
NOT_RECORDED = "not recorded"  # result.json's `trained_on` for a part trained before seqlab kept that list
RUNNING_ELSEWHERE = "running elsewhere"  # a sweep's job whose directory another process was training


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# What a result.json value may be -> the test of it.
RESULT_KINDS: dict[str, Callable[[Any], bool]] = {
    "one of " + ", ".join(STATUSES): lambda v: v in STATUSES,
    "a mapping": lambda v: isinstance(v, dict),
    "a number or null": lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
    "an integer >= 0": _count,
    "an integer >= 0 or null": lambda v: v is None or _count(v),
    "true, false or null": lambda v: v is None or isinstance(v, bool),
    "a string or null": lambda v: v is None or isinstance(v, str),
}
_STATUS, _MAPPING, _NUMBER, _COUNT, _COUNT_OR_NULL, _FLAG, _TEXT = RESULT_KINDS
# result.json's keys -> what each holds: the one schema of a result, for the run that writes it and every tool that
# reads it (a reader refuses a result that breaks it).
RESULT_SCHEMA = {
    "status": _STATUS, "config": _MAPPING, "eval_accuracy": _NUMBER, "eval_loss": _NUMBER, "steps": _COUNT,
    "converged": _FLAG, "steps_to_converge": _COUNT_OR_NULL, "best_eval_accuracy": _NUMBER,
    "best_train_accuracy": _NUMBER, "min_train_loss": _NUMBER, "num_params": _COUNT, "wall_time_s": _NUMBER,
    "steps_per_s": _NUMBER, "device": _TEXT, "versions": _MAPPING, "git_commit": _TEXT, "error": _TEXT,
}  # fmt: skip
RESULT_KEYS = tuple(RESULT_SCHEMA)
# The result.json keys that a run can return to an optimising sweeper (`optimized_metric`): its numbers.
OPTIMIZED_METRICS = tuple(k for k, kind in RESULT_SCHEMA.items() if kind in (_NUMBER, _COUNT, _COUNT_OR_NULL))


def check_result(result: Any) -> str | None:
    """Why `result` (a parsed result.json) breaks RESULT_SCHEMA, naming the key and what it must hold (never the
    value); None if it keeps to it. Keys it lacks are allowed: runs recorded before a key existed lack it."""
    if not isinstance(result, dict):
        return "not a JSON object"
    if result.get("status") not in STATUSES:
        return f"no valid 'status' (expected {_STATUS})"
    bad = next((k for k, kind in RESULT_SCHEMA.items() if k in result and not RESULT_KINDS[kind](result[k])), None)
    return f"'{bad}' is not {RESULT_SCHEMA[bad]}" if bad else None


class OutsideRunDir(ValueError):
    """A run-directory file that is a symbolic link to something outside the directory: never read."""


def inside(run_dir: Path, name: str) -> Path:
    """`run_dir / name`, to read; raises OutsideRunDir when it resolves outside `run_dir` (a link elsewhere)."""
    path = Path(run_dir) / name
    if path.is_symlink() and not path.resolve().is_relative_to(Path(run_dir).resolve()):
        raise OutsideRunDir(f"{path} is a symbolic link out of its run directory: not read")
    return path


def read_inside(run_dir: Path, name: str) -> bytes:
    """The bytes of `run_dir / name`, read as `inside` allows, in one open (no lstat first: O_NOFOLLOW refuses a link,
    which is then checked; O_NONBLOCK: a FIFO put in a file's place reads as empty instead of hanging the reader).
    Raises FileNotFoundError where there is no such file, OutsideRunDir for a link out."""
    path = os.path.join(run_dir, name)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno != errno.ELOOP:  # not a link: no such file, say
            raise
        return inside(run_dir, name).read_bytes()  # a link: read only where it stays inside
    with open(descriptor, "rb") as file:
        return file.read()


def link_in(run_dir: Path) -> str | None:
    """Why seqlab must not write into `run_dir`: the first symbolic link among it, its entries and `.hydra/`'s (each
    one a write that would land elsewhere: `.lock`, the job's log, `.hydra/config.yaml`, ...); None if it holds none."""
    run_dir = Path(run_dir)
    for folder in (run_dir, run_dir / HYDRA):
        if folder.is_symlink():
            return _link_refused(folder)
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        if link := next((Path(e.path) for e in entries if e.is_symlink()), None):
            return _link_refused(link)
    return None


def _link_refused(link: Path) -> str:
    return (f"{link} is a symbolic link: seqlab never writes through a link in a run directory; remove the link "
            "(or the directory) and launch again")  # fmt: skip


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call `write` on a temp file beside `path`, then rename it over `path`: readers see the old file or the new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DiskFull(errno.ENOSPC, f"no space left on device writing {path}") from None
        raise


class DiskFull(OSError):
    """A run-directory file could not be written: its file system is full (the message names the file)."""

    def __str__(self) -> str:
        return self.strerror


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write `text` (UTF-8) to `path`."""
    atomic_write(path, lambda f: f.write(text.encode()))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_result(run_dir: Path, result: Mapping[str, Any]) -> None:
    """Atomically write result.json (non-finite numbers become null)."""
    atomic_write_text(Path(run_dir) / RESULT, json.dumps(_json_safe(result), indent=2, sort_keys=True) + "\n")


def read_result(run_dir: Path | str) -> dict[str, Any] | None:
    """The run's result.json, or None if there is none. Raises ValueError if it is unreadable."""
    try:
        result = json.loads(read_inside(run_dir, RESULT))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{os.path.join(run_dir, RESULT)}: not valid JSON ({error})") from None
    if why := check_result(result):
        raise ValueError(f"{os.path.join(run_dir, RESULT)}: {why}")
    return result


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model': {'name': 'rnn'}} -> {'model.name': 'rnn'}; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def looks_like_run_dir(path: Path | str) -> bool:
    """A run directory has a result.json, a metrics.csv or Hydra's .hydra/config.yaml (checked on the path as text:
    at 100,000 runs, pathlib's objects cost more than the stat calls)."""
    return any(
        os.path.exists(os.path.join(path, name)) for name in (RESULT, METRICS, os.path.join(HYDRA, "config.yaml"))
    )


def write_plan(sweep_dir: Path, planned: int | None, at_most: int) -> None:
    """Record at a sweep's launch how many runs it plans (`planned`: None where a search decides as it goes) and
    at most; `seqlab status` reads it, and `finished_at` stays null until the launch returns (`finish_plan`)."""
    plan = {"planned_runs": planned, "at_most": at_most, "launched_at": time.time(), "finished_at": None}
    atomic_write_text(Path(sweep_dir) / PLAN, json.dumps(plan) + "\n")


def finish_plan(sweep_dir: Path) -> None:
    """Record that the sweep's latest launch returned: every planned run trained, skipped or failed, every search
    ended. A plan left unfinished is a launch that stopped with its process or machine."""
    if (plan := read_plan(sweep_dir)) is not None:
        atomic_write_text(Path(sweep_dir) / PLAN, json.dumps(plan | {"finished_at": time.time()}) + "\n")


def launch_unfinished(plan: dict[str, Any]) -> bool:
    """Whether the plan's launch has not returned (a plan written before `finished_at` existed counts as returned)."""
    return "finished_at" in plan and plan["finished_at"] is None


def read_plan(sweep_dir: Path) -> dict[str, Any] | None:
    """The plan a sweeper recorded at launch, or None (none, unreadable, or not of write_plan's shape)."""
    try:
        plan = json.loads(inside(sweep_dir, PLAN).read_text())
    except (OSError, ValueError):
        return None
    counts = isinstance(plan, dict) and "planned_runs" in plan and [plan["planned_runs"], plan.get("at_most")]
    if not counts or not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in counts):
        return None
    finished = plan.get("finished_at")
    return plan if finished is None or (isinstance(finished, float | int) and not isinstance(finished, bool)) else None


def find_run_dirs(root: Path) -> Iterator[Path]:
    """Every run directory at or below `root`, in sorted order (does not descend into run directories)."""
    root = Path(root)
    if looks_like_run_dir(root):
        yield root
        return
    for name in subdirs(root):
        child = os.path.join(root, name)
        if looks_like_run_dir(child):
            yield Path(child)
        else:
            yield from find_run_dirs(Path(child))


def subdirs(folder: Path | str) -> list[str]:
    """The names of the folder's directories, hidden ones left out, sorted."""
    with os.scandir(folder) as entries:  # DirEntry.is_dir: no stat per entry on most file systems
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


class CsvLog:
    """An append-only CSV of rows keyed by `step`, that can be cut back to a checkpoint's step on resume.

    Numbers are written as Python's repr (exact); a text cell with a comma, quote or line end is quoted."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path, self.columns = Path(path), columns

    def rows(self, keep: Callable[[int], bool]) -> list[dict[str, str]]:
        """The rows whose step satisfies `keep(step)`, as written (text cells; none when there is no file)."""
        if not self.path.exists():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            return [row for row in csv.DictReader(f) if keep(int(row["step"]))]

    def truncate(self, keep: Callable[[int], bool]) -> None:
        """Keep only the rows whose step satisfies `keep(step)` (all rows are dropped when none is)."""
        if self.path.exists():
            atomic_write_text(self.path, self._format(self.rows(keep), header=True))

    def append(self, rows: list[Mapping[str, Any]]) -> None:
        header = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="", encoding="utf-8") as f:
            f.write(self._format(rows, header))

    def _format(self, rows: list[Mapping[str, Any]], header: bool) -> str:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if header:
            writer.writerow(self.columns)
        writer.writerows([_cell(row.get(c)) for c in self.columns] for row in rows)
        return text.getvalue()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def defining_config(flat_config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a flattened config that define what the run computes, sorted (an ADDED_KEYS key at its
    neutral value is left out, so runs recorded before it existed keep their fingerprint)."""
    return {k: v for k, v in _defining_keys(flat_config).items() if ADDED_KEYS.get(k, NO_VALUE) != v}


def _defining_keys(flat_config: Mapping[str, Any]) -> dict[str, Any]:
    """The config's keys that can change what a run computes, sorted: all but NOT_DEFINING."""
    return {k: flat_config[k] for k in sorted(flat_config) if k not in NOT_DEFINING}


def with_added_keys(flat_config: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded config with each ADDED_KEYS key it lacks at its neutral value (a task's own key for that task
    only): what the run computed, in today's keys."""
    task = flat_config.get("data.name")
    added = {k: v for k, v in ADDED_KEYS.items() if ADDED_TASK_KEYS.get(k, task) == task}
    return {**added, **flat_config}


def override_key(line: str) -> str:
    """The key of a command-line override (`+train.x=1` -> `train.x`; `~key` -> `key`)."""
    return line.split("=", 1)[0].lstrip("+~")


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a directory, or a lock file created if missing, never through a link),
    waiting for one already held; it ends with the block or with the process, however it ends."""
    flags = os.O_RDONLY if Path(path).is_dir() else os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW
    descriptor = os.open(path, flags, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def dir_name(override_dirname: str) -> str:
    """A run directory's name from Hydra's override_dirname (`defaults` when empty): one folder, never a path, so
    that no override value (`data.path=/home/me/book.txt`, `../../x`) places it elsewhere. A `/` in a value is
    written `%2F`, as in a URL; a name longer than a file system takes keeps its start and ends in a hash of all
    of it (`...~<12 hex digits>`)."""
    name = (override_dirname or "defaults").replace("%", "%25").replace("/", "%2F")
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return name.encode()[: MAX_NAME_BYTES - 13].decode(errors="ignore") + "~" + digest


def check_sweep_name(name: object) -> None:
    """Refuse (ConfigError) a sweep_name that is not one plain folder name under outputs/multirun/."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", "..") or "\\" in name:
        raise ConfigError(f"sweep_name={name!r} is invalid: expected one folder name (no '/', not '.' or '..')")


def discard_if_unused(run_dir: str | Path, made: Path | None = None) -> bool:
    """Remove `run_dir` if it holds nothing of a run, only what Hydra writes for any job (`.hydra/`, the job's
    `.log`): what a run refused before training leaves; then its parents up to `made` where empty
    (`remove_made`). True if removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(p.name != HYDRA and p.suffix != ".log" for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir)
    remove_made(run_dir.parent, made)
    return True


def cannot_make(key: str, path: str | Path) -> str | None:
    """Why the folder `path` (the value of `key`: hydra.run.dir, hydra.sweep.dir) cannot be made and written in: a
    file where it or a folder above it would be, or a nearest existing folder without write permission; else None."""
    missing = outermost_missing(path)
    nearest = missing.parent if missing is not None else Path(path).absolute()  # the nearest folder that exists
    blocked = ("a file" if not nearest.is_dir() else
               "not writable" if not os.access(nearest, os.W_OK | os.X_OK) else None)  # fmt: skip
    if blocked is None:
        return None
    return f"{key}={path} is invalid: expected a folder seqlab can make and write in ({nearest} is {blocked})"


def outermost_missing(path: str | Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (the first that `mkdir(parents=True)` makes); None if
    `path` exists."""
    missing = None
    for folder in [Path(path).absolute(), *Path(path).absolute().parents]:
        if folder.exists():
            break
        missing = folder
    return missing


def remove_made(folder: str | Path, made: Path | None) -> None:
    """Remove `folder` and its parents while empty, up to and including `made` (`outermost_missing` before this
    process made it), and never a folder outside `made`: bad input leaves no empty `outputs/runs/` behind."""
    if made is None:
        return
    for each in [Path(folder).absolute(), *Path(folder).absolute().parents]:
        if not each.is_relative_to(made):
            return
        try:
            each.rmdir()
        except OSError:  # not empty, or gone
            return


def fingerprint(flat_config: Mapping[str, Any]) -> str:
    """A short hash of the defining config."""
    return _hash(defining_config(flat_config))


def fingerprints(flat_config: Mapping[str, Any]) -> set[str]:
    """Every fingerprint `flat_config` has had: today's, and those from before an ADDED_KEYS key that it holds at
    the neutral value was left out of fingerprints (a checkpoint written then still belongs to this config)."""
    defining = _defining_keys(flat_config)
    neutral = [k for k, v in defining.items() if ADDED_KEYS.get(k, NO_VALUE) == v]
    return {_hash({k: v for k, v in defining.items() if k not in neutral or k in kept})
            for n in range(len(neutral) + 1) for kept in itertools.combinations(neutral, n)}  # fmt: skip


def _hash(defining: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(defining, sort_keys=True, default=str).encode()).hexdigest()[:16]


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any], limit: int = 3) -> str:
    """The first differing defining keys, as `key: recorded -> current` (a missing key shows as <none>)."""
    recorded, current = defining_config(recorded), defining_config(current)
    keys = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k, "<none>") != current.get(k, "<none>"))
    shown = [f"{k}: {recorded.get(k, '<none>')!r} -> {current.get(k, '<none>')!r}" for k in keys[:limit]]
    return "; ".join(shown) + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")


def recorded(run_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the directory's result.json or None, the flattened config its results or checkpoint belong to): result.json's
    config, else fingerprint.json's; None when neither exists (nothing recorded, or a checkpoint from before
    fingerprints). An unreadable result.json counts as none."""
    try:
        result = read_result(run_dir)
    except ValueError:
        result = None
    if result is not None and "config" in result:
        return result, result_config(result)
    path = inside(run_dir, FINGERPRINT)
    return result, json.loads(path.read_text())["config"] if path.exists() else None


def result_config(result: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened config a result.json belongs to (`threads` as resolved, where it was recorded as "auto")."""
    config = dict(result["config"])
    if config.get("threads") == "auto" and "threads" in result:  # recorded before threads were resolved
        config["threads"] = result["threads"]
    return config


def write_fingerprint(run_dir: Path, flat_config: Mapping[str, Any]) -> None:
    """Record the config that this directory's checkpoint and results will belong to."""
    record = {"fingerprint": fingerprint(flat_config), "config": defining_config(flat_config)}
    atomic_write_text(Path(run_dir) / FINGERPRINT, json.dumps(_json_safe(record), indent=2) + "\n")


def verdict(run_dir: Path, flat_config: Mapping[str, Any], rerun: str = "never") -> tuple[str, str | None]:
    """What a launch of `flat_config` does with `run_dir`: ("skip", None) when it completed under this config;
    ("train", None) when it has nothing, or a checkpoint or unfinished result of this config (resumed);
    ("replace", why) when what it holds belongs to another config and rerun=changed; ("refuse", why) otherwise."""
    run_dir = Path(run_dir)
    if why := link_in(run_dir):
        return "refuse", why
    if run_dir.exists() and not run_dir.is_dir():
        return "refuse", f"{run_dir} is a file, not a run directory: move it away and launch again"
    result, config = recorded(run_dir)
    if config is None and not (run_dir / CHECKPOINT).exists():
        return "train", None
    if config is None:
        why = f"{run_dir} holds a checkpoint with no recorded config"
    elif fingerprint(config) != fingerprint(flat_config):
        why = f"{run_dir} holds results of another config ({differences(config, flat_config)})"
    else:
        return ("skip", None) if result is not None and result["status"] == "completed" else ("train", None)
    return ("replace", why) if rerun == "changed" else ("refuse", why + "; relaunch with rerun=changed")


def move_aside(run_dir: Path) -> Path:
    """Move the directory's results, logs and checkpoint into .replaced/<UTC time>/; returns that folder."""
    run_dir = Path(run_dir)
    target = run_dir / REPLACED / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target.mkdir(parents=True, exist_ok=True)
    for name in (RESULT, METRICS, CHECKPOINT, GRAD_FLOW, FINGERPRINT, VOCAB, SAMPLES):
        if (run_dir / name).exists():
            os.replace(run_dir / name, target / name)
    return target


class RunLocked(Exception):
    """Another live process holds the run directory's lock; the message names the directory and the owner."""


class RunLock:
    """An exclusive lock on a run directory, held while a process trains it.

    A POSIX record lock (fcntl) on `.lock`: the kernel releases it when the process dies, however (SIGKILL
    included), and on a shared filesystem it is taken through the filesystem's lock service (NFSv4, or lockd for
    NFSv3), so it holds across nodes. The holder writes `host pid` into the file for the message others see.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:  # O_NOFOLLOW: a `.lock` planted as a link to another file is never opened (nor truncated)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise ConfigError(_link_refused(self.path) if self.path.is_symlink() else f"{self.path}: {error}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 256, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked(f"{self.path.parent} is being trained by another process ({owner})") from None
        self.fd = fd
        self.note(step=0)
        return self

    def note(self, step: int) -> None:
        """Record in the lock file who holds it, and the step and time this attempt starts from (for `status`)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(
            self.fd, f"host {socket.gethostname()} pid {os.getpid()} step {step} at {time.time():.3f}\n".encode(), 0
        )

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def lock_holder(run_dir: Path) -> str | None:
    """The lock file's `host .. pid .. step .. at ..` line if a live process holds the lock, else None.

    Asks with F_GETLK, which takes no lock, so it never gets in the way of a run starting.
    """
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # Linux x86-64/arm64 struct flock
        lock_type = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0]
        return os.pread(fd, 256, 0).decode(errors="replace").strip() if lock_type != fcntl.F_UNLCK else None
    finally:
        os.close(fd)
