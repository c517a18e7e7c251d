"""Statistics of the study, made for 3-10 seeds: bootstrap intervals of the mean over seeds (inside the range the
seeds took, so an accuracy's never leaves [0, 1]), k of n seeds solving or converging beside every mean, steps to
converge with the runs that never converged censored at their budget, and memory capacity per seed and over seeds."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from seqlab.capacity import SOLVED_KEYS, Capacity, is_solved

RESAMPLES = 4000


def bootstrap_interval(values: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over seeds: the middle `level` of the means of RESAMPLES resamples
    (with replacement, a fixed generator: the same numbers every time). It lies within the values' range, so an
    accuracy's stays in [0, 1]; with few seeds it is narrow, which is why k of n is shown beside it.
    (NaN, NaN) for one value: one seed gives no interval."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan, math.nan  # one value (or none): no interval
    return _bootstrap(tuple(x.tolist()), level, seed)


@functools.lru_cache(maxsize=4096)
def _bootstrap(values: tuple[float, ...], level: float, seed: int) -> tuple[float, float]:
    """bootstrap_interval of 2 or more values, kept: a table and its figure ask for the same groups' intervals."""
    x = np.asarray(values)
    means = np.random.default_rng(seed).choice(x, size=(RESAMPLES, len(x))).mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return max(float(low), float(x.min())), min(float(high), float(x.max()))  # not even a rounding error outside


def _binomial_tail(k: int, n: int, p: float, upper: bool) -> float:
    """P(X >= k) (`upper`) or P(X <= k) for X ~ Binomial(n, p)."""
    ks = range(k, n + 1) if upper else range(k + 1)
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in ks)


