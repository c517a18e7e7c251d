"""One training run: `train(cfg, run_dir)` trains, evaluates, checkpoints and writes the run directory."""

from __future__ import annotations

import logging
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

import seqlab
from seqlab import rundir
from seqlab.data.palindrome import (
    GRAD_FLOW_STREAM,
    TRAIN_STREAM,
    heldout_set,
    palindrome_batch,
    stream_generator,
)
from seqlab.init import apply_init
from seqlab.models import build_model, count_parameters, reference_twin
from seqlab.models.base import SequenceClassifier
from seqlab.optim import FlatOptimizer, build_optimizer
from seqlab.validate import check_config

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger(__name__)
STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGUSR2", None)) if s)


class RunInterrupted(Exception):
    """A signal stopped the run after its state was checkpointed."""


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
    solved_streak: int = 0
    stopped_early: bool = False
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    resumes: int = 0


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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One optimizer step with gradient-norm clipping; returns (loss, accuracy, gradient norm), unsynchronised."""
    logits = model(inputs)
    loss = F.cross_entropy(logits, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = optimizer.clip_grad_norm(max_norm)
    optimizer.step()
    accuracy = (logits.argmax(-1) == targets).float().mean()
    return loss.detach(), accuracy, grad_norm


@torch.no_grad()
def evaluate(model: SequenceClassifier, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the held-out batches."""
    model.eval()
    loss = correct = count = 0.0
    for inputs, targets in batches:
        logits = model(inputs)
        loss += F.cross_entropy(logits, targets, reduction="sum").item()
        correct += (logits.argmax(-1) == targets).sum().item()
        count += len(targets)
    model.train()
    return loss / count, correct / count


