"""The run-directory contract, shared by the training run and the aggregator (no torch here).

A run directory holds `.hydra/`, `metrics.csv`, `result.json` (written atomically when the run ends),
`checkpoint.pt` and, when enabled, `grad_flow.csv`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

RESULT, METRICS, CHECKPOINT, GRAD_FLOW, HYDRA = (
    "result.json",
    "metrics.csv",
    "checkpoint.pt",
    "grad_flow.csv",
    ".hydra",
)
METRIC_COLUMNS = ("step", "train_loss", "train_accuracy", "lr", "grad_norm", "eval_loss", "eval_accuracy")
GRAD_FLOW_COLUMNS = ("step", "t", "grad_norm")
STATUSES = ("completed", "failed", "interrupted")
RESULT_KEYS = (
    "status", "config", "eval_accuracy", "eval_loss", "steps", "converged", "steps_to_converge",
    "best_eval_accuracy", "num_params", "wall_time_s", "steps_per_s", "device", "versions", "git_commit", "error",
)  # fmt: skip


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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's result.json, or None if there is none. Raises ValueError if it is unreadable."""
    path = Path(run_dir) / RESULT
    if not path.exists():
        return None
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        raise ValueError(f"{path}: no valid 'status' (expected one of {', '.join(STATUSES)})")
    return result


def is_completed(run_dir: Path) -> bool:
    """True if the run finished: its result.json says `completed`."""
    try:
        result = read_result(run_dir)
    except ValueError:
        return False
    return result is not None and result["status"] == "completed"


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


def looks_like_run_dir(path: Path) -> bool:
    """A run directory has a result.json, a metrics.csv or Hydra's .hydra/config.yaml."""
    return (path / RESULT).exists() or (path / METRICS).exists() or (path / HYDRA / "config.yaml").exists()


def find_run_dirs(root: Path) -> Iterator[Path]:
    """Every run directory at or below `root`, in sorted order (does not descend into run directories)."""
    root = Path(root)
    if looks_like_run_dir(root):
        yield root
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from find_run_dirs(child)


class CsvLog:
    """An append-only CSV of rows keyed by `step`, that can be cut back to a checkpoint's step on resume."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path, self.columns = Path(path), columns

    def truncate(self, keep: Callable[[int], bool]) -> None:
        """Keep only the rows whose step satisfies `keep(step)` (all rows are dropped when none is)."""
        if not self.path.exists():
            return
        with self.path.open() as f:
            rows = [row for row in csv.DictReader(f) if keep(int(row["step"]))]
        atomic_write_text(self.path, self._format(rows, header=True))

    def append(self, rows: list[Mapping[str, Any]]) -> None:
        header = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a") as f:
            f.write(self._format(rows, header))

    def _format(self, rows: list[Mapping[str, Any]], header: bool) -> str:
        lines = [",".join(self.columns)] if header else []
        lines += [",".join(_cell(row.get(c)) for c in self.columns) for row in rows]
        return "".join(line + "\n" for line in lines)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)
