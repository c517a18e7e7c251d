"""The study's figures, drawn with seaborn, saved as PNG (screens) and SVG (papers)."""

from __future__ import annotations

import itertools
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.axis  # noqa: E402
import matplotlib.collections  # noqa: E402
import matplotlib.font_manager  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from multirun_analysis.stats import (  # noqa: E402
    bootstrap_interval,
    capacity_over_seeds,
    lower_median,
    steps_or_budget,
)

LABELS = {
    "data.length": "palindrome length L (digits)",
    "data.seq_length": "training sequence length (characters)",
    "eval_bpc": "held-out bits per character",
    "eval_accuracy": "held-out accuracy",
    "eval_loss": "held-out loss (cross-entropy, nats)",
    "best_eval_accuracy": "best held-out accuracy",
    "steps_to_converge": "steps to converge (optimizer steps)",
    "steps": "optimizer steps run",
    "steps_per_s": "training speed (steps/s)",
    "wall_time_s": "wall time (s)",
    "step": "training step (optimizer steps)",
    "train_loss": "training loss (cross-entropy, nats)",
    "train_accuracy": "training-batch accuracy",
    "t": "time step t (digits read)",
    "grad_norm": "gradient norm ‖∂L/∂θ‖",  # metrics.csv's, over all weights; grad_flow.csv's is STATE_GRADIENT
    "model.name": "model",
    "optimizer.name": "optimizer",
    "init.name": "init",
    "capacity": "largest L solved (digits)",
}
STATE_GRADIENT = "gradient norm ‖∂L/∂h_t‖"  # grad_flow.csv's grad_norm: through time, not over the weights
SHORT = {"data.length": "L", "model.name": "model", "optimizer.name": "optimizer", "init.name": "init",
         "data.pairs": "pairs"}  # fmt: skip
# What a task's length keys mean, where not the palindrome's: (axis label, short name).
TASK_KEYS = {
    "copy": {"data.length": ("delay T (blanks before the delimiter)", "T")},
    "adding": {
        "data.length": ("sequence length T (steps)", "T"),
        "eval_loss": ("held-out mean squared error", "MSE"),
        "train_loss": ("training mean squared error", "training MSE"),
    },
    "recall": {"data.pairs": ("key-value pairs", "pairs")},
}
LOG_AXES = {"adding": ("eval_loss", "train_loss")}  # per task, metrics drawn on a log axis
_task = {"name": "palindrome"}  # the task whose figures are drawn (setup_style)
MAX_PANELS = 4
# One colour per model in every figure, from seaborn's colour-blind palette: blue, orange, green and purple (its
# fourth colour, vermilion, is too close to the orange); other hues take the palette in order.
MODEL_COLOURS = dict(zip(("rnn", "lstm", "gru", "rrn"), np.array(sns.color_palette("colorblind", 5))[[0, 1, 2, 4]],
                         strict=True))  # fmt: skip
# How a run ended, drawn as its marker wherever runs are dots: the kinds of `run_outcome`.
OUTCOME_MARKERS = {"converged": "o", "never (at budget)": "^", "diverged (inf/NaN)": "X"}


def chance_level(runs: pd.DataFrame) -> float | None:
    """The score of guessing, drawn on the metric's axis: the accuracy of one of 10 digits (palindrome), of 8
    symbols (copy), of data.vocab_size values (recall, when it is the same in every run); the adding problem's
    squared error of always predicting 1 (its runs' `baseline_mse`); None where there is none to draw."""
    tasks = set(runs["data.name"].dropna()) if "data.name" in runs else {"palindrome"}
    if tasks == {"recall"} and runs["data.vocab_size"].nunique() == 1:
        return 1 / float(runs["data.vocab_size"].iloc[0])
    if tasks == {"adding"} and "baseline_mse" in runs and runs["baseline_mse"].nunique() == 1:
        return float(runs["baseline_mse"].iloc[0])
    return {"palindrome": 0.1, "copy": 1 / 8}.get(next(iter(tasks)), None) if len(tasks) == 1 else None


def palette(hue: str, order: list) -> dict:
    """Colours of the hue values in `order`: each model's own colour when the hue is the model, else seaborn's
    palette in that order."""
    if hue == "model.name" and set(order) <= MODEL_COLOURS.keys():
        return {v: MODEL_COLOURS[v] for v in order}
    return dict(zip(order, sns.color_palette(n_colors=len(order)), strict=True))


