"""The stacked engine of a pack: its runs' training steps as one step of a stacked model (stacked_model.py).

Each run keeps everything that is its own - data stream, learning-rate schedule, gradient clip, evaluations,
logs, early stop, checkpoints - in its `Run`; only the forward, backward and update are done for all runs at once.
The stacked weights and optimizer state are handed back to the runs' own models and optimizers whenever a run
reads them (an evaluation, a sample, a gradient-flow record, a checkpoint) and before a run leaves the pack.
"""

from __future__ import annotations

import logging
import statistics
import time

import torch
import torch.nn.functional as F

from seqlab.engines.stacked_model import StackedModel
from seqlab.errors import one_line
from seqlab.loop import Run
from seqlab.optim import StackedOptimizer

log = logging.getLogger(__name__)


class StackedPack:
    """The runs of a pack (one shape, one optimizer rule) trained as one stacked model. With `graph`, the step's
    computation (forward, backward, clipping, the update) runs WARMUP times uncaptured on a side stream, is then
    captured as one CUDA graph, and from there on is replayed with each step's batch copied into the graph's own
    input tensors: one launch a step instead of a few per time step. Where it cannot be captured (not a CUDA device,
    an error while capturing) the step runs uncaptured; `graph_state` says which, and each run's `pack` records it."""

    WARMUP = 3  # uncaptured steps before the capture: PyTorch asks for a few on a side stream (cuBLAS, allocator)

    def __init__(self, runs: list[Run], fused: bool = False, graph: bool = False) -> None:
        self.runs = runs
        self.model = StackedModel([run.model for run in runs], fused).to(runs[0].device)
        self.optimizer = StackedOptimizer(list(self.model.parameters()), [run.optimizer for run in runs])
        self.max_norms = torch.tensor([run.cfg.train.max_norm for run in runs], device=runs[0].device)
        # per-run values kept on the device, copied there again only when they change (a learning-rate decay): a
        # tensor made from a Python list at every step is a host-to-device copy that waits for the GPU
        self.lrs: torch.Tensor | None = None
        self.lr_values: list[float] = []
        self.lengths: dict[tuple[int, ...], torch.Tensor] = {}
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_inputs: tuple[torch.Tensor, ...] = ()  # the captured step's inputs, copied into at each replay
        self.graph_outputs: tuple[torch.Tensor, ...] = ()
        self.graph_state = "warming up" if graph else None
        self.steps_taken = 0
        if graph and runs[0].device.type != "cuda":
            self.record_graph("not captured: CUDA graphs need a CUDA device")

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
        inputs, lengths = padded([inputs for inputs, _ in batches], self.lengths)
        targets = torch.stack([targets for _, targets in batches])
        self.learning_rates(inputs.device)
        if self.graph is not None:
            for static, value in zip(self.graph_inputs, (inputs, targets), strict=True):
                static.copy_(value)
            self.graph.replay()
            losses, accuracies, grad_norms = self.graph_outputs
        elif self.graph_state == "warming up":
            losses, accuracies, grad_norms = self.warm_or_capture(inputs, targets, lengths)
        else:
            losses, accuracies, grad_norms = self.compute(inputs, targets, lengths)
        self.steps_taken += 1
        seconds = (time.perf_counter() - tic) / len(self.runs)
        if any(run.reads_state() for run in self.runs):
            self.hand_back()
        for p, run in enumerate(self.runs):
            run.after_step(losses[p].detach(), accuracies[p], grad_norms[p], seconds)

    def learning_rates(self, device: torch.device) -> torch.Tensor:
        """The runs' current learning rates (P,) on `device`, copied there only when one has changed, into the same
        tensor (a captured step reads it where it was)."""
        values = [run.optimizer.lr for run in self.runs]
        if self.lrs is None:
            self.lrs, self.lr_values = torch.tensor(values, dtype=torch.float64, device=device), values
        elif values != self.lr_values:
            self.lrs.copy_(torch.tensor(values, dtype=torch.float64))
            self.lr_values = values
        return self.lrs

    def compute(self, inputs: torch.Tensor, targets: torch.Tensor,
                lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """Forward, backward, clipping and the update of every run: its losses, accuracies and gradient norms (P,)."""
        logits = self.model(inputs, lengths)
        losses = F.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction="none")
        losses = losses.view(len(self.runs), -1).mean(1)
        for param in self.model.parameters():
            param.grad = None
        losses.sum().backward()  # run p's gradient is that of its own loss: the runs share no weights
        grad_norms = self.optimizer.clip_grad_norm(self.max_norms)
        self.optimizer.step(self.lrs)
        accuracies = (logits.argmax(-1) == targets).float().flatten(1).mean(1)
        return losses.detach(), accuracies, grad_norms

    def warm_or_capture(self, inputs: torch.Tensor, targets: torch.Tensor,
                        lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """One of the WARMUP uncaptured steps on a side stream, or the capture (then this step's first replay)."""
        if self.steps_taken < self.WARMUP:
            side, main = torch.cuda.Stream(inputs.device), torch.cuda.current_stream(inputs.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                computed = self.compute(inputs, targets, lengths)
            main.wait_stream(side)
            return computed
        graph, static = torch.cuda.CUDAGraph(), (inputs.clone(), targets.clone())
        try:
            with torch.cuda.graph(graph):
                outputs = self.compute(*static, lengths)
        except Exception as error:  # noqa: BLE001 - a step that cannot be captured runs uncaptured
            torch.cuda.synchronize(inputs.device)
            self.record_graph(f"not captured: {one_line(error)}")
            return self.compute(inputs, targets, lengths)
        self.graph, self.graph_inputs, self.graph_outputs = graph, static, outputs
        self.record_graph("captured")
        graph.replay()
        return outputs

    def record_graph(self, state: str) -> None:
        """Say in the log and in each run's `pack` whether its steps run as a captured CUDA graph, or why not."""
        self.graph_state = state
        if state == "captured":
            log.info("the pack's stacked step is captured as one CUDA graph")
        else:
            log.warning("the pack's stacked step runs uncaptured: %s", state.removeprefix("not captured: "))
        for run in self.runs:
            run.pack = {**(run.pack or {}), "graph": state}


def padded(inputs: list[torch.Tensor], known: dict[tuple[int, ...], torch.Tensor] | None = None,
           ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """The runs' input batches (B, T_p) as one (P, B, max T), each padded after its own last symbol, and the
    lengths T_p (None when every run reads the same length), taken from `known` where it has them (the lengths
    on the device, made once per pack)."""
    lengths = tuple(x.shape[-1] for x in inputs)
    if len(set(lengths)) == 1:
        return torch.stack(inputs), None
    longest = max(lengths)
    stacked = torch.stack([F.pad(x, (0, longest - x.shape[-1])) for x in inputs])
    known = {} if known is None else known
    if lengths not in known:
        known[lengths] = torch.tensor(lengths, device=stacked.device)
    return stacked, known[lengths]


class Calibration:
    """Which is faster for a pack, stacked or run by run, measured on its first rounds (a round: one step of every
    run): WARMUP + ROUNDS rounds run by run, then as many stacked, the warm-up rounds not counted; then the faster
    (median seconds a round) for the rest. Both modes train the runs for real while they are timed."""

    WARMUP, ROUNDS = 1, 5

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[bool, list[float]] = {False: [], True: []}
        self.choice: bool | None = None  # stacked or not, once measured

    def stacked_turn(self) -> bool:
        """Whether the coming round is stacked."""
        if self.choice is not None:
            return self.choice
        return len(self.seconds[False]) >= self.WARMUP + self.ROUNDS

    def start(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def record(self, stacked: bool, started: float) -> None:
        """Count a round that began at `started`; settle once both modes have their rounds."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds[stacked].append(time.perf_counter() - started)
        if len(self.seconds[True]) == self.WARMUP + self.ROUNDS:
            stacked_s, alone_s = self.medians()
            self.choice = stacked_s < alone_s

    def medians(self) -> tuple[float, float]:
        """(stacked, run by run): median seconds a round, after the warm-up."""
        return tuple(statistics.median(self.seconds[mode][self.WARMUP :]) for mode in (True, False))  # type: ignore
