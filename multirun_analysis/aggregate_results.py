"""Aggregate seqlab run directories into a tidy table, the comparison figures and a report.

    seqlab-aggregate outputs/multirun/sweep [more dirs] [--out DIR]
    python -m multirun_analysis.aggregate_results ...          (the same)

Writes runs.csv, curves.csv, summary.csv, the memory-capacity tables (memory_capacity.csv, capacity_per_seed.csv,
solved_counts.csv), figures (PNG + SVG), report.md and report.html. Grid sweeps and capacity sweeps alike. Text runs
(dataset=text) get held-out bits per character instead of accuracy and capacity, and a table of their samples.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from multirun_analysis import figures, forked, sample_words
from multirun_analysis.collect import (
    NON_FACTORS,
    PARALLEL_FROM,
    Collection,
    Problem,
    collect,
    planned_values,
    varying_factors,
)
from multirun_analysis.report import Report
from multirun_analysis.stats import (
    CAPACITY_NUMBERS,
    capacity_over_seeds,
    capacity_per_seed,
    convergence,
    interval_note,
    mark_solved,
    overflow,
    overflowed_in_every_row,
    solved_counts,
    summarize,
)
from seqlab import rundir
from seqlab.capacity import SOLVED_CRITERIA

PREFERRED_FACETS = ["optimizer.name", "init.name"]


class UsageError(Exception):
    """Bad arguments or nothing to aggregate: one line, exit 2."""


@dataclass
class Options:
    """What to aggregate and how (the command line's options; see `parse_args`)."""

    dirs: list[Path]
    out: Path | None = None
    x: str | None = None
    hue: str | None = None
    col: str | None = None
    row: str | None = None
    metric: str | None = None  # eval_accuracy for the palindrome task, eval_bpc for text
    solved: str = "converged"
    formats: list[str] = field(default_factory=lambda: ["png", "svg"])
    books: list[Path] = field(default_factory=list)  # folders keeping text runs' books by sha256 (`books.carry`)
    setting: str = ""  # the runs' fixed setting in a few words, for the figures' captions (set by write_outputs)


TASK_METRICS = {"text": "eval_bpc", "adding": "eval_loss"}  # a task not named here is scored by eval_accuracy
CONFIG = "config"  # the column that combines the varying keys beyond the x, hue and column roles
COMPUTE = "compute: "  # report.md's bullet of what the runs cost and where they ran (`recorded_compute`)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="directories searched recursively for run directories")
    parser.add_argument("--out", type=Path, help="output directory (default: analysis/ inside the first directory)")
    parser.add_argument("--x", help="x axis (default: data.length)")
    parser.add_argument("--hue", help="colour (default: model.name)")
    parser.add_argument("--col", help="column facets (default: a varying optimizer/init/other key)")
    parser.add_argument("--row", help="row facets (default: the next varying key)")
    parser.add_argument("--metric", help="metric on the y axis (default: eval_accuracy; text runs: eval_bpc)")
    parser.add_argument(
        "--solved",
        choices=list(SOLVED_CRITERIA),
        default="converged",
        help="when a run counts as solved, for memory capacity (default: converged)",
    )
    parser.add_argument("--formats", default="png,svg", help="figure formats, the first is embedded (default: png,svg)")
    parser.add_argument(
        "--books",
        type=Path,
        action="append",
        default=[],
        help="a folder keeping text runs' books as <sha256>.txt.gz (e.g. docs/results/books), searched when a run's "
        "data.path has not the book it trained on; repeatable",
    )
    args = parser.parse_args(argv)
    return Options(**{**vars(args), "formats": args.formats.split(",")})


def choose_roles(args: Options, factors: list[str], config_keys: list[str], text: bool) -> dict[str, str | None]:
    """x, hue, col, row: the user's choice; else x = data.length (text: data.seq_length) and hue = model.name
    (varying or not), and the remaining varying keys as column and row facets (optimizer and init first)."""
    roles: dict[str, str | None] = {k: getattr(args, k) for k in ("x", "hue", "col", "row")}
    for role, preferred in (("x", "data.seq_length" if text else "data.length"), ("hue", "model.name")):
        if roles[role] is None:
            free = [f for f in factors if f not in roles.values()]
            usable = preferred in config_keys and preferred not in roles.values()
            roles[role] = preferred if usable or not free else free[0]
    for role in ("col", "row"):
        free = [f for f in factors if f not in roles.values()]
        if roles[role] is None and free:
            roles[role] = next((f for f in PREFERRED_FACETS if f in free), free[0])
    for role, key in roles.items():
        if key is not None and key not in config_keys:
            raise UsageError(f"--{role} {key}: not a config key of these runs (known: {', '.join(config_keys)})")
    return roles


def default_out(first: Path) -> Path:
    """analysis/ inside the first directory, or beside it when it is itself a run directory."""
    return first.parent / f"{first.name}-analysis" if rundir.looks_like_run_dir(first) else first / "analysis"


def aggregate(args: Options) -> Path:
    """Aggregate `args.dirs` into `args.out` (default: see `default_out`); returns the output directory."""
    for d in args.dirs:
        if not d.is_dir():
            raise UsageError(f"{d}: not a directory")
    out = args.out or default_out(args.dirs[0])
    if any(rundir.looks_like_run_dir(parent) for parent in [out, *out.resolve().parents]):
        raise UsageError(f"--out {out}: inside a run directory; the aggregator never writes there")
    data = collect(args.dirs)
    print_problems(data.problems)
    if data.runs.empty:
        found = f"{len(data.problems)} run directories, none with a readable result.json" if data.problems else "none"
        raise UsageError(f"no runs to aggregate under {', '.join(map(str, args.dirs))} (found {found})")
    tasks = sorted(set(data.runs["data.name"].dropna())) if "data.name" in data.runs else []
    with staged(out) as staging:  # a failed aggregate (a full disk, say) leaves the previous analysis as it was
        if len(tasks) > 1:
            aggregate_per_task(args, data, staging, tasks)
        else:
            args.metric = args.metric or task_metric(tasks[0] if tasks else "")
            check_metric(args.metric, data.runs)
            write_outputs(args, data, staging)
    return out


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A new folder beside `out` to write the analysis into; renamed into `out`'s place once all of it is written
    (the previous `out` is removed only then), removed if writing it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield staging
        staging.chmod(0o755)
        previous = out.parent / f"{staging.name}.old"
        if out.exists():
            os.replace(out, previous)
        os.replace(staging, out)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def print_problems(problems: list[Problem], shown: int = 5) -> None:
    """On stderr: how many run directories contribute no completed result, by kind, and the first few, with why."""
    if not problems:
        return
    kinds = Counter(p.kind for p in problems)
    print(
        f"aggregate_results: {len(problems)} run directories without a completed result ("
        + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        + "); listed in report.md",
        file=sys.stderr,
    )
    for problem in problems[:shown]:
        print(f"  {problem.kind.upper()} {problem.run_dir}: {problem.detail.splitlines()[0] if problem.detail else ''}",
              file=sys.stderr)  # fmt: skip
    if len(problems) > shown:
        print(f"  ... and {len(problems) - shown} more", file=sys.stderr)


def task_metric(task: str) -> str:
    """A task's held-out metric: bits per character (text), squared error (adding), else accuracy."""
    return TASK_METRICS.get(task, "eval_accuracy")


def check_metric(metric: str, runs: pd.DataFrame) -> None:
    if metric not in runs:
        raise UsageError(f"--metric {metric}: not a result key (try eval_accuracy, steps_to_converge, ...)")


def aggregate_per_task(args: Options, data: Collection, out: Path, tasks: list[str]) -> Path:
    """Runs of several tasks: one aggregation per task in `out`/<task>/, each scored by its own metric, and an index
    report.md in `out` that links them (runs of different tasks never share a table or a figure)."""
    index = Report("seqlab aggregate report: runs of several tasks")
    index.paragraph("Each task has its own metric and memory scale, so each is aggregated apart:")
    parts = []
    for task in tasks:
        runs = data.runs[data.runs["data.name"] == task]
        options = replace(args, out=out / task, metric=args.metric or task_metric(task))
        check_metric(options.metric, runs)
        (out / task).mkdir()
        write_outputs(options, data.of_runs(set(runs["run_dir"])), out / task)
        parts.append(f"[{task}]({task}/report.md): {len(runs)} runs, {figures.label(options.metric)}")
    index.bullets(parts)
    if unassigned := [p for p in data.problems if str(p.run_dir) not in set(data.runs["run_dir"])]:
        index.heading("Run directories without a result (of no known task)")
        index.table(pd.DataFrame([{"run_dir": str(p.run_dir), "problem": p.kind, "detail": p.detail}
                                  for p in unassigned]))  # fmt: skip
    (out / "report.md").write_text(index.markdown())
    (out / "report.html").write_text(index.html())
    return out


def write_outputs(args: Options, data: Collection, out: Path) -> None:
    """Tables, figures and the report for the collected runs."""
    runs, copies = drop_copies(data.runs)
    figures.setup_style(str(runs["data.name"].iloc[0]) if "data.name" in runs else "palindrome")  # names the keys
    runs = runs.assign(**overflow_rows(runs, data.curves))
    text = args.metric == "eval_bpc" or ("data.name" in runs and (runs["data.name"] == "text").all())
    factors = varying_factors(runs, data.config_keys)
    roles = choose_roles(args, factors, data.config_keys, text)
    shown = [roles[k] for k in ("col", "row", "hue", "x") if roles[k]]
    if more := [f for f in factors if f not in shown]:  # never pooled: they become the rows' configurations
        combined = [roles["row"], *more] if roles["row"] else more
        runs[CONFIG] = runs[combined].astype(str).apply(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)
        roles["row"], factors = CONFIG, [*(f for f in factors if f not in combined), CONFIG]
        shown = [roles[k] for k in ("col", "row", "hue", "x") if roles[k]]
    run_keys = runs[["run_dir", *dict.fromkeys([*shown, *factors, "seed"])]]
    curves = data.curves.merge(run_keys, on="run_dir", how="left") if not data.curves.empty else data.curves
    if not curves.empty:
        curves["step"] = curves["step"].astype(int)
    # the two largest tables, written beside the figures (add_results): at 100,000 runs, seconds each
    tables = [partial(runs.to_csv, out / "runs.csv", index=False), partial(curves.to_csv, out / "curves.csv",
                                                                           index=False)]  # fmt: skip

    report = Report("seqlab aggregate report")
    report.heading("What was aggregated")
    statuses = Counter(runs["status"]) + Counter(p.kind for p in data.problems if p.kind not in rundir.STATUSES)
    report.bullets([f"directories: {', '.join(map(str, args.dirs))}", *(f"{k}: {v}" for k, v in statuses.items()),
                    f"{COMPUTE}{compute_used(runs)}"])  # fmt: skip
    if (overflowing := runs["grad_overflow_rows"] > 0).any():
        everywhere = int(overflowed_in_every_row(runs).sum())
        report.paragraph(
            f"{int(overflowing.sum())} of {len(runs)} runs had a gradient norm that overflowed (inf or NaN in "
            f"metrics.csv), {everywhere} of them in every metrics row: at such a step clipping by the "
            "norm scales the update to zero (inf) or makes the weights NaN (per run: `grad_overflow_rows` of "
            "`metric_rows` in runs.csv, and the step of the first overflowing row, `first_overflow_step`; by group: "
            "overflow.csv)."
        )
        if shown:
            overflowed = overflow(runs, shown)
            overflowed.to_csv(out / "overflow.csv", index=False)
            report.table(overflowed)
    if (mixed := implementations_mixed(runs)) is not None:
        report.paragraph(mixed)
    x, hue, col, row = (roles[k] for k in ("x", "hue", "col", "row"))
    varying = [*(f for f in factors if f != CONFIG), *(combined if more else [])]
    report.paragraph(
        f"Varying config keys: {', '.join(varying) or 'none'}. Shown as x = {x}, hue = {hue}"
        + (f", columns = {col}" if col else "") + (f", rows = {row}" if row else "")
        + (f" (the rows' `{CONFIG}` combines {', '.join(combined)}: runs that differ in any key are never pooled)"
           if more else "") + "."
    )  # fmt: skip
    if not copies.empty:
        copies.to_csv(out / "copies.csv", index=False)
        report.paragraph(f"{len(copies)} run directories hold a copy of a run found elsewhere (same config and seed): "
                         "each run is counted once, from the first directory; the copies (copies.csv):")  # fmt: skip
        report.table(copies)
    fixed = fixed_settings(runs, data.config_keys, factors)
    report.paragraph("Fixed settings (the same in every run): " + ", ".join(f"`{k}={v}`" for k, v in fixed.items()))
    args.setting = setting(fixed, runs)
    completed = runs[runs["status"] == "completed"]
    if completed.empty:
        report.paragraph("No completed runs: no tables or figures.")
        for write in tables:
            write()
    else:
        add_results(report, args, roles, factors, as_categories(completed, roles), curves, data, run_keys, out, text,
                    tables)  # fmt: skip
    report.heading("Problems: failed, interrupted, unreadable and result-less run directories")
    problems = pd.DataFrame([{"run_dir": str(p.run_dir), "problem": p.kind, "detail": p.detail} for p in data.problems])
    report.table(problems) if not problems.empty else report.paragraph("None.")
    (out / "report.md").write_text(report.markdown())
    (out / "report.html").write_text(report.html())


def drop_copies(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the runs with each run once, the copies): directories whose results share a fingerprint (the defining
    config, seed included) hold one run; the first directory (in sorted order) counts, the others are copies."""
    fingerprints = runs["fingerprint"] if "fingerprint" in runs else pd.Series(None, index=runs.index)
    ordered = runs.assign(_key=fingerprints.fillna(runs["run_dir"])).sort_values("run_dir")
    copy = ordered.duplicated("_key", keep="first")
    first = ordered[~copy].set_index("_key")["run_dir"]
    copies = pd.DataFrame({"run_dir": ordered.loc[copy, "run_dir"],
                           "copy_of": ordered.loc[copy, "_key"].map(first)})  # fmt: skip
    return ordered[~copy].drop(columns="_key").sort_index(), copies.reset_index(drop=True)


def overflow_rows(runs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, pd.Series]:
    """Per run: its training rows in metrics.csv (`metric_rows`), those whose gradient norm overflowed float32
    (`grad_overflow_rows`: inf, or NaN - an empty cell - once inf - inf occurred; a row's norm is a mean over steps,
    so one step's overflow is enough) and the step of the first such row (`first_overflow_step`; empty where none
    overflowed)."""
    if curves.empty or "grad_norm" not in curves:
        zeros = pd.Series(0, index=runs.index)
        return {
            "metric_rows": zeros,
            "grad_overflow_rows": zeros,
            "first_overflow_step": pd.Series(pd.NA, index=runs.index, dtype="Int64"),
        }
    curves = curves[curves["train_accuracy"].notna()]  # training rows (an evaluation-only row has no norm)
    overflowed = ~np.isfinite(curves["grad_norm"])
    per_run = curves.assign(overflowed=overflowed).groupby("run_dir")["overflowed"].agg(["size", "sum"])
    first = curves[overflowed].groupby("run_dir")["step"].min()
    return {
        "metric_rows": runs["run_dir"].map(per_run["size"]).fillna(0).astype(int),
        "grad_overflow_rows": runs["run_dir"].map(per_run["sum"]).fillna(0).astype(int),
        "first_overflow_step": runs["run_dir"].map(first).astype("Int64"),
    }


def compute_used(runs: pd.DataFrame) -> str:
    """What the runs cost: CPU core-hours (each run's wall time, resumes included, times its threads) and GPU-hours
    (its wall time), and the processors they ran on (all that trained a resumed run)."""

    def used(key: str) -> pd.Series:  # what the run used (`result.<key>` where the config has the key too)
        return runs.get(f"result.{key}", runs.get(key, pd.Series(None, index=runs.index, dtype=object)))

    hours = runs["wall_time_s"].fillna(0) / 3600
    on_gpu = used("device") == "cuda"
    parts = [f"{(hours * used('threads').fillna(1))[~on_gpu].sum():,.2f} core-hours"]
    if on_gpu.any():
        parts.append(f"{hours[on_gpu].sum():,.2f} GPU-hours")
    trained_on = [listed if isinstance(listed, list) and listed else [name]  # runs before `trained_on`: device_name
                  for listed, name in zip(used("trained_on"), used("device_name"), strict=True)]  # fmt: skip
    processors = (
        ", ".join(sorted({str(n) for names in trained_on for n in names if pd.notna(n)})) or rundir.NOT_RECORDED
    )
    return f"{len(runs)} runs, {' and '.join(parts)} ({processors})"


def recorded_compute(out: Path) -> str | None:
    """The compute line of the report.md an aggregation wrote in `out` (`40 runs, 0.52 core-hours (AMD EPYC)`)."""
    report = out / "report.md"
    found = re.search(rf"^- {COMPUTE}(.*)$", report.read_text(), re.MULTILINE) if report.exists() else None
    return found[1] if found else None


def across_processors(results: Path, studies: set[str]) -> str:
    """Where the `studies` aggregated under `results` ran on different processors, a clause naming which ran on
    which; empty when they ran on one (runs repeat exactly on one CPU model, not across models). A processor not
    recorded (a run resumed from a checkpoint older than `trained_on`) is no CPU model of its own."""
    by_processors: dict[str, list[str]] = {}
    for study in sorted(studies):
        found = re.search(r"^[^(]*\((.*)\)$", recorded_compute(results / study) or "")
        recorded = sorted(set(found[1].split(", ")) - {rundir.NOT_RECORDED}) if found else []
        by_processors.setdefault(" and ".join(recorded) or rundir.NOT_RECORDED, []).append(study)
    if len(by_processors.keys() - {rundir.NOT_RECORDED}) < 2:
        return ""
    return "; runs on different CPU models: " + ", ".join(
        f"{on} ({', '.join(names)})" for on, names in sorted(by_processors.items()))  # fmt: skip


CAPTION_KEYS = {  # the settings a figure's caption names, when they are the same in every run
    "data.encoding": "encoding", "init.name": "init", "model.hidden_size": "hidden", "model.num_layers": "layers",
    "optimizer.name": "optimizer", "optimizer.lr": "lr", "train.batch_size": "batch", "train.max_steps": "budget",
    "train.early_stop.kind": "early stop", "data.length": "L", "data.seq_length": "sequence length",
    "data.name": "task", "precision": "precision", "init.std": "init std",
}  # fmt: skip


def fixed_settings(runs: pd.DataFrame, config_keys: list[str], factors: list[str]) -> dict[str, object]:
    """Each config key that takes one value in every run (not a factor, not the seed) -> that value."""
    fixed = {}
    for key in config_keys:
        if key in factors or key in NON_FACTORS or key not in runs:
            continue
        values = runs[key].map(str).unique()
        if len(values) == 1:
            fixed[key] = runs[key].iloc[0]
    return fixed


def setting(fixed: dict[str, object], runs: pd.DataFrame) -> str:
    """The caption's setting: the fixed values of CAPTION_KEYS and the seeds."""
    seeds = sorted(runs["seed"].dropna().astype(int).unique()) if "seed" in runs else []
    task = str(fixed.get("data.name", "palindrome"))
    names = CAPTION_KEYS | {key: name for key, (_, name) in figures.TASK_KEYS.get(task, {}).items()}
    named = [f"{name} {figures.number(fixed[key])}" for key, name in names.items() if key in fixed]
    span = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)) else (
        ",".join(map(str, seeds)))  # fmt: skip
    return ", ".join([*named, f"seeds {span} (n={len(seeds)})"])