def label(key: str) -> str:
    """An axis label for `key`, in the current task's words."""
    return TASK_KEYS.get(_task["name"], {}).get(key, (LABELS.get(key, key),))[0]


def short(key: str) -> str:
    """A short name for `key` (facet titles, captions), in the current task's words."""
    return TASK_KEYS.get(_task["name"], {}).get(key, (None, SHORT.get(key, key)))[1]


def setup_style(task: str = "palindrome") -> None:
    """seaborn's theme for the figures, and the task whose keys they name."""
    _task["name"] = task
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.3, rc={"figure.dpi": 100, "svg.fonttype": "none"})


def save(figure: plt.Figure, out: Path, stem: str, formats: list[str], setting: str | None = None) -> str:
    """Write `stem` in each of `formats` into `out` and close the figure; the first file's name (for reports).
    `setting` is written under the figure, in the image itself, so that a copied figure keeps it."""
    if setting:  # below everything drawn, a long axis label included
        width = max(40, int(figure.get_figwidth() * 72 / (0.55 * 9)))
        bottom = figure.get_tightbbox(figure.canvas.get_renderer()).y0 / figure.get_figheight()  # inches to fraction
        gap = 6 / 72 / figure.get_figheight()  # 6 points
        figure.text(0.01, min(0.0, bottom) - gap, "\n".join(textwrap.wrap(f"Setting: {setting}", width)), ha="left",
                    va="top", fontsize=9, color="dimgrey")  # fmt: skip
    for extension in formats:
        figure.savefig(out / f"{stem}.{extension}", dpi=130, bbox_inches="tight")  # dpi: also an SVG's raster layers
    plt.close(figure)
    return f"{stem}.{formats[0]}"


def run_outcome(runs: pd.DataFrame) -> pd.Series:
    """Per run: converged, never (at budget), or diverged (inf/NaN): its gradient norm was inf or NaN through its
    last evaluation interval (`diverged`) or in every metrics row (`grad_overflow_rows`) - a failure of float
    arithmetic, not of memory."""
    diverged = runs["diverged"].fillna(False).astype(bool) if "diverged" in runs else pd.Series(False, runs.index)
    if "grad_overflow_rows" in runs:
        diverged |= (runs["grad_overflow_rows"] > 0) & (runs["grad_overflow_rows"] == runs["metric_rows"])
    never = np.where(diverged, "diverged (inf/NaN)", "never (at budget)")
    return pd.Series(np.where(runs["steps_to_converge"].notna(), "converged", never), index=runs.index)


def _ci95(values: pd.Series) -> tuple[float, float]:
    return bootstrap_interval(values, 0.95)


def _title(grid: sns.FacetGrid, text: str) -> None:
    """A figure title above the facets, wrapped to the figure's width, with room made for it inside the canvas."""
    grid.tight_layout()  # after the axis labels are set, so none is cut off
    figure = grid.figure
    size = matplotlib.rcParams["figure.titlesize"]
    points = matplotlib.font_manager.FontProperties(size=size).get_size_in_points()
    width = max(20, int(figure.get_figwidth() * 72 / (0.55 * points)))  # characters that fit across the figure
    lines = [wrapped for line in text.split("\n") for wrapped in textwrap.wrap(line, width)]
    height = figure.get_figheight()
    figure.subplots_adjust(top=1 - (0.45 + points / 72 * 1.3 * len(lines)) / height)
    figure.suptitle("\n".join(lines), y=1 - 0.08 / height, va="top")


def _facet_labels(
    grid: sns.FacetGrid, x: str, y: str, col: str | None, row: str | None, chance: float | None = None
) -> None:
    """Axis labels, facet titles, the legend's title; accuracy axes at [0, 1] with the `chance` level dotted."""
    grid.set_axis_labels(label(x), label(y))
    grid.set_titles(
        row_template=f"{short(row)} = {{row_name}}" if row else "",
        col_template=f"{short(col)} = {{col_name}}" if col else "",
    )
    if grid.legend is not None:
        grid.legend.set_title(label(grid.legend.get_title().get_text()))
    if "accuracy" in y:  # the axis shows the possible range
        grid.set(ylim=(-0.03, 1.03))
        _level(grid, chance, "chance")
    elif y in LOG_AXES.get(_task["name"], ()):  # an error that spans orders of magnitude
        grid.set(yscale="log")
        _level(grid, chance, "always 1")


