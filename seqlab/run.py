"""Command line: `python -m seqlab.run [overrides]` (one run) or `python -m seqlab.run -m [sweeps]`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqlab.errors import ConfigError, refuse
from seqlab.jobs import Outcome, RunDirGuard, fail, running_elsewhere, start_job
from seqlab.rundir import RESULT, DiskFull, RunLocked, discard_if_unused
from seqlab.validate import COMPOSITION_ERRORS, check_job, explain


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Outcome:
    """Hydra task: train one run in Hydra's output directory; returns its objective (`optimized_metric`), which
    carries the outcome seqlab's sweepers count."""
    from seqlab.signals import RunInterrupted  # noqa: PLC0415
    from seqlab.train import train  # noqa: PLC0415

    hydra_cfg = HydraConfig.get()
    single = hydra_cfg.mode == RunMode.RUN
    run_dir = hydra_cfg.runtime.output_dir
    try:
        overrides = OmegaConf.to_container(hydra_cfg.overrides.task)  # unresolved: '${nope}' is the user's text
        check_job(overrides, hydra_cfg.sweeper.get("params"), single)
        start_job(cfg)
        result = train(cfg, run_dir)
    except (ConfigError, OmegaConfBaseException) as error:
        error = error if isinstance(error, ConfigError) else ConfigError(explain(error, overrides=overrides))
        discard_if_unused(run_dir, RunDirGuard.made if single else None)  # a refused run leaves nothing behind
        if single:
            refuse(error)
        raise
    except RunLocked as error:
        if single:
            fail(f"seqlab: {error}; not training it twice", 3)
        return running_elsewhere(run_dir, error)
    except RunInterrupted as error:  # a sweep stops too (Hydra's launchers would go on to the next run)
        fail(f"seqlab: {error}: checkpoint saved in {run_dir}; run the same command again to resume", 130)
    except Exception as error:
        if single:
            recorded = Path(run_dir, RESULT).exists()
            where = f"traceback in {run_dir}/{RESULT}" if recorded else f"no {RESULT} could be written; see {run_dir}"
            fail(f"seqlab: run failed: {error_line(error)} ({where})", 1)
        raise
    return Outcome.of(result, cfg.optimized_metric, run_dir, skipped=result.get("skipped", False))


def error_line(error: Exception) -> str:
    """An error in one line: a full disk as its own message (it names the file), else `Type: message`."""
    text = str(error) if isinstance(error, DiskFull) else f"{type(error).__name__}: {error}"
    return text.splitlines()[0] if text else type(error).__name__


def cli() -> None:
    """Entry point: Hydra runs the command line as it would any Hydra app's; bad input, wherever Hydra or a run
    meets it, ends the command in one line (exit 2) instead of Hydra's report of several lines. Hydra hands the
    error up to here with HYDRA_FULL_ERROR=1, which seqlab sets; a user who set it to 1 gets Hydra's full traceback."""
    full_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except COMPOSITION_ERRORS as error:
        if full_traceback:
            raise
        refuse(error if isinstance(error, ConfigError) else explain(error, overrides=sys.argv[1:]))


if __name__ == "__main__":
    cli()