def implementations_mixed(runs: pd.DataFrame) -> str | None:
    """A warning when the runs ran more than one implementation (result.json's `impl`), else None."""
    impls = runs["impl"].fillna("not recorded") if "impl" in runs else pd.Series("not recorded", index=runs.index)
    counts = impls.value_counts()
    if len(counts) < 2:
        return None
    listed = ", ".join(f"{impl} ({count} runs)" for impl, count in counts.items())
    fallbacks = int(runs["impl_fallback"].notna().sum()) if "impl_fallback" in runs else 0
    return (f"**Mixed implementations**: {listed}; {fallbacks} of them fell back from the one asked for. "
            "Their numerics differ in the last bits, which can move results near a model's capacity "
            "(the `impl` and `impl_fallback` columns of runs.csv say which run ran what).")  # fmt: skip


def as_categories(frame: pd.DataFrame, roles: dict[str, str | None]) -> pd.DataFrame:
    """A copy whose hue and facet columns are strings (missing: 'n/a'), so seaborn treats them as categories."""
    frame = frame.copy()
    for role in ("hue", "col", "row"):
        if roles[role] and roles[role] in frame:
            column = frame[roles[role]]
            frame[roles[role]] = np.where(column.isna(), "n/a", column.astype(str)).astype(object)
    return frame