CLIP_ABOVE = 100  # on a log axis with a baseline: a value beyond this many times the baseline (a run that diverged,
# 1e23 where the baseline is 0.17) is drawn at that edge, or the cells that did not diverge flatten into a sliver


def clipped_for_log_axis(data: pd.DataFrame, y: str, baseline: float | None) -> tuple[pd.DataFrame, str]:
    """`data` with `y` clipped at CLIP_ABOVE times `baseline` where `y` is drawn on a log axis, and the note that
    says so ("" where nothing was clipped). The tables keep the values as they are."""
    if baseline is None or baseline <= 0 or y not in LOG_AXES.get(_task["name"], ()):
        return data, ""
    ceiling = CLIP_ABOVE * baseline
    above = data[y] > ceiling
    if not above.any():
        return data, ""
    runs = data.loc[above, "run_dir"].nunique() if "run_dir" in data else int(above.sum())
    note = f"{runs} run{'s' if runs != 1 else ''} diverged (> {CLIP_ABOVE}x baseline): drawn here"
    return data.assign(**{y: data[y].clip(upper=ceiling)}), note


def _clip_line(grid: sns.FacetGrid, note: str, baseline: float | None) -> None:
    """The dashed edge at which `clipped_for_log_axis` drew the values beyond it, and its note (where it clipped
    any), with room above it for the note."""
    if not note or not baseline:
        return
    ceiling = CLIP_ABOVE * baseline
    for ax in grid.axes.flat:
        ax.axhline(ceiling, color="grey", linestyle="--", linewidth=1.0, zorder=1)
        ax.set_ylim(top=ceiling * 50)
        ax.annotate(note, (0.01, ceiling), xycoords=("axes fraction", "data"), xytext=(0, 3),
                    textcoords="offset points", ha="left", va="bottom", fontsize="x-small", color="grey")  # fmt: skip


ROW_NAME_WIDTH = 28  # characters per line of a row's name: a row facet's title (written sideways), a heatmap's row


def wrapped(value: object) -> str:
    """A row's name in lines of ROW_NAME_WIDTH characters (a combined `config = a=1, b=2, ...` fits its row)."""
    return "\n".join(textwrap.wrap(str(value), ROW_NAME_WIDTH))


ACROSS = 4  # panels side by side at most: a figure 14 panels wide (5,896 px) cannot be read


def _facets(data: pd.DataFrame, col: str | None, row: str | None) -> tuple[str | None, str | None, int | None]:
    """(col, row, col_wrap) for at most ACROSS panels across: a lone column facet wraps after ACROSS; with a row
    facet too, the facet with more values becomes the rows."""
    across = data[col].nunique() if col else 0
    if row is None:
        return col, None, ACROSS if across > ACROSS else None
    if across > ACROSS and across > data[row].nunique():
        return row, col, None
    return col, row, None


def _wrapped_rows(data: pd.DataFrame, row: str | None) -> pd.DataFrame:
    """`data` with its `row` facet's text values `wrapped`, before seaborn lays the grid out by its margin titles."""
    if not row or row not in data or pd.api.types.is_numeric_dtype(data[row]):
        return data
    return data.assign(**{row: data[row].map({value: wrapped(value) for value in data[row].unique()})})


def _level(grid: sns.FacetGrid, level: float | None, text: str) -> None:
    """A dotted line at the score of guessing, named `text`."""
    if level is None:
        return
    for ax in grid.axes.flat:
        ax.axhline(level, color="grey", linestyle=":", linewidth=1.2, zorder=1)
        ax.annotate(text, (1, level), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    fontsize="small", color="grey")  # fmt: skip


MAX_TESTED_TICKS = 12  # up to this many tested x values, each gets a tick (and no tick falls between them)
LOG_SPAN = 20  # tested lengths spanning this factor or more (T = 10, 25, ..., 400) are drawn on a log axis


def spans_orders(tested: Sequence[float]) -> bool:
    """Whether sorted tested lengths span a factor of LOG_SPAN or more: on a linear axis the short ones crowd."""
    return len(tested) > 0 and tested[0] > 0 and tested[-1] / tested[0] >= LOG_SPAN


