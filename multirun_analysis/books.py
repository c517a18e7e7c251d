"""The books text runs trained on, kept beside their records by sha256, so that their samples are scored
(`sample_words`) wherever the results page is rebuilt, a fresh clone included.

A run records its book as data.path (read relative to the working directory it was launched from) and data.digest
(the file's sha256). `carry` copies each book a sweep's completed runs trained on into a store folder
(docs/results/books/) as `<sha256>.txt.gz`, written once and byte-for-byte the same on every machine; `text` finds a
book at data.path or, by its digest, in the stores. Only a book inside the working directory is carried (a relative
data.path without `..` and without a link on the way) and only when its bytes have the digest the runs recorded:
nothing from outside the checkout is read into the repository, and a stored book is used only when its bytes hash to
its name.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

from multirun_analysis.records import completed_result
from seqlab import rundir
from seqlab.data.corpus import decode, read_corpus
from seqlab.errors import ConfigError

STORE = "books"  # docs/results/books/: the books the published text studies trained on
DIGEST = re.compile(r"[0-9a-f]{64}")  # a sha256, as data.digest records it


def stored(store: Path, digest: str) -> Path | None:
    """Where the book with sha256 `digest` is kept in `store`; None when `digest` is not a sha256 (a config's
    value never names a path)."""
    return store / f"{digest}.txt.gz" if DIGEST.fullmatch(digest) else None


def inside_working_directory(path: str) -> Path | None:
    """`path` resolved, when it is a relative path that stays inside the working directory with no link on the way;
    else None."""
    given = Path(path)
    if given.is_absolute() or ".." in given.parts:
        return None
    plain = Path.cwd().resolve() / given
    return plain if plain.resolve() == plain else None


def carry(sweep: Path, store: Path) -> list[str]:
    """Copy into `store` each book (data.path, data.digest) that a completed run under `sweep` trained on and that is
    inside the working directory with that digest, unless already there; the digests newly stored."""
    added = []
    for path, digest in sorted(trained_on(sweep)):
        target, source = stored(store, digest), inside_working_directory(path)
        if target is None or target.exists() or source is None or not source.is_file():
            continue
        raw = source.read_bytes()
        if hashlib.sha256(raw).hexdigest() != digest:
            continue
        store.mkdir(parents=True, exist_ok=True)
        rundir.atomic_write(target, lambda f, raw=raw: f.write(gzip.compress(raw, compresslevel=9, mtime=0)))
        added.append(digest)
    return added


def trained_on(sweep: Path) -> set[tuple[str, str]]:
    """The (data.path, data.digest) pairs of the completed runs under `sweep` that trained on a book."""
    pairs = set()
    for run_dir in rundir.find_run_dirs(sweep):
        if (result := completed_result(run_dir)) is None:
            continue
        config = rundir.result_config(result)
        path, digest = config.get("data.path"), config.get("data.digest")
        if isinstance(path, str) and isinstance(digest, str) and path:
            pairs.add((path, digest))
    return pairs


def text(path: str | Path, digest: str, stores: Sequence[Path] = ()) -> str | None:
    """The text of the book the runs trained on: the file at `path` when its sha256 is `digest`, else the one kept
    under that digest in one of `stores`; None when neither is here."""
    try:
        corpus = read_corpus(path)
    except ConfigError:
        corpus = None
    if corpus is not None and corpus.digest == digest:
        return corpus.text
    for store in stores:
        kept = stored(store, digest)
        if kept is None or kept.is_symlink() or not kept.is_file():
            continue
        try:
            raw = gzip.decompress(kept.read_bytes())
        except (OSError, EOFError, zlib.error):  # not a gzip file, or a cut one
            continue
        if hashlib.sha256(raw).hexdigest() == digest:
            return decode(raw, kept, str(path)).text
    return None
