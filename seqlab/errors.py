"""The bottom of seqlab's import graph: the error a bad input raises, and how a command reports it (one line)."""

from __future__ import annotations

import sys
from typing import NoReturn


class ConfigError(ValueError):
    """An invalid config value or input; its message is one line."""


def report(error: object) -> None:
    """Print a command's error: one line `seqlab: error: ...` on stderr."""
    print(f"seqlab: error: {error}", file=sys.stderr)


def refuse(error: object) -> NoReturn:
    """Bad input stops the command: its one-line report, exit 2."""
    report(error)
    sys.exit(2)