def _tick_each(axis: matplotlib.axis.Axis, tested: Sequence[float]) -> None:
    """Major ticks at exactly the `tested` values (no tick between them), labelled without a trailing '.0'; after
    any change of scale, which brings its own locators."""
    axis.set_major_locator(matplotlib.ticker.FixedLocator(tested))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _ticks_at_tested(grid: sns.FacetGrid, values: pd.Series) -> None:
    """x ticks at the tested values of a numeric x, where there are few enough to label them all; on a log axis
    where they span orders of magnitude (`spans_orders`)."""
    tested = sorted(values.dropna().unique())
    if pd.api.types.is_numeric_dtype(values) and 0 < len(tested) <= MAX_TESTED_TICKS:  # a category axis has its own
        log = spans_orders(tested)
        for ax in grid.axes.flat:
            if log:  # before the locators: a new scale brings its own
                ax.set_xscale("log")
                ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            _tick_each(ax.xaxis, tested)


def metric_vs_x(runs: pd.DataFrame, x: str, y: str, hue: str, col: str | None, row: str | None, title: str,
                chance: float | None = None, solvable: bool = True,
                planned: Sequence[float] = ()) -> plt.Figure:  # fmt: skip
    """Mean of `y` vs `x` per `hue` with a 95% bootstrap interval over seeds where 2 or more seeds ran an `x` (for a
    numeric `x`, lines join only neighbouring values among those tested and those `planned` by the sweep: `_means`),
    and every seed as a small dot, marked by how it ended where the task can be solved (`solvable`; not the text
    task); faceted by `col` and `row`."""
    col, row, wrap = _facets(runs, col, row)
    data, clip_note = clipped_for_log_axis(_wrapped_rows(runs.dropna(subset=[y]), row), y, chance)
    data = data.assign(run=run_outcome(data) if solvable and "steps_to_converge" in data else "converged")
    hues = list(dict.fromkeys(data[hue]))
    colours = palette(hue, hues)
    if pd.api.types.is_numeric_dtype(data[x]):  # means only where 2 or more seeds, lines only between neighbours
        grid = _summary_grid(data, x, y, hue, hues, colours, col, row, wrap, _means, planned)
    else:
        grid = sns.relplot(
            data=data, x=x, y=y, hue=hue, col=col, row=row, col_wrap=wrap, kind="line", marker="o", errorbar=_ci95,
            palette=colours,
            err_style="band", height=3.6, aspect=1.3, facet_kws={"sharey": True, "margin_titles": bool(row)},
        )  # fmt: skip
    grid.map_dataframe(_seed_dots, x=x, y=y, hue=hue, colours=colours, size=14, alpha=0.6, rasterized=dense(data))
    _facet_labels(grid, x, y, col, row, chance)
    _clip_line(grid, clip_note, chance)
    _ticks_at_tested(grid, data[x])
    _title(grid, title)
    return grid.figure


def _summary_grid(data: pd.DataFrame, x: str, y: str, hue: str, hues: list, colours: dict, col: str | None,
                  row: str | None, wrap: int | None, summary: Callable[..., None],
                  planned: Sequence[float]) -> sns.FacetGrid:  # fmt: skip
    """A facet grid with `summary` (`_means`, `_medians`) drawn per colour over a numeric `x`, its lines joined
    across the values tested or `planned` (`_join_neighbours`), and the colours' legend."""
    grid = sns.FacetGrid(data, col=col, row=row, col_wrap=wrap, hue=hue, hue_order=hues, palette=colours,
                         height=3.6, aspect=1.3, sharey=True, margin_titles=bool(row))  # fmt: skip
    grid.map_dataframe(summary, x=x, y=y, grid=sorted({*data[x].unique(), *planned}))
    grid.add_legend(title=hue)
    return grid


