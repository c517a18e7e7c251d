"""Packed runs: the runs of a sweep that share their shapes train together in one process, one pack at a time.

`hydra/launcher=packed` (seqlab/conf/hydra/launcher/packed.yaml). Runs share a pack when they agree on every key
that shapes the computation (`seqlab.packs.PACK_KEYS`: the model, the data, the batch, the held-out set, the
device, the threads and the optimizer rule) and may differ in anything else: seed, init, learning rate, budget,
early stop. Each run keeps its own run directory under the usual contract (Hydra's `.hydra/`, lock, fingerprint,
metrics, checkpoints, result); `seqlab.train.train_together` trains the pack, each run as it would train alone
(bit for bit unless stacked).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hydra_plugins.seqlab_sweeper.sweeper import job_paths
from seqlab.errors import ConfigError, refuse
from seqlab.jobs import Outcome, fail, running_elsewhere, start_job
from seqlab.packs import packs, shared_settings
from seqlab.rundir import RunLocked, discard_if_unused
from seqlab.runlog import RunLogRouter
from seqlab.schema import PackSettings
from seqlab.validate import typed_settings

log = logging.getLogger(__name__)

SEQLAB_RUN_KEYS = ("model", "data", "threads")  # a config without them is not a seqlab run's


def pack_key(job_config: DictConfig) -> tuple[tuple[str, str], ...]:
    """A composed job's settings that runs of one pack share (`seqlab.packs.shared_settings`). Refuses (one line,
    exit 2) a config that is not a seqlab run's."""
    if missing := [key for key in SEQLAB_RUN_KEYS if key not in job_config]:
        refuse(f"hydra/launcher=packed trains seqlab runs (python -m seqlab.run), and this app's config has no "
               f"{', '.join(missing)}: use Hydra's basic launcher or hydra/launcher=local_parallel")  # fmt: skip
    return shared_settings(job_paths(job_config)[1])


def claim_job(cfg: DictConfig, locks: ExitStack) -> Any:
    """Hydra task of a packed job: claim its run directory (`seqlab.train.claim`) without training it yet. Returns
    the Claim, or the task's usual return value for a run that is skipped or running elsewhere."""
    from seqlab.train import claim  # noqa: PLC0415

    run_dir = start_job(cfg)
    try:
        claimed = claim(cfg, run_dir, locks)
    except RunLocked as error:
        return running_elsewhere(run_dir, error)
    except ConfigError:
        discard_if_unused(run_dir)  # a refused run leaves nothing behind
        raise
    if isinstance(claimed, dict):  # completed before under the same config
        return Outcome.of(claimed, cfg.optimized_metric, run_dir, skipped=True)
    return claimed


def check_settings(max_runs: Any, stacked: Any, graph: Any = False) -> None:
    """Refuse a bad `max_runs`, `stacked` or `graph` (one line, exit 2), by their schema (schema.PackSettings)."""
    try:
        typed_settings({"max_runs": max_runs, "stacked": stacked, "graph": graph}, PackSettings, "hydra.launcher.")
    except ConfigError as error:
        refuse(error)


class NoCallbacks:
    """Hydra's callbacks while a pack claims its runs: none (they are called around each run's training)."""

    def on_job_start(self, **_: Any) -> None:
        pass

    def on_job_end(self, **_: Any) -> None:
        pass


def route_run_logs(claimed: dict[int, Path], job_configs: list[DictConfig]) -> RunLogRouter:
    """Replace the root logger's file handlers (Hydra's job log of the last run claimed) by one that writes each
    record into its own run's job log (`seqlab.runlog`)."""
    root = logging.getLogger()
    files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    for handler in files:
        root.removeHandler(handler)
        handler.close()
    job_logs = {run_dir: run_dir / f"{job_configs[i].hydra.job.name}.log" for i, run_dir in claimed.items()}
    router = RunLogRouter(job_logs, files[0].formatter if files else None)
    root.addHandler(router)
    return router


