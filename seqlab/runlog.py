"""Which run a log record belongs to, in a process that trains several runs together (a pack).

`train_together` marks the run it is working on (`working_on`); `RunLogRouter`, which the packed launcher installs
in place of Hydra's job-log file handler, writes each record into the log file of the run it belongs to, and a
record of the pack as a whole (no run marked) into every run's log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_current_run: ContextVar[Path | None] = ContextVar("seqlab_current_run", default=None)


@contextmanager
def working_on(run_dir: Path) -> Iterator[None]:
    """Log records emitted inside belong to the run in `run_dir`."""
    token = _current_run.set(Path(run_dir))
    try:
        yield
    finally:
        _current_run.reset(token)


class RunLogRouter(logging.Handler):
    """Writes each record to the log file of its run (`working_on`), or to every run's when none is marked."""

    def __init__(self, files: dict[Path, Path], formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        self.handlers = {Path(run_dir): logging.FileHandler(path) for run_dir, path in files.items()}
        for handler in self.handlers.values():
            handler.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        run_dir = _current_run.get()
        for handler in [self.handlers[run_dir]] if run_dir in self.handlers else self.handlers.values():
            handler.handle(record)

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.close()
        super().close()
