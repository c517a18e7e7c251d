"""The books text runs trained on, carried beside their records by sha256: what is carried, what is refused, and a
text study rebuilt from its records in a fresh clone scoring its samples from the carried book."""

import gzip
import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import text_args, write_corpus

from multirun_analysis import books
from multirun_analysis.sample_words import score
from seqlab import rundir
from seqlab.train import train


def completed_run(run_dir: Path, path: str, digest: str, status: str = "completed") -> None:
    """A run directory (completed by default) whose result names the book (data.path, data.digest) it trained on."""
    run_dir.mkdir(parents=True)
    config = {"data.name": "text", "data.path": path, "data.digest": digest}
    rundir.write_result(run_dir, {"status": status, "config": config})


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> tuple[Path, str]:
    """A working directory holding data/book.txt; the book's sha256."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    book = write_corpus(tmp_path / "data" / "book.txt", characters=800)
    return book, hashlib.sha256(book.read_bytes()).hexdigest()


def test_a_book_is_carried_once_by_its_digest_and_found_when_data_path_has_gone(checkout, tmp_path):
    book, digest = checkout
    completed_run(tmp_path / "sweep" / "seed=1", "data/book.txt", digest)
    completed_run(tmp_path / "sweep" / "seed=2", "data/book.txt", digest)
    store = tmp_path / "store"
    assert books.carry(tmp_path / "sweep", store) == [digest]
    kept = store / f"{digest}.txt.gz"
    assert gzip.decompress(kept.read_bytes()) == book.read_bytes()
    first = kept.read_bytes()
    kept.unlink()
    assert books.carry(tmp_path / "sweep", store) == [digest] and kept.read_bytes() == first  # the same bytes
    assert books.carry(tmp_path / "sweep", store) == []  # already kept
    text = book.read_text()
    book.unlink()
    assert books.text("data/book.txt", digest) is None
    assert books.text("data/book.txt", digest, [store]) == text


@pytest.mark.parametrize("given", ["outside", "absolute", "dotdot", "link", "other digest", "running"])
def test_nothing_outside_the_checkout_and_nothing_unverified_is_carried(checkout, tmp_path, given):
    book, digest = checkout
    outside = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    outside.write_text("a secret someone knows the hash of")
    secret = hashlib.sha256(outside.read_bytes()).hexdigest()
    (tmp_path / "linked").symlink_to(outside)
    path, recorded, status = {
        "outside": (f"../{outside.name}", secret, "completed"),
        "absolute": (str(outside), secret, "completed"),
        "dotdot": (f"data/../../{outside.name}", secret, "completed"),
        "link": ("linked", secret, "completed"),
        "other digest": ("data/book.txt", "0" * 64, "completed"),
        "running": ("data/book.txt", digest, "running"),
    }[given]
    completed_run(tmp_path / "sweep" / "seed=1", path, recorded, status)
    assert books.carry(tmp_path / "sweep", tmp_path / "store") == []
    assert not (tmp_path / "store").exists()
    outside.unlink()


def test_a_kept_book_is_used_only_when_its_bytes_hash_to_its_name(checkout, tmp_path):
    book, digest = checkout
    store = tmp_path / "store"
    store.mkdir()
    (store / f"{digest}.txt.gz").write_bytes(gzip.compress(b"another text", mtime=0))
    assert books.text("gone.txt", digest, [store]) is None
    (store / f"{digest}.txt.gz").write_bytes(b"not gzip")
    assert books.text("gone.txt", digest, [store]) is None
    (store / f"{digest}.txt.gz").unlink()
    (store / f"{digest}.txt.gz").symlink_to(book)
    assert books.text("gone.txt", digest, [store]) is None
    assert books.text("gone.txt", "../store/x", [store]) is None  # a digest never names a path


def test_samples_are_scored_from_a_kept_book(checkout, tmp_path):
    book, digest = checkout
    completed_run(tmp_path / "sweep" / "a", "data/book.txt", digest)
    books.carry(tmp_path / "sweep", tmp_path / "store")
    word = book.read_text().split()[0].lower().strip(".")
    book.unlink()
    samples = pd.DataFrame({"run_dir": ["a"], "step": 1, "temperature": 0.0, "prompt": "", "text": f"{word} qzx"})
    runs = pd.DataFrame({"run_dir": ["a"], "data.path": ["data/book.txt"], "data.digest": [digest]})
    assert score(samples, runs)[0] is None
    scores, missing = score(samples, runs, [tmp_path / "store"])
    assert list(scores["real_words"]) == [0.5] and missing == []


def test_a_text_study_rebuilt_from_its_records_scores_its_samples_from_the_carried_book(make_cfg, checkout, tmp_path):
    from multirun_analysis.results_page import main as results_page

    book, digest = checkout
    write_corpus(book)  # long enough for a held-out part
    digest = hashlib.sha256(book.read_bytes()).hexdigest()
    sweep = tmp_path / "multirun" / "text_course"
    train(make_cfg(*text_args(Path("data/book.txt"), "train.max_steps=20")), sweep / "seed=1")
    assert results_page(["--runs", "multirun", "--docs", "docs"]) == 0
    page = Path("docs/results.md").read_text()
    assert "Words in the samples" in page and Path(f"docs/results/books/{digest}.txt.gz").exists()
    shutil.rmtree("multirun")  # a fresh clone: no run directories and no book at data.path, the records and the store
    book.unlink()
    shutil.rmtree("docs/results/text_course")
    assert results_page(["--runs", "multirun", "--docs", "docs"]) == 0
    assert Path("docs/results.md").read_text() == page
    assert Path("docs/results/text_course/sample_words.csv").exists()
