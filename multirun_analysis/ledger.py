"""The claims ledger: each checkable claim of the course reports (docs/claims.md), the setting seqlab ran it at,
a verdict and seqlab's number with k of n seeds, read from the tables the aggregator wrote for each study
(docs/results/<study>/*.csv). The mapping from a claim to its study and statistic is `CLAIMS`, here and only here.

A claim whose study has no tables yet is `open`, naming the runs that settle it (`bash scripts/run_studies.sh
ledger`). A verdict is confirmed, refuted, partly (some parts hold) or open, with why; a claim that states a method
(C8's stopping rule) is marked `method`, with what the method does; a comparison whose winner changes with the init
or encoding, `depends on init`; a difference the measurement cannot resolve, `inconclusive`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from multirun_analysis import sample_words
from multirun_analysis.aggregate_results import across_processors
from multirun_analysis.sample_words import LAST_STEPS, by_temperature
from multirun_analysis.stats import chance_best_batch, fisher_exact, with_censoring_text

COURSE = "scalar digits, hidden 128, batch 128, RMSprop lr 1e-3, clip 10"
LEDGER_RUNS = "`bash scripts/run_studies.sh ledger`"
CHANCE_BEST_BATCH = chance_best_batch(128, 0.1, 10_000)  # the course's best training batch at chance: batches of
# 128, one digit in 10, 10,000 steps


@dataclass
class Finding:
    """What seqlab found for one claim."""

    setting: str  # the setting seqlab ran, naming any difference from the report's
    verdict: str  # confirmed | refuted | partly | open
    why: str  # the number behind the verdict, with k of n seeds
    study: str | None  # the results-page study (section and command) it comes from


class Tables:
    """The aggregator's tables of the studies under `results` (docs/results/), and which studies were read."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self.studies_read: set[str] = set()

    def read(self, study: str, table: str, **where: object) -> pd.DataFrame | None:
        """Rows of `study`'s `table` (e.g. memory_capacity) where each key equals its value; None without it."""
        path = self.results / study / f"{table}.csv"
        if not path.exists():
            return None
        self.studies_read.add(study)
        frame = pd.read_csv(path, dtype={"median": str, "range": str})
        if table == "memory_capacity":
            frame = with_censoring_text(frame)
        for key, value in where.items():
            frame = frame[frame[key] == value]
        return frame

    def row(self, study: str, table: str, **where: object) -> dict | None:
        frame = self.read(study, table, **where)
        return None if frame is None or frame.empty else frame.iloc[0].to_dict()


def solved_by_length(capacity_row: dict) -> dict[int, tuple[int, int]]:
    """length -> (k, n) from a memory_capacity row's `solved (k/n) by data.length` ("5: 5/5, 10: 4/5")."""
    text = next(v for k, v in capacity_row.items() if k.startswith("solved (k/n) by"))
    return {int(float(m[0])): (int(m[1]), int(m[2])) for m in re.findall(r"([\d.]+): (\d+)/(\d+)", str(text))}


def capacity_text(row: dict) -> str:
    """`capacity 10 (5 to 20, 5 seeds)`: the lower median and the range, keeping censored values (`>= 200`,
    `< 50`)."""
    if str(row["range"]).startswith("all "):
        return f"capacity {row['median']} in {row['range']}"
    return f"capacity {row['median']} ({row['range']}, {row['seeds']} seeds)"


def counts(solved: dict[int, tuple[int, int]], lengths: list[int] | None = None) -> str:
    """`L = 5: 5/5, L = 10: 4/5` for `lengths` (all tested when None)."""
    return ", ".join(f"L = {length}: {k}/{n}" for length, (k, n) in solved.items() if not lengths or length in lengths)


ABOUT = 0.25  # "about x", "around x" in a claim: seqlab's number within 25% of x


def about(value: float | None, claimed: float) -> bool:
    """Whether `value` is "about" `claimed` (within ABOUT of it)."""
    return value is not None and abs(value - claimed) <= ABOUT * claimed


METHOD = "method"  # the verdict of a claim that states a method (a stopping rule), not a result


def verdict_of(*parts: bool) -> str:
    """A claim of several parts: confirmed when every part holds, partly when some do, refuted when none does."""
    return "confirmed" if all(parts) else "partly" if any(parts) else "refuted"


# Reports 000 and 001 read accuracy at the end of training, averaged over runs: their claims (C1-C3, C5-C7) are
# scored on the mean final held-out accuracy over seeds at each length (a study's summary table), in these terms.
FINAL = "the final held-out accuracy, mean over seeds per length"
CHANCE = 0.1  # one digit in ten
PERFECT = 0.99  # "perfect": the mean reaches the solved bar (eval.solved_accuracy)
LEARNED = (CHANCE + 1) / 2  # a length is learned while the mean is at least halfway from chance to 1 (0.55)


def final_accuracy(t: Tables, study: str, **where: object) -> dict[int, dict]:
    """length -> `study`'s summary row matching `where`: `mean` (final held-out accuracy over seeds), its bootstrap
    interval `ci_low`-`ci_high` and `n` seeds; empty without the table."""
    rows = t.read(study, "summary", **where)
    if rows is None:
        return {}
    return {int(row["data.length"]): row for row in rows.sort_values("data.length").to_dict("records")}


def means_text(final: dict[int, dict], lengths: list[int] | None = None) -> str:
    """`L = 5: 0.87, L = 15: 0.43 (3 of 5 seeds)`: the seeds named where a capacity search ran fewer there."""
    most = max(int(row["n"]) for row in final.values())
    return ", ".join(f"L = {length}: {row['mean']:.2f}" + (f" ({row['n']} of {most} seeds)" if row["n"] < most else "")
                     for length, row in final.items() if not lengths or length in lengths)  # fmt: skip


def drops_after(final: dict[int, dict]) -> int | None:
    """The length after which the mean first falls below LEARNED (the shortest tested one falling: 0); None while
    every tested length is learned. A length one seed alone reached in a capacity search does not decide it."""
    previous = 0
    for length, row in final.items():
        if row["mean"] < LEARNED and row["n"] > 1:
            return previous
        previous = length
    return None


def above(a: dict, b: dict) -> bool:
    """Whether summary row `a`'s mean is above `b`'s with their intervals over seeds apart (2 or more seeds each)."""
    return a["n"] > 1 and b["n"] > 1 and a["ci_low"] > b["ci_high"]


