"""The number of torch CPU threads a run trains with: part of what defines the run.

PyTorch's CPU kernels (its GEMMs among them) split gradient sums over threads, so the same run at 1 and at 2
threads differs in the last bits, and training near a model's capacity amplifies that. The run's config therefore
records the thread count it resolves to, and the fingerprint includes it: a relaunch at another thread count is
refused as another config instead of skipping or resuming the first one's results.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def resolve_threads(threads: Any, launcher: Mapping[str, Any]) -> Any:
    """`threads`, with `auto` resolved for a job of `launcher` (its Hydra config): SLURM's CPUs per task under
    submitit (inside the job: SLURM_CPUS_PER_TASK), else 1. Any other value is returned as it is (the config
    check judges it).

    Why 1 and not all cores: a run's steps are small (a 128-unit cell on a batch of 128), and a second thread
    collapses as soon as another process shares the cores. LSTM, L = 10, one-hot, beside one busy process on a
    2-core machine: 180 steps/s at 1 thread, 97 at 2 (measured by `python -m seqlab.run model=lstm data.length=10
    data.encoding=onehot train.max_steps=1000 train.early_stop.kind=none threads=N`). Sweeps use the cores by
    running runs side by side (`hydra/launcher=local_parallel`). And since `auto` is 1 under every local
    launcher, relaunching a sweep under another one finds its runs.
    """
    if threads != "auto":
        return threads
    target = str(launcher.get("_target_", ""))
    if "SLURM_CPUS_PER_TASK" in os.environ:
        return int(os.environ["SLURM_CPUS_PER_TASK"])
    if "submitit" in target and "Slurm" in target:
        return int(launcher.get("cpus_per_task") or 1)
    return 1
