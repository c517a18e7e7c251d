"""Memory capacity: when a run counts as solved, the search for the longest solved length, and the capacity that a
set of tested lengths shows. The capacity sweeper (`hydra/sweeper=capacity`) and the aggregator both use it.

The search assumes that solving is monotone in the length: every length below a solved one is solved too. It probes
upwards from the shortest candidate, doubling the step in candidate positions (1st, 2nd, 4th, 8th, ... candidate)
until a probe fails, then bisects between the last success and the first failure. Probing from below keeps the
probes short and at most one doubling past the boundary: the failed runs, which always spend the whole step budget,
are few and never far longer than the boundary. A search whose boundary lies at the k-th of n candidates runs about
2 log2(k) + 1 probes instead of n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


# How a run counts as solved: criterion -> what it means (the config's eval.solved_accuracy is the bar).
def _final_solved(run: Mapping[str, Any]) -> bool:
    """The run's last held-out evaluation is solved: accuracy >= eval.solved_accuracy, or for a regression (no
    accuracy) mean squared error <= eval.solved_mse."""
    accuracy = run.get("eval_accuracy")
    if accuracy is None or (isinstance(accuracy, float) and math.isnan(accuracy)):
        return float(run.get("eval_loss") or math.inf) <= float(run.get("eval.solved_mse", 0.01))
    return float(accuracy) >= float(run["eval.solved_accuracy"])


# A capacity criterion -> (what "solved" means, the test of a completed run: its result's and flattened config's keys)
SOLVED_RULES: dict[str, tuple[str, Callable[[Mapping[str, Any]], bool]]] = {
    "converged": ("a held-out evaluation reached eval.solved_accuracy, or for a regression eval.solved_mse "
                  "(result.json's converged)", lambda run: bool(run["converged"])),
    "final_accuracy": ("the final held-out accuracy >= eval.solved_accuracy (as reports 000 and 001 read it)",
                       lambda run: float(run["eval_accuracy"]) >= float(run["eval.solved_accuracy"])),
    "stayed_solved": ("solved and stayed solved: a held-out evaluation reached eval.solved_accuracy (or "
                      "eval.solved_mse) and the final one still does", lambda run: bool(run["converged"])
                      and _final_solved(run)),
    "best_train_accuracy": ("the best training-batch accuracy >= eval.solved_accuracy (as some course reports "
                            "measured)", lambda run: float(run.get("best_train_accuracy", math.nan))
                            >= float(run["eval.solved_accuracy"])),
}  # fmt: skip
SOLVED_CRITERIA = {name: description for name, (description, _) in SOLVED_RULES.items()}
# every key the rules above read (a run's table may hold many more)
SOLVED_KEYS = ("converged", "eval_accuracy", "eval_loss", "best_train_accuracy", "eval.solved_accuracy",
               "eval.solved_mse")  # fmt: skip


def is_solved(run: Mapping[str, Any], criterion: str) -> bool:
    """Whether a completed run is solved; `run` holds its result's keys and its flattened config's keys."""
    if criterion not in SOLVED_RULES:
        raise ValueError(f"solved={criterion!r} is invalid: expected one of {', '.join(SOLVED_CRITERIA)}")
    return SOLVED_RULES[criterion][1](run)


@dataclass
class Capacity:
    """What a set of tested lengths shows about one configuration and seed.

    capacity: the longest tested length up to which every tested length was solved (NaN: the shortest failed);
    first_failure: the shortest failed length (NaN: none failed); censored: the true capacity lies outside the
    tested range (none failed: it is at least `capacity`; the shortest failed: it is below it); non_monotone: a
    length longer than the first failure was solved, contradicting the search's assumption.
    """

    capacity: float
    first_failure: float
    largest_tested: float
    censored: bool
    tested: int
    non_monotone: bool

    @classmethod
    def of(cls, outcomes: Mapping[float, bool]) -> Capacity:
        """The capacity that `outcomes` (tested length -> solved) shows."""
        lengths = sorted(outcomes)
        failures = [length for length in lengths if not outcomes[length]]
        first_failure = failures[0] if failures else math.nan
        below = [length for length in lengths if not failures or length < first_failure]
        return cls(
            capacity=below[-1] if below else math.nan,
            first_failure=first_failure,
            largest_tested=lengths[-1],
            censored=not failures or not below,
            tested=len(lengths),
            non_monotone=any(outcomes[length] for length in lengths if failures and length > first_failure),
        )


@dataclass
class Search:
    """The search for the longest solved candidate of one configuration: `candidates` sorted ascending, `outcomes`
    maps probed positions in them to solved or not. Once the boundary is found, `verify` more probes go below it,
    each at the middle of the widest stretch of unprobed candidates there."""

    candidates: Sequence[float]
    verify: int = 0
    outcomes: dict[int, bool] = field(default_factory=dict)
    verifying: bool = False  # the boundary is found; further probes are verifications
    search_probes: int = 0  # probes made before the boundary was found

    def _bounds(self) -> tuple[int, int]:
        """(position of the longest solved probe below every failure or -1, position of the shortest failure or n)."""
        high = min((i for i, solved in self.outcomes.items() if not solved), default=len(self.candidates))
        low = max((i for i, solved in self.outcomes.items() if solved and i < high), default=-1)
        return low, high

    def _search_probe(self) -> int | None:
        """Double the step upwards while every probe solved, then bisect; None once the boundary is found."""
        low, high = self._bounds()
        if high == len(self.candidates):
            return min(max(2 * low + 1, 0), high - 1) if low < high - 1 else None  # 0, 1, 3, 7, ...
        return (low + high) // 2 if high - low > 1 else None

    def _verification_probe(self) -> int | None:
        low, _ = self._bounds()
        probed = sorted(i for i in self.outcomes if i <= low)
        gaps = [(b - a, a, b) for a, b in zip([-1, *probed], probed, strict=False) if b - a > 1]
        return (max(gaps)[1] + max(gaps)[2]) // 2 if gaps else None

    def next_probe(self) -> int | None:
        """The candidate position to probe next, or None when the search (and its verifications) are finished."""
        if not self.verifying:
            if (position := self._search_probe()) is not None:
                return position
            self.verifying = True
        verifications = len(self.outcomes) - self.search_probes
        return self._verification_probe() if verifications < self.verify else None

    def record(self, position: int, solved: bool) -> None:
        if not self.verifying:
            self.search_probes += 1
        self.outcomes[position] = solved

    def capacity(self) -> Capacity:
        return Capacity.of({self.candidates[i]: solved for i, solved in self.outcomes.items()})


def describe_capacity(found: Capacity, key: str) -> str:
    """The capacity in words: `capacity 15 (first failure data.length=20), 4 tested`, with what is censored or odd."""
    if math.isnan(found.capacity):
        text = f"capacity < {found.first_failure:g} (the shortest tested failed; censored)"
    elif math.isnan(found.first_failure):
        text = f"capacity >= {found.capacity:g} (every tested {key} solved; censored)"
    else:
        text = f"capacity {found.capacity:g} (first failure {key}={found.first_failure:g})"
    text += f", {found.tested} tested"
    return text + ("; NOT MONOTONE: a length above the first failure was solved" if found.non_monotone else "")
