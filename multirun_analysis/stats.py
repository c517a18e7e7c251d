"""Statistics of the study: t confidence intervals over seeds and memory capacity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


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


def memory_capacity(summary: pd.DataFrame, x: str, group_keys: list[str], threshold: float) -> pd.DataFrame:
    """Per group: the largest x up to which the mean metric stays >= threshold at every tested x.

    Walks x upwards and stops at the first x whose mean falls below `threshold`; capacity is the last x before it
    (NaN when even the smallest x fails). `censored` is True when no tested x failed: the true capacity is at least
    the largest x tested.
    """
    rows = []
    groups = summary.groupby(group_keys, dropna=False, sort=True) if group_keys else [((), summary)]
    for key, group in groups:
        group = group.sort_values(x)
        capacity = math.nan
        failed = False
        for value, mean in zip(group[x], group["mean"], strict=True):
            if not mean >= threshold:
                failed = True
                break
            capacity = value
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(group_keys, key, strict=True)), "capacity": capacity,
                     "largest_tested": group[x].max(), "censored": not failed})  # fmt: skip
    return pd.DataFrame(rows)
