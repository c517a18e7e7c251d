"""Where and with what a run ran: versions, the code's git state, host, device, threads and SLURM's job ids."""

from __future__ import annotations

import hashlib
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


def git(*args: str) -> str | None:
    """The output of a git command in the checkout seqlab is imported from; None outside one (an installed package)."""
    try:
        done = subprocess.run(["git", *args], cwd=Path(seqlab.__file__).parent, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """`git_commit`, `git_dirty` (tracked files differ from it) and `git_diff_sha256` (of `git diff HEAD`)."""
    commit = (git("rev-parse", "--verify", "--quiet", "HEAD") or "").strip() or None
    diff = git("diff", "HEAD") if commit else None
    return {
        "git_commit": commit,
        "git_dirty": bool(diff) if diff is not None else None,
        "git_diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def environment_info(device: torch.device) -> dict[str, Any]:
    """The result.json keys that describe the environment of a run on `device`."""
    slurm = {k: os.environ[v] for k, v in SLURM_VARIABLES.items() if v in os.environ} or None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "device": str(device),
        "device_name": device_name(device),
        "host": socket.gethostname(),
        "threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": cudnn,
            "seqlab": seqlab.__version__,
        },  # fmt: skip
        **git_state(),
        "slurm": slurm,
    }