def where_above(a: dict[int, dict], b: dict[int, dict], lengths: list[int] | None = None) -> tuple[list, list]:
    """(lengths where `a`'s mean final accuracy is `above` `b`'s, lengths where `b`'s is above `a`'s), over the
    lengths both ran (only `lengths`, where given)."""
    both = [length for length in a if length in b and (lengths is None or length in lengths)]
    return [v for v in both if above(a[v], b[v])], [v for v in both if above(b[v], a[v])]


def lengths_text(lengths: list[int]) -> str:
    return f"L = {', '.join(map(str, lengths))}" if lengths else "no length"


def open_finding(setting: str, runs: str, study: str | None = None) -> Finding:
    return Finding(setting, "open", f"not run at this setting yet: {runs}", study)


def ever_solved(row: dict, lengths: list[int] | None = None) -> str:
    """The capacity-search score beside a final-accuracy one: `ever solved (a held-out evaluation >= 0.99): ...`."""
    solved = counts(solved_by_length(row), lengths)
    return f"ever solved (a held-out evaluation >= {PERFECT}): {capacity_text(row)}; {solved}"


def c1(t: Tables) -> Finding:
    setting = f"{COURSE}; N(0, 1e-4) weights; 5 seeds; capacity search; scored as report 000 scored it: {FINAL}"
    where = {"init.name": "normal", "model.name": "rnn"}
    row, final = t.row("course_inits", "memory_capacity", **where), final_accuracy(t, "course_inits", **where)
    if row is None or not {5, 10} <= set(final):
        return open_finding(setting, LEDGER_RUNS, "course_inits")
    at_5 = final[5]
    perfect, falls = at_5["mean"] >= PERFECT, final[10]["mean"] < min(at_5["mean"], PERFECT)
    why = (
        f"final accuracy {means_text(final)}: {'perfect' if perfect else 'not perfect'} at L = 5 (95% bootstrap "
        f"interval over seeds {at_5['ci_low']:.2f}-{at_5['ci_high']:.2f}), {'' if falls else 'not '}falling after "
        f"(report 000's T = 5 is L = 6, between the tested L = 5 and 10); beside it, {ever_solved(row)}"
    )
    return Finding(setting, verdict_of(perfect, falls), why, "course_inits")


def c2(t: Tables) -> Finding:
    setting = f"{COURSE}; LSTM, Xavier-normal weights, lr 1e-3; 10,000 steps; 5 seeds; L = 5..50"
    rows = t.read("ledger_lstm_xavier", "summary", **{"optimizer.lr": 1e-3})
    if rows is None or rows.empty:
        return open_finding(setting, LEDGER_RUNS + " (ledger_lstm_xavier)", "ledger_lstm_xavier")
    chance = rows["mean"].map(lambda mean: about(mean, 0.1))
    k, n = int(chance.sum()), len(rows)
    verdict = verdict_of(*chance)
    lengths = f" (L = {', '.join(f'{length:g}' for length in rows.loc[chance, 'data.length'])})" if k else ""
    why = (f"decided per length: around 0.1 (within {ABOUT:.0%}) at {k} of {n} lengths{lengths}; mean "
           "held-out accuracy over seeds, " + ", ".join(
               f"L = {r['data.length']}: {r['mean']:.2f} ({r['solved (k/n)']} solved)" for r in rows.to_dict("records"))
           + f"; pooled over the lengths {rows['mean'].mean():.2f}")  # fmt: skip
    return Finding(setting, verdict, why, "ledger_lstm_xavier")


def drop_text(drop: int | None, final: dict[int, dict]) -> str:
    return f"it drops after L = {drop}" if drop is not None else f"it does not drop up to L = {max(final)}"


def c3(t: Tables) -> Finding:
    grid = t.row("ledger_lstm_xavier", "memory_capacity", **{"optimizer.lr": 1e-4})
    study, where = (("ledger_lstm_xavier", {"optimizer.lr": 1e-4}) if grid is not None
                    else ("course_lstm_xavier", {"model.name": "lstm"}))  # fmt: skip
    setting = (f"{COURSE} but lr 1e-4; LSTM with Xavier-normal weights; 10,000 steps; 5 seeds; "
               f"{'a grid over L = 5..50' if grid is not None else 'capacity search'}; the RNN at lr 1e-3, default "
               f"init (course); scored as report 000 scored it: {FINAL}")  # fmt: skip
    lstm = grid if grid is not None else t.row(study, "memory_capacity", **where)
    rnn = t.row("course", "memory_capacity", **{"model.name": "rnn"})
    lstm_final, rnn_final = final_accuracy(t, study, **where), final_accuracy(t, "course", **{"model.name": "rnn"})
    if lstm is None or rnn is None or not lstm_final or not rnn_final:
        return open_finding(setting, LEDGER_RUNS, study)
    drop = drops_after(lstm_final)
    learned = [length for length in lstm_final if drop is None or length <= drop]
    lstm_above, rnn_above = where_above(lstm_final, rnn_final, learned)
    beats, drops_after_35 = bool(lstm_above) and not rnn_above, drop is not None and about(drop, 35)
    why = (f"final accuracy, LSTM {means_text(lstm_final)}; RNN {means_text(rnn_final)}. Where the LSTM learns "
           f"(mean >= {LEARNED:.2f}), its mean is above the RNN's at {lengths_text(lstm_above)} and below it at "
           f"{lengths_text(rnn_above)} (95% bootstrap intervals over seeds apart); {drop_text(drop, lstm_final)}"
           + ("" if drops_after_35 else ", not about 35")
           + f"; beside it, LSTM {ever_solved(lstm)}; RNN {capacity_text(rnn)}")  # fmt: skip
    return Finding(setting, verdict_of(beats, drops_after_35), why, study)


def batch_accuracy_study(t: Tables) -> str:
    """The study that scores the course setting by training-batch accuracy, as reports 001 and 002 did:
    ledger_batch_accuracy where it ran, else course (its committed tables predate that score)."""
    return "ledger_batch_accuracy" if t.read("ledger_batch_accuracy", "training_accuracy") is not None else "course"


def c4(t: Tables) -> Finding:
    study, where = batch_accuracy_study(t), {"model.name": "rnn", "data.length": 10}
    trained, row = t.row(study, "training_accuracy", **where), t.row(study, "summary", **where)
    measured = "the final training accuracy (the last 50 batches), as the report" if trained else (
        "held-out accuracy (the report: the last training batches)")  # fmt: skip
    setting = f"{COURSE}; 10,000 steps; 5 seeds; {measured}"
    if row is None:
        return open_finding(setting, LEDGER_RUNS, study)
    accuracy = trained["final_train_accuracy"] if trained else row["mean"]
    verdict = "refuted" if accuracy > 0.5 else "confirmed"
    why = (f"RNN at L = 10: final {'training' if trained else 'held-out'} accuracy {accuracy:.2f} (mean over "
           f"seeds); {row['solved (k/n)']} seeds reached >= 0.99 held out")  # fmt: skip
    return Finding(setting, verdict, why, study)


