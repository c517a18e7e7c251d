"""A seqlab Hydra job's start and its ends, shared by `seqlab.run`'s task and the packed launcher.

No `@hydra.main` here, nor torch at import: Hydra's plugin scan imports the launcher (and so this module) in every
Hydra process on the machine, and `hydra.main` would set Hydra's process-wide version base for other apps.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqlab.errors import refuse
from seqlab.rundir import RUNNING_ELSEWHERE, RunLocked, cannot_make, link_in, outermost_missing
from seqlab.threads import resolve_threads
from seqlab.tuning import tune_process


def fail(message: str, code: int) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    print(message, file=sys.stderr)
    sys.exit(code)


def start_job(cfg: DictConfig) -> str:
    """A Hydra task's start: tune the process and resolve `cfg.threads` for the job's launcher (recorded, and part
    of the fingerprint); the job's run directory."""
    tune_process()  # before torch allocates its first large tensor
    hydra_cfg = HydraConfig.get()
    cfg.threads = resolve_threads(cfg.threads, hydra_cfg.launcher)
    return hydra_cfg.runtime.output_dir


class Outcome(float):
    """What a seqlab job returns: a float, the run's objective - its result's `optimized_metric` (NaN where the run
    has none: not converged, running elsewhere) - as Hydra's optimising sweepers take it (Optuna: "must be
    float-castable"), carrying what seqlab's own sweepers count: the run's status, whether it was skipped (completed
    before), its directory and a detail."""

    status: str
    skipped: bool
    run_dir: str
    detail: str

    def __new__(cls, objective: float, status: str, run_dir: str, skipped: bool = False, detail: str = "") -> Outcome:
        outcome = super().__new__(cls, objective)
        outcome.status, outcome.skipped, outcome.run_dir, outcome.detail = status, skipped, str(run_dir), detail
        return outcome

    def __getnewargs__(self) -> tuple[float, str, str]:  # pickled across processes (local_parallel, SLURM)
        return float(self), self.status, self.run_dir

    @classmethod
    def of(cls, result: dict[str, Any], metric: str, run_dir: str, skipped: bool = False) -> Outcome:
        """A finished run's outcome: its result's `metric` (an OPTIMIZED_METRICS key) as the objective."""
        value = result.get(metric)
        objective = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
        return cls(objective, result["status"], run_dir, skipped)


def running_elsewhere(run_dir: str, error: RunLocked) -> Outcome:
    """What a sweep's job returns for a run directory that another process trains."""
    return Outcome(math.nan, RUNNING_ELSEWHERE, run_dir, detail=str(error))


class RunDirGuard(Callback):
    """Hydra callback (config.yaml's `hydra.callbacks`): before a single run, refuse (one line, exit 2) a run directory
    holding a symbolic link, or one that cannot be made (a file in the way), before Hydra writes `.hydra/` and the
    job's log into it. seqlab's sweepers check each run's directory the same way before launching it
    (`rundir.verdict`). Records the outermost folder Hydra is about to make for it (`made`), which a refused run
    removes again."""

    made: ClassVar[Path | None] = None  # this process's single run: the outermost folder of its run directory made

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            run_dir = OmegaConf.select(config, "hydra.run.dir")
        except OmegaConfBaseException:  # a bad interpolation: Hydra meets it next and reports it
            return
        if why := link_in(run_dir) or cannot_make("hydra.run.dir", run_dir):
            refuse(why)
        RunDirGuard.made = outermost_missing(run_dir)