def train_pack(
    hydra_context: HydraContext, task_function: TaskFunction, configs: list[DictConfig], stacked: str | bool,
    graph: bool = False,
) -> list[JobReturn]:  # fmt: skip
    """Claim each member's run directory (Hydra writes its `.hydra/` and job log as for any job), train the claimed
    ones together (`stacked`: true, false, auto: on a GPU the faster of the two, measured on the pack's first
    rounds, or fused: the Triton recurrences; `graph`: a stacked step captured as one CUDA graph) and return each
    member's JobReturn. Hydra's callbacks hear `on_job_start` for each run before training and `on_job_end` as it
    ends, with its real status and return value (a run skipped or running elsewhere: around its claim, as any job);
    each run's lines go to its own log."""
    from seqlab.signals import RunInterrupted  # noqa: PLC0415
    from seqlab.train import Claim, train_together  # noqa: PLC0415

    returns: list[JobReturn] = []
    claiming = HydraContext(config_loader=hydra_context.config_loader, callbacks=NoCallbacks())
    with ExitStack() as locks:
        claimed: dict[int, Claim] = {}
        for i, config in enumerate(configs):
            returns.append(run_job(hydra_context=claiming, task_function=partial(claim_job, locks=locks),
                                   config=config, job_dir_key="hydra.sweep.dir",
                                   job_subdir_key="hydra.sweep.subdir"))  # fmt: skip
            if returns[i].status == JobStatus.COMPLETED and isinstance(returns[i].return_value, Claim):
                claimed[i] = returns[i].return_value
            else:  # skipped, running elsewhere or refused: the job ends at its claim
                callback(hydra_context, config, "on_job_start", task_function=task_function)
                callback(hydra_context, config, "on_job_end", job_return=returns[i])
        if not claimed:
            return returns
        members = list(claimed)
        for i in members:
            callback(hydra_context, configs[i], "on_job_start", task_function=task_function)

        def ended(position: int, outcome: dict[str, Any] | Exception) -> None:
            i = members[position]
            if isinstance(outcome, Exception):
                returns[i].status, returns[i].return_value = JobStatus.FAILED, outcome
            else:
                returns[i].return_value = Outcome.of(outcome, configs[i].optimized_metric, str(claimed[i].run_dir))
            callback(hydra_context, configs[i], "on_job_end", job_return=returns[i])

        router = route_run_logs({i: c.run_dir for i, c in claimed.items()}, configs)
        on_gpu = next(iter(claimed.values())).device.type == "cuda"
        try:
            how = stacked if stacked in (True, "fused") else "measure" if stacked == "auto" and on_gpu else False
            train_together(list(claimed.values()), stacked=how, on_end=ended, graph=graph)
        except RunInterrupted as error:
            fail(f"seqlab: {error}: every run of the pack checkpointed; run the same command again to resume", 130)
        finally:
            logging.getLogger().removeHandler(router)
            router.close()
    return returns


def callback(hydra_context: HydraContext, config: DictConfig, event: str, **arguments: Any) -> None:
    """Call Hydra's callbacks' `event` for the job of `config`, with that job's Hydra config current."""
    HydraConfig.instance().set_config(config)
    getattr(hydra_context.callbacks, event)(config=config, **arguments)


class PackedLauncher(Launcher):
    """Hydra's basic launcher, except that the runs of each pack train together (`max_runs` at most per pack),
    `stacked` as one stacked model (auto: where they train on a GPU)."""

    def __init__(self, max_runs: int = 32, stacked: str | bool = "auto", graph: bool = False) -> None:
        super().__init__()
        check_settings(max_runs, stacked, graph)
        self.max_runs, self.stacked, self.graph = max_runs, stacked, graph

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            job_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job_config):
                job_config.hydra.job.id = job_config.hydra.job.num = idx
            configs.append(job_config)
        grouped = packs([pack_key(c) for c in configs], self.max_runs)
        log.info("Launching %d jobs locally in %d packs", len(configs), len(grouped))
        returns: list[JobReturn] = [JobReturn()] * len(configs)
        for members in grouped:
            log.info("pack of %d: %s", len(members), ", ".join(f"#{initial_job_idx + i}" for i in members))
            for i in members:
                log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])))
            trained = train_pack(self.hydra_context, self.task_function, [configs[i] for i in members], self.stacked,
                                 self.graph)  # fmt: skip
            for i, returned in zip(members, trained, strict=True):
                returns[i] = returned
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return returns
