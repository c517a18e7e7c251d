"""The study's statistics on small tables with known answers."""

import math

import pandas as pd
import pytest

from multirun_analysis.stats import (
    capacity_over_seeds,
    convergence,
    fisher_exact,
    interval_note,
    proportion_interval,
    proportion_intervals_text,
    share_trained_on,
)


@pytest.mark.parametrize(
    "k, n, low, high",
    [(2, 5, 0.0527, 0.8534), (0, 5, 0.0, 0.5218), (5, 5, 0.4782, 1.0), (1, 2, 0.0126, 0.9874), (0, 1, 0.0, 0.975)],
)  # Clopper-Pearson 95%, as tabulated (e.g. scipy.stats.binomtest(k, n).proportion_ci("exact"))
def test_the_interval_of_k_of_n_is_clopper_pearsons_and_stays_in_0_1(k, n, low, high):
    assert proportion_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_no_seeds_have_no_interval():
    assert all(math.isnan(v) for v in proportion_interval(0, 0))


def test_the_bootstrap_interval_says_what_it_is_at_few_seeds():
    assert [interval_note(n) for n in (1, 2, 5, 10)] == [
        "n = 1: no interval", "n = 2: the two seeds' range", "n < 10: covers less than 95%", ""
    ]  # fmt: skip


def test_the_median_steps_never_average_a_converged_run_with_a_censored_one():
    runs = pd.DataFrame({
        "cell": ["a", "a", "b", "b", "b"], "steps_to_converge": [4750, math.nan, 500, math.nan, math.nan],
        "train.max_steps": [5000] * 5, "steps": [4750, 5000, 500, 5000, 5000],
    })  # fmt: skip
    table = convergence(runs, ["cell"]).set_index("cell")
    assert table.loc["a", ["median_steps", "median_is_bound"]].tolist() == [4750, False]  # not 4875 (bound)
    assert table.loc["b", ["median_steps", "median_is_bound"]].tolist() == [5000, True]  # 2 of 3 never converged


def test_censored_seeds_are_counted_apart_above_and_below():
    per_seed = pd.DataFrame({
        "cell": ["a"] * 4, "seed": [1, 2, 3, 4], "capacity": [math.nan, 450.0, 100.0, 450.0],
        "first_failure": [50.0, math.nan, 150.0, math.nan], "censored": [True, True, False, True],
        "tested": [1, 5, 3, 5], "non_monotone": [False] * 4,
    })  # fmt: skip
    row = capacity_over_seeds(per_seed, ["cell"]).iloc[0]
    assert (row["censored_at_least"], row["censored_below"]) == (2, 1)
    assert (row["median"], row["range"]) == ("100", "< 50 to >= 450")


def test_the_share_of_held_out_palindromes_also_trained_on_at_short_lengths():
    assert share_trained_on(5, 1_280_000) == pytest.approx(1.0)  # 1,000 palindromes of length 5
    assert share_trained_on(15, 1_280_000) == pytest.approx(1 - math.exp(-0.0128), rel=1e-6)  # about 1.3%
    assert share_trained_on(2, 1) == pytest.approx(0.1)  # one draw, ten palindromes of length 2


@pytest.mark.parametrize(
    "k1, n1, k2, n2, p", [(5, 5, 2, 5, 0.1667), (5, 5, 0, 5, 0.0079), (3, 5, 3, 5, 1.0), (0, 4, 4, 4, 0.0286)]
)  # two-sided, as tabulated (e.g. scipy.stats.fisher_exact)
def test_fishers_exact_test_on_two_counts(k1, n1, k2, n2, p):
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(p, abs=1e-4)


def test_the_interval_key_covers_each_sample_size_a_text_uses_once():
    key = proportion_intervals_text("L = 5: 5/5, L = 10: 2/5, L = 15: 1/2; 3/5 again")
    assert key == ("n = 2: 0/2 [0.00-0.84], 1/2 [0.01-0.99], 2/2 [0.16-1.00]; n = 5: 0/5 [0.00-0.52], 1/5 "
                   "[0.01-0.72], 2/5 [0.05-0.85], 3/5 [0.15-0.95], 4/5 [0.28-0.99], 5/5 [0.48-1.00]")  # fmt: skip
    assert proportion_intervals_text("no counts here") == ""