def _means(*, data: pd.DataFrame, x: str, y: str, grid: list, color: object, label: str, **_: object) -> None:
    """One facet's runs of one colour: the mean over seeds with its 95% interval at each x that 2 or more seeds ran
    (a single seed is its own dot, not a mean), joined as `_join_neighbours` joins them."""
    ax = plt.gca()
    ax.plot([], [], color=color, marker="o", label=label)  # the legend's entry, whatever is drawn
    groups = {value: group[y] for value, group in data.groupby(x) if len(group) >= 2}
    if not groups:
        return
    xs = sorted(groups)
    means = [groups[v].mean() for v in xs]
    low, high = zip(*(_ci95(groups[v]) for v in xs), strict=True)
    yerr = [np.subtract(means, low).clip(0), np.subtract(high, means).clip(0)]
    ax.errorbar(xs, means, yerr=yerr, fmt="o", color=color, capsize=3, markersize=5, zorder=3)
    _join_neighbours(ax, xs, means, grid, color)


def _medians(*, data: pd.DataFrame, x: str, y: str, grid: list, color: object, label: str, **_: object) -> None:
    """One facet's runs of one colour: the lower median over seeds (a dash; a value some seed took, as the
    convergence table's) at each x that 2 or more seeds ran, joined as `_join_neighbours` joins them."""
    ax = plt.gca()
    ax.plot([], [], color=color, label=label)  # the legend's entry, whatever is drawn
    groups = {value: group[y] for value, group in data.groupby(x) if len(group) >= 2}
    xs = sorted(groups)
    medians = [lower_median(groups[v]) for v in xs]
    ax.plot(xs, medians, linestyle="none", marker="_", markersize=14, markeredgewidth=2, color=color, zorder=3)
    _join_neighbours(ax, xs, medians, grid, color)


def _join_neighbours(ax: plt.Axes, xs: list, ys: list, grid: list, color: object) -> None:
    """A line from each (x, y) to the next only when no x of `grid` (every x tested or planned) lies between them
    and they are no further apart than the grid's regular step (`_regular_step`): no line across lengths this
    colour did not run, ran with one seed, a capacity search skipped, or a grid left out (15-25 in L = 10, 30..50)."""
    position = {value: i for i, value in enumerate(grid)}
    step = _regular_step(grid)
    for i in range(len(xs) - 1):
        skips = step is not None and xs[i + 1] - xs[i] > step * (1 + 1e-9)
        if position[xs[i + 1]] - position[xs[i]] == 1 and not skips:
            ax.plot(xs[i : i + 2], ys[i : i + 2], color=color, linewidth=1.5, zorder=2)


def _regular_step(grid: list) -> float | None:
    """The spacing that at least half of `grid`'s neighbouring values share, and two or more (5 in 10, 30, 35, 40,
    45, 50), else None: a geometric grid (1, 2, 5, 10, 20) has no regular step, and every neighbour joins."""
    spacings = Counter(round(float(b) - float(a), 9) for a, b in itertools.pairwise(grid))
    if not spacings:
        return None
    step, count = spacings.most_common(1)[0]
    return step if count >= 2 and 2 * count >= sum(spacings.values()) else None


def _seed_dots(*, data: pd.DataFrame, x: str, y: str, hue: str, colours: dict, size: float, alpha: float,
               rasterized: bool, **_: object) -> None:  # fmt: skip
    """Every seed as a dot in its colour, marked by how its run ended (OUTCOME_MARKERS): one scatter per colour and
    marker, where seaborn's scatterplot converts each point's colour on its own (9 s at 100,000 runs). A grid with a
    hue calls it once per colour, one without once for all."""
    ax = plt.gca()
    for (value, outcome), group in data.groupby([hue, "run"], sort=False):
        ax.scatter(group[x], group[y], s=size, marker=OUTCOME_MARKERS[outcome], color=colours[value], alpha=alpha,
                   edgecolor="white", linewidth=0.5, zorder=4, rasterized=rasterized)  # fmt: skip


