"""Run directories -> tidy tables: one row per run, and the learning curves in long format."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from multirun_analysis import forked
from seqlab import rundir

# Not experimental factors: the seed, and the keys that never change what a run computes (rundir's one list).
NON_FACTORS = {"seed", *rundir.NOT_DEFINING}


@dataclass
class Problem:
    """A run directory that contributes no completed result."""

    run_dir: Path
    kind: str  # failed | interrupted | unreadable | no result.json
    detail: str = ""


@dataclass
class Collection:
    runs: pd.DataFrame  # one row per readable result.json (any status)
    curves: pd.DataFrame  # long format: run_dir, step, metric columns
    grad_flow: pd.DataFrame  # run_dir, step, t, grad_norm
    samples: pd.DataFrame  # text runs: run_dir, step, temperature, prompt, text
    config_keys: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def of_runs(self, run_dirs: set[str]) -> Collection:
        """The part of the collection that belongs to `run_dirs` (config keys: those its runs recorded)."""

        def part(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["run_dir"].isin(run_dirs)] if "run_dir" in frame else frame

        runs = part(self.runs)
        keys = [k for k in self.config_keys if k in runs and runs[k].notna().any()]
        problems = [p for p in self.problems if str(p.run_dir) in run_dirs]
        return Collection(runs, part(self.curves), part(self.grad_flow), part(self.samples), keys, problems)


def _read_csv_rows(text: str, name: str, run_dir: str, columns: dict[str, list]) -> None:
    """Append the rows of a numeric CSV (`text`, the file `name`) to `columns` (column -> values, all of one length),
    tagged with `run_dir`.

    All or nothing: the file is parsed before anything is appended; columns it lacks get NaN. Raises ValueError
    on a value that is not a number, naming its row and column but not the value (the file may not be a CSV).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if len(set(header)) < len(header):
        raise ValueError(f"{name} line 1: a column named twice")
    parsed = [_numbers(row, len(header), line, name) for line, row in enumerate(reader, start=2)]
    count = len(columns.get("run_dir", []))
    for column in ["run_dir", *header]:
        if column not in columns:  # a column no earlier file had: NaN for their rows
            columns[column] = [math.nan] * count
    columns["run_dir"] += [run_dir] * len(parsed)
    for index, column in enumerate(header):
        columns[column] += [row[index] for row in parsed]
    for column in columns.keys() - {"run_dir", *header}:
        columns[column] += [math.nan] * len(parsed)


def _numbers(row: list[str], width: int, line: int, name: str) -> list[float]:
    """A CSV row's `width` cells as numbers (empty or missing: NaN; cells beyond the header's are ignored);
    ValueError naming the line of one that is not a number."""
    try:
        return [float(value) if value else math.nan for value in row[:width]] + [math.nan] * (width - len(row))
    except ValueError:
        raise ValueError(f"{name} line {line}: a value that is not a number in a row of {len(row)} "
                         "columns") from None  # fmt: skip


def _read_samples(text: str, run_dir: str) -> list[dict]:
    """A text run's samples.csv rows (`text`), tagged with `run_dir` (step and temperature as numbers)."""
    return [row | {"run_dir": run_dir, "step": int(row["step"]), "temperature": float(row["temperature"])}
            for row in csv.DictReader(io.StringIO(text, newline=""))]  # fmt: skip


def _text(run_dir: str, name: str) -> str | None:
    """A run-directory file's text (undecodable bytes replaced), None where there is none (rundir.read_inside)."""
    try:
        return rundir.read_inside(run_dir, name).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _flat_result(result: dict, run_dir: str, root: str) -> dict:
    """Config keys as they are (lists as JSON; a key added since the run, `rundir.ADDED_KEYS`, at its neutral value),
    then the result's own keys; a result key that is also a config key (device, threads: what was asked vs. what
    was used) becomes `result.<key>`."""
    config = result.get("config", {})
    if config:  # a run recorded before a key was added computed what the key's neutral value computes
        config = rundir.with_added_keys(config)
    row = {k: json.dumps(v) if isinstance(v, list) else v for k, v in config.items()}
    for key, value in result.items():
        if key not in ("config", "traceback", "versions", "slurm"):
            row[f"result.{key}" if key in row else key] = value
    if config:  # today's fingerprint: the recorded one may predate an ADDED_KEYS key
        row["fingerprint"] = rundir.fingerprint(rundir.result_config(result))
    row["run_dir"], row["sweep"] = run_dir, root
    return row


PARALLEL_FROM = 2000  # run directories from which collect reads them in a pool of processes, one per core


