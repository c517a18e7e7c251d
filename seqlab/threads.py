"""The number of torch CPU threads a run trains with: part of what defines the run.

PyTorch's CPU kernels (its GEMMs among them) split gradient sums over threads, so the same run at 1 and at 2
threads differs in the last bits, and training near a model's capacity amplifies that. The run's config therefore
records the thread count it resolves to, and the fingerprint includes it: a relaunch at another thread count is
refused as another config instead of skipping or resuming the first one's results.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any


@functools.cache
def default_threads() -> int:
    """Torch's thread count in this process before seqlab sets one (read once, before any run sets its own)."""
    import torch  # noqa: PLC0415

    return torch.get_num_threads()


def resolve_threads(threads: Any, launcher: Mapping[str, Any]) -> Any:
    """`threads`, with `auto` resolved for a job of `launcher` (its Hydra config): SLURM's CPUs per task under
    submitit (inside the job: SLURM_CPUS_PER_TASK), 1 under joblib (one run per core), else torch's default.
    Any other value is returned as it is (the config check judges it)."""
    if threads != "auto":
        return threads
    target = str(launcher.get("_target_", ""))
    if "SLURM_CPUS_PER_TASK" in os.environ:
        return int(os.environ["SLURM_CPUS_PER_TASK"])
    if "submitit" in target and "Slurm" in target:
        return int(launcher.get("cpus_per_task") or 1)
    if "joblib" in target:
        return 1
    return default_threads()
