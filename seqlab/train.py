"""Training runs: `train(cfg, run_dir)` trains, evaluates, checkpoints and writes one run directory;
`train_together` trains several claimed runs in one process (a pack: `hydra/launcher=packed`).

The story of a run, one module per chapter: the config is checked (`validate`); the implementation that will
run is settled (`engines.resolve_impl`); the process takes the run directory's lock, and a run completed under the
same config is skipped, one of another config refused or moved aside (`rundir`); the run is set up and resumes
from its checkpoint (`loop`, `checkpoint`); it trains, turning signals into checkpoints (`signals`); and its
result, with where and how it ran (`provenance`), is written atomically.
"""

from __future__ import annotations

import copy
import logging
import sys
import traceback
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import DictConfig, OmegaConf

from seqlab import checkpoint, rundir
from seqlab.data.corpus import resolve_digest
from seqlab.engines import resolve_impl, stackable, unfused
from seqlab.engines.pack import Calibration, StackedPack
from seqlab.errors import ConfigError, one_line
from seqlab.loop import Run, select_device
from seqlab.models import count_parameters
from seqlab.provenance import device_name
from seqlab.runlog import working_on
from seqlab.signals import RunInterrupted, SignalGuard
from seqlab.threads import resolve_threads
from seqlab.tracking import Tracking
from seqlab.validate import check_here, validate

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass
class Claim:
    """A run this process holds the lock of and will train: its config (resolved), directory, lock and the device
    and implementation it runs on (`fallback`: why not the implementation asked for, or None)."""

    cfg: DictConfig
    run_dir: Path
    lock: rundir.RunLock
    device: torch.device
    impl: str
    fallback: str | None


def claim(cfg: DictConfig, run_dir: str | Path, locks: ExitStack) -> Claim | dict[str, Any]:
    """Check `cfg`, then take `run_dir`'s lock (held until `locks` closes) to train it: the Claim, or the result of a
    run completed under the same config, with `skipped: True` added (not written).

    Raises ConfigError before writing anything if `cfg` is invalid, asks for an implementation that cannot run
    here, or the directory holds another config's results (unless rerun=changed); RunLocked while another
    process trains the directory.
    """
    validate(cfg)
    check_here(cfg)
    cfg = resolved(cfg)
    run_dir = Path(run_dir)
    flat_config = rundir.flatten(OmegaConf.to_container(cfg, resolve=True))
    if (finished := settle(run_dir, flat_config, cfg.rerun)) is not None:  # no lock needed to skip
        return finished
    device = select_device(cfg.device)
    impl, fallback = resolve_impl(cfg.model.impl, cfg.model.name, device, cfg.precision)
    if fallback:
        log.warning("model.impl=%s runs as %s: %s", cfg.model.impl, impl, fallback)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = locks.enter_context(rundir.RunLock(run_dir))  # raises RunLocked while another process trains it
    if (finished := settle(run_dir, flat_config, cfg.rerun, owner=True)) is not None:
        return finished
    rundir.write_fingerprint(run_dir, flat_config)
    return Claim(cfg, run_dir, lock, device, impl, fallback)


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train the run `cfg` in `run_dir` (resuming from its checkpoint) and return its result (see `claim` for a
    run completed before, and for the errors raised before training). An exception while training is recorded as
    `status: failed` in result.json and re-raised."""
    with ExitStack() as locks:
        claimed = claim(cfg, run_dir, locks)
        if not isinstance(claimed, Claim):
            return claimed
        (outcome,) = train_together([claimed])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def resolved(cfg: DictConfig) -> DictConfig:
    """`cfg` with the settings a run records in place of `auto`, which are part of what it computes: the thread
    count (the command line resolves it for the launcher; a direct call as `seqlab.threads` does outside SLURM)
    and the text corpus's digest."""
    cfg = copy.deepcopy(cfg)
    if cfg.threads == "auto":
        cfg.threads = resolve_threads(cfg.threads, {})
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


