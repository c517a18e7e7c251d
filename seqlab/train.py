"""One training run: `train(cfg, run_dir)` trains, evaluates, checkpoints and writes the run directory.

The story of a run, one module per chapter: the config is checked (`validate`); the implementation that will
run is settled (`models.resolve_impl`); the process takes the run directory's lock, and a run completed under the
same config is skipped, one of another config refused or moved aside (`rundir`); the run is set up and resumes
from its checkpoint (`loop`, `checkpoint`); it trains, turning signals into checkpoints (`signals`); and its
result, with where and how it ran (`provenance`), is written atomically.
"""

from __future__ import annotations

import copy
import logging
import traceback
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from seqlab import checkpoint, rundir
from seqlab.data.corpus import resolve_digest
from seqlab.loop import Run, select_device
from seqlab.models import count_parameters, resolve_impl
from seqlab.signals import RunInterrupted, SignalGuard
from seqlab.validate import ConfigError, check_config

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train the run `cfg` in `run_dir` (resuming from its checkpoint) and return its result.

    A run completed under the same config is returned as it is, with `skipped: True` added (not written).
    Raises ConfigError before writing anything if `cfg` is invalid, asks for an implementation that cannot run
    here, or the directory holds another config's results (unless rerun=changed); RunLocked while another
    process trains the directory. Any other exception is recorded as `status: failed` in result.json and re-raised.
    """
    check_config(cfg)
    cfg = resolved(cfg)
    run_dir = Path(run_dir)
    flat_config = rundir.flatten(OmegaConf.to_container(cfg, resolve=True))
    if (finished := settle(run_dir, flat_config, cfg.rerun)) is not None:  # no lock needed to skip
        return finished
    device = select_device(cfg.device)
    impl, fallback = resolve_impl(cfg.model.impl, cfg.model.name, device)
    if fallback:
        log.warning("model.impl=%s runs as %s: %s", cfg.model.impl, impl, fallback)
    run_dir.mkdir(parents=True, exist_ok=True)
    with rundir.RunLock(run_dir) as lock:  # raises RunLocked while another process trains this directory
        if (finished := settle(run_dir, flat_config, cfg.rerun, owner=True)) is not None:
            return finished
        rundir.write_fingerprint(run_dir, flat_config)
        return train_owned(cfg, run_dir, lock, device, impl, fallback)


def resolved(cfg: DictConfig) -> DictConfig:
    """`cfg` with the settings a run records in place of `auto`, which are part of what it computes: the thread
    count (the command line resolves it for the launcher, `seqlab.threads`; a direct call keeps this process's) and
    the text corpus's digest."""
    cfg = copy.deepcopy(cfg)
    if cfg.threads == "auto":
        cfg.threads = torch.get_num_threads()
    if cfg.data.name == "text":
        cfg.data.digest = resolve_digest(cfg.data.path, cfg.data.digest)
    return cfg


def settle(run_dir: Path, flat_config: dict[str, Any], rerun: str, owner: bool = False) -> dict[str, Any] | None:
    """The result of a run completed under this config (to skip), else None (to train); raises ConfigError when the
    directory holds another config's results. As the `owner`, moves them aside first under rerun=changed."""
    action, why = rundir.verdict(run_dir, flat_config, rerun)
    if action == "skip":
        log.info("skipping %s: already completed", run_dir)
        return rundir.read_result(run_dir) | {"skipped": True}
    if action == "refuse":
        raise ConfigError(why)
    if action == "replace" and owner:
        log.warning("%s; moved to %s (rerun=changed)", why, rundir.move_aside(run_dir))
    return None


def train_owned(
    cfg: DictConfig, run_dir: Path, lock: rundir.RunLock, device: torch.device, impl: str, fallback: str | None
) -> dict[str, Any]:
    """Train in `run_dir`, whose `lock` this process holds; record the result, or the failure and re-raise."""
    run: Run | None = None
    try:
        with SignalGuard() as guard:
            run = Run(cfg, run_dir, device, impl, fallback)
            checkpoint.restore(run)
            lock.note(run.progress.step)
            log.info("training %s (%d parameters, %s) on %s in %s", cfg.model.name, count_parameters(run.model),
                     impl, device, run_dir)  # fmt: skip
            run.fit(guard)
    except (RunInterrupted, SystemExit, KeyboardInterrupt):
        raise  # stopped by a signal: the run was checkpointed and recorded as interrupted
    except Exception as error:
        record_failure(cfg, run_dir, run, error)
        raise
    result = run.result("completed")
    rundir.write_result(run_dir, result)
    log.info("done %s: eval accuracy %.4f after %d steps", run_dir, run.progress.eval_accuracy, run.progress.step)
    return result


def record_failure(cfg: DictConfig, run_dir: Path, run: Run | None, error: Exception) -> None:
    """Write result.json with `status: failed`, the error's first line and the traceback."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    if run is not None:
        failed = run.result("failed", message)
    else:
        failed = {"status": "failed", "error": message, "config": rundir.flatten(OmegaConf.to_container(cfg))}
    rundir.write_result(run_dir, failed | {"traceback": traceback.format_exc()})
