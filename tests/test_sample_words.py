"""Scoring generated text by the book's words (claim C17): exact fractions on hand-made samples."""

import hashlib

import pandas as pd
import pytest

from multirun_analysis.books import text as book_text
from multirun_analysis.sample_words import (
    baseline_summary,
    baselines,
    by_temperature,
    sample_words,
    score,
    words_of,
)


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("Once upon a time the king's daughter said: 'Ach, Frau Holle!'\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_words_are_runs_of_letters_lowercased():
    assert words_of("The king's 3 sons, Ärger!\nsaid") == ["the", "king", "s", "sons", "ärger", "said"]


def test_the_book_is_used_only_when_it_is_the_file_the_runs_trained_on(book, tmp_path):
    path, digest = book
    assert set(words_of(book_text(path, digest))) == set(words_of(path.read_text()))
    assert book_text(path, "0" * 64) is None and book_text(tmp_path / "gone.txt", digest) is None


def test_fractions_of_real_and_distinct_words(book):
    path, digest = book
    samples = pd.DataFrame({"run_dir": "r", "step": 1, "temperature": [0.0, 2.0, 1.0],
                            "prompt": "O", "text": ["the king the king", "xq the zzk upon", "1 2 3"]})  # fmt: skip
    scored = sample_words(samples, set(words_of(book_text(path, digest))))
    assert list(scored["words"]) == [4, 4, 0]
    assert scored["real_words"].tolist()[:2] == [1.0, 0.5] and pd.isna(scored["real_words"].iloc[2])
    assert scored["distinct_words"].tolist()[:2] == [0.5, 1.0]
    assert "text" not in scored and "prompt" not in scored


def test_score_skips_runs_whose_book_is_missing(book, tmp_path):
    path, digest = book
    samples = pd.DataFrame({"run_dir": ["a", "b"], "step": 1, "temperature": 0.0, "prompt": "", "text": "king"})
    runs = pd.DataFrame({"run_dir": ["a", "b"], "data.path": [str(path), str(tmp_path / "gone.txt")],
                         "data.digest": digest})  # fmt: skip
    scores, missing = score(samples, runs)
    assert list(scores["run_dir"]) == ["a"] and missing == [str(tmp_path / "gone.txt")]


def test_by_temperature_compares_the_first_sampled_step_with_the_last_five():
    steps = range(1000, 8000, 1000)  # 7 sampled steps: the first, and the last 5 (3000..7000)
    table = pd.DataFrame({"seed": 1, "temperature": 0.5, "step": list(steps),
                          "real_words": [0.2, 0.9, 0.6, 0.7, 0.8, 0.9, 1.0], "distinct_words": 0.5})  # fmt: skip
    row = by_temperature(table, ["seed"]).iloc[0]
    assert row["real words, first step"] == 0.2 and row["real words, last 5 steps"] == pytest.approx(0.8)
    assert row["distinct words, last 5 steps"] == 0.5


def test_baselines_drawn_from_a_book_score_as_its_statistics_allow():
    """A book that is one word, "ab", over and over: its words shuffled give "ab ab ab" (8 characters): every word
    the book's, a third of them distinct; its character pairs chain deterministically after the first character:
    "ab ab ab" (1), "b ab ab " (b is not a word of it: 2/3 = 0.67 of 3 words) or " ab ab a" (2/3)."""
    table = baselines("ab " * 50, length=8, samples=20)
    assert table.groupby("baseline").size().to_dict() == {"character pairs": 20, "characters": 20,
                                                          "shuffled words": 20}  # fmt: skip
    words = table[table["baseline"] == "shuffled words"]
    assert (words["real_words"] == 1.0).all() and (words["distinct_words"] == 1 / 3).all()
    pairs = table[table["baseline"] == "character pairs"]["real_words"]
    assert set(pairs.round(4)) <= {1.0, 0.6667} and len(set(pairs.round(4))) == 2  # seeded: both starts drawn
    summary = baseline_summary(table).set_index("baseline")
    assert summary.loc["shuffled words", "real words, 95th percentile"] == 1.0
    assert baselines("ab " * 50, 8, 20).equals(table)  # seeded: the same texts again
