"""A seqlab Hydra job's start and its ends, shared by `seqlab.run`'s task and the packed launcher.

No `@hydra.main` here, nor torch at import: Hydra's plugin scan imports the launcher (and so this module) in every
Hydra process on the machine, and `hydra.main` would set Hydra's process-wide version base for other apps.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from seqlab.rundir import RUNNING_ELSEWHERE, RunLocked
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


def running_elsewhere(run_dir: str, error: RunLocked) -> dict[str, Any]:
    """What a sweep's job returns for a run directory that another process trains."""
    return {"status": RUNNING_ELSEWHERE, "skipped": False, "run_dir": run_dir, "detail": str(error)}
