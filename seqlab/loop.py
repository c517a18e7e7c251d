"""The training loop: a run's state (task, model, optimizer, data streams, progress, logs) and the steps that
change it."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from seqlab import checkpoint, rundir
from seqlab.data import IGNORE
from seqlab.data.streams import TRAIN_STREAM, stream_generator
from seqlab.grad_flow import GradientFlowProbe
from seqlab.init import apply_init
from seqlab.models import build_model, count_parameters, reference_twin
from seqlab.models.base import SequenceClassifier
from seqlab.optim import FlatOptimizer, build_optimizer, decayed_lr
from seqlab.provenance import environment_info
from seqlab.sampling import TrainingSamples
from seqlab.tasks import build_task
from seqlab.tracking import Tracking

log = logging.getLogger(__name__)
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}  # config's precision -> the run's dtype


def ieee_float32() -> None:
    """precision=float32 is IEEE fp32 everywhere: TF32 off in PyTorch's matrix products and in cuDNN, whose RNNs
    default to TF32 (PyTorch >= 2.9's per-backend settings where they exist, else the legacy flags; the two must
    not be mixed). The fused Triton recurrences ask for IEEE products themselves."""
    if hasattr(torch.backends.cudnn, "rnn"):
        for backend in (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn):
            backend.fp32_precision = "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False


@dataclass
class Progress:
    """Everything about a run's progress that a checkpoint must restore besides model and optimizer."""

    step: int = 0
    last_row_step: int = 0
    last_eval_step: int = -1
    eval_loss: float = float("nan")
    eval_accuracy: float = float("nan")
    best_eval_accuracy: float = float("nan")
    steps_to_converge: int | None = None
    diverged: bool = False  # the gradient norm was inf or NaN at every step of the latest evaluation interval
    solved_streak: int = 0
    stopped_early: bool = False
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    resumes: int = 0
    trained_on: list[str] = field(default_factory=list)  # each device (GPU or CPU model) that trained it, in order

    def trained_by(self, device: str) -> None:
        """Record that `device` trains the run from here on (a run repeats exactly on one CPU model, not across
        models, so a run resumed on another names both); a checkpoint written before this record was kept leaves
        its devices `not recorded`."""
        if self.step and not self.trained_on:
            self.trained_on.append(rundir.NOT_RECORDED)
        if device not in self.trained_on:
            self.trained_on.append(device)