# Where the course ran both cells with one init and encoding: (study, init.name or None, what differs)
CELLS_SIDE_BY_SIDE = (
    ("course", None, "default init, scalar digits"),
    ("course_onehot", None, "default init, one-hot digits"),
    ("course_inits", "normal", "N(0, 1e-4) weights"),
    ("course_inits", "standard_normal", "N(0, 1) weights"),
)
EACH_INIT = ", ".join(name for _, _, name in CELLS_SIDE_BY_SIDE)
DEPENDS_ON_INIT = "depends on init"  # the verdict of a comparison whose winner changes with the init or encoding


def under_each_init(t: Tables, table: str, **where: object) -> list[tuple[str, dict | None]]:
    """(what differs, `table`'s row matching `where`, None where there is none) under each init and encoding of
    CELLS_SIDE_BY_SIDE, the course's own first."""
    return [(name, t.row(study, table, **where, **({"init.name": init} if init else {})))
            for study, init, name in CELLS_SIDE_BY_SIDE]  # fmt: skip


def finals_under_each_init(t: Tables, **where: object) -> list[tuple[str, dict[int, dict]]]:
    """(what differs, `final_accuracy` of the rows matching `where`) under each init and encoding of
    CELLS_SIDE_BY_SIDE, the course's own first."""
    return [(name, final_accuracy(t, study, **where, **({"init.name": init} if init else {})))
            for study, init, name in CELLS_SIDE_BY_SIDE]  # fmt: skip


def c5(t: Tables) -> Finding:
    def judged(row: dict, final: dict[int, dict], _: dict) -> tuple[str, str]:
        drop = drops_after(final)
        dramatic = drop == 5 and final[5]["mean"] >= PERFECT
        from_20 = [length for length in final if length >= 20]  # untested: not learned, as the capacity search holds
        at_chance = [length for length in from_20 if about(final[length]["mean"], CHANCE)]
        return verdict_of(dramatic, at_chance == from_20), (
            f"RNN final accuracy {means_text(final)}: {drop_text(drop, final)}; "
            + (f"from L = 20 at chance (within {ABOUT:.0%} of {CHANCE}) at {len(at_chance)} of {len(from_20)} "
               "tested lengths" if from_20 else "L >= 20 not tested (every seed failed a shorter L)")
            + f"; beside it, {ever_solved(row)}")  # fmt: skip

    return by_init(t, "C5", {"model.name": "rnn"}, judged)


def c6(t: Tables) -> Finding:
    def judged(row: dict, final: dict[int, dict], steps: dict) -> tuple[str, str]:
        early = not steps["median_is_bound"] and steps["median_steps"] <= 4000
        drop = drops_after(final)
        return verdict_of(early, drop == 10), (
            f"LSTM at L = 10: converged {steps['converged (k/n)']}, median {steps['median_steps']:g} steps; final "
            f"accuracy {means_text(final, [10, 15, 20, 25])}: {drop_text(drop, final)}; beside it, "
            f"{ever_solved(row, [10, 15, 20])}")  # fmt: skip

    return by_init(t, "C6", {"model.name": "lstm"}, judged, {"model.name": "lstm", "data.length": 10})


def by_init(t: Tables, claim: str, where: dict, judged: Callable[[dict, dict[int, dict], dict], tuple[str, str]],
            steps_where: dict | None = None) -> Finding:  # fmt: skip
    """A one-cell claim judged at the course's default init (its verdict), then under each other init and encoding
    the course ran (CELLS_SIDE_BY_SIDE): where a verdict differs, `depends on init`, each one named. `judged` gets
    the cell's memory-capacity row, its `final_accuracy` and, with `steps_where`, its convergence row ({} without)
    and gives (verdict, evidence)."""
    setting = (f"{COURSE}; 10,000 steps; 5 seeds; under each init and encoding the course ran: {EACH_INIT}; scored "
               f"as report 001 scored it: {FINAL}")  # fmt: skip
    capacities = under_each_init(t, "memory_capacity", **where)
    finals = finals_under_each_init(t, **where)
    steps = under_each_init(t, "convergence", **steps_where) if steps_where else [(n, {}) for n, _ in capacities]
    found = [(name, *judged(row, final, step))
             for (name, row), (_, final), (_, step) in zip(capacities, finals, steps, strict=True)
             if row is not None and final and step is not None]  # fmt: skip
    if not found or found[0][0] != CELLS_SIDE_BY_SIDE[0][2]:  # the course's own setting first
        return open_finding(setting, LEDGER_RUNS, "course")
    verdicts = {verdict for _, verdict, _ in found}
    parts = [f"{name} ({verdict}): {why}" for name, verdict, why in found]
    if len(verdicts) == 1:
        return Finding(setting, found[0][1], "; ".join(parts), "course")
    return Finding(setting, DEPENDS_ON_INIT, f"{claim} holds differently under each init: " + "; ".join(parts),
                   "course")  # fmt: skip


def grid_test(rows: pd.DataFrame) -> str:
    """`Fisher's exact p = 0.17 at L = 15 (LSTM 2/5, RNN 5/5)`: the grid's length where the two cells' k/n differ
    most, with its two-sided p (a grid: every seed ran every length)."""
    solved = {r["model.name"]: solved_by_length(r) for r in rows.to_dict("records")}
    lengths = [length for length in solved["lstm"] if length in solved["rnn"]]
    length = max(lengths, key=lambda v: abs(solved["lstm"][v][0] / solved["lstm"][v][1]
                                            - solved["rnn"][v][0] / solved["rnn"][v][1]))  # fmt: skip
    (k1, n1), (k2, n2) = solved["lstm"][length], solved["rnn"][length]
    return f"Fisher's exact p = {fisher_exact(k1, n1, k2, n2):.2f} at L = {length} (LSTM {k1}/{n1}, RNN {k2}/{n2})"


