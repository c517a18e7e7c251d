"""seqlab's grid sweeper: every combination of the swept values, all launched even when some fail, then a summary.

Built on Hydra's public plugin API alone (hydra-core 1.3: `Sweeper`, `Plugins.instantiate_launcher`, the overrides
parser, `JobReturn`), so it does not break with Hydra's internals. It does what Hydra's basic sweeper does (a grid,
in batches of `max_batch_size`, `multirun.yaml` at the sweep root) except that a failed run does not stop the
sweep: runs record their own failures in result.json, and the summary lists them all at the end (exit 1).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


def grid(arguments: Sequence[str], parser: OverridesParser) -> list[list[str]]:
    """Every combination of the swept values (`key=a,b`, `range(...)`), in command-line order, as override lists."""
    choices: dict[str, list[str]] = {}
    for override in parser.parse_overrides(list(arguments)):
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise ValueError(f"{key}: seqlab's sweeper takes lists and range(), not {override.value_type.name}")
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(combination) for combination in itertools.product(*choices.values())]


def job_error(job: JobReturn) -> BaseException | str:
    """The exception a failed job raised (JobReturn keeps it in its `_return_value` field; its `return_value`
    property would re-raise it and write to stderr)."""
    return job._return_value


def describe_failure(job: JobReturn) -> str:
    """One line: the job's run directory and its error."""
    error = job_error(job)
    message = f"{type(error).__name__}: {error}".splitlines()[0] if isinstance(error, BaseException) else str(error)
    run_dir = job.hydra_cfg.hydra.runtime.output_dir if job.hydra_cfg else " ".join(job.overrides or [])
    return f"{run_dir}: {message}"


def summarize(jobs: Sequence[JobReturn]) -> bool:
    """Print the sweep's summary line and each failure to stderr; True if every job completed."""
    failed = [j for j in jobs if j.status != JobStatus.COMPLETED]
    skipped = sum(1 for j in jobs if j.status == JobStatus.COMPLETED and (j.return_value or {}).get("skipped"))
    print(
        f"seqlab: {len(jobs)} runs: {len(jobs) - len(failed) - skipped} trained, "
        f"{skipped} already completed (skipped), {len(failed)} failed",
        file=sys.stderr,
    )
    for job in failed:
        print(f"  FAILED {describe_failure(job)}", file=sys.stderr)
    return not failed


class SummarizingSweeper(Sweeper):
    """The grid sweep of `hydra.sweeper.params` and the command line's sweeps; exits 1 if any run failed."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__()
        self.max_batch_size, self.params = max_batch_size, params or {}

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        runs = grid([f"{k}={v}" for k, v in self.params.items()] + arguments, parser)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or len(runs)
        jobs: list[JobReturn] = []
        for start in range(0, len(runs), size):
            batch = runs[start : start + size]
            self.validate_batch_is_legal(batch)
            jobs.extend(self.launcher.launch(batch, initial_job_idx=start))
        if not summarize(jobs):
            sys.exit(1)
        return [jobs]
