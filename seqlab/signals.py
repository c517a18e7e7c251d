"""The signal protocol of a run: SIGTERM, SIGINT and SIGUSR2 checkpoint at the next step boundary.

Under submitit, SIGUSR2 (time limit, preemption) then requeues the job and exits, and SIGTERM is bypassed, so
training goes on until SLURM's SIGKILL (scontrol requeue, scancel), as submitit expects. With no such handler (a
local run), the run stops with RunInterrupted. A requeued or relaunched run resumes from its latest checkpoint.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGUSR2", None)) if s)


class RunInterrupted(Exception):
    """A signal stopped the run after its state was checkpointed."""


class SignalGuard:
    """Turns the stop signals into a flag checked between steps, so a checkpoint is always consistent."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self.previous[sig] = signal.signal(sig, self._flag)
        return self

    def _flag(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, before_exit: Callable[[], None]) -> None:
        """Call `before_exit` (checkpoint), then pass the signal on to the handler installed before, if any."""
        signum, self.received = self.received, None
        before_exit()
        previous = self.previous.get(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, None)  # submitit: SIGUSR2 requeues and exits; its SIGTERM bypass returns
            return
        raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")