def select_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the task generators have their own seeded streams)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def training_step(
    model: SequenceClassifier, optimizer: FlatOptimizer, inputs: torch.Tensor, targets: torch.Tensor, max_norm: float,
    masked: bool = False, regression: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One optimizer step with gradient-norm clipping; returns (loss, accuracy, gradient norm), unsynchronised. The
    loss and accuracy are means over every prediction: one per sequence, or one per time step (per-step targets);
    `masked`: over the targets that are not IGNORE; `regression`: the mean squared error, and no accuracy (NaN)."""
    outputs = model(inputs)
    loss = prediction_loss(outputs, targets, regression)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = optimizer.clip_grad_norm(max_norm)
    optimizer.step()
    if regression:
        return loss.detach(), torch.full_like(loss, math.nan), grad_norm
    hits = outputs.argmax(-1) == targets
    accuracy = hits.sum() / (targets != IGNORE).sum() if masked else hits.float().mean()
    return loss.detach(), accuracy, grad_norm


def prediction_loss(outputs: torch.Tensor, targets: torch.Tensor, regression: bool, reduction: str = "mean"):
    """Cross-entropy over the scored predictions (targets not IGNORE), or a regression's squared error."""
    if regression:
        return F.mse_loss(outputs.squeeze(-1), targets.to(outputs.dtype), reduction=reduction)
    return F.cross_entropy(outputs.flatten(0, -2), targets.flatten(), reduction=reduction, ignore_index=IGNORE)


@torch.no_grad()
def evaluate(
    model: SequenceClassifier, batches: list[tuple[torch.Tensor, torch.Tensor]], regression: bool = False
) -> tuple[float, float]:  # fmt: skip
    """Mean loss and accuracy over every prediction of the held-out batches (targets that are not IGNORE): the
    cross-entropy, or for a `regression` the squared error and no accuracy (NaN)."""
    model.eval()
    loss = correct = count = 0.0
    for inputs, targets in batches:
        outputs = model(inputs)
        loss += prediction_loss(outputs, targets, regression, reduction="sum").item()
        correct += 0 if regression else (outputs.argmax(-1) == targets).sum().item()
        count += (targets != IGNORE).sum().item()
    model.train()
    return loss / count, math.nan if regression else correct / count


class Run:
    """The state of one training run and the steps that change it.

    `impl` is the implementation that runs (fast, fused or reference; see `seqlab.engines.resolve_impl`) and
    `impl_fallback` why it is not the one the config asked for (None when it is).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, device: torch.device, impl: str, impl_fallback: str | None):
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.flat_config = rundir.flatten(OmegaConf.to_container(cfg, resolve=True))
        self.fingerprint = rundir.fingerprint(self.flat_config)
        self.impl, self.impl_fallback = impl, impl_fallback
        torch.set_num_threads(cfg.threads)  # a number: train() resolves auto
        if device.type == "cpu":
            torch.set_flush_denormal(True)
        seed_everything(cfg.seed)
        m = cfg.model
        self.task = build_task(cfg.data, device)
        # the reference starts from the fused layout's initial weights, so every impl starts from the same ones
        build_impl = "fused" if impl == "reference" else impl
        self.model = build_model(m.name, m.hidden_size, m.num_layers, cfg.data.encoding, build_impl,
                                 self.task.num_symbols, self.task.per_step, self.task.outputs)  # fmt: skip
        apply_init(self.model, cfg.init.name, cfg.init.get("std", 1e-4), cfg.init.forget_bias,
                   cfg.init.get("t_max", 100.0))  # fmt: skip
        if impl == "reference":
            self.model = reference_twin(self.model, m.name)
        dtype = PRECISIONS[cfg.precision]
        ieee_float32()
        self.model.to(device, dtype)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.optimizer)
        self.generator = stream_generator(cfg.seed, TRAIN_STREAM, device)
        self.heldout = self.task.heldout_set(cfg.train.batch_size, cfg.eval.batches, cfg.seed)
        self.progress = Progress()
        self.buffers = {
            k: torch.zeros(cfg.train.max_steps, device=device, dtype=dtype) for k in ("loss", "acc", "gnorm")
        }
        self.metrics = rundir.CsvLog(self.run_dir / rundir.METRICS, rundir.METRIC_COLUMNS + self.task.metric_columns)
        self.probe = GradientFlowProbe(cfg, self.run_dir, device)
        self.samples = TrainingSamples(cfg, self.run_dir, self.task) if self.task.samples else None
        self.pack: dict[str, Any] | None = None  # a packed run: {runs: the pack's size, stacked: bool}
        self.overflow_reported = False  # the log says once per run (in this process) that the gradient norm overflowed
        self.tracking = Tracking([])  # live trackers (logger=...), opened when training starts: `train.start_run`
        if self.samples:
            rundir.atomic_write_text(self.run_dir / rundir.VOCAB, json.dumps(self.task.vocabulary(), indent=1) + "\n")

    def logs(self) -> list[rundir.CsvLog]:
        """The run's step-keyed logs: metrics, the gradient-flow probe's and, for text, the samples."""
        return [self.metrics, self.probe.log] + ([self.samples.log] if self.samples else [])

    def write_row(self, evaluated: bool) -> dict[str, Any]:
        """Append a metrics.csv row: training means since the previous row and, if `evaluated`, the held-out ones."""
        p = self.progress
        row: dict[str, Any] = {"step": p.step, "lr": self.optimizer.param_groups[0]["lr"]}
        if p.step > p.last_row_step:
            window = slice(p.last_row_step, p.step)
            row |= {
                "train_loss": self.buffers["loss"][window].mean().item(),
                "train_accuracy": self.buffers["acc"][window].mean().item(),
                "grad_norm": self.buffers["gnorm"][window].mean().item(),
            }
            if not math.isfinite(row["grad_norm"]) and not self.overflow_reported:
                self.overflow_reported = True
                log.warning(
                    "%s: the gradient norm overflowed %s (%s) by step %d: clipping by the norm zeroes such a "
                    "step's update (inf) or makes every weight NaN (nan)",
                    self.run_dir, self.cfg.precision, row["grad_norm"], p.step,
                )  # fmt: skip
        if evaluated:
            row |= {"eval_loss": p.eval_loss, "eval_accuracy": p.eval_accuracy, **self.task.extra_metrics(p.eval_loss)}
        self.metrics.append([row])
        self.tracking.log_row(row)
        p.last_row_step = p.step
        return row

    def evaluate(self) -> None:
        """Evaluate on the held-out set and update convergence and the solved streak."""
        p, cfg = self.progress, self.cfg
        p.eval_loss, p.eval_accuracy = evaluate(self.model, self.heldout, self.task.regression)
        interval = self.buffers["gnorm"][max(p.last_eval_step, 0) : p.step]
        p.diverged = interval.numel() > 0 and not bool(torch.isfinite(interval).any())
        p.last_eval_step = p.step
        if not p.eval_accuracy <= p.best_eval_accuracy:  # also replaces the initial NaN
            p.best_eval_accuracy = p.eval_accuracy
        if self.task.regression:  # a regression is solved by its error
            solved = p.eval_loss <= cfg.eval.solved_mse
        else:
            solved = p.eval_accuracy >= cfg.eval.solved_accuracy
        p.solved_streak = p.solved_streak + 1 if solved else 0
        if solved and p.steps_to_converge is None:
            p.steps_to_converge = p.step
        log.debug("step %d: eval loss %.4f accuracy %.4f", p.step, p.eval_loss, p.eval_accuracy)

    def should_stop_early(self, evaluated: bool) -> bool:
        """Whether the early-stop rule holds at this metrics row (`evaluated`: the row has a held-out evaluation)."""
        stop, p = self.cfg.train.early_stop, self.progress
        if evaluated and self.cfg.train.stop_on_divergence and p.diverged:
            return True
        if stop.kind == "train_streak":  # the last `streak` training batches were all predicted correctly
            return p.step >= stop.streak and bool((self.buffers["acc"][p.step - stop.streak : p.step] == 1).all())
        if not evaluated:
            return False
        if stop.kind == "accuracy":
            return p.solved_streak >= stop.patience
        if stop.kind == "loss_plateau" and p.step >= 2 * stop.window:
            losses = self.buffers["loss"]
            earlier = losses[p.step - 2 * stop.window : p.step - stop.window].mean()
            recent = losses[p.step - stop.window : p.step].mean()
            return abs((earlier - recent).item()) < stop.epsilon
        return False

    @property
    def training(self) -> bool:
        """Whether the run has steps left: below train.max_steps and not stopped early."""
        return self.progress.step < self.cfg.train.max_steps and not self.progress.stopped_early

    def start_clock(self) -> None:
        """Start (or, resumed, continue) the run's wall clock."""
        self.started = time.perf_counter() - self.progress.wall_time_s

    def step(self) -> dict[str, Any] | None:
        """One training step and what is due after it (evaluation, metrics row, samples, checkpoint); returns the
        metrics row it wrote, if any."""
        inputs, targets = self.next_batch()
        tic = time.perf_counter()
        loss, acc, gnorm = training_step(self.model, self.optimizer, inputs, targets, self.cfg.train.max_norm,
                                         self.task.masked, self.task.regression)  # fmt: skip
        return self.after_step(loss, acc, gnorm, time.perf_counter() - tic)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Before a step: the gradient-flow record if due, the step's learning rate, and its training batch."""
        cfg, p = self.cfg.train, self.progress
        if p.step in self.probe.steps:
            self.probe.record(self.model, p.step)
        self.optimizer.lr = decayed_lr(self.cfg.optimizer.lr, cfg.lr_decay.factor, cfg.lr_decay.every, p.step)
        return self.task.batch(cfg.batch_size, self.generator)

    def after_step(
        self, loss: torch.Tensor, acc: torch.Tensor, gnorm: torch.Tensor, seconds: float
    ) -> dict[str, Any] | None:
        """Record a step's loss, accuracy and gradient norm, then what is due after it (see `step`)."""
        cfg, p = self.cfg.train, self.progress
        for key, value in (("loss", loss), ("acc", acc), ("gnorm", gnorm)):
            self.buffers[key][p.step] = value
        p.step += 1
        p.train_time_s += seconds
        row = None
        evaluate_now = p.step % cfg.eval_every == 0 or p.step == cfg.max_steps
        if evaluate_now:
            self.evaluate()
        if evaluate_now or p.step % cfg.log_every == 0:
            p.stopped_early = self.should_stop_early(evaluated=evaluate_now)
            row = self.write_row(evaluated=evaluate_now)
        if self.samples and (self.samples.due(p.step) or p.step == cfg.max_steps or p.stopped_early):
            self.samples.record(self.model, p.step)
        p.wall_time_s = time.perf_counter() - self.started
        if cfg.checkpoint_every and p.step % cfg.checkpoint_every == 0:
            checkpoint.save(self)
        return row

    def reads_state(self) -> bool:
        """Whether what is due after the coming step reads the model or optimizer (an evaluation, samples, a
        checkpoint) or may end the run: what a stacked pack must hand back before `after_step`."""
        cfg, p = self.cfg.train, self.progress
        after = p.step + 1
        return (
            after % cfg.eval_every == 0
            or after % cfg.log_every == 0  # a metrics row may stop the run early
            or after >= cfg.max_steps
            or bool(cfg.checkpoint_every and after % cfg.checkpoint_every == 0)
            or bool(self.samples and self.samples.due(after))
        )

    def finish(self) -> None:
        """After the last step: the final evaluation and gradient-flow record if due, and the final checkpoint."""
        cfg, p = self.cfg.train, self.progress
        if p.last_eval_step != p.step:
            self.evaluate()
            self.write_row(evaluated=True)
        if self.probe.at_end or p.step in self.probe.steps:
            self.probe.record(self.model, p.step)
        p.wall_time_s = time.perf_counter() - self.started
        if not (cfg.checkpoint_every and p.step % cfg.checkpoint_every == 0):
            checkpoint.save(self)  # the final model, for seqlab.generate and for a look at the weights

    def checkpoint_interrupted(self) -> None:
        checkpoint.save(self)
        result = self.result("interrupted")
        rundir.write_result(self.run_dir, result)
        self.tracking.finish(result)

    def result(self, status: str, error: str | None = None) -> dict[str, Any]:
        """The run's result.json content (see the run-directory contract in README)."""
        p = self.progress
        return {
            "status": status,
            "config": self.flat_config,
            "fingerprint": self.fingerprint,
            "impl": self.impl,
            "impl_fallback": self.impl_fallback,
            "eval_accuracy": p.eval_accuracy,
            "eval_loss": p.eval_loss,
            **self.task.extra_metrics(p.eval_loss),
            "steps": p.step,
            "converged": p.steps_to_converge is not None,
            "steps_to_converge": p.steps_to_converge,
            "diverged": p.diverged,
            "precision": self.cfg.precision,
            "best_eval_accuracy": p.best_eval_accuracy,
            "best_train_accuracy": self.buffers["acc"][: p.step].max().item() if p.step else float("nan"),
            "min_train_loss": self.buffers["loss"][: p.step].min().item() if p.step else float("nan"),
            "stopped_early": p.stopped_early,
            "num_params": count_parameters(self.model),
            "wall_time_s": p.wall_time_s,
            "train_time_s": p.train_time_s,
            "steps_per_s": p.step / p.train_time_s if p.train_time_s else None,
            "resumes": p.resumes,
            "trained_on": p.trained_on,
            "pack": self.pack,
            "run_dir": str(self.run_dir),
            **environment_info(self.device),
            "error": error,
        }
