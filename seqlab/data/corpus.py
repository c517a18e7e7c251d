"""A text corpus: read from any UTF-8 file, checked, and split into a training part and a held-out part.

No torch here: the sweeper reads a corpus's digest before it launches a run. Line ends are normalised to "\\n" (a
"\\r\\n" file and its "\\n" twin are the same text) and a byte-order mark is dropped; the digest is of the file's bytes.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from seqlab.errors import ConfigError

DIGEST_AUTO = "auto"  # data.digest before the run resolves it to the corpus file's sha256


@dataclass(frozen=True)
class Corpus:
    """A corpus's text, the sha256 of its file, and its vocabulary: its distinct characters in code-point order."""

    path: Path
    text: str
    digest: str

    @functools.cached_property
    def symbols(self) -> str:
        return "".join(sorted(set(self.text)))

    def split_point(self, heldout_fraction: float) -> int:
        """Where the held-out part begins: the last `heldout_fraction` of the characters are held out."""
        return len(self.text) - int(len(self.text) * heldout_fraction)


def read_corpus(path: str | Path) -> Corpus:
    """The corpus at `path` (as data.path gives it; relative to the working directory); a one-line ConfigError
    naming data.path when the file is missing, empty or not UTF-8."""
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError as error:
        raise ConfigError(f"data.path={str(path)!r} is invalid: {error.strerror.lower()}; prepare a corpus with "
                          "`python -m seqlab.prepare grimm`, or give any UTF-8 text file") from None  # fmt: skip
    if not resolved.is_file():
        raise ConfigError(f"data.path={str(path)!r} is invalid: not a file (expected a UTF-8 text file)")
    return _read(resolved, stat.st_mtime_ns, stat.st_size, str(path))


@functools.lru_cache(maxsize=4)
def _read(path: Path, mtime_ns: int, size: int, given: str) -> Corpus:
    """Read and decode once per file version (the config check and the run both ask)."""
    return decode(path.read_bytes(), path, given)


def decode(raw: bytes, path: Path, given: str) -> Corpus:
    """The corpus whose file holds `raw` (its text decoded, line ends normalised, its sha256); a one-line ConfigError
    naming data.path=`given` when it is not UTF-8 or is empty."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"data.path={given!r} is invalid: not UTF-8 text (byte {error.start} is "
                          f"{raw[error.start]:#04x}); convert it, e.g. iconv -t UTF-8") from None  # fmt: skip
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise ConfigError(f"data.path={given!r} is invalid: the file is empty (expected a UTF-8 text file)")
    return Corpus(path, text, hashlib.sha256(raw).hexdigest())


def check_split(corpus: Corpus, given_path: str, seq_length: int, heldout_fraction: float) -> None:
    """A one-line ConfigError when either part is shorter than one sequence of `seq_length` inputs and their targets."""
    cut = corpus.split_point(heldout_fraction)
    parts = {"training": cut, "held-out": len(corpus.text) - cut}
    if min(parts.values()) < seq_length + 1:
        raise ConfigError(
            f"data.path={given_path!r} is too short for data.seq_length={seq_length}: its {len(corpus.text):,} "
            f"characters split into {parts['training']:,} for training and {parts['held-out']:,} held out "
            f"(data.heldout_fraction={heldout_fraction}), and each part needs at least data.seq_length + 1 = "
            f"{seq_length + 1}; use a longer text or a shorter data.seq_length"
        )


def resolve_digest(path: str, digest: str) -> str:
    """data.digest as the run records it: `auto` becomes the file's sha256; a given digest must match the file."""
    actual = read_corpus(path).digest
    if digest not in (DIGEST_AUTO, actual):
        raise ConfigError(f"data.digest={digest!r} is invalid: data.path={path!r} now has sha256 {actual} (the file "
                          "changed since that digest was taken); expected auto or that digest")  # fmt: skip
    return actual