def _solve(f: Callable[[float], float], target: float) -> float:
    """The p in [0, 1] where the monotone `f(p)` crosses `target`, by bisection to 1e-10."""
    low, high = 0.0, 1.0
    rising = f(1.0) > f(0.0)
    for _ in range(40):
        middle = (low + high) / 2
        if (f(middle) < target) == rising:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def proportion_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval of a proportion from k successes of n: it covers the true proportion with
    at least `level` probability at every n, and lies in [0, 1]. 2 of 5: 0.053-0.853. (NaN, NaN) when n = 0."""
    if n == 0:
        return math.nan, math.nan
    alpha = 1 - level
    low = 0.0 if k == 0 else _solve(lambda p: _binomial_tail(k, n, p, upper=True), alpha / 2)
    high = 1.0 if k == n else _solve(lambda p: _binomial_tail(k, n, p, upper=False), alpha / 2)
    return low, high


def proportion_intervals_text(text: str) -> str:
    """The Clopper-Pearson 95% interval of every k/n for each n that `text`'s k/n counts use, as a key: `n = 2:
    0/2 [0.00-0.84], 1/2 [0.01-0.99], 2/2 [0.16-1.00]`; '' where it has none."""
    sizes = sorted({int(n) for n in re.findall(r"\b\d+/(\d+)\b", text) if int(n) > 0})
    return "; ".join(f"n = {n}: " + ", ".join("{}/{} [{:.2f}-{:.2f}]".format(k, n, *proportion_interval(k, n))
                                              for k in range(n + 1)) for n in sizes)  # fmt: skip


def interval_note(n: int) -> str:
    """What the bootstrap interval over `n` seeds is, where it is less than its label says."""
    if n == 1:
        return "n = 1: no interval"
    if n == 2:
        return "n = 2: the two seeds' range"
    return "n < 10: covers less than 95%" if n < 10 else ""


def summarize(runs: pd.DataFrame, keys: list[str], metric: str, level: float = 0.95) -> pd.DataFrame:
    """Per group of `keys`: number of runs, mean of `metric` and its bootstrap interval over the seeds; with a
    `solved` column (`mark_solved`), `solved (k/n)` too."""

    def one_group(group: pd.DataFrame) -> pd.Series:
        values = group[metric].astype(float).dropna()
        low, high = bootstrap_interval(values, level)
        row = {"n": len(values), "mean": values.mean(), "ci_low": low, "ci_high": high,
               "interval": interval_note(len(values))}  # fmt: skip
        if "solved" in group:
            row["solved (k/n)"] = f"{int(group['solved'].sum())}/{len(group)}"
            row["solved 95% CI"] = "{:.2f}-{:.2f}".format(*proportion_interval(int(group["solved"].sum()), len(group)))
        return pd.Series(row)

    columns = [metric, "solved"] if "solved" in runs else [metric]
    table = runs.groupby(keys, dropna=False, sort=True)[columns].apply(one_group).reset_index()
    table["n"] = table["n"].astype(int)
    return table


def budget(runs: pd.DataFrame) -> pd.Series:
    """Each run's step budget: train.max_steps (the steps it ran where the config is not recorded)."""
    return runs["train.max_steps"] if "train.max_steps" in runs else runs["steps"]


def steps_or_budget(runs: pd.DataFrame) -> pd.Series:
    """Steps to converge, with a run that never converged - stopped early or at the end of its budget - counted at
    its budget (a lower bound of what it would have needed, or "never" under its stopping rule)."""
    return runs["steps_to_converge"].fillna(budget(runs)).astype(float)


def lower_median(values: pd.Series) -> float:
    """The lower median: a value some seed took (of 2 seeds, the smaller), never a mean of two."""
    return float(np.sort(values.to_numpy())[(len(values) - 1) // 2])


def convergence(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`: how many runs converged of how many, and the lower median of the steps to converge with
    each run that never converged counted at its budget (`steps_or_budget`): a value some run took, never a mean of a
    converged run and a censored one; exact where that run converged, else only "the budget or more"
    (`median_is_bound`); and the slowest run's steps (`max_steps`: "in all cases"), a bound
    when any run never converged. Then what training cost until the run's stopping rule or budget ended it: the
    median steps trained (`median_steps_trained`) and seconds of training (`median_train_s`), where recorded."""
    runs = runs.assign(censored=steps_or_budget(runs), budget=budget(runs))
    costs = {"median_steps_trained": "steps", "median_train_s": "train_time_s"}
    costs = {name: column for name, column in costs.items() if column in runs}

    def one_group(group: pd.DataFrame) -> pd.Series:
        converged = group["steps_to_converge"].notna()
        ordered = sorted(zip(group["censored"], ~converged, strict=True))  # a censored run after a converged tie
        median, median_is_bound = ordered[(len(ordered) - 1) // 2]
        return pd.Series({
            "converged (k/n)": f"{int(converged.sum())}/{len(group)}", "median_steps": median,
            "median_is_bound": bool(median_is_bound), "budget": int(group["budget"].max()),
            "max_steps": group["censored"].max(), "max_is_bound": not converged.all(),
        } | {name: group[column].median() for name, column in costs.items()})  # fmt: skip

    columns = ["steps_to_converge", "censored", "budget", *costs.values()]
    return runs.groupby(keys, dropna=False, sort=True)[columns].apply(one_group).reset_index()


def mark_solved(runs: pd.DataFrame, criterion: str) -> pd.DataFrame:
    """A copy of `runs` with a boolean `solved` column: whether each run is solved by `criterion`."""
    records = runs[[key for key in SOLVED_KEYS if key in runs]].to_dict("records")  # only what the rules read
    return runs.assign(solved=[is_solved(run, criterion) for run in records])


def capacity_per_seed(runs: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """Per group and seed: the capacity its tested `x` values show (seqlab.capacity.Capacity's columns), from the
    runs' `solved` column (`mark_solved`). A grid sweep's and a capacity sweep's runs give the same table."""
    keys = [*group_keys, "seed"]
    grouped = runs.groupby(keys, dropna=False, sort=True)
    lengths, solved = runs[x].to_numpy(), runs["solved"].to_numpy()
    rows = []  # a group's rows by their positions: at 10,000 groups, a sub-frame each costs seconds
    for key, at in grouped.indices.items():
        key = key if isinstance(key, tuple) else (key,)
        capacity = Capacity.of(dict(zip(lengths[at].tolist(), solved[at].tolist(), strict=True)))
        rows.append({**dict(zip(keys, key, strict=True)), **vars(capacity)})
    return pd.DataFrame(rows).sort_values(keys, kind="stable", ignore_index=True) if rows else pd.DataFrame()


CAPACITY_NUMBERS = ("capacity_median", "capacity_min", "capacity_max")  # numbers for figures; tables show the text


def seed_capacity_label(capacity: float, first_failure: float, censored: bool) -> str:
    """One seed's capacity as a reader should see it: `< 50` (the shortest tested length failed), `>= 200` (none
    failed: at least the longest tested), or the length."""
    if math.isnan(capacity):
        return f"< {first_failure:g}"
    return f">= {capacity:g}" if censored else f"{capacity:g}"


def capacity_over_seeds(per_seed: pd.DataFrame, group_keys: list[str]) -> pd.DataFrame:
    """Per group (seeds pooled): seeds; the capacity's median, min and max over seeds as numbers (CAPACITY_NUMBERS:
    NaN where that seed's shortest tested length failed) and as text that keeps the censoring (`median`: `>= 200`,
    `< 50`; `range`); how many seeds were censored, apart: `censored_at_least` (no tested length failed: `>= v`)
    and `censored_below` (the shortest tested failed: `< v`); how many were non-monotone. The median is the lower
    median: a value some seed took (a tested length), never a mean of two."""

    def one_group(group: pd.DataFrame) -> pd.Series:
        seeds = sorted(
            (-math.inf if math.isnan(c) else c, bool(censored), seed_capacity_label(c, f, bool(censored)))
            for c, f, censored in zip(group["capacity"], group["first_failure"], group["censored"], strict=True)
        )  # a seed that failed its shortest length sorts below all; `>= c` after an exact c
        low, middle, high = seeds[0], seeds[(len(seeds) - 1) // 2], seeds[-1]
        return pd.Series({
            "seeds": len(group), "median": middle[2],
            "range": f"all {len(seeds)} seeds" if low[2] == high[2] else f"{low[2]} to {high[2]}",
            "capacity_median": middle[0], "capacity_min": low[0], "capacity_max": high[0],
            "censored_at_least": int((group["censored"] & group["capacity"].notna()).sum()),
            "censored_below": int(group["capacity"].isna().sum()), "non_monotone": int(group["non_monotone"].sum()),
        })  # fmt: skip

    groups = per_seed.groupby(group_keys, dropna=False, sort=True) if group_keys else [((), per_seed)]
    rows = [{**dict(zip(group_keys, k if isinstance(k, tuple) else (k,), strict=True)), **one_group(g)}
            for k, g in groups]  # fmt: skip
    table = pd.DataFrame(rows).replace(-math.inf, math.nan)
    return table.astype({"seeds": int, "censored_at_least": int, "censored_below": int, "non_monotone": int})


def with_censoring_text(table: pd.DataFrame) -> pd.DataFrame:
    """A memory-capacity table aggregated before it kept censoring (numbers only), with its `median` and `range` as
    `capacity_over_seeds` writes them, rebuilt from its numbers and its `solved (k/n) by` column: a seed at the
    longest tested length that some seed solved is `>= v`, a missing minimum `< v` of the shortest tested. The
    lower median is known for 1, 2 or an odd number of seeds; otherwise it says so. A table that has them is
    returned as it is."""
    if "median" in table:
        return table
    solved = next(c for c in table.columns if c.startswith("solved (k/n) by"))

    def one_row(row: pd.Series) -> pd.Series:
        tested = {float(v): int(k) for v, k, _ in re.findall(r"([\d.]+): (\d+)/(\d+)", str(row[solved]))}
        longest, shortest = max(tested), min(tested)

        def label(value: float) -> str:  # NaN: the shortest failed; the longest that some seed solved: censored
            return seed_capacity_label(value, shortest, value == longest and tested[longest] > 0)

        low, high, seeds = row["capacity_min"], row["capacity_max"], int(row["seeds"])
        if seeds <= 2:
            median = label(low)  # the lower of two, or the one
        elif seeds % 2 or row["capacity_median"] in tested:
            median = label(row["capacity_median"])
        else:
            median = "not recorded (an even number of seeds, aggregated before lower medians)"
        spread = f"all {seeds} seeds" if label(low) == label(high) else f"{label(low)} to {label(high)}"
        return pd.Series({"median": median, "range": spread})

    texts = table.apply(one_row, axis=1)
    at = list(table.columns).index("seeds") + 1
    return pd.concat([table.iloc[:, :at], texts, table.iloc[:, at:]], axis=1)


def solved_counts(runs: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """Per group and tested `x`: how many seeds solved it (`solved`, from `mark_solved`) of how many ran it (`runs`)."""
    table = runs.groupby([*group_keys, x], dropna=False, sort=True)["solved"].agg(["sum", "count"]).reset_index()
    return table.rename(columns={"sum": "solved", "count": "runs"}).astype({"solved": int, "runs": int})


def overflowed_in_every_row(runs: pd.DataFrame) -> pd.Series:
    """Per run (`overflow_rows`' columns): whether its gradient norm overflowed in every training row."""
    return (runs["grad_overflow_rows"] > 0) & (runs["grad_overflow_rows"] == runs["metric_rows"])


def overflow(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`: how many runs' gradient norm overflowed of how many (`overflow_rows`' columns), and the
    median, min and max over those runs of the step of their first overflowing metrics row."""

    def one_group(group: pd.DataFrame) -> pd.Series:
        first = group["first_overflow_step"].dropna().astype(float)
        return pd.Series({
            "overflowed (k/n)": f"{int((group['grad_overflow_rows'] > 0).sum())}/{len(group)}",
            "in every row": int(overflowed_in_every_row(group).sum()),
            "first_step_median": first.median(), "first_step_min": first.min(), "first_step_max": first.max(),
        })  # fmt: skip

    columns = ["grad_overflow_rows", "metric_rows", "first_overflow_step"]
    return runs.groupby(keys, dropna=False, sort=True)[columns].apply(one_group).reset_index()


def chance_best_batch(batch: int, chance: float, batches: int) -> float:
    """The median best accuracy among `batches` training batches of `batch` examples of a model that guesses right
    with probability `chance` (independent batches): what "best training-batch accuracy" scores without memory."""
    below = 0.0  # P(one batch has at most k right)
    for k in range(batch + 1):
        below += math.comb(batch, k) * chance**k * (1 - chance) ** (batch - k)
        if below**batches >= 0.5:
            return k / batch
    return 1.0


def share_trained_on(length: int, sequences: int, digits: int = 10) -> float:
    """The probability that one palindrome of `length` is among `sequences` drawn uniformly for training: there are
    digits ** ceil(length / 2) of them (the first half decides the rest). Near 1 at L = 10, 1% at L = 15."""
    distinct = digits ** math.ceil(length / 2)
    return -math.expm1(sequences * math.log1p(-1 / distinct))


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that k1 of n1 and k2 of n2 come from one proportion: the summed
    probability, with the margins fixed, of every table no more likely than the one observed. 5/5 vs 2/5: 0.167."""
    solved, total = k1 + k2, n1 + n2

    def probability(k: int) -> float:  # k of the first group's n1 solved, given `solved` in all
        return math.comb(n1, k) * math.comb(n2, solved - k) / math.comb(total, solved)

    observed = probability(k1)
    tables = range(max(0, solved - n2), min(n1, solved) + 1)
    return min(1.0, sum(p for k in tables if (p := probability(k)) <= observed * (1 + 1e-9)))