def c7(t: Tables) -> Finding:
    setting = (f"{COURSE}; 10,000 steps; 5 seeds; under each init and encoding the course ran both cells with: "
               f"{EACH_INIT}; scored as report 001 scored it: {FINAL}, compared length by length")  # fmt: skip
    parts, signs = [], []
    lstms, rnns = (under_each_init(t, "memory_capacity", **{"model.name": m}) for m in ("lstm", "rnn"))
    lstm_finals, rnn_finals = (finals_under_each_init(t, **{"model.name": m}) for m in ("lstm", "rnn"))
    for (name, lstm), (_, rnn), (_, lstm_final), (_, rnn_final) in zip(lstms, rnns, lstm_finals, rnn_finals,
                                                                       strict=True):  # fmt: skip
        if lstm is None or rnn is None or not lstm_final or not rnn_final:
            continue
        lstm_above, rnn_above = where_above(lstm_final, rnn_final)
        signs.append(bool(lstm_above and not rnn_above) - bool(rnn_above and not lstm_above))
        parts.append(
            f"{name}: the LSTM's final accuracy above the RNN's at {lengths_text(lstm_above)}, below it at "
            f"{lengths_text(rnn_above)} (beside it, LSTM {capacity_text(lstm)} vs RNN {capacity_text(rnn)})"
        )
    if not parts:
        return open_finding(setting, LEDGER_RUNS, "course")
    verdict = "confirmed" if min(signs) > 0 else "refuted" if max(signs) <= 0 else DEPENDS_ON_INIT
    course = t.read("course", "memory_capacity")
    test = f"; default init, scalar digits, ever solved by length: {grid_test(course)}" if course is not None else ""
    prefix = "the LSTM does better only under some: " if verdict == DEPENDS_ON_INIT else ""
    return Finding(setting, verdict, prefix + "; ".join(parts) + " (above: 95% bootstrap intervals over seeds "
                   "apart)" + test, "course")  # fmt: skip


def effort(rows: pd.DataFrame | None, model: str) -> str:
    """`median steps trained 2,750 to 3,500 over L` of a convergence table's `model` rows (where recorded)."""
    if rows is None or "median_steps_trained" not in rows:
        return "steps trained not recorded"
    trained = rows.loc[rows["model.name"] == model, "median_steps_trained"].dropna()
    if trained.empty:
        return "steps trained not recorded"
    low, high = trained.min(), trained.max()
    return f"median steps trained {low:,.0f}" + (f" to {high:,.0f} over L" if high != low else "")


def non_monotone_text(grid_row: dict) -> str:
    """Where a grid's capacity row has seeds that failed a shorter length than one they solved, how many: a capacity
    search, which skips the shorter lengths once a longer one is solved, reads those seeds higher."""
    k = int(grid_row.get("non_monotone", 0))
    if not k:
        return ""
    return (f"; {k} of {grid_row['seeds']} seeds non-monotone on this grid (failed a shorter L than one solved), "
            "which the capacity search with the rule, not testing shorter L once a longer one is solved, reads "
            "higher")  # fmt: skip


def c8(t: Tables) -> Finding:
    setting = f"{COURSE}; stop on a training-loss plateau, windows of 100 batches, epsilon 1e-6; 5 seeds"
    rows = t.read("ledger_plateau", "memory_capacity")
    course = t.read("course", "memory_capacity")
    if rows is None or rows.empty or course is None:
        return open_finding(setting, LEDGER_RUNS + " (ledger_plateau; course_stopping ran windows of 500, "
                            "epsilon 1e-4)", "ledger_plateau")  # fmt: skip
    steps = t.read("ledger_plateau", "convergence")
    parts = []
    for row in rows.to_dict("records"):
        without = course[course["model.name"] == row["model.name"]].iloc[0].to_dict()
        parts.append(f"{row['model.name']}: {capacity_text(row)}, {effort(steps, row['model.name'])} (without the "
                     f"rule: {capacity_text(without)}{non_monotone_text(without)}, all 10,000 steps)")  # fmt: skip
    return Finding(setting, METHOD, "a stopping rule, not a result; what it does to capacity and to the steps "
                   "trained: " + "; ".join(parts), "ledger_plateau")  # fmt: skip


def beyond_25(table: pd.DataFrame, model: str, column: str) -> pd.Series:
    """`column` of `model`'s rows at L > 25 (30..50), where C9 looks, indexed by length."""
    return table[(table["data.length"] > 25) & (table["model.name"] == model)].set_index("data.length")[column]


def c9(t: Tables) -> Finding:
    study = batch_accuracy_study(t)
    trained = t.read(study, "training_accuracy")
    rows = trained if trained is not None else t.read(study, "summary")
    column, measured = ("best_train_accuracy", "the best training batch of 128, as the report") if trained is not None \
        else ("mean", "held-out accuracy (the report: the best training batch of 128)")  # fmt: skip
    setting = f"{COURSE}; 10,000 steps; 5 seeds; {measured}"
    rnn, lstm = (beyond_25(rows, model, column) if rows is not None else pd.Series() for model in ("rnn", "lstm"))
    if rnn.empty or lstm.empty:
        return open_finding(setting, LEDGER_RUNS, study)
    near_20 = rnn.map(lambda accuracy: about(accuracy, 0.2))
    no_better = lstm.reindex(rnn.index) <= rnn + 0.05  # within 0.05 of the RNN, or below it (not run: not no better)
    verdict = verdict_of(bool(near_20.all()), bool(no_better.all()))  # a part holds where it holds at every length
    why = (f"decided per length, L = 30..50 (mean over 5 seeds): the RNN around 0.2 (within {ABOUT:.0%}) at "
           f"{int(near_20.sum())} of {len(rnn)} lengths, the LSTM no better at {int(no_better.sum())} of "
           f"{len(rnn)}; RNN {seeds_text(rnn)}, LSTM {seeds_text(lstm)}")  # fmt: skip
    if trained is not None:
        final = beyond_25(trained, "rnn", "final_train_accuracy").mean()
        held_out = beyond_25(t.read(study, "summary"), "rnn", "mean").mean()
        why += (f"; a model at chance scores {CHANCE_BEST_BATCH:.2f} on this score (the median best of 10,000 "
                f"batches of 128 right 1 time in 10); the RNN's final training accuracy is {final:.2f}, held out "
                f"{held_out:.2f}")  # fmt: skip
    return Finding(setting, verdict, why, study)


EVAL_EVERY = 250  # the course preset's steps between held-out evaluations: the resolution of its steps to converge
INCONCLUSIVE = "inconclusive"  # a difference no larger than what the measurement can resolve


SPEED = "ledger_speed"  # C10 at the course setting, evaluated every SPEED_EVAL_EVERY steps
SPEED_EVAL_EVERY = 50


