"""The bottom of seqlab's import graph: the error a bad input raises, and how a command reports it (one line)."""

from __future__ import annotations

import sys
from typing import NoReturn


class ConfigError(ValueError):
    """An invalid config value or input; its message is one line."""


def one_line(error: BaseException) -> str:
    """An error as one line: its type and the first line of its message (`KeyError: 'x'`)."""
    return f"{type(error).__name__}: {error}".splitlines()[0]


def report(error: object) -> None:
    """Print a command's error: one line `seqlab: error: ...` on stderr."""
    print(f"seqlab: error: {error}", file=sys.stderr)


def refuse(error: object) -> NoReturn:
    """Bad input stops the command: its one-line report, exit 2."""
    report(error)
    sys.exit(2)
