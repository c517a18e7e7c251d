"""The stacked engine of a pack: its runs' training steps as one step of a stacked model (seqlab.models.stacked).

Each run keeps everything that is its own - data stream, learning-rate schedule, gradient clip, evaluations,
logs, early stop, checkpoints - in its `Run`; only the forward, backward and update are done for all runs at once.
The stacked weights and optimizer state are handed back to the runs' own models and optimizers whenever a run
reads them (an evaluation, a sample, a gradient-flow record, a checkpoint) and before a run leaves the pack.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from seqlab.loop import Run
from seqlab.models.stacked import StackedModel
from seqlab.optim import StackedOptimizer
from seqlab.packs import PACK_KEYS, shared_settings


def stackable(runs: list[Run]) -> str | None:
    """Why `runs` cannot train as one stacked model (None when they can)."""
    if any(run.impl == "reference" for run in runs):
        return "the reference implementation trains its own loop"
    if len({shared_settings(run.flat_config) for run in runs}) > 1:
        return f"the runs differ in settings a pack shares ({', '.join(PACK_KEYS)})"
    return None


class StackedPack:
    """The runs of a pack (one shape, one optimizer rule) trained as one stacked model."""

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        self.model = StackedModel([run.model for run in runs]).to(runs[0].device)
        self.optimizer = StackedOptimizer(list(self.model.parameters()), [run.optimizer for run in runs])
        self.max_norms = torch.tensor([run.cfg.train.max_norm for run in runs], device=runs[0].device)

    def hand_back(self) -> None:
        """Copy the stacked weights and optimizer state into each run's own model and optimizer."""
        self.model.read_into([run.model for run in self.runs])
        self.optimizer.read_into([run.optimizer for run in self.runs])

    def step(self) -> None:
        """One training step of every run, and what is due after it for each."""
        if any(run.progress.step in run.probe.steps for run in self.runs):
            self.hand_back()  # the gradient-flow probe reads the weights before the step
        batches = [run.next_batch() for run in self.runs]
        tic = time.perf_counter()
        inputs, targets = (torch.stack(parts) for parts in zip(*batches, strict=True))
        logits = self.model(inputs)
        losses = F.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction="none")
        losses = losses.view(len(self.runs), -1).mean(1)
        for param in self.model.parameters():
            param.grad = None
        losses.sum().backward()  # run p's gradient is that of its own loss: the runs share no weights
        grad_norms = self.optimizer.clip_grad_norm(self.max_norms)
        lrs = torch.tensor([run.optimizer.lr for run in self.runs], dtype=torch.float64, device=logits.device)
        self.optimizer.step(lrs)
        accuracies = (logits.argmax(-1) == targets).float().flatten(1).mean(1)
        seconds = (time.perf_counter() - tic) / len(self.runs)
        if any(run.reads_state() for run in self.runs):
            self.hand_back()
        for p, run in enumerate(self.runs):
            run.after_step(losses[p].detach(), accuracies[p], grad_norms[p], seconds)
