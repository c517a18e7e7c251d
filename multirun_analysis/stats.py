"""Statistics of the study: t confidence intervals over seeds, and memory capacity per seed and over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd
from scipy import stats

from seqlab.capacity import Capacity, is_solved


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; (mean, mean) for fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return mean - half, mean + half


def summarize(runs: pd.DataFrame, keys: list[str], metric: str, level: float = 0.95) -> pd.DataFrame:
    """Per group of `keys`: number of runs, mean of `metric` and its t confidence interval over the rest."""

    def one_group(group: pd.DataFrame) -> pd.Series:
        values = group[metric].astype(float).dropna()
        low, high = t_interval(values, level)
        return pd.Series({"n": len(values), "mean": values.mean(), "ci_low": low, "ci_high": high})

    table = runs.groupby(keys, dropna=False, sort=True)[[metric]].apply(one_group).reset_index()
    table["n"] = table["n"].astype(int)
    return table


def mark_solved(runs: pd.DataFrame, criterion: str) -> pd.DataFrame:
    """A copy of `runs` with a boolean `solved` column: whether each run is solved by `criterion`."""
    return runs.assign(solved=[is_solved(run, criterion) for run in runs.to_dict("records")])


def capacity_per_seed(runs: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """Per group and seed: the capacity its tested `x` values show (seqlab.capacity.Capacity's columns), from the
    runs' `solved` column (`mark_solved`). A grid sweep's and a capacity sweep's runs give the same table."""
    keys = [*group_keys, "seed"]
    rows = []
    for key, group in runs.groupby(keys, dropna=False, sort=True):
        outcomes = dict(zip(group[x], group["solved"], strict=True))
        rows.append({**dict(zip(keys, key, strict=True)), **asdict(Capacity.of(outcomes))})
    return pd.DataFrame(rows)


def capacity_over_seeds(per_seed: pd.DataFrame, group_keys: list[str]) -> pd.DataFrame:
    """Per group (seeds pooled): seeds, the capacity's median, min and max over seeds (a seed whose shortest tested
    length failed counts as below every value), and how many seeds were censored or non-monotone."""

    def one_group(group: pd.DataFrame) -> pd.Series:
        capacity = group["capacity"].fillna(-math.inf).sort_values().to_numpy()
        middle = (capacity[(len(capacity) - 1) // 2] + capacity[len(capacity) // 2]) / 2
        return pd.Series({
            "seeds": len(group), "capacity_median": middle, "capacity_min": capacity[0], "capacity_max": capacity[-1],
            "censored": int(group["censored"].sum()), "non_monotone": int(group["non_monotone"].sum()),
        })  # fmt: skip

    groups = per_seed.groupby(group_keys, dropna=False, sort=True) if group_keys else [((), per_seed)]
    rows = [{**dict(zip(group_keys, k if isinstance(k, tuple) else (k,), strict=True)), **one_group(g)}
            for k, g in groups]  # fmt: skip
    table = pd.DataFrame(rows).replace(-math.inf, math.nan)
    return table.astype({"seeds": int, "censored": int, "non_monotone": int})


def solved_counts(runs: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """Per group and tested `x`: how many seeds solved it (`solved`, from `mark_solved`) of how many ran it (`runs`)."""
    table = runs.groupby([*group_keys, x], dropna=False, sort=True)["solved"].agg(["sum", "count"]).reset_index()
    return table.rename(columns={"sum": "solved", "count": "runs"}).astype({"solved": int, "runs": int})