def c10(t: Tables) -> Finding:
    """Median steps to converge per cell and length, at the resolution the study evaluated with: ledger_speed's
    50 steps where it ran, else the course study's 250. A cell that converged in fewer than all seeds has a
    censored median (at the budget): the other cell is faster there if it converged in all."""
    study, every = (SPEED, SPEED_EVAL_EVERY) if t.read(SPEED, "convergence") is not None else ("course", EVAL_EVERY)
    setting = (f"{COURSE}; 10,000 steps; 5 seeds; median steps to the first held-out evaluation >= 0.99, evaluated "
               f"every {every} steps")  # fmt: skip
    setting += "; a run stops once solved (3 evaluations in a row)" if study == SPEED else ""
    rows = t.read(study, "convergence")
    if rows is None:
        return open_finding(setting, LEDGER_RUNS, study)
    cells = {(r["data.length"], r["model.name"]): r for r in rows.to_dict("records")}
    lengths = sorted({length for length, _ in cells if (length, "rnn") in cells and (length, "lstm") in cells})
    faster, parts = {"lstm": 0, "rnn": 0, "tie": 0}, []
    for length in lengths:
        lstm, rnn = cells[(length, "lstm")], cells[(length, "rnn")]
        if lstm["median_is_bound"] and rnn["median_is_bound"]:
            continue  # neither converged in most seeds: nothing to compare
        gap = rnn["median_steps"] - lstm["median_steps"]
        winner = "tie" if abs(gap) <= every else "lstm" if gap > 0 else "rnn"
        faster[winner] += 1
        parts.append(f"L = {length}: LSTM {_median(lstm)} vs RNN {_median(rnn)}")
    compared = sum(faster.values())
    if not compared or faster["tie"] == compared:
        verdict = INCONCLUSIVE
    else:
        verdict = "confirmed" if faster["lstm"] == compared else "refuted" if not faster["lstm"] else "partly"
    why = (f"median steps ({every}-step resolution), {'; '.join(parts)}: the LSTM is faster at {faster['lstm']}, "
           f"the RNN at {faster['rnn']} of {compared} lengths" + (f", {faster['tie']} within one interval"
                                                                  if faster["tie"] else ""))  # fmt: skip
    return Finding(setting, verdict, why, study)


def _median(row: dict) -> str:
    """`650 (5/5 converged)`, or `>= 10000 (2/5)` when fewer than half converged (the median is censored)."""
    value = f">= {row['median_steps']:g}" if row["median_is_bound"] else f"{row['median_steps']:g}"
    return f"{value} ({row['converged (k/n)']} converged)" if "converged (k/n)" in row else value


def float32_overflow(t: Tables) -> str:
    """`float32 overflows in 1/5 seeds at L = 100, 5/5 at L = 150 and beyond (course_rrn_overflow)`: where the
    course RRN's gradient norm first overflows float32 in its first 100 steps, from that study's table."""
    rows = t.read("course_rrn_overflow", "overflow", **{"init.name": "default"})
    if rows is None or rows.empty:
        return "float32 overflows at long lengths"
    rows = rows.sort_values("data.length")
    parts, every = [], None
    for row in rows.to_dict("records"):
        k, n = (int(v) for v in row["overflowed (k/n)"].split("/"))
        if k == n and every is None:
            every = row["data.length"]
        elif k and every is None:
            parts.append(f"{k}/{n} seeds at L = {row['data.length']}")
    if every is not None:
        parts.append(f"all seeds from L = {every}")
    return f"float32 overflows in {', '.join(parts)} (course_rrn_overflow)" if parts else "float32 never overflows"


def rrn_float64(t: Tables) -> tuple[dict | None, dict | None, str]:
    setting = (f"{COURSE}; RRN in float64 ({float32_overflow(t)}); 5,000 steps; 5 seeds; capacity search over "
               "L = 50..450")  # fmt: skip
    return t.row("ledger_rrn_float64", "memory_capacity"), t.row("ledger_rrn_float64", "capacity_steps"), setting


FLOAT32_NEARBY = "ledger_rrn_lr1e-4"  # the RRN in float32 at lr 1e-4: the nearest setting that stays finite
INIT_NAMES = {"normal": "N(0, 1e-4) weights", "identity": "identity weights"}


def float32_nearby(t: Tables, table: str, describe: Callable[[dict], str]) -> str:
    """`; in float32 at lr 1e-4 (...): N(0, 1e-4) weights: <describe(row)>, ...; identity weights: ...` from
    FLOAT32_NEARBY's `table`, one part per init; empty before that study has run."""
    rows = t.read(FLOAT32_NEARBY, table)
    if rows is None or rows.empty:
        return ""
    inits = [init for init in INIT_NAMES if init in set(rows["init.name"])]  # the two the preset sweeps, in order
    parts = [f"{INIT_NAMES[init]}: {', '.join(describe(r) for r in rows[rows['init.name'] == init].to_dict('records'))}"
             for init in inits]  # fmt: skip
    nearby = f"in float32 at lr 1e-4, the nearest setting that stays finite (same budget; {FLOAT32_NEARBY})"
    return f"; {nearby}: " + "; ".join(parts)


AT_300 = "ledger_rrn_300"  # the RRN at L = 300 itself, in float32 and float64, at the course setting


def at_300(row: dict) -> str:
    """`float32: solved 0/5 [0.00-0.52], final held-out accuracy 0.10` from a summary row of AT_300."""
    interval = f" [{row['solved 95% CI']}]" if "solved 95% CI" in row else ""
    return (f"{row['precision']}: solved {row['solved (k/n)']}{interval}, final held-out accuracy "
            f"{row['mean']:.2f}")  # fmt: skip


def c11(t: Tables) -> Finding:
    setting = (f"{COURSE}; PyTorch's default init; RRN at L = 300 itself, up to 10,000 steps (stopped once solved "
               f"or diverged), 5 seeds, in float32 (the claim's precision) and float64 ({float32_overflow(t)}); "
               "solved: a held-out evaluation >= 0.99, held at the end (3 in a row)")  # fmt: skip
    rows = t.read(AT_300, "summary")
    if rows is None or "precision" not in rows or set(rows["precision"]) != {"float32", "float64"}:
        return open_finding(setting, LEDGER_RUNS + f" ({AT_300})", AT_300)
    solved = {r["precision"]: tuple(int(v) for v in r["solved (k/n)"].split("/")) for r in rows.to_dict("records")}
    float32_holds, float64_holds = (solved[p][0] == solved[p][1] > 0 for p in ("float32", "float64"))
    verdict = "confirmed" if float32_holds else "partly" if float64_holds else "refuted"
    why = "; ".join(at_300(r) for r in rows.to_dict("records"))
    if verdict == "partly":
        why = f"only float64 reproduces it: {why}"
    capacity, _, _ = rrn_float64(t)
    seeds = t.read("ledger_rrn_float64", "capacity_per_seed")
    if capacity is not None and seeds is not None:
        why += (f"; beside it, float64's capacity search at 5,000 steps (ledger_rrn_float64, L = 300 not among its "
                f"lengths): {capacity_text(capacity)}, {counts(solved_by_length(capacity))}")  # fmt: skip
    why += float32_nearby(t, "memory_capacity", lambda r: f"{capacity_text(r)}, {counts(solved_by_length(r))}")
    return Finding(setting, verdict, why, AT_300)