def steps_to_converge(runs: pd.DataFrame, x: str, hue: str, col: str | None, row: str | None,
                      planned: Sequence[float] = ()) -> plt.Figure:  # fmt: skip
    """Steps to converge per seed (dots) vs `x`, a run that never converged (stopped early or at its budget) drawn
    as ▲ at its budget; the dash is the lower median over seeds with those runs counted at their budget, where 2 or more
    seeds ran, joined only between neighbouring values among those tested and those `planned` (`_medians`)."""
    col, row, wrap = _facets(runs, col, row)
    data = _wrapped_rows(runs.assign(y=steps_or_budget(runs), run=run_outcome(runs)), row)
    hues = list(dict.fromkeys(data[hue]))
    colours = palette(hue, hues)
    grid = _summary_grid(data, x, "y", hue, hues, colours, col, row, wrap, _medians, planned)
    grid.map_dataframe(_seed_dots, x=x, y="y", hue=hue, colours=colours, size=30, alpha=1.0, rasterized=dense(data))
    _facet_labels(grid, x, "steps_to_converge", col, row)
    _ticks_at_tested(grid, data[x])
    grid.set(ylim=(0, None))
    _title(grid, "Steps to converge per seed (▲: never converged, ✕: diverged (gradient inf/NaN), both drawn at "
                 "the budget; dash: lower median over seeds)")  # fmt: skip
    return grid.figure


def evenly_spaced(values: np.ndarray, limit: int = MAX_PANELS) -> list:
    """At most `limit` evenly spaced values, the first and last included."""
    values = np.sort(values)
    if len(values) <= limit:
        return list(values)
    return list(values[np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))])


def learning_curves(curves: pd.DataFrame, x: str, hue: str, row: str | None, y: str, chance: float | None = None,
                    log: bool = False, title: str = "Learning curves") -> plt.Figure:  # fmt: skip
    """`y` vs training step, one panel per (a subset of) `x` values, one line per run: a mean over seeds would drop
    where the runs that converged stopped early and only the others go on."""
    data = _wrapped_rows(curves.dropna(subset=[y]), row)
    data, clip_note = clipped_for_log_axis(data[data[x].isin(evenly_spaced(data[x].unique()))], y, chance)
    values = list(dict.fromkeys(data[hue]))  # seaborn's order: as they appear
    colours = palette(hue, values)
    grid = sns.FacetGrid(
        data, col=x, row=row, hue=hue, hue_order=values, palette=colours, height=3.0, aspect=1.2,
        col_wrap=None if row else min(4, data[x].nunique()), margin_titles=bool(row),
    )  # fmt: skip
    grid.map_dataframe(_run_lines, y=y, rasterized=dense(data))
    grid.add_legend(title=hue)
    _facet_labels(grid, "step", y, x, row, chance)
    _clip_line(grid, clip_note, chance)
    _mark_ends(grid, y, hue, colours)
    for ax in grid.axes.flat:  # 100000 and 75000 side by side collide: 100k, 75k
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4, integer=True))  # steps are whole
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}")
        )
    if log:
        grid.set(yscale="log")
    banded = data.groupby([k for k in (x, row, hue) if k], observed=True)["run_dir"].nunique().max() > DENSE_RUNS
    how = (f"one line per run, or where a panel has more than {DENSE_RUNS} runs of a colour their median and 10-90% "
           "band over the runs still training at each step" if banded else "one line per run")  # fmt: skip
    _title(grid, f"{title} ({how}; a run that stopped early ends there)")
    return grid.figure


DENSE_RUNS = 50  # a panel's colour with more runs than this is drawn as their median and 10-90% band


def _run_lines(*, data: pd.DataFrame, y: str, rasterized: bool, color: object, label: str, **_: object) -> None:
    """One facet's runs of one colour: a line per run, all drawn as one collection (100,000 runs' lines one by one
    took most of an aggregate's time); beyond DENSE_RUNS runs, where lines are a blot, their median and 10-90%
    band at each step, over the runs still training then."""
    ax = plt.gca()
    if data["run_dir"].nunique() > DENSE_RUNS:
        bands = data.groupby("step")[y].quantile([0.1, 0.5, 0.9]).unstack()
        ax.fill_between(bands.index, bands[0.1], bands[0.9], color=color, alpha=0.25, linewidth=0)
        ax.plot(bands.index, bands[0.5], color=color, linewidth=1.5, label=label)
        return
    ordered = data.sort_values(["run_dir", "step"])
    cuts = np.flatnonzero(ordered["run_dir"].to_numpy()[1:] != ordered["run_dir"].to_numpy()[:-1]) + 1
    segments = np.split(ordered[["step", y]].to_numpy(dtype=float), cuts)
    lines = matplotlib.collections.LineCollection(segments, colors=[color], linewidths=0.9, alpha=0.7, label=label,
                                                  rasterized=rasterized)  # fmt: skip
    ax.add_collection(lines)
    ax.autoscale_view()