def add_results(report: Report, args: Options, roles: dict[str, str | None], factors: list[str],
                completed: pd.DataFrame, curves: pd.DataFrame, data: Collection, run_keys: pd.DataFrame,
                out: Path, text: bool, tables: list[Callable[[], object]]) -> None:  # fmt: skip
    """Summary and memory-capacity (text: samples) tables and every figure, into `out` and the report; `tables`
    (writes of tables made before) are done beside the figures."""
    x, hue, col, row = (roles[k] for k in ("x", "hue", "col", "row"))
    metric, keys = args.metric, [k for k in (col, row, hue, x) if k]
    marked = completed if text else mark_solved(completed, args.solved)
    summary = summarize(marked, keys, metric)
    summary.to_csv(out / "summary.csv", index=False)
    solved_note = "" if text else f", and k of n seeds solved ({SOLVED_CRITERIA[args.solved]})"
    shortfall = interval_note(int(completed.groupby(keys).size().max()))  # the bootstrap's, at the most seeds
    interval = f"95% bootstrap interval over seeds{f' ({shortfall})' if shortfall else ''}"
    report.heading(f"{figures.label(metric)}: mean and {interval}{solved_note}")
    report.table(summary)
    if not text:
        converged = convergence(completed, keys)
        converged.to_csv(out / "convergence.csv", index=False)
        report.heading("Steps to converge: median over seeds, runs that never converged counted at their budget")
        report.paragraph("A median marked as a bound is 'more than' it: half or more of the seeds never converged.")
        report.table(converged)
        if (
            "train_accuracy" in curves
            and "best_train_accuracy" in completed
            and completed["best_train_accuracy"].notna().any()
        ):
            trained = training_accuracy(completed, curves, keys)
            trained.to_csv(out / "training_accuracy.csv", index=False)
            report.heading("Training-batch accuracy, as some course reports measured it")
            report.paragraph("Mean over seeds of each run's last metrics row's training accuracy (the mean over its "
                             "last `train.log_every` batches) and of its best single training batch; a best batch "
                             "of 128 at chance is well above chance.")  # fmt: skip
            report.table(trained)
    configuration = [f for f in dict.fromkeys([k for k in (col, row, hue) if k] + factors) if f != x]
    per_seed = None if text else add_capacity(report, args, completed, x, configuration, out)
    if text and not data.samples.empty:
        add_samples(report, data.samples[data.samples["run_dir"].isin(completed["run_dir"])], run_keys, completed,
                    out, args.books)  # fmt: skip

    report.heading("Figures")
    drawings: list[tuple[Callable[[], Figure], str, str]] = []  # drawn together below: (draw, file stem, caption)
    chance = None if text else figures.chance_level(completed)
    title = f"{figures.label(metric)} vs {figures.label(x)}\n(mean and {interval}; dots: seeds)"
    planned = planned_values(args.dirs, x)  # a capacity search's untested lengths: no line drawn across them
    drawings.append((lambda: figures.metric_vs_x(completed, x, metric, hue, col, row, title, chance, not text,
                                                 planned),
                     f"{metric}_vs_{x}", f"{metric} vs {x} by {hue}"))  # fmt: skip
    if not text and pd.api.types.is_numeric_dtype(completed[x]):
        drawings.append((lambda: figures.steps_to_converge(completed, x, hue, col, row, planned),
                         f"steps_to_converge_vs_{x}",
                         f"steps to converge vs {x} (▲: never converged, at its budget)"))  # fmt: skip
    if per_seed is not None:
        drawings.append((lambda: figures.capacity_per_seed(per_seed, hue, col, row, x), "memory_capacity",
                         f"memory capacity per seed (dots) and its median (bar), by {hue}"))  # fmt: skip
        if col:  # categorical factors meet: one cell per combination instead of a panel per value (rows: col[, row])
            factor = f"{col} / {row}" if row else col
            rows = per_seed[col].astype(str) + (" / " + per_seed[row].astype(str) if row else "")
            drawings.append((lambda: figures.capacity_heatmap(per_seed.assign(**{factor: rows}), factor, hue, x),
                             "memory_capacity_heatmap",
                             f"memory capacity by {factor} and {hue}: median and range over seeds"))  # fmt: skip
    done_curves = as_categories(curves[curves["run_dir"].isin(completed["run_dir"])], roles)
    curve_metric = learning_curve_metric(done_curves, text)
    if curve_metric is not None:
        drawings.append((lambda: figures.learning_curves(done_curves, x, hue, col, curve_metric, chance),
                         "learning_curves", f"{figures.label(curve_metric)} during training"))  # fmt: skip
    if (norms := overflow_curves(completed, done_curves)) is not None:  # the overflow itself: how the norm grew
        drawings.append((lambda: figures.learning_curves(norms, x, hue, col, "grad_norm", log=True,
                                                         title="Gradient norm over all weights, before clipping"),
                         "gradient_norm_curves", "gradient norm during training of the runs that overflowed (a line "
                         "ends where the norm became inf or NaN)"))  # fmt: skip
    if not data.grad_flow.empty:
        flow = as_categories(data.grad_flow.merge(run_keys, on="run_dir", how="left"), roles)
        flow.to_csv(out / "grad_flow.csv", index=False)
        drawings.append((lambda: figures.gradient_flow(flow, x, hue), "gradient_flow", "gradient norm through time"))
    workers = forked.cores() if len(completed) >= PARALLEL_FROM else 1  # a figure of 100,000 runs takes seconds
    saved = forked.in_order([*(partial(_drawn_and_saved, draw, out, stem, args.formats, args.setting)
                               for draw, stem, _ in drawings), *tables], workers)[: len(drawings)]  # fmt: skip
    for name, (_, _, caption) in zip(saved, drawings, strict=True):
        report.image(name, f"{caption}. Setting: {args.setting}")
    if curve_metric is None:
        report.paragraph("No learning curves: the runs wrote no metrics rows.")


