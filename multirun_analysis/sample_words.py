"""How much of a generated sample is the book's own words: a number for "plausible text" (claim C17).

A sample's words are its runs of letters, lowercased. `real_words` is the fraction of them that occur in the book
the run trained on; `distinct_words` the fraction of them that are distinct (a greedy sample that loops over one
phrase scores low). A sample of 200 characters holds about 40 words, so one sample is noisy: the ledger averages
several sampled steps.

What a fraction means is calibrated against texts drawn from the book itself (`baselines`): its characters drawn
independently by their frequencies, a chain of its character pairs (each character drawn by the frequencies of
what follows the last in the book), and its words in random order. Short words come up by chance (`a`, `he`, `the`),
so noise scores well above zero: the pairs' chain is the bar a sample must clear to be more than noise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from multirun_analysis import books

WORD = re.compile(r"[^\W\d_]+")  # a run of letters, in any script
LAST_STEPS = 5  # sampled steps averaged for "at the end of training" (every 2,000 steps: the last 10,000)
SUMMARY = (
    f"Per temperature, mean over runs: the fraction of a sample's words (runs of letters) that are words of the "
    f"book, at the first sampled step and over the last {LAST_STEPS}, and the fraction that are distinct (a greedy "
    "sample that loops scores low); per sample in sample_words.csv."
)


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


BASELINES = {  # name -> how its texts are drawn from the book
    "characters": "the book's characters drawn independently, by their frequencies",
    "character pairs": "a chain of the book's character pairs: each character by what follows the last in the book",
    "shuffled words": "the book's words (runs between spaces) drawn at random, joined by spaces",
}
BASELINE_SAMPLES = 200  # texts per baseline: their 5-95% range is the spread one sample of the model's can show
NOISE_BAR = "character pairs"  # a sample is more than noise when it has more book words than this baseline's 95th
NOISE_PERCENTILE = 95  # percentile: noise drawn from the book's own character statistics rarely reaches it
NOISE_COLUMN = f"real words, {NOISE_PERCENTILE}th percentile"


def baselines(text: str, length: int, samples: int = BASELINE_SAMPLES, seed: int = 0) -> pd.DataFrame:
    """`samples` texts of `length` characters per BASELINES entry, drawn from the book `text` (seeded), scored as
    the model's samples are: columns baseline, sample, words, real_words, distinct_words."""
    rng = np.random.default_rng(seed)
    symbols = np.array(sorted(set(text)))
    codes = np.searchsorted(symbols, np.array(list(text)))
    frequency = np.bincount(codes, minlength=len(symbols)) / len(codes)
    follows = np.zeros((len(symbols), len(symbols)))
    np.add.at(follows, (codes[:-1], codes[1:]), 1)
    follows[follows.sum(axis=1) == 0] = frequency  # the book's last character, if nothing follows it elsewhere
    follows /= follows.sum(axis=1, keepdims=True)
    tokens = text.split()

    def chain() -> str:
        drawn = [rng.choice(len(symbols), p=frequency)]
        for _ in range(length - 1):
            drawn.append(rng.choice(len(symbols), p=follows[drawn[-1]]))
        return "".join(symbols[drawn])

    draw = {"characters": lambda: "".join(rng.choice(symbols, length, p=frequency)),
            "character pairs": chain,
            "shuffled words": lambda: " ".join(rng.choice(tokens, length))[:length]}  # fmt: skip
    texts = pd.DataFrame([{"baseline": name, "sample": k, "text": draw[name]()} for name in BASELINES
                          for k in range(samples)])  # fmt: skip
    book = set(words_of(text))
    return sample_words(texts, book)