def _mark_ends(grid: sns.FacetGrid, y: str, hue: str, colours: dict) -> None:
    """A dot at each run's last point, in its line's colour: where it stopped; and a run with one evaluation (one
    that diverged at its first, say) is seen at all, where a line needs two points."""
    for (i, j, _), subset in grid.facet_data():
        if subset["run_dir"].nunique() > DENSE_RUNS:  # drawn as a band (_run_lines)
            continue
        ends = subset.sort_values("step").groupby("run_dir").tail(1)
        grid.facet_axis(i, j).scatter(ends["step"], ends[y], s=9, zorder=3, alpha=0.8, linewidths=0,
                                      c=[colours[v] for v in ends[hue]])  # fmt: skip


DENSE_POINTS = 2000  # a layer with more points than this is drawn as an image inside an SVG (it stays small)


def dense(data: pd.DataFrame) -> bool:
    """Whether a per-seed or per-run layer of `data` is dense enough to rasterize: at 10,000 runs, 20,000 dots
    written as SVG paths took 13 of the aggregate's 35 s (text, axes and lines of means stay vector)."""
    return len(data) > DENSE_POINTS


def number(value: object) -> str:
    """A tested value as text: numbers without a trailing '.0'."""
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def capacity_per_seed(per_seed: pd.DataFrame, hue: str, col: str | None, row: str | None, x: str) -> plt.Figure:
    """Capacity per seed as dots (jittered) and its median over seeds as a bar, per `hue` value; a seed that never
    failed is drawn as ▲ (at least this), one whose shortest tested value failed as ▼ halfway below that value (not
    level with a seed that solved it)."""
    order = sorted(per_seed[hue].unique())
    col, row, wrap = _facets(per_seed, col, row)
    data = _wrapped_rows(per_seed, row).assign(
        y=per_seed["capacity"].fillna(per_seed["first_failure"] / 2),
        kind=["below" if pd.isna(c) else "at least" if f else "found"
              for c, f in zip(per_seed["capacity"], per_seed["censored"], strict=True)],
    )  # fmt: skip
    width = max(1.3, 0.45 * len(order))
    grid = sns.FacetGrid(data, col=col, row=row, col_wrap=wrap, height=3.6, aspect=width, margin_titles=bool(row))
    colours = palette(hue, order)
    markers = {"found": "o", "at least": "^", "below": "v"}
    rasterized = dense(data)

    def panel(*, data: pd.DataFrame, **_: object) -> None:  # one facet's seeds
        ax = plt.gca()
        for position, value in enumerate(order):
            seeds = data[data[hue] == value]
            if seeds.empty:
                continue
            jitter = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else np.zeros(1)
            for kind, marker in markers.items():  # one scatter per marker: 100,000 seeds one by one took minutes
                chosen = (seeds["kind"] == kind).to_numpy()
                if chosen.any():
                    ax.scatter(position + jitter[chosen], seeds["y"].to_numpy()[chosen], marker=marker, s=40,
                               zorder=3, color=colours[value], edgecolor="black", linewidth=0.5,
                               rasterized=rasterized)  # fmt: skip
            median = capacity_over_seeds(seeds, [])["capacity_median"].iloc[0]
            if pd.notna(median):
                ax.hlines(median, position - 0.3, position + 0.3, color=colours[value], linewidth=3, zorder=2)
        ax.set_xticks(range(len(order)), order)
        ax.set_xlim(-0.6, len(order) - 0.4)

    grid.map_dataframe(panel)
    _facet_labels(grid, hue, "capacity", col, row)
    grid.set_ylabels(f"capacity: longest {short(x)} solved")
    top = 1.1 * data["y"].max() if data["y"].max() > 0 else 1
    values = per_seed[["capacity", "first_failure", "largest_tested"]].to_numpy(dtype=float).ravel()
    tested = sorted(set(values[~np.isnan(values)]))  # each a tested value
    log = spans_orders(tested)
    for ax in grid.axes.flat:
        if log:  # from below the lowest dot (a ▼ sits at half the length that failed)
            ax.set_yscale("log")
            ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_ylim(data["y"].min() / 1.5, 1.5 * data["y"].max())
        else:  # from 0: seeds that agree would otherwise zoom the axis into fractions of a length
            ax.set_ylim(0, top)
        if len(tested) <= MAX_TESTED_TICKS:  # ticks at tested values only: the axis says nothing of lengths never run
            _tick_each(ax.yaxis, tested)
        elif not log:  # a log axis keeps its own decades
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _title(
        grid,
        f"Memory capacity per seed (bar: median over seeds): the longest {short(x)} with every "
        f"shorter tested {short(x)} solved",
    )
    handles = [plt.Line2D([], [], marker=m, linestyle="", color="grey", markeredgecolor="black", label=k)
               for k, m in markers.items()]  # fmt: skip
    # beside the figure, right of the row titles (saved with bbox_inches="tight", which takes it in)
    grid.figure.legend(handles=handles, title="seed", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return grid.figure


def _compact_capacity(text: str) -> str:
    """A capacity table's text as a heatmap cell fits it: `>= 50` -> `≥50`, `< 5` -> `<5`, `35 to 50` -> `35–50`."""
    return text.replace(">= ", "≥").replace("< ", "<").replace(" to ", "–")


def capacity_heatmap(per_seed: pd.DataFrame, factor: str, hue: str, x: str) -> plt.Figure:
    """`factor` (rows) x `hue` (columns) -> the median capacity over seeds, coloured, with its range over the n
    seeds, or "all n seeds" where they agree; censored as the tables say it ("≥50": no tested length failed, "<5":
    the shortest tested failed)."""
    values, text = {}, {}
    for group in capacity_over_seeds(per_seed, [factor, hue]).to_dict("records"):
        row_value, column = group[factor], group[hue]
        spread = group["range"] if group["range"].startswith("all ") else f"{group['range']} (n={group['seeds']})"
        values[row_value, column] = group["capacity_median"] if pd.notna(group["capacity_median"]) else 0
        text[row_value, column] = _compact_capacity(f"{group['median']}\n{spread}")
    rows, columns = sorted({r for r, _ in text}), sorted({c for _, c in text})
    grid = [[values.get((r, c), np.nan) for c in columns] for r in rows]
    notes = [[text.get((r, c), "") for c in columns] for r in rows]
    names = [wrapped(r) for r in rows]
    label_width = 0.09 * max(len(line) for name in names for line in name.split("\n"))  # inches, about
    figure, ax = plt.subplots(figsize=(2.4 + label_width + 1.6 * len(columns), 1.6 + 0.7 * len(rows)))
    sns.heatmap(pd.DataFrame(grid, index=names, columns=columns), annot=np.array(notes), fmt="", cmap="viridis",
                vmin=0, vmax=per_seed["largest_tested"].max(), ax=ax,
                cbar_kws={"label": f"median capacity ({short(x)})"})  # fmt: skip
    ax.grid(False)  # a configuration not run is a blank cell, not one crossed by grid lines
    ax.tick_params(axis="y", rotation=0)
    ax.set_xlabel(label(hue))
    ax.set_ylabel(label(factor))
    title = f"Memory capacity: median over seeds and its range (longest {short(x)} solved)"
    figure.suptitle("\n".join(textwrap.wrap(title, int(figure.get_figwidth() * 9))), fontsize="medium")
    figure.tight_layout()
    return figure


def gradient_flow(flow: pd.DataFrame, x: str, hue: str) -> plt.Figure:
    """‖∂L/∂h_t‖ vs time step, log scale, per model; one panel per recorded training step."""
    data = flow[flow[x].isin(evenly_spaced(flow[x].unique(), 4))] if x in flow else flow
    # A norm that underflows to 0 in float32 has no place on a log axis: the line ends there.
    data = data.assign(step=data["step"].astype(int), grad_norm=data["grad_norm"].where(data["grad_norm"] > 0))
    grid = sns.relplot(
        data=data, x="t", y="grad_norm", hue=hue, col="step", row=x if x in data else None, kind="line",
        errorbar=None, height=3.0, aspect=1.3, facet_kws={"margin_titles": True},
    )  # fmt: skip
    grid.set(yscale="log")
    _facet_labels(grid, "t", "grad_norm", "step", x if x in data else None)
    grid.set_ylabels(STATE_GRADIENT)
    _title(grid, "Gradient flow through time (held-out batch)")
    return grid.figure
