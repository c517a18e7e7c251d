"""Engines: how a run's steps are computed, below the training loop, and the one place that decides which runs where.

- one run: seqlab's C++ CPU kernels (`fast`; `seqlab/kernels/`), PyTorch's fused kernels (`fused`: cuDNN on a GPU),
  or the per-step reference loop (`reference`), chosen by `resolve_impl`;
- a pack of runs (`hydra/launcher=packed`): run by run, bit for bit as alone, or as one stacked model (`pack.py`,
  `stacked_model.py`), optionally with each layer's recurrence fused into Triton kernels (`triton_recurrence.py`),
  where `stackable` says they can; `pack.Calibration` measures which is faster.

The loop (`seqlab.loop`) knows none of this; the engines know nothing of run directories.
"""

from __future__ import annotations

import importlib.util
import os

import torch

from seqlab import kernels
from seqlab.engines.fused_config import device_target, launch_config
from seqlab.errors import ConfigError
from seqlab.loop import Run
from seqlab.models import cell
from seqlab.packs import PACK_KEYS, shared_settings


class ImplUnavailable(ConfigError):
    """model.impl=fast was asked for where seqlab's kernels cannot run; the message is one line."""


def resolve_impl(
    requested: str, name: str, device: torch.device, precision: str = "float32"
) -> tuple[str, str | None]:  # fmt: skip
    """The implementation that will run for `requested` on `device` at `precision`: (fast | fused | reference, why
    it is not what was asked, or None). `fast` on a GPU is PyTorch's fused kernels (cuDNN) by definition, not a
    fallback. Raises ImplUnavailable for `fast` where seqlab's CPU kernels cannot run (they compute in float32)."""
    if requested in ("fused", "reference"):
        return requested, None
    if device.type != "cpu":
        return "fused", None
    if precision != "float32":
        why = f"seqlab's C++ kernels compute in float32, not precision={precision}"
    elif not cell(name).native:
        why = f"seqlab's C++ kernels have no {name} cell"
    else:
        why = kernels.load()
    if why is None:
        return "fast", None
    if requested == "fast":
        raise ImplUnavailable(f"model.impl=fast is unavailable here ({why}); use model.impl=auto or fused")
    return "fused", f"seqlab's CPU kernels are unavailable ({why})"


def stackable(runs: list[Run]) -> str | None:
    """Why `runs` cannot train as one stacked model, None when they can."""
    if any(run.impl == "reference" for run in runs):
        return "the reference implementation trains its own loop"
    if runs[0].task.masked or runs[0].task.regression:
        return "the stacked step scores every prediction by cross-entropy, and this task does not (data.name)"
    if len({shared_settings(run.flat_config) for run in runs}) > 1:
        return f"the runs differ in settings a pack shares ({', '.join(PACK_KEYS)})"
    return None


def unfused(runs: list[Run]) -> str | None:
    """Why stackable `runs` should train on the stacked PyTorch steps rather than the fused Triton recurrences
    (None: the fused kernels can run them, and fit the GPU at their shape)."""
    cfg, device = runs[0].cfg, runs[0].device
    if cell(cfg.model.name).fused_kernel is None:
        return f"no Triton kernel computes model.name={cfg.model.name} (its registry entry's fused_kernel)"
    if why := fused_unavailable(device, cfg.precision):
        return why
    config = launch_config(
        cfg.model.name, cfg.train.batch_size, cfg.model.hidden_size, len(runs), *device_target(device)
    )
    return config if isinstance(config, str) else None


def fused_unavailable(device: torch.device, precision: str) -> str | None:
    """Why the fused Triton recurrences cannot run here (None when they can)."""
    if precision != "float32":
        return f"the Triton recurrences compute in float32, not precision={precision}"
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return "the Triton recurrences need a CUDA GPU (or TRITON_INTERPRET=1, Triton's interpreter, on the CPU)"
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (pip install 'seqlab[triton]')"
    return None