def gradient_flow(model: SequenceClassifier, name: str, inputs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """||dL/dh_t|| for t = 1..T on one batch, through the reference twin whose h_t are graph nodes."""
    twin = reference_twin(model, name)
    hiddens = twin.core.hidden_states(inputs)
    loss = F.cross_entropy(twin.head(hiddens[-1]), targets)
    grads = torch.autograd.grad(loss, hiddens)
    return [g.norm().item() for g in grads]


def environment_info(device: torch.device) -> dict[str, Any]:
    """Where and with what the run ran: versions, git commit, host and, under SLURM, job ids."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
                cwd=Path(seqlab.__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    slurm_keys = {
        "job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID", "array_task_id": "SLURM_ARRAY_TASK_ID",
        "node": "SLURMD_NODENAME", "restart_count": "SLURM_RESTART_COUNT", "cpus_per_task": "SLURM_CPUS_PER_TASK",
    }  # fmt: skip
    slurm = {k: os.environ[v] for k, v in slurm_keys.items() if v in os.environ} or None
    return {
        "device": str(device),
        "host": socket.gethostname(),
        "threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "seqlab": seqlab.__version__,
        },
        "git_commit": commit,
        "slurm": slurm,
    }


class SignalGuard:
    """Turns SIGTERM/SIGINT/SIGUSR2 into a flag checked between steps, so a checkpoint is always consistent.

    After checkpointing, `handle()` passes the signal on to the handler installed before, if any: under submitit,
    SIGUSR2 (time limit, preemption) requeues the job and exits, and SIGTERM is bypassed, so training goes on until
    SLURM's SIGKILL (scontrol requeue, scancel), as submitit expects. With no such handler (a local run), the run
    stops with RunInterrupted. A requeued or relaunched run resumes from its latest checkpoint.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self.previous[sig] = signal.signal(sig, self._flag)
        return self

    def _flag(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, before_exit: Callable[[], None]) -> None:
        signum, self.received = self.received, None
        before_exit()
        previous = self.previous.get(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signum, None)  # submitit: SIGUSR2 requeues and exits; its SIGTERM bypass returns
            return
        raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")


class Run:
    """The state of one training run and the steps that change it."""

    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.device = select_device(cfg.device)
        if cfg.threads != "auto":
            torch.set_num_threads(cfg.threads)
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)
        seed_everything(cfg.seed)
        impl = "fast" if cfg.model.impl == "reference" else cfg.model.impl  # the reference twins it, below
        self.model = build_model(cfg.model.name, cfg.model.hidden_size, cfg.model.num_layers, cfg.data.encoding, impl)
        apply_init(self.model, cfg.init.name, cfg.init.get("std", 1e-4), cfg.init.forget_bias)
        if cfg.model.impl == "reference":  # same initial weights as the fast path, per-gate parameters
            self.model = reference_twin(self.model, cfg.model.name)
        self.model.to(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), cfg.optimizer)
        self.generator = stream_generator(cfg.seed, TRAIN_STREAM, self.device)
        self.heldout = heldout_set(cfg.data.length, cfg.train.batch_size, cfg.eval.batches, cfg.seed, self.device)
        self.progress = Progress()
        self.buffers = {k: torch.zeros(cfg.train.max_steps, device=self.device) for k in ("loss", "acc", "gnorm")}
        self.metrics = rundir.CsvLog(self.run_dir / rundir.METRICS, rundir.METRIC_COLUMNS)
        self.flow_log = rundir.CsvLog(self.run_dir / rundir.GRAD_FLOW, rundir.GRAD_FLOW_COLUMNS)
        self.flow_steps, self.flow_last = self._flow_schedule()

    def _flow_schedule(self) -> tuple[set[int], bool]:
        if not self.cfg.grad_flow.enabled:
            return set(), False
        marks = {"first": 0, "middle": self.cfg.train.max_steps // 2}
        steps = {marks.get(m, m) for m in self.cfg.grad_flow.steps if m != "last"}
        return steps, "last" in self.cfg.grad_flow.steps

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "buffers": {k: v[: self.progress.step].cpu() for k, v in self.buffers.items()},
            "progress": asdict(self.progress),
        }
        rundir.atomic_write(self.run_dir / rundir.CHECKPOINT, lambda f: torch.save(state, f))

    def resume(self) -> bool:
        """Load the checkpoint if there is one and cut the logs back to its step; True if resumed."""
        path = self.run_dir / rundir.CHECKPOINT
        if not path.exists():
            for log_file in (self.metrics, self.flow_log):  # a fresh start: no rows from an earlier attempt
                log_file.truncate(lambda step: False)
            return False
        state = torch.load(path, map_location="cpu", weights_only=False)  # generator states must stay on the CPU
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.progress = Progress(**state["progress"])
        self.progress.resumes += 1
        for key, saved in state["buffers"].items():
            self.buffers[key][: len(saved)] = saved.to(self.device)
        step = self.progress.step
        self.metrics.truncate(lambda s: s <= step)
        self.flow_log.truncate(lambda s: s < step)
        log.info("resumed %s from step %d", self.run_dir, step)
        return True

    # -- logging -----------------------------------------------------------------------------------------
    def record_gradient_flow(self) -> None:
        batch = palindrome_batch(
            self.cfg.data.length, self.cfg.grad_flow.batch_size,
            stream_generator(self.cfg.seed, GRAD_FLOW_STREAM, self.device), self.device,
        )  # fmt: skip
        norms = gradient_flow(self.model, self.cfg.model.name, *batch)
        step = self.progress.step
        self.flow_log.append([{"step": step, "t": t, "grad_norm": v} for t, v in enumerate(norms, start=1)])

    def write_row(self, evaluated: bool) -> dict[str, Any]:
        p = self.progress
        row: dict[str, Any] = {"step": p.step, "lr": self.optimizer.param_groups[0]["lr"]}
        if p.step > p.last_row_step:
            window = slice(p.last_row_step, p.step)
            row |= {
                "train_loss": self.buffers["loss"][window].mean().item(),
                "train_accuracy": self.buffers["acc"][window].mean().item(),
                "grad_norm": self.buffers["gnorm"][window].mean().item(),
            }
        if evaluated:
            row |= {"eval_loss": p.eval_loss, "eval_accuracy": p.eval_accuracy}
        self.metrics.append([row])
        p.last_row_step = p.step
        return row

    # -- evaluation and early stopping -------------------------------------------------------------------
    def evaluate(self) -> None:
        p, cfg = self.progress, self.cfg
        p.eval_loss, p.eval_accuracy = evaluate(self.model, self.heldout)
        p.last_eval_step = p.step
        if not p.eval_accuracy <= p.best_eval_accuracy:  # also replaces the initial NaN
            p.best_eval_accuracy = p.eval_accuracy
        solved = p.eval_accuracy >= cfg.eval.solved_accuracy
        p.solved_streak = p.solved_streak + 1 if solved else 0
        if solved and p.steps_to_converge is None:
            p.steps_to_converge = p.step
        log.debug("step %d: eval loss %.4f accuracy %.4f", p.step, p.eval_loss, p.eval_accuracy)

    def should_stop_early(self) -> bool:
        stop, p = self.cfg.train.early_stop, self.progress
        if stop.kind == "accuracy":
            return p.solved_streak >= stop.patience
        if stop.kind == "loss_plateau" and p.step >= 2 * stop.window:
            losses = self.buffers["loss"]
            earlier = losses[p.step - 2 * stop.window : p.step - stop.window].mean()
            recent = losses[p.step - stop.window : p.step].mean()
            return abs((earlier - recent).item()) < stop.epsilon
        return False

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(self, guard: SignalGuard) -> None:
        cfg, p = self.cfg.train, self.progress
        started = time.perf_counter() - p.wall_time_s
        bar = _progress_bar(cfg.progress, cfg.max_steps, p.step)
        with bar or nullcontext():
            while p.step < cfg.max_steps and not p.stopped_early:
                if p.step in self.flow_steps:
                    self.record_gradient_flow()
                tic = time.perf_counter()
                inputs, targets = palindrome_batch(self.cfg.data.length, cfg.batch_size, self.generator, self.device)
                loss, acc, gnorm = training_step(self.model, self.optimizer, inputs, targets, cfg.max_norm)
                for key, value in (("loss", loss), ("acc", acc), ("gnorm", gnorm)):
                    self.buffers[key][p.step] = value
                p.step += 1
                p.train_time_s += time.perf_counter() - tic
                evaluate_now = p.step % cfg.eval_every == 0 or p.step == cfg.max_steps
                if evaluate_now:
                    self.evaluate()
                    p.stopped_early = self.should_stop_early()
                if evaluate_now or p.step % cfg.log_every == 0:
                    row = self.write_row(evaluated=evaluate_now)
                    if bar:
                        bar.update(p.step - bar.n)
                        bar.set_postfix(loss=row.get("train_loss"), acc=row.get("train_accuracy"))
                p.wall_time_s = time.perf_counter() - started
                if cfg.checkpoint_every and p.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                if guard.received is not None:
                    guard.handle(before_exit=self._checkpoint_interrupted)
        if p.last_eval_step != p.step:
            self.evaluate()
            self.write_row(evaluated=True)
        if self.flow_last or p.step in self.flow_steps:
            self.record_gradient_flow()
        p.wall_time_s = time.perf_counter() - started

    def _checkpoint_interrupted(self) -> None:
        self.save_checkpoint()
        rundir.write_result(self.run_dir, self.result("interrupted"))

    def result(self, status: str, error: str | None = None) -> dict[str, Any]:
        p = self.progress
        return {
            "status": status,
            "config": rundir.flatten(OmegaConf.to_container(self.cfg, resolve=True)),
            "eval_accuracy": p.eval_accuracy,
            "eval_loss": p.eval_loss,
            "steps": p.step,
            "converged": p.steps_to_converge is not None,
            "steps_to_converge": p.steps_to_converge,
            "best_eval_accuracy": p.best_eval_accuracy,
            "stopped_early": p.stopped_early,
            "num_params": count_parameters(self.model),
            "wall_time_s": p.wall_time_s,
            "train_time_s": p.train_time_s,
            "steps_per_s": p.step / p.train_time_s if p.train_time_s else None,
            "resumes": p.resumes,
            "run_dir": str(self.run_dir),
            **environment_info(self.device),
            "error": error,
        }