def collect(roots: list[Path], workers: int | None = None) -> Collection:
    """Read every run directory under `roots`; problems are recorded, never fatal. In a pool of `workers` processes
    (default: one per core, from PARALLEL_FROM runs on), each reading a contiguous share in order, so the tables come
    out as one process makes them."""
    tops = [  # each searched for run directories by the process that reads it (paths as text: 100,000 of them)
        (str(root), top) for root in roots
        for top in ([str(root)] if rundir.looks_like_run_dir(root) else
                    [os.path.join(root, n) for n in rundir.subdirs(root)])
    ]  # fmt: skip
    if workers is None:
        workers = forked.cores() if len(tops) >= PARALLEL_FROM else 1
    count, pieces = len(tops), 4 * workers if workers > 1 else 1
    shares = [tops[k * count // pieces : (k + 1) * count // pieces] for k in range(pieces)]
    parts = forked.in_order([partial(_collect_share, share) for share in shares], workers)
    config_keys = list(dict.fromkeys(key for part in parts for key in part.config_keys))
    frames = [pd.concat([f for part in parts if not (f := getattr(part, name)).empty] or [pd.DataFrame()],
                        ignore_index=True) for name in ("runs", "curves", "grad_flow", "samples")]  # fmt: skip
    return Collection(*frames, config_keys, [problem for part in parts for problem in part.problems])


def _collect_share(tops: list[tuple[str, str]]) -> Collection:
    """The collection of the run directories at or below these (root, folder) pairs, in their order."""
    found = [(root, str(run_dir)) for root, top in tops for run_dir in rundir.find_run_dirs(top)]
    rows: list[dict] = []
    curves: dict[str, list] = {}
    flows: dict[str, list] = {}
    samples: list[dict] = []
    problems: list[Problem] = []
    config_keys: dict[str, None] = {}  # ordered set
    for root, run_dir in found:
        try:
            result = rundir.read_result(run_dir)
        except ValueError as error:
            problems.append(Problem(Path(run_dir), "unreadable", str(error)))
            continue
        if result is None:
            problems.append(Problem(Path(run_dir), "no result.json", "unfinished, killed, or stopped before training"))
            continue
        if result["status"] != "completed":
            problems.append(Problem(Path(run_dir), result["status"], str(result.get("error") or "")))
        config_keys.update(dict.fromkeys(result.get("config", {})))
        rows.append(_flat_result(result, run_dir, root))
        try:  # each log read in one open, none where the run has none
            if (text := _text(run_dir, rundir.METRICS)) is not None:
                _read_csv_rows(text, rundir.METRICS, run_dir, curves)
            if (text := _text(run_dir, rundir.GRAD_FLOW)) is not None:
                _read_csv_rows(text, rundir.GRAD_FLOW, run_dir, flows)
            if (text := _text(run_dir, rundir.SAMPLES)) is not None:
                samples += _read_samples(text, run_dir)
        except (ValueError, KeyError, OSError, csv.Error) as error:
            problems.append(Problem(Path(run_dir), "unreadable", f"metrics: {error}"))
    frames = (pd.DataFrame(rows), pd.DataFrame(curves), pd.DataFrame(flows), pd.DataFrame(samples))
    return Collection(*frames, list(config_keys), problems)


def planned_values(roots: list[Path], key: str) -> list[float]:
    """The numeric values of `key` that the sweeps at `roots` planned, from each one's multirun.yaml (the command
    line's sweep of `key`, else the preset's): a capacity search tests only some of them, and a figure must not draw
    a line across the others. [] where no sweep records a plan of `key` (or its file is unreadable)."""
    parser, planned = OverridesParser.create(), set()
    for root in roots:
        try:
            hydra = yaml.safe_load(rundir.read_inside(root, "multirun.yaml"))["hydra"]
            given = [line for line in hydra["overrides"]["task"] if rundir.override_key(line) == key]
            preset = (hydra["sweeper"].get("params") or {}).get(key)
            line = given[-1] if given else None if preset is None else f"{key}={preset}"
            if line is not None:
                override = parser.parse_override(line)
                planned.update(override.sweep_iterator() if override.is_sweep_override() else [override.value()])
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError, HydraException):
            continue  # no plan, or not one to read: the tested values alone
    return sorted(v for v in planned if isinstance(v, int | float) and not isinstance(v, bool))


def varying_factors(runs: pd.DataFrame, config_keys: list[str]) -> list[str]:
    """Config keys that take more than one value across runs (a key missing from some runs counts as a value).

    A group's key that follows from the group's chosen option (optimizer.betas from optimizer.name, say) is not
    a factor of its own: it is dropped when each value of `<group>.name` comes with exactly one value of it.
    """
    as_text = {k: runs[k].map(str) for k in config_keys if k not in NON_FACTORS}  # missing -> "nan", a value
    varying = [k for k, values in as_text.items() if values.nunique() > 1]
    factors = []
    for key in varying:
        option = key.split(".")[0] + ".name"
        if option != key and option in varying and (as_text[key].groupby(as_text[option]).nunique() == 1).all():
            continue
        factors.append(key)
    return factors
