"""Checkpoint and resume: everything a killed run needs to continue exactly where its checkpoint left it."""

from __future__ import annotations

import io
import logging
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch

from seqlab import rundir
from seqlab.errors import ConfigError

log = logging.getLogger(__name__)


class UnsafeCheckpoint(ConfigError):
    """A checkpoint that holds more than tensors and plain values (a pickled callable, say): never loaded."""


class Run(Protocol):
    """What a checkpoint saves and restores of a run (`seqlab.loop.Run`)."""

    run_dir: Path
    device: torch.device
    fingerprint: str
    model: torch.nn.Module
    optimizer: Any
    generator: torch.Generator
    buffers: dict[str, torch.Tensor]
    progress: Any
    metrics: rundir.CsvLog
    probe: Any
    samples: Any

    def logs(self) -> list[rundir.CsvLog]: ...


def load(path: Path) -> dict[str, Any]:
    """A checkpoint's content, on the CPU, loaded with `weights_only`: tensors and plain values only, so that a
    shared run directory cannot run code. Raises UnsafeCheckpoint (one line) for anything else."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # generator states must stay on the CPU
    except pickle.UnpicklingError as error:
        found = next((line.strip() for line in str(error).splitlines() if "GLOBAL" in line), "a non-plain object")
        raise UnsafeCheckpoint(f"{path} is refused: it holds more than tensors and plain values ({found}); "
                               "nothing in it was run") from None  # fmt: skip


def save(run: Run) -> None:
    """Atomically write model, optimizer, data-stream and RNG states, the per-step buffers and the progress."""
    state = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "generator": run.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "buffers": {k: v[: run.progress.step].cpu() for k, v in run.buffers.items()},
        "progress": asdict(run.progress),
        "fingerprint": run.fingerprint,
    }
    serialized = io.BytesIO()  # serialized first: a full disk then fails the plain write, which names it (ENOSPC)
    torch.save(state, serialized)
    rundir.atomic_write(run.run_dir / rundir.CHECKPOINT, lambda f: f.write(serialized.getbuffer()))


def restore(run: Run) -> bool:
    """Load the run's checkpoint, if any, and cut its logs back to the checkpoint's step; True if resumed.

    Without a checkpoint, rows an earlier attempt left in the logs are dropped: the run starts afresh.
    """
    path = run.run_dir / rundir.CHECKPOINT
    if not path.exists():
        for log_file in run.logs():
            log_file.truncate(lambda step: False)
        return False
    state = load(path)
    if state.get("fingerprint") not in rundir.fingerprints(run.flat_config):  # never mix two configs
        raise ValueError(f"{path} belongs to config {state.get('fingerprint')}, not {run.fingerprint}")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    run.progress = type(run.progress)(**state["progress"])
    run.progress.resumes += 1
    for key, saved in state["buffers"].items():
        run.buffers[key][: len(saved)] = saved.to(run.device)
    step = run.progress.step
    run.metrics.truncate(lambda s: s <= step)
    run.probe.log.truncate(lambda s: s < step)
    if run.samples:
        run.samples.log.truncate(lambda s: s <= step)
    log.info("resumed %s from step %d", run.run_dir, step)
    return True
