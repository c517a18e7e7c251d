"""Where and with what a run ran: versions, git commit, host, threads and, under SLURM, the job's ids."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import torch

import seqlab

SLURM_VARIABLES = {
    "job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID", "array_task_id": "SLURM_ARRAY_TASK_ID",
    "node": "SLURMD_NODENAME", "restart_count": "SLURM_RESTART_COUNT", "cpus_per_task": "SLURM_CPUS_PER_TASK",
}  # fmt: skip


def git_commit() -> str | None:
    """The commit of the checkout seqlab is imported from, or None (an installed package, no git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=Path(seqlab.__file__).parent, capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def environment_info(device: torch.device) -> dict[str, Any]:
    """The result.json keys that describe the environment of a run on `device`."""
    slurm = {k: os.environ[v] for k, v in SLURM_VARIABLES.items() if v in os.environ} or None
    return {
        "device": str(device),
        "host": socket.gethostname(),
        "threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "seqlab": seqlab.__version__},
        "git_commit": git_commit(),
        "slurm": slurm,
    }