def convergence_text(row: dict) -> str:
    """`L = 50: 5/5 converged, median 1250, slowest 1750` from a convergence row (`+`, `(bound)`: at the budget)."""
    text = f"L = {row['data.length']}: {row['converged (k/n)']} converged, median {row['median_steps']:g}"
    text += " (bound)" if row["median_is_bound"] else ""
    if "max_steps" in row:
        text += f", slowest {row['max_steps']:g}" + ("+" if row["max_is_bound"] else "")
    return text


def c12(t: Tables) -> Finding:
    _, _, setting = rrn_float64(t)
    rows = t.read("ledger_rrn_float64", "convergence")
    if rows is None or rows.empty:
        return open_finding(setting, LEDGER_RUNS + " (ledger_rrn_float64)", "ledger_rrn_float64")
    slowest = "max_steps" if "max_steps" in rows else "median_steps"  # a table from before max_steps: the median
    every = rows[slowest].max() < 2500 and not rows.get("max_is_bound", rows["median_is_bound"]).any()
    some = (rows["median_steps"] < 2500).any()
    verdict = "confirmed" if every else "partly" if some else "refuted"
    so_far = ""
    if verdict == "confirmed" and rows["data.length"].max() < 450:  # "in all cases": 50 to 450
        verdict, so_far = "open", f"holds so far, to L = {rows['data.length'].max()}; longer not yet tested. "
    why = ", ".join(convergence_text(r) for r in rows.to_dict("records"))
    others = t.read("course_rrn", "memory_capacity")
    if others is not None:  # the RNN and LSTM at the course setting, float32 (they do not overflow)
        failed = others[others["model.name"].isin(["rnn", "lstm"])]
        why += "; " + ", ".join(f"{r['model.name']} (float32): {counts(solved_by_length(r))}"
                                for r in failed.to_dict("records"))  # fmt: skip
    over = rows[rows[slowest] >= 2500]
    if verdict != "confirmed" and not over.empty:
        so_far = ("not in all cases: the slowest run reaches 0.99 only after " + ", ".join(
            f"{r[slowest]:g} steps at L = {r['data.length']}" for r in over.to_dict("records")) + ". ")  # fmt: skip
    why += float32_nearby(t, "convergence", convergence_text)
    return Finding(setting, verdict, f"{so_far}Steps to the first held-out evaluation >= 0.99 (evaluated every 250 "
                   f"steps): {why}", "ledger_rrn_float64")  # fmt: skip


def n01_study(t: Tables) -> tuple[str, str]:
    """(study, setting) of the N(0, 1) claims: ledger_n01_streak (their stop) where it ran, else course_inits."""
    if t.read("ledger_n01_streak", "summary") is not None:
        return "ledger_n01_streak", f"{COURSE}; N(0, 1) weights; stop after 50 all-correct training batches; 5 seeds"
    return "course_inits", (f"{COURSE}; N(0, 1) weights; 5 seeds; capacity search; without the report's stop after "
                            "50 all-correct batches (ledger_n01_streak has it)")  # fmt: skip


def where(study: str, model: str) -> dict[str, str]:
    return {"model.name": model} | ({"init.name": "standard_normal"} if study == "course_inits" else {})


def c13(t: Tables) -> Finding:
    study, setting = n01_study(t)
    rows = t.read(study, "summary", **where(study, "rnn"))
    if rows is None or rows.empty:
        return open_finding(setting, LEDGER_RUNS, study)
    by_length = rows.set_index("data.length")["mean"]
    at5, at10 = by_length.get(5), by_length.get(10)
    beyond = by_length[by_length.index > 10]
    near_20 = beyond.map(lambda mean: about(mean, 0.2))
    ok_beyond = not beyond.empty and bool(near_20.all())  # decided per length
    verdict = verdict_of(at5 is not None and at5 >= 0.99, about(at10, 0.4), ok_beyond)
    why = ", ".join(f"L = {length}: {mean:.2f}" for length, mean in by_length.items())
    why += (f"; beyond L = 10 around 0.2 (within {ABOUT:.0%}) at {int(near_20.sum())} of {len(beyond)} lengths, "
            f"{beyond.mean():.2f} on average (chance: 0.10)" if not beyond.empty
            else "; L > 10 not tested (the capacity search stopped at the first failure)")  # fmt: skip
    return Finding(setting, verdict, f"RNN mean held-out accuracy over seeds, {why}", study)


def c14(t: Tables) -> Finding:
    study, setting = n01_study(t)
    row = t.row(study, "memory_capacity", **where(study, "lstm"))
    if row is None:
        return open_finding(setting, LEDGER_RUNS, study)
    solved = solved_by_length(row)
    up_to_15 = all(k == n for length, (k, n) in solved.items() if length <= 15)
    high_20 = solved.get(20, (0, 1))[0] > 0
    verdict = "confirmed" if up_to_15 and high_20 else "partly" if up_to_15 else "refuted"
    return Finding(setting, verdict, f"LSTM {capacity_text(row)}; {counts(solved, [5, 10, 15, 20, 25])}", study)


