"""Bring a text corpus into data/ for the text task (the project ships no book).

    python -m seqlab.prepare grimm                      # download a named public-domain corpus, checked by sha256
    python -m seqlab.prepare grimm --from pg2591.txt     # offline: a copy of it you already have
    python -m seqlab.prepare --from book.txt             # any UTF-8 text file: checked and copied to data/book.txt

Then train on it: `python -m seqlab.run dataset=text data.path=data/<name>.txt` (the text presets default to grimm).
A Project Gutenberg book is kept from its "*** START OF" line to its "*** END OF" line: its header and licence
(18,719 characters at the end of Grimm's file, where the held-out part would be) are not the book.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from seqlab.data.corpus import read_corpus
from seqlab.errors import ConfigError, report
from seqlab.rundir import atomic_write


@dataclass(frozen=True)
class Source:
    """A named public-domain corpus: where to download it and the sha256 of the copy seqlab's results used."""

    url: str
    sha256: str
    about: str
    gutenberg: bool  # a Project Gutenberg file: only the text between its START and END markers is the book


CORPORA = {
    "grimm": Source(
        "https://raw.githubusercontent.com/uvadlc/DL_assignments_2019/master/assignment_2/part2/assets/"
        "book_EN_grimms_fairy_tails.txt",
        "e6439bd511820742e842e21b75e89b394d3809eec82ca56b506c39ff39d4a7d6",
        "Grimms' Fairy Tales (Project Gutenberg eBook 2591), the course's copy; the book alone: 520,868 characters",
        gutenberg=True,
    ),
    "shakespeare": Source(
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "Tiny Shakespeare (char-rnn's excerpt of the works): 1,115,394 characters",
        gutenberg=False,
    ),
}


class PrepareError(Exception):
    """A corpus could not be prepared; the message is one line."""


def download(name: str, url: str, timeout: float = 30.0) -> bytes:
    """The bytes at `url`; a one-line PrepareError saying what to do offline when the network does not allow it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a fixed https URL, or the user's
            return response.read()
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise PrepareError(
            f"could not download {name} from {url} ({reason}); offline? download that address on a machine with "
            f"network access, then run: python -m seqlab.prepare {name} --from FILE (or train on any UTF-8 text "
            "file with data.path=FILE)"
        ) from None


def gutenberg_book(raw: bytes) -> bytes:
    """The lines strictly between a Project Gutenberg file's "*** START OF" and "*** END OF" lines, stripped of
    the blank lines around them; the file as it is when it has no such markers."""
    lines = raw.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.lstrip(b"\xef\xbb\xbf").startswith(b"*** START OF")]
    ends = [i for i, line in enumerate(lines) if line.startswith(b"*** END OF")]
    if not starts or not ends or ends[0] <= starts[0]:
        return raw
    return b"".join(lines[starts[0] + 1 : ends[0]]).strip() + b"\n"


def prepare(name: str | None, source_file: Path | None, out: Path | None, url: str | None = None) -> Path:
    """Write the corpus to `out` (default data/<name>.txt) and return its path; PrepareError on any failure."""
    if name is None and source_file is None:
        raise PrepareError(f"name a corpus ({', '.join(CORPORA)}) or give --from FILE")
    if name is not None and name not in CORPORA and source_file is None:
        raise PrepareError(f"corpus {name!r} is unknown: expected one of {', '.join(CORPORA)} (or --from FILE)")
    known = CORPORA.get(name or "")
    if source_file is not None:
        raw = Path(source_file).read_bytes() if Path(source_file).is_file() else None
        if raw is None:
            raise PrepareError(f"--from {source_file}: no such file")
    else:
        raw = download(name, url or known.url)
        digest = hashlib.sha256(raw).hexdigest()
        if url is None and digest != known.sha256:
            raise PrepareError(f"the download of {name} from {known.url} is not the expected copy (sha256 {digest}, "
                               f"expected {known.sha256}); nothing written")  # fmt: skip
    if known is not None and known.gutenberg:
        raw = gutenberg_book(raw)
    out = Path(out or f"data/{name or Path(source_file).stem}.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_name(f".{out.name}.check")
    staged.write_bytes(raw)
    try:
        read_corpus(staged)  # UTF-8 and not empty, before it takes the name a run reads
    except ConfigError as error:
        raise PrepareError(str(error).replace(f"data.path={str(staged)!r}", f"{source_file or name}")) from None
    finally:
        staged.unlink()
    atomic_write(out, lambda f: f.write(raw))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.prepare", description=__doc__.splitlines()[0])
    named = ", ".join(f"{k} ({v.about})" for k, v in CORPORA.items())
    parser.add_argument("name", nargs="?", help=f"a named corpus: {named}")
    parser.add_argument("--from", dest="source_file", type=Path, help="take this local file instead of downloading")
    parser.add_argument("--out", type=Path, help="where to write it (default data/<name>.txt)")
    parser.add_argument("--url", help="download from this address instead (a mirror; the sha256 check is skipped)")
    args = parser.parse_args(argv)
    try:
        out = prepare(args.name, args.source_file, args.out, args.url)
    except PrepareError as error:
        report(error)
        return 1 if "could not download" in str(error) else 2
    corpus = read_corpus(out)
    print(f"wrote {out}: {len(corpus.text):,} characters, {len(corpus.symbols)} distinct, sha256 {corpus.digest}\n"
          f"train on it: python -m seqlab.run dataset=text data.path={out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