def train_together(
    claims: list[Claim], stacked: bool | str = False,
    on_end: Callable[[int, dict[str, Any] | Exception], None] | None = None, graph: bool = False,
) -> list[dict[str, Any] | Exception]:  # fmt: skip
    """Train the claimed runs in one process, step by step, and return each one's result, or the exception that
    failed it (recorded as `status: failed` in its result.json; the others go on).

    Each run has its own model, optimizer, data streams, evaluations and early stop. By default each takes its own
    steps, in turn, and computes bit for bit what it computes alone. With `stacked` (runs of one shape and one
    optimizer rule, `seqlab.engines.stackable`) their steps are one step of a stacked model, which equals the
    runs alone up to floating-point rounding; `stacked="fused"` computes each layer's recurrence in one Triton
    kernel (`seqlab.engines.triton_recurrence`); `stacked="measure"` times the pack's first rounds both ways and
    goes on with the faster (`seqlab.engines.pack.Calibration`); `graph` captures a stacked step as one CUDA graph
    (`seqlab.engines.pack.StackedPack`). A run that ends writes its result and leaves while
    the others go on; `on_end(i, outcome)` is called as run i ends. Log records of a run's own work are marked as
    its own (`seqlab.runlog`). A stop signal checkpoints every run still training, records it as interrupted and
    raises RunInterrupted (or hands the signal on).
    """
    outcomes: list[dict[str, Any] | Exception | None] = [None] * len(claims)
    active: dict[int, Run] = {}
    engine: StackedPack | None = None

    def end(i: int, outcome: dict[str, Any] | Exception) -> None:
        outcomes[i] = outcome
        active.pop(i, None)
        if on_end:
            on_end(i, outcome)

    def fail(i: int, error: Exception) -> None:
        with working_on(claims[i].run_dir):
            record_failure(active[i].cfg, active[i].run_dir, active[i], error)
        end(i, error)

    def interrupted() -> None:
        if engine:
            engine.hand_back()
        for run in active.values():
            run.checkpoint_interrupted()

    with SignalGuard() as guard:
        for i, claimed in enumerate(claims):
            try:
                with working_on(claimed.run_dir):
                    active[i] = start_run(claimed)
            except (RunInterrupted, SystemExit, KeyboardInterrupt):
                raise
            except Exception as error:
                record_failure(claimed.cfg, claimed.run_dir, None, error)
                end(i, error)
        if stacked and (why := stackable(list(active.values()))):
            log.warning("the pack trains run by run, not stacked: %s", why)
            stacked = False
        not_fused = unfused(list(active.values())) if stacked == "fused" else None
        if not_fused:
            log.warning("the pack trains stacked in PyTorch, not fused: %s", not_fused)
            stacked = True
        calibration = Calibration(claims[0].device) if stacked == "measure" and len(active) > 1 else None
        stacked = bool(calibration) if stacked == "measure" else stacked
        for run in active.values() if len(claims) > 1 or stacked else ():
            run.pack = {"runs": len(claims), "stacked": "measuring" if calibration else stacked}
            if not_fused:
                run.pack["not_fused"] = not_fused
        bar = _progress_bar(claims[0].cfg.train, active[0].progress.step) if list(active) == [0] else None
        with bar or nullcontext():
            while active:
                for i, run in list(active.items()):  # runs that are done leave the pack
                    if run.training:
                        continue
                    try:
                        with working_on(run.run_dir):
                            run.finish()
                            result = complete(run)
                    except Exception as error:
                        fail(i, error)
                    else:
                        end(i, result)
                    engine = None
                stack_now = bool(stacked) and (calibration is None or calibration.stacked_turn())
                if stack_now and engine is None and active:
                    engine = StackedPack(list(active.values()), fused=stacked == "fused", graph=graph)
                if engine and not stack_now:  # measured: run by run is faster
                    engine.hand_back()
                    engine = None
                timed = calibration.start() if calibration and calibration.choice is None else None
                for i, run in list(active.items()) if not engine else []:
                    try:
                        with working_on(run.run_dir):
                            row = run.step()
                    except Exception as error:
                        fail(i, error)
                        continue
                    if bar and row:
                        bar.update(run.progress.step - bar.n)
                        bar.set_postfix(loss=row.get("train_loss"), acc=row.get("train_accuracy"))
                if engine:
                    try:
                        engine.step()
                    except Exception as error:  # one step of every run: all of them fail
                        for i in list(active):
                            fail(i, error)
                if timed is not None:
                    calibration.record(stack_now, timed)
                    if calibration.choice is not None:
                        measured(calibration, list(active.values()))
                if guard.received is not None:
                    guard.handle(before_exit=interrupted)
    return outcomes


def measured(calibration: Calibration, runs: list[Run]) -> None:
    """Record in each run's `pack` how the pack trains from now on, and the median seconds a round both ways."""
    stacked_s, alone_s = calibration.medians()
    log.info(
        "the pack trains %s: a round took %.1f ms stacked, %.1f ms run by run (medians of %d)",
        "stacked" if calibration.choice else "run by run",
        1e3 * stacked_s,
        1e3 * alone_s,
        calibration.ROUNDS,
    )
    for run in runs:
        run.pack = {**(run.pack or {}), "stacked": calibration.choice,
                    "measured_ms": {"stacked": 1e3 * stacked_s, "run_by_run": 1e3 * alone_s}}  # fmt: skip


def start_run(claimed: Claim) -> Run:
    """Set up the claimed run and resume it from its checkpoint, if it has one."""
    run = Run(claimed.cfg, claimed.run_dir, claimed.device, claimed.impl, claimed.fallback)
    checkpoint.restore(run)
    run.progress.trained_by(device_name(claimed.device))
    claimed.lock.note(run.progress.step)
    run.tracking = Tracking.open(claimed.cfg, run.run_dir, run.flat_config, run.metrics, run.progress.step,
                                 claimed.impl)  # fmt: skip
    log.info("training %s (%d parameters, %s) on %s in %s", claimed.cfg.model.name, count_parameters(run.model),
             claimed.impl, claimed.device, claimed.run_dir)  # fmt: skip
    run.start_clock()
    return run


def complete(run: Run) -> dict[str, Any]:
    """Write the finished run's result.json; its result."""
    result = run.result("completed")
    rundir.write_result(run.run_dir, result)
    run.tracking.finish(result)
    p = run.progress
    log.info("done %s: eval loss %.4g, accuracy %.4f after %d steps", run.run_dir, p.eval_loss, p.eval_accuracy, p.step)
    return result


def _progress_bar(cfg: DictConfig, initial: int) -> tqdm | None:
    """A tqdm bar on an interactive terminal (or when `cfg.progress` forces it), else None."""
    if cfg.progress is False or (cfg.progress == "auto" and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=cfg.max_steps, initial=initial, unit="step", dynamic_ncols=True, leave=False)


def record_failure(cfg: DictConfig, run_dir: Path, run: Run | None, error: Exception) -> None:
    """Write result.json with `status: failed`, the error's first line and the traceback; the trackers get it too."""
    message = one_line(error)
    if run is not None:
        failed = run.result("failed", message)
    else:
        failed = {"status": "failed", "error": message, "config": rundir.flatten(OmegaConf.to_container(cfg))}
    try:
        rundir.write_result(run_dir, failed | {"traceback": traceback.format_exc()})
    except OSError as unwritten:  # a full disk, say: the run's own error is the one to report
        log.error("%s: the failure could not be recorded: %s", run_dir, unwritten)
    if run is not None:
        run.tracking.finish(failed)