def c15(t: Tables) -> Finding:
    """The report's "about 2.5x the effort", measured as steps trained until the stop and as seconds of training, on
    the lengths where the rule stopped both cells' median run (a run the budget ended shows the budget, not the
    rule's effort); the report does not say which it measured, so one of the two about 2.5x makes it partly."""
    study, setting = n01_study(t)
    setting += "; effort: steps trained until the stop, and seconds of training (one thread per run)"
    rows = t.read(study, "convergence") if study == "ledger_n01_streak" else None
    if rows is None or rows.empty:
        return open_finding(setting, LEDGER_RUNS + " (ledger_n01_streak)", "ledger_n01_streak")
    stopped = rows[rows["median_steps_trained"] < rows["budget"]]  # the rule, not the budget, ended the median run
    lengths = sorted(set.intersection(*(set(stopped.loc[stopped["model.name"] == m, "data.length"])
                                        for m in ("lstm", "rnn"))))  # fmt: skip
    at_budget = rows[rows["median_steps_trained"] >= rows["budget"]]
    budget_bound = {m: int((at_budget["model.name"] == m).sum()) for m in ("lstm", "rnn")}
    counted = (
        f"{budget_bound['lstm']} of the LSTM's and {budget_bound['rnn']} of the RNN's lengths ran the whole budget"
    )
    if not lengths:
        return Finding(setting, INCONCLUSIVE, f"no length where the rule stopped both cells ({counted})", study)
    effort = stopped[stopped["data.length"].isin(lengths)].groupby("model.name")[
        ["median_steps_trained", "median_train_s"]].mean()  # fmt: skip
    steps, seconds = effort.loc["lstm"] / effort.loc["rnn"]
    verdict = verdict_of(about(steps, 2.5), about(seconds, 2.5))
    trained, timed = effort["median_steps_trained"], effort["median_train_s"]
    why = (f"LSTM / RNN where the rule stopped both cells (L = {', '.join(map(str, lengths))}; {counted}, so their "
           f"effort is the budget's, not the rule's): steps trained {steps:.2f}x (LSTM {trained['lstm']:,.0f}, RNN "
           f"{trained['rnn']:,.0f}), seconds of training {seconds:.2f}x (LSTM {timed['lstm']:.1f} s, RNN "
           f"{timed['rnn']:.1f} s)")  # fmt: skip
    return Finding(setting, verdict, why, study)


TEXT_MODEL = "2 x 128 LSTM, sequences of 30, batch 64"
CLOSE = 0.1  # a reported number is reproduced when seqlab's is within 10% of it


def text_study(t: Tables) -> tuple[str, str]:
    """(study, training) of the text claims: ledger_text (report 000's setting) where it ran, else text_course."""
    if t.read("ledger_text", "runs") is not None:
        return "ledger_text", "Adam lr 1e-3, 100,000 steps"
    return "text_course", ("RMSprop lr 2e-3 decayed by 0.96 every 5,000 steps, clip 5, 100,000 steps (report 000: "
                           "Adam 1e-3; 001: RMSprop, about 20 epochs; ledger_text runs 000's)")  # fmt: skip


def seeds_count(n: int) -> str:
    return f"{n} seed{'s' * (n != 1)}"


def seeds_text(values: pd.Series) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


TEXT_001 = "ledger_text_rmsprop"  # C16 at report 001's setting
TEXT_001_TRAINING = ("RMSprop lr 2e-3 decayed by 0.96 every 5,000 steps, clip 5, 168,840 steps (20 passes of the "
                     "course loader over the book)")  # fmt: skip


