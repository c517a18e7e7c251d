"""How much of a generated sample is the book's own words: a number for "plausible text" (claim C17).

A sample's words are its runs of letters, lowercased. `real_words` is the fraction of them that occur in the book
the run trained on; `distinct_words` the fraction of them that are distinct (a greedy sample that loops over one
phrase scores low). A sample of 200 characters holds about 40 words, so one sample is noisy: the ledger averages
several sampled steps.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from seqlab.data.corpus import read_corpus
from seqlab.errors import ConfigError

WORD = re.compile(r"[^\W\d_]+")  # a run of letters, in any script
LAST_STEPS = 5  # sampled steps averaged for "at the end of training" (every 2,000 steps: the last 10,000)
SUMMARY = (
    f"Per temperature, mean over runs: the fraction of a sample's words (runs of letters) that are words of the "
    f"book, at the first sampled step and over the last {LAST_STEPS}, and the fraction that are distinct (a greedy "
    "sample that loops scores low); per sample in sample_words.csv."
)


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def book_words(path: str | Path, digest: str) -> set[str] | None:
    """The distinct words of the corpus at `path`, or None when it is missing or is not the file the runs trained on
    (its sha256 differs from `digest`, the runs' data.digest)."""
    try:
        corpus = read_corpus(path)
    except ConfigError:
        return None
    return set(words_of(corpus.text)) if corpus.digest == digest else None


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


def score(samples: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame | None, list[str]]:
    """`sample_words` of the samples (a `run_dir` column) of the runs (`run_dir`, `data.path`, `data.digest`) whose
    book is here as they trained on it, or None; and the books that are not."""
    scored, missing = [], []
    for (path, digest), group in runs.groupby(["data.path", "data.digest"]):
        words = book_words(path, digest)
        if words is None:
            missing.append(str(path))
        else:
            scored.append(sample_words(samples[samples["run_dir"].isin(group["run_dir"])], words))
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
