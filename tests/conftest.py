"""The tests' shared helpers (test files import from here, never from each other): composed configs with tiny
sizes, the CLI in a subprocess, a written corpus, planted checkpoints, metrics as arrays, and the skip markers."""

from __future__ import annotations

import copy
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.singleton import Singleton
from omegaconf import DictConfig

from seqlab import rundir

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


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")  # with pytest.mark.gpu
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")


def needs(module: str, extra: str) -> pytest.MarkDecorator:
    """Skip unless `module` is installed (the extra that installs it: pip install -e '.[extra]')."""
    import importlib.util  # noqa: PLC0415

    installed = importlib.util.find_spec(module) is not None
    return pytest.mark.skipif(not installed, reason=f"{module} is not installed (pip install -e '.[{extra}]')")


WORDS = "the king and queen had a daughter who slept for a hundred years until a prince came by".split()


def write_corpus(path: Path, characters: int = 6000, seed: int = 0) -> Path:
    """Sentences of WORDS, written by the test itself (the project ships no book)."""
    rng, text = random.Random(seed), ""
    while len(text) < characters:
        text += " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + ".\n"
    path.write_text(text, encoding="utf-8")
    return path


def text_args(corpus: Path, *extra: str) -> list[str]:
    return ["dataset=text", f"data.path={corpus}", "data.seq_length=12", "data.sample_every=10",
            "data.sample_length=20", "model.num_layers=2", *extra]  # fmt: skip


def generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqlab.generate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


class Payload:
    """Unpickling it would run a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def plant(run_dir, marker) -> None:
    """Replace the run's checkpoint by one that carries a pickled callable beside its real content."""
    path = run_dir / rundir.CHECKPOINT
    state = torch.load(path, weights_only=True)
    torch.save(state | {"extra": Payload(marker)}, path)


def assert_close_float32(actual: torch.Tensor, expected: torch.Tensor, msg: str = "") -> None:
    """Equal up to float32 rounding, measured against the tensor's own scale (standard_normal grads are ~1e3)."""
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale, msg=msg)


def metrics(run_dir: Path) -> np.ndarray:
    """metrics.csv as a float array (empty cells NaN)."""
    rows = [line.split(",") for line in (run_dir / rundir.METRICS).read_text().splitlines()[1:]]
    return np.array([[float(cell) if cell else np.nan for cell in row] for row in rows])