def _progress_bar(setting: str | bool, total: int, initial: int) -> tqdm | None:
    """A tqdm bar on an interactive terminal (or when forced), else None."""
    if setting is False or (setting == "auto" and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False)


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train the run `cfg` in `run_dir` (resuming from its checkpoint) and return its result.

    A run whose result.json says `completed` is returned as it is, with `skipped: True` added (not written).
    Raises ConfigError before writing anything if `cfg` is invalid; any other exception is recorded as
    `status: failed` in result.json and re-raised.
    """
    check_config(cfg)
    run_dir = Path(run_dir)
    if rundir.is_completed(run_dir):
        log.info("skipping %s: already completed", run_dir)
        return rundir.read_result(run_dir) | {"skipped": True}
    run_dir.mkdir(parents=True, exist_ok=True)
    run: Run | None = None
    try:
        with SignalGuard() as guard:
            run = Run(cfg, run_dir)
            run.resume()
            log.info("training %s (%d parameters) on %s in %s", cfg.model.name, count_parameters(run.model),
                     run.device, run_dir)  # fmt: skip
            run.fit(guard)
    except (RunInterrupted, SystemExit, KeyboardInterrupt):
        raise  # stopped by a signal: the run was checkpointed and recorded as interrupted
    except Exception as error:
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        if run is not None:
            failed = run.result("failed", message)
        else:
            failed = {
                "status": "failed",
                "error": message,
                "config": rundir.flatten(OmegaConf.to_container(cfg)),
            }
        rundir.write_result(run_dir, failed | {"traceback": traceback.format_exc()})
        raise
    result = run.result("completed")
    rundir.write_result(run_dir, result)
    log.info("done %s: eval accuracy %.4f after %d steps", run_dir, run.progress.eval_accuracy, run.progress.step)
    return result