def overflow_curves(completed: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame | None:
    """The finite gradient norms of the runs whose norm overflowed, until it did; None where no run has a curve to
    show (2 finite rows: a run that overflowed at its first rows has none)."""
    if "grad_norm" not in curves:
        return None
    overflowed = completed.loc[completed["grad_overflow_rows"] > 0, "run_dir"]
    norms = curves[curves["run_dir"].isin(overflowed) & np.isfinite(curves["grad_norm"])]
    return norms if not norms.empty and norms.groupby("run_dir")["step"].nunique().max() >= 2 else None


def _drawn_and_saved(draw: Callable[[], Figure], out: Path, stem: str, formats: list[str], setting: str) -> str:
    """Draw a figure and save it (figures.save): the file name the report shows."""
    return figures.save(draw(), out, stem, formats, setting)


def training_accuracy(completed: pd.DataFrame, curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`: runs, the mean over seeds of the final training accuracy (each run's last metrics row)
    and of the best training-batch accuracy (result.json's best_train_accuracy)."""
    last = curves.dropna(subset=["train_accuracy"]).sort_values("step").groupby("run_dir")["train_accuracy"].last()
    runs = completed.assign(final_train_accuracy=completed["run_dir"].map(last))
    table = runs.groupby(keys, dropna=False, sort=True).agg(
        n=("run_dir", "size"), final_train_accuracy=("final_train_accuracy", "mean"),
        best_train_accuracy=("best_train_accuracy", "mean"),
    )  # fmt: skip
    return table.reset_index()


def learning_curve_metric(curves: pd.DataFrame, text: bool) -> str | None:
    """The held-out metric (text: bits per character; else accuracy) when the runs evaluated at least
    MIN_CURVE_POINTS times, else the training one, logged more often (a short run evaluates a few times only, and
    two points draw no curve); None without rows."""
    held_out, training = ("eval_bpc", "train_loss") if text else ("eval_accuracy", "train_accuracy")
    if held_out in curves and curves.dropna(subset=[held_out]).groupby("run_dir").size().max() >= MIN_CURVE_POINTS:
        return held_out
    return training if training in curves and curves[training].notna().any() else None


MIN_CURVE_POINTS = 5  # held-out evaluations a run needs before its learning curve is drawn from them
SAMPLE_CHARACTERS = 120  # of each sample, in the report (samples.csv has them whole)


def add_samples(report: Report, samples: pd.DataFrame, run_keys: pd.DataFrame, completed: pd.DataFrame,
                out: Path, stores: Sequence[Path]) -> None:  # fmt: skip
    """samples.csv of every run, and in the report each run's samples at its first, middle and last sampled step;
    then how much of them is the book's words (sample_words.csv; a book not at its data.path is looked up by its
    sha256 in `stores`)."""
    keys = [k for k in run_keys.columns if k != "run_dir"]
    columns = [*keys, "step", "temperature", "prompt", "text", "run_dir"]
    table = samples.merge(run_keys, on="run_dir", how="left")[columns]
    table.to_csv(out / "samples.csv", index=False)
    report.heading("Samples during training")
    report.paragraph(
        f"Per run, the text generated at its first, middle and last sampled step (temperature 0: greedy), the first "
        f"{SAMPLE_CHARACTERS} characters after the prompt, line ends shown as ⏎; all of them in samples.csv."
    )
    report.table(sample_excerpt(table, 3, SAMPLE_CHARACTERS).drop(columns="run_dir"))
    add_sample_words(report, table, completed, out, stores)


def add_sample_words(report: Report, table: pd.DataFrame, completed: pd.DataFrame, out: Path,
                     stores: Sequence[Path]) -> None:  # fmt: skip
    """sample_words.csv (each sample's fraction of real and of distinct words) and its summary per temperature, for
    the runs whose book is here with the digest they trained on (at its data.path, or kept in `stores`)."""
    scores, missing = sample_words.score(table, completed, stores)
    report.heading("Words in the samples")
    if missing:
        report.paragraph(f"Not scored: the book at {', '.join(missing)} is missing here or is not the file those runs "
                         "trained on (its sha256 differs from data.digest), and no --books folder keeps "
                         "it.")  # fmt: skip
    if scores is None:
        return
    scores.to_csv(out / "sample_words.csv", index=False)
    report.paragraph(sample_words.SUMMARY)
    report.table(sample_words.summary_by_temperature(scores))
    if (baselines := sample_words.book_baselines(completed, stores)) is not None:
        baselines.to_csv(out / "sample_baselines.csv", index=False)
        report.paragraph(sample_words.BASELINES_TEXT)
        report.table(sample_words.baseline_summary(baselines))


def sample_excerpt(samples: pd.DataFrame, steps: int, characters: int) -> pd.DataFrame:
    """Per run, its samples at `steps` evenly spaced sampled steps (the first and last included), each shown as
    `prompt ▸ sample` cut to `characters` characters after the prompt, line ends as ⏎."""
    shown = [run[run["step"].isin(figures.evenly_spaced(run["step"].unique(), steps))]
             for _, run in samples.groupby("run_dir", sort=False)]  # fmt: skip
    excerpt = pd.concat(shown)
    text = (excerpt["prompt"] + "▸" + excerpt["text"].str[:characters]).str.replace("\n", "⏎")
    return excerpt.drop(columns=["prompt", "text"]).assign(**{"prompt ▸ sample": text})


def add_capacity(
    report: Report, args: Options, completed: pd.DataFrame, x: str, configuration: list[str], out: Path
) -> pd.DataFrame | None:
    """The memory-capacity tables (per seed, over seeds, k of n per tested x) into `out` and the report; the
    per-seed table, or None when x is not numeric."""
    report.heading(f"Memory capacity (solved: {SOLVED_CRITERIA[args.solved]})")
    if not pd.api.types.is_numeric_dtype(completed[x]):
        report.paragraph(f"Not computed: x = {x} is not numeric.")
        return None
    marked = mark_solved(completed, args.solved)
    per_seed = capacity_per_seed(marked, x, configuration)
    per_seed.to_csv(out / "capacity_per_seed.csv", index=False)
    capacity = capacity_over_seeds(per_seed, configuration)
    counts = solved_counts(marked, x, configuration)
    counts.to_csv(out / "solved_counts.csv", index=False)
    listed = counts.assign(
        text=[
            f"{figures.number(v)}: {k}/{n}" for v, k, n in zip(counts[x], counts["solved"], counts["runs"], strict=True)
        ]
    )
    column = f"solved (k/n) by {x}"
    if configuration:
        joined = listed.groupby(configuration, dropna=False, sort=False)["text"].agg(", ".join).rename(column)
        capacity = capacity.merge(joined.reset_index(), on=configuration, how="left")
    else:
        capacity[column] = ", ".join(listed["text"])
    capacity.to_csv(out / "memory_capacity.csv", index=False)
    report.paragraph(
        f"Per seed, the capacity is the longest tested {x} up to which every tested {x} was solved; the table gives "
        "its median, min and max over seeds, how many seeds were censored above (`censored_at_least`: none of "
        "their tested values failed) or below (`censored_below`: the shortest failed) or non-monotone (solved a "
        f"value above their first failure), and k of n seeds solving each tested {x}. The median is the lower "
        "median (a tested value); `>= v`: no tested value failed, `< v`: the shortest failed. A capacity search "
        f"tests a longer {x} only on the seeds that solved the shorter ones: there, k of n counts those seeds, not "
        "all of them, and is not a grid's k of n. Per-seed values: capacity_per_seed.csv."
    )
    report.table(capacity.drop(columns=list(CAPACITY_NUMBERS)))
    return per_seed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = aggregate(args)
    except UsageError as error:
        print(f"aggregate_results: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, say: the previous analysis is left as it was
        print(f"aggregate_results: error: {error.strerror or error}: {error.filename or ''}; nothing written",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"wrote {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