def text_closeness(runs: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """(close, evidence): per seed, whether its lowest batch loss and best batch accuracy are both within CLOSE of
    the reported 0.94 and 0.70; None where the runs predate min_train_loss."""
    runs = runs.set_index("seed").sort_index()
    if "min_train_loss" not in runs or runs["min_train_loss"].isna().any():
        return None
    loss, accuracy = runs["min_train_loss"], runs["best_train_accuracy"]
    close = ((loss - 0.94).abs() <= CLOSE * 0.94) & ((accuracy - 0.70).abs() <= CLOSE * 0.70)
    return close, (f"{int(close.sum())} of {len(runs)} seeds within {CLOSE:.0%} of both (0.94, 0.70): lowest batch "
                   f"loss {seeds_text(loss)}, best batch accuracy {seeds_text(accuracy)}; held-out bits per character "
                   f"{seeds_text(runs['eval_bpc'])}")  # fmt: skip


def c16(t: Tables) -> Finding:
    """Report 000's setting (text_study), and report 001's (TEXT_001) where it ran: confirmed where every seed of
    every setting run is close, refuted where none is."""
    study, training = text_study(t)
    runs = t.read(study, "runs")
    setting = f"{TEXT_MODEL}, {training}; the lowest loss and the best accuracy of a single training batch"
    if runs is None or runs.empty:
        return open_finding(setting, LEDGER_RUNS + " (ledger_text)", "ledger_text")
    n = runs["seed"].nunique()
    setting = f"{setting}; {seeds_count(n)}"
    found = text_closeness(runs)
    if found is None:  # runs from before result.json had min_train_loss
        runs = runs.set_index("seed").sort_index()
        accuracy = runs["best_train_accuracy"]
        bound = t.read(study, "curves").groupby("seed")["train_loss"].min().reindex(runs.index)
        accurate = int(((accuracy - 0.70).abs() <= CLOSE * 0.70).sum())
        why = (f"best batch accuracy {seeds_text(accuracy)} ({accurate} of {n} within {CLOSE:.0%} of 0.70); the "
               f"lowest batch loss is not recorded (the runs predate min_train_loss), only that it is at most the "
               f"lowest mean of 100 batches, {seeds_text(bound)}; held-out bits per character "
               f"{seeds_text(runs['eval_bpc'])}")  # fmt: skip
        return Finding(setting, "open", why, study)
    results = {"000": found}
    other = t.read(TEXT_001, "runs") if study == "ledger_text" else None
    if other is not None and not other.empty and (found_001 := text_closeness(other)) is not None:
        setting += f"; and report 001's: {TEXT_001_TRAINING}, {seeds_count(len(found_001[0]))}"
        results["001"] = found_001
    if len(results) > 1:
        why = "; ".join(f"report {report}'s setting: {evidence}" for report, (_, evidence) in results.items())
    else:
        why = (f"{found[1]}; report 001's setting ({TEXT_001_TRAINING}) not run yet: `+experiment={TEXT_001}`, "
               "1-3 core-hours a seed")  # fmt: skip
    verdict = verdict_of(*(close for seeds, _ in results.values() for close in seeds))  # every seed of every setting
    return Finding(setting, verdict, why, study)


UNCALIBRATED_NOISE = 0.5  # without the book's baselines: a sample is noise under half of its words the book's


def noise_bar(baselines: pd.DataFrame | None) -> tuple[float, str]:
    """The fraction of book words up to which a sample is noise, and how it was set: the NOISE_PERCENTILE of texts
    drawn from the book's character pairs (`sample_words.baselines`, the study's sample_baselines table), else
    UNCALIBRATED_NOISE, said to be uncalibrated."""
    if baselines is None or sample_words.NOISE_BAR not in set(baselines["baseline"]):
        return UNCALIBRATED_NOISE, f"noise: under {UNCALIBRATED_NOISE:.0%} book words, a cut-off not calibrated here"
    summary = sample_words.baseline_summary(baselines).set_index("baseline")
    bar = float(summary.loc[sample_words.NOISE_BAR, sample_words.NOISE_COLUMN])
    others = "; ".join(f"{name}: {row['real words, mean']:.2f}" for name, row in summary.iterrows())
    return bar, (f"noise: no more book words than the {sample_words.NOISE_PERCENTILE}th percentile of texts drawn "
                 f"from the book's own {sample_words.NOISE_BAR}, {bar:.2f}; their mean book words - "
                 f"{others}")  # fmt: skip


def c17(t: Tables) -> Finding:
    study, training = text_study(t)
    scores = t.read(study, "sample_words")
    setting = (f"{TEXT_MODEL}, {training}; 200-character samples at temperatures 0, 0.5, 1, 2 every 2,000 steps; "
               "plausible: the fraction of a sample's words that are words of the book")  # fmt: skip
    if scores is None or scores.empty:
        return open_finding(setting, LEDGER_RUNS + " (ledger_text; scoring the samples needs the book at "
                            "data.path: python -m seqlab.prepare grimm)", "ledger_text")  # fmt: skip
    table = by_temperature(scores, ["seed"]).set_index(["seed", "temperature"])
    first, last, distinct = (table[c] for c in table.columns)
    bar, calibration = noise_bar(t.read(study, "sample_baselines"))
    sampled = [0.5, 1.0, 2.0]
    improves, plausible, noise = [], [], []
    for seed in table.index.unique("seed"):
        improves.append(last[seed].loc[sampled].mean() > first[seed].loc[sampled].mean())
        plausible.append(last[seed][0.5] >= last[seed].loc[sampled].max() and distinct[seed][0.0] < distinct[seed][0.5])
        noise.append(last[seed][2.0] <= bar)
    n = len(improves)
    mean_last = last.groupby("temperature").mean()
    mean_distinct = distinct.groupby("temperature").mean()
    why = (f"improves with training: {sum(improves)} of {n} seeds (words of the book at T = 0.5, 1, 2: "
           f"{first.loc[:, sampled].mean():.2f} at the first sample, {last.loc[:, sampled].mean():.2f} over the last "
           f"{LAST_STEPS}); T = 0.5 the most plausible: {sum(plausible)} of {n} (the most book words of 0.5, 1, 2; "
           f"greedy loops: fewer distinct words); T = 2 noise: {sum(noise)} of {n} ({calibration}). Over the last "
           "samples, book words at T = 0 / 0.5 / 1 / 2: "
           + " / ".join(f"{mean_last[x]:.2f}" for x in [0.0, *sampled])
           + "; distinct words: " + " / ".join(f"{mean_distinct[x]:.2f}" for x in [0.0, *sampled]))  # fmt: skip
    verdict = verdict_of(all(improves), all(plausible), all(noise))
    return Finding(f"{setting}; {seeds_count(n)}", verdict, why, study)


SCORES = (
    "Each row scores runs as its report did and says which. Reports 000 and 001 read accuracy at the end of "
    f"training, so C1-C3 and C5-C7 are decided on {FINAL}: perfect at >= {PERFECT}, a length learned while the "
    f"mean is at least {LEARNED:.2f} (halfway from chance, {CHANCE}, to 1; a length only one seed of a capacity "
    "search reached does not decide where it drops), one cell above another where their 95% bootstrap intervals "
    f"over seeds are apart; beside it, the capacity search's score (ever solved: a held-out evaluation >= {PERFECT}"
    "). C4 reads the last training batches and C9 the best training batch, as their reports did."
)

CPU_MODELS = (
    "A row whose studies ran on different CPU models names which ran on which: a run repeats exactly on one CPU "
    "model, not across models (the vanilla RNN past L = 10 differs; see the notes)."
)

TOLERANCES = (
    f'Tolerances: a claimed "about x" holds when seqlab\'s number is within {ABOUT:.0%} of x (C2, C3, C9, C13, '
    "C15: the reports give one run's number, often read off a plot, so the tolerance must allow for one run's "
    "spread, yet it still tells chance, 0.1, from 0.2, and a capacity of 20 from 35); a reported measurement is "
    f"reproduced within {CLOSE:.0%} of it (C16: numbers the report gives to two digits, measured as seqlab measures "
    "them); a sample is noise (C17) when it has no more words of the book than the "
    f"{sample_words.NOISE_PERCENTILE}th percentile of texts drawn from the book's own "
    f"{sample_words.NOISE_BAR} (noise that "
    "knows the book's spelling statistics; `multirun_analysis/sample_words.py`), or, where that calibration is not "
    f"in the study's tables, under {UNCALIBRATED_NOISE:.0%}, said so in the row."
)

CLAIMS: dict[str, Callable[[Tables], Finding]] = {
    "C1": c1, "C2": c2, "C3": c3, "C4": c4, "C5": c5, "C6": c6, "C7": c7, "C8": c8, "C9": c9, "C10": c10,
    "C11": c11, "C12": c12, "C13": c13, "C14": c14, "C15": c15, "C16": c16, "C17": c17,
}  # fmt: skip


def read_claims(path: Path) -> pd.DataFrame:
    """docs/claims.md's table: id, report, claim, setting as stated."""
    rows = [line.strip().strip("|").split("|") for line in path.read_text().splitlines()
            if re.match(r"\|\s*C\d+\s*\|", line)]  # fmt: skip
    return pd.DataFrame([[cell.strip() for cell in row] for row in rows],
                        columns=["id", "report", "claim", "setting as stated"])  # fmt: skip


def ledger(docs: Path, anchors: dict[str, str]) -> pd.DataFrame:
    """One row per claim: id, report, claim, seqlab's setting, verdict, why (the number, k of n), and the section
    it comes from (`anchors`: study -> link); also written to docs/results/ledger.csv."""
    tables = Tables(docs / "results")
    rows = []
    for claim in read_claims(docs / "claims.md").to_dict("records"):
        tables.studies_read.clear()
        found = CLAIMS[claim["id"]](tables)
        found.setting += across_processors(tables.results, tables.studies_read)
        source = f"[{found.study}]({anchors[found.study]})" if found.study in anchors else (found.study or "")
        rows.append({"id": claim["id"], "report": claim["report"], "claim": claim["claim"],
                     "seqlab's setting": found.setting, "verdict": found.verdict, "seqlab's number": found.why,
                     "section": source})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(docs / "results" / "ledger.csv", index=False)
    return table
