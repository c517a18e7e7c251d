"""Shared fixtures: composed configs with tiny sizes, and a helper to run the CLI in a subprocess."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.singleton import Singleton
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "seqlab" / "conf"
TINY = [
    "model.hidden_size=8",
    "train.batch_size=16",
    "train.max_steps=20",
    "train.log_every=5",
    "train.eval_every=10",
    "train.checkpoint_every=10",
    "eval.batches=2",
    "train.progress=false",
]


def overridden(base: list[str], *overrides: str) -> list[str]:
    """`base` overrides with `overrides` in place of its own values of their keys (seqlab refuses a key given
    twice), then the rest."""
    keys = {o.split("=", 1)[0] for o in overrides}
    return [b for b in base if b.split("=", 1)[0] not in keys] + list(overrides)


def tiny(*overrides: str) -> list[str]:
    """TINY, overridden by `overrides`."""
    return overridden(TINY, *overrides)


@contextmanager
def seqlab_configs() -> Iterator[None]:
    """Hydra's compose API on seqlab's configs; Hydra's singletons (its process-wide version base among them) are
    restored after, so that Hydra's own test suites later in this process run as they would alone."""
    state = copy.deepcopy(Singleton.get_state())
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            yield
    finally:
        Singleton.set_state(state)


@pytest.fixture
def make_cfg() -> Callable[..., DictConfig]:
    """Compose the project config with tiny sizes, then `overrides` on top."""

    def compose_cfg(*overrides: str) -> DictConfig:
        with seqlab_configs():
            return compose(config_name="config", overrides=[*TINY, *overrides])

    return compose_cfg


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m seqlab.run ARGS` in a subprocess; returns the completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "seqlab.run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
    )


def cluster_is_up() -> bool:
    """Whether a SLURM cluster answers with a usable node (scripts/slurm/start_local_cluster.sh)."""
    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and any(s.startswith(("idle", "mixed", "alloc")) for s in proc.stdout.split())