def book_baselines(runs: pd.DataFrame, stores: Sequence[Path] = ()) -> pd.DataFrame | None:
    """The `baselines` (a `data.path` column added) of each book the runs (`data.path`, `data.digest`,
    `data.sample_length`) trained on that is here as they trained on it (`books.text`: at data.path, or kept in one
    of `stores`); None where none is."""
    trained = runs[["data.path", "data.digest", "data.sample_length"]].drop_duplicates(["data.path", "data.digest"])
    drawn = [baselines(text, int(length)).assign(**{"data.path": path})
             for path, digest, length in trained.itertuples(index=False)
             if (text := books.text(path, digest, stores)) is not None]  # fmt: skip
    return pd.concat(drawn, ignore_index=True) if drawn else None


BASELINES_TEXT = (
    f"What these fractions mean: {BASELINE_SAMPLES} texts of the samples' length drawn from the book itself per "
    "baseline (" + "; ".join(f"{name}: {how}" for name, how in BASELINES.items()) + "), scored the same way "
    "(sample_baselines.csv)."
)


def baseline_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per baseline (a `baselines` table): the mean fraction of book words, its 5th and 95th percentiles over the
    texts, and the mean fraction of distinct words."""
    grouped = table.groupby("baseline", sort=False)
    return pd.DataFrame({
        "real words, mean": grouped["real_words"].mean(),
        "real words, 5th percentile": grouped["real_words"].quantile(0.05),
        NOISE_COLUMN: grouped["real_words"].quantile(NOISE_PERCENTILE / 100),
        "distinct words, mean": grouped["distinct_words"].mean(),
    }).reset_index()  # fmt: skip


def sample_words(samples: pd.DataFrame, words: set[str]) -> pd.DataFrame:
    """`samples` (a `text` column) with `words` (how many), `real_words` and `distinct_words` (fractions; NaN for a
    sample without words), the text itself dropped."""
    found = samples["text"].map(words_of)
    count = found.map(len)
    real = found.map(lambda ws: sum(w in words for w in ws))
    distinct = found.map(lambda ws: len(set(ws)))
    per_word = count.where(count > 0)
    return samples.drop(columns=["text", "prompt"], errors="ignore").assign(
        words=count, real_words=real / per_word, distinct_words=distinct / per_word
    )


def score(
    samples: pd.DataFrame, runs: pd.DataFrame, stores: Sequence[Path] = ()
) -> tuple[pd.DataFrame | None, list[str]]:
    """`sample_words` of the samples (a `run_dir` column) of the runs (`run_dir`, `data.path`, `data.digest`) whose
    book is here as they trained on it (`books.text`: at data.path, or kept in one of `stores`), or None; and the
    books that are not."""
    scored, missing = [], []
    for (path, digest), group in runs.groupby(["data.path", "data.digest"]):
        text = books.text(path, digest, stores)
        if text is None:
            missing.append(str(path))
        else:
            scored.append(sample_words(samples[samples["run_dir"].isin(group["run_dir"])], set(words_of(text))))
    return (pd.concat(scored) if scored else None), missing


def summary_by_temperature(scores: pd.DataFrame) -> pd.DataFrame:
    """`by_temperature` per run, then its mean over runs: one row per temperature."""
    return by_temperature(scores, ["run_dir"]).groupby("temperature").mean(numeric_only=True).reset_index()


def by_temperature(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys` and temperature, from a sample_words table: the real-word fraction at the first sampled step, and
    the real-word and distinct-word fractions averaged over the last LAST_STEPS sampled steps."""
    rows = []
    for key, group in table.groupby([*keys, "temperature"], sort=True):
        steps = sorted(group["step"].unique())
        first, last = group[group["step"] == steps[0]], group[group["step"].isin(steps[-LAST_STEPS:])]
        rows.append({**dict(zip([*keys, "temperature"], key, strict=True)),
                     "real words, first step": first["real_words"].mean(),
                     f"real words, last {LAST_STEPS} steps": last["real_words"].mean(),
                     f"distinct words, last {LAST_STEPS} steps": last["distinct_words"].mean()})  # fmt: skip
    return pd.DataFrame(rows)
