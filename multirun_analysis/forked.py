"""Work spread over forked processes, one per core, its results in order: how the aggregator reads 100,000 run
directories and draws its figures in about the time of half of them."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_TASKS: list[Callable[[], Any]] = []  # what the forked workers inherit (closures need no pickling that way)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def in_order(tasks: list[Callable[[], Any]], workers: int) -> list[Any]:
    """Each task's result, in the tasks' order: computed by `workers` forked processes (their results come back
    pickled), or here where there are fewer than two workers or tasks. A task's exception is raised here."""
    global _TASKS
    if workers < 2 or len(tasks) < 2:
        return [task() for task in tasks]
    _TASKS = tasks
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            return list(pool.map(_run, range(len(tasks))))
    finally:
        _TASKS = []


def _run(index: int) -> Any:
    return _TASKS[index]()
