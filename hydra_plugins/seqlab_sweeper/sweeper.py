"""Hydra's basic sweeper, made to finish every run and then summarise the failures."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.utils import JobReturn, JobStatus


def describe_failure(job: JobReturn) -> str:
    """One line: the job's run directory and its error."""
    error = job._return_value
    message = f"{type(error).__name__}: {error}".splitlines()[0] if isinstance(error, BaseException) else str(error)
    run_dir = job.hydra_cfg.hydra.runtime.output_dir if job.hydra_cfg else " ".join(job.overrides or [])
    return f"{run_dir}: {message}"


class SummarizingSweeper(BasicSweeper):
    """Runs all jobs even when some fail, prints a summary, and exits 1 if any failed.

    Hydra's basic sweeper raises on the first failed job (and skips on_multirun_end); runs here record their
    own failures in result.json, so the sweep goes on and reports them all at the end.
    """

    def sweep(self, arguments: list[str]) -> Any:
        jobs: list[JobReturn] = []
        launch = self.launcher.launch

        def launch_and_collect(job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            results = launch(job_overrides, initial_job_idx=initial_job_idx)
            jobs.extend(results)
            return [r for r in results if r.status == JobStatus.COMPLETED]

        self.launcher.launch = launch_and_collect
        returns = super().sweep(arguments)
        failed = [j for j in jobs if j.status != JobStatus.COMPLETED]
        skipped = sum(1 for j in jobs if j.status == JobStatus.COMPLETED and (j._return_value or {}).get("skipped"))
        summary = (
            f"seqlab: {len(jobs)} runs: {len(jobs) - len(failed) - skipped} trained, "
            f"{skipped} already completed (skipped), {len(failed)} failed"
        )
        print(summary, file=sys.stderr)
        for job in failed:
            print(f"  FAILED {describe_failure(job)}", file=sys.stderr)
        if failed:
            sys.exit(1)
        return returns
