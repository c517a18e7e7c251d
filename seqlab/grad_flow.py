"""The gradient-flow probe: ||dL/dh_t|| for every time step t on a fixed batch, at chosen training steps."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from seqlab import rundir
from seqlab.data.palindrome import palindrome_batch
from seqlab.data.streams import GRAD_FLOW_STREAM, stream_generator
from seqlab.models import reference_twin
from seqlab.models.base import SequenceClassifier


def gradient_flow(model: SequenceClassifier, name: str, inputs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """||dL/dh_t|| for t = 1..T on one batch, through the reference twin whose h_t are graph nodes."""
    twin = reference_twin(model, name)
    hiddens = twin.core.hidden_states(inputs)[0]
    loss = F.cross_entropy(twin.head(hiddens[-1]), targets)
    grads = torch.autograd.grad(loss, hiddens)
    return [g.norm().item() for g in grads]


class GradientFlowProbe:
    """Records into grad_flow.csv at the steps of `grad_flow.steps` (numbers, `first`, `middle`, `last`)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.log = rundir.CsvLog(Path(run_dir) / rundir.GRAD_FLOW, rundir.GRAD_FLOW_COLUMNS)
        self.steps: set[int] = set()
        self.at_end = False
        if cfg.grad_flow.enabled:
            marks = {"first": 0, "middle": cfg.train.max_steps // 2}
            self.steps = {marks.get(m, m) for m in cfg.grad_flow.steps if m != "last"}
            self.at_end = "last" in cfg.grad_flow.steps

    def record(self, model: SequenceClassifier, step: int) -> None:
        """Probe `model` on the fixed batch of this run's seed and append the norms for `step`."""
        cfg = self.cfg
        generator = stream_generator(cfg.seed, GRAD_FLOW_STREAM, self.device)
        batch = palindrome_batch(cfg.data.length, cfg.grad_flow.batch_size, generator, self.device)
        norms = gradient_flow(model, cfg.model.name, *batch)
        self.log.append([{"step": step, "t": t, "grad_norm": v} for t, v in enumerate(norms, start=1)])
