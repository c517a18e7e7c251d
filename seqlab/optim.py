"""SGD (with momentum), RMSprop and Adam over one flat buffer of all parameters, by config name.

The update rules are torch.optim's (tests check them step by step against it). seqlab keeps its own because
constructing any torch.optim.Optimizer imports torch._dynamo, about 1 s of every run's start-up, and because
with every parameter and gradient a view into one flat buffer, gradient clipping and an update are a handful
of tensor ops for the whole model instead of a handful per parameter (torch's foreach ops loop over the
parameters on the CPU).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from omegaconf import DictConfig, OmegaConf

ALIGNMENT = 16  # floats: every parameter starts on a 64-byte boundary, as if it were allocated on its own


class FlatOptimizer:
    """A minimal optimizer over one parameter group: `zero_grad()`, `clip_grad_norm()`, `step()`, `state_dict()`.

    Construction moves the parameters into one flat buffer (each `p.data` becomes a view of it) and gives each
    a gradient that is a view of a second flat buffer, into which autograd accumulates in place; a gradient set
    or cleared from outside is copied back in. Build it after the model has moved to its device. Every parameter
    takes part in every step (a parameter without a gradient counts as a zero gradient).
    """

    buffer_names: tuple[str, ...] = ()  # the rule's state, one flat buffer each
    hyper_names: tuple[str, ...] = ()  # the rule's own hyper-parameters (attributes), besides lr and weight_decay

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay = lr, weight_decay
        self.steps = 0
        self.offsets, size = [], 0
        for p in self.params:
            self.offsets.append(size)
            size += -(-p.numel() // ALIGNMENT) * ALIGNMENT
        first = self.params[0]
        self.flat = torch.zeros(size, dtype=first.dtype, device=first.device)
        self.flat_grad = torch.zeros_like(self.flat)
        self.grad_views = self.views(self.flat_grad)
        for p, view, grad_view in zip(self.params, self.views(self.flat), self.grad_views, strict=True):
            view.copy_(p.detach())
            p.data, p.grad = view, grad_view
        self.buffers = {name: torch.zeros_like(self.flat) for name in self.buffer_names}

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Each parameter's part of a flat buffer, shaped like the parameter."""
        return [flat[o : o + p.numel()].view_as(p) for p, o in zip(self.params, self.offsets, strict=True)]

    @property
    def param_groups(self) -> list[dict]:
        """torch.optim-style view of the hyper-parameters (read-only)."""
        return [{"lr": self.lr, "weight_decay": self.weight_decay}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient and point every `p.grad` at its view (`set_to_none` is accepted for torch.optim's
        sake): a gradient set from outside is dropped, as zeroing would drop it."""
        for p, view in zip(self.params, self.grad_views, strict=True):
            p.grad = view
        self.flat_grad.zero_()

    def _adopt_grads(self) -> None:
        """Copy a gradient that was set from outside (or cleared) into its view, and put the view back."""
        for p, view in zip(self.params, self.grad_views, strict=True):
            if p.grad is view:
                continue
            if p.grad is None:
                view.zero_()
            else:
                view.copy_(p.grad)
            p.grad = view

    @torch.no_grad()
    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        """Scale the gradient to an L2 norm of at most `max_norm`, as torch.nn.utils.clip_grad_norm_; the norm."""
        self._adopt_grads()
        total = torch.linalg.vector_norm(self.flat_grad)
        self.flat_grad.mul_((max_norm / (total + 1e-6)).clamp_(max=1.0))
        return total

    @torch.no_grad()
    def step(self) -> None:
        self._adopt_grads()
        grad = self.flat_grad
        if self.weight_decay:
            grad = grad.add(self.flat, alpha=self.weight_decay)
        self.steps += 1
        self.update(self.flat, grad)

    def update(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        """Apply the update rule to the flat parameter, given the flat gradient (weight decay included)."""
        raise NotImplementedError

    @staticmethod
    def stacked_update(param: torch.Tensor, grad: torch.Tensor, state: dict[str, torch.Tensor],
                       hyper: dict[str, torch.Tensor], lr: torch.Tensor, steps: torch.Tensor) -> None:  # fmt: skip
        """The same rule for the P runs of a stacked pack (`StackedOptimizer`): tensors (P, ...), each run's
        hyper-parameters, learning rate and step count as columns that broadcast against them."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The step count and copies of the state buffers, per parameter."""
        buffers = {name: [view.clone() for view in self.views(flat)] for name, flat in self.buffers.items()}
        return {"steps": self.steps, "buffers": buffers}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        for name, saved in state["buffers"].items():
            for view, value in zip(self.views(self.buffers[name]), saved, strict=True):
                view.copy_(value)


class SGD(FlatOptimizer):
    """p -= lr * b, b = momentum * b + g (b = g on the first step; plain SGD without momentum)."""

    buffer_names = ("momentum",)
    hyper_names = ("momentum",)

    def __init__(self, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = momentum

    def update(self, param, grad):
        if self.momentum:
            buffer = self.buffers["momentum"]
            if self.steps == 1:
                buffer.copy_(grad)
            else:
                buffer.mul_(self.momentum).add_(grad)
            grad = buffer
        param.add_(grad, alpha=-self.lr)

    @staticmethod
    def stacked_update(param, grad, state, hyper, lr, steps):
        momentum, first = state["momentum"], steps == 1
        uses_momentum = hyper["momentum"] != 0  # without momentum the buffer stays unused, as in SGD
        momentum.copy_(torch.where(uses_momentum, torch.where(first, grad, momentum * hyper["momentum"] + grad),
                                   momentum))  # fmt: skip
        param.sub_(lr * torch.where(uses_momentum, momentum, grad))


class RMSprop(FlatOptimizer):
    """s = alpha * s + (1 - alpha) * g^2;  p -= lr * g / (sqrt(s) + eps)."""

    buffer_names = ("square_avg",)
    hyper_names = ("alpha", "eps")

    def __init__(self, params, lr: float, weight_decay: float = 0.0, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps = alpha, eps
        self.denominator = torch.empty_like(self.flat)  # scratch, not state

    def update(self, param, grad):
        square_avg = self.buffers["square_avg"]
        square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
        torch.sqrt(square_avg, out=self.denominator).add_(self.eps)
        param.addcdiv_(grad, self.denominator, value=-self.lr)

    @staticmethod
    def stacked_update(param, grad, state, hyper, lr, steps):
        square_avg = state["square_avg"]
        square_avg.mul_(hyper["alpha"]).add_((1 - hyper["alpha"]) * grad * grad)
        param.sub_(lr * grad / (square_avg.sqrt() + hyper["eps"]))


class Adam(FlatOptimizer):
    """Adam with bias correction: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)."""

    buffer_names = ("exp_avg", "exp_avg_sq")
    hyper_names = ("beta1", "beta2", "eps")

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.denominator = torch.empty_like(self.flat)  # scratch, not state

    def update(self, param, grad):
        exp_avg, exp_avg_sq, denominator = self.buffers["exp_avg"], self.buffers["exp_avg_sq"], self.denominator
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias_correction1 = 1 - self.beta1**self.steps
        bias_correction2 = 1 - self.beta2**self.steps
        torch.sqrt(exp_avg_sq, out=denominator).div_(math.sqrt(bias_correction2)).add_(self.eps)
        param.addcdiv_(exp_avg, denominator, value=-self.lr / bias_correction1)

    @staticmethod
    def stacked_update(param, grad, state, hyper, lr, steps):
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - hyper["beta1"])
        exp_avg_sq.mul_(hyper["beta2"]).add_((1 - hyper["beta2"]) * grad * grad)
        correction1, correction2 = 1 - hyper["beta1"] ** steps, (1 - hyper["beta2"] ** steps).sqrt()
        param.sub_(lr / correction1 * exp_avg / (exp_avg_sq.sqrt() / correction2 + hyper["eps"]))


class StackedOptimizer:
    """The update rules above for the P runs of a stacked pack at once, each run with its own hyper-parameters,
    learning rate, step count and state: parameters (P, *shape), hyper-parameters as per-run columns.

    Built from the runs' own optimizers (one rule for all: the pack key includes optimizer.name) and read back
    into them (`read_into`). Equal to the flat rules up to floating-point rounding (tested).
    """

    def __init__(self, params: list[torch.Tensor], optimizers: list[FlatOptimizer]) -> None:
        rules = {type(o) for o in optimizers}
        if len(rules) != 1:
            raise ValueError(f"a stacked pack needs one optimizer rule, not {sorted(r.__name__ for r in rules)}")
        self.rule, self.params = rules.pop(), params
        device = params[0].device
        self.hyper = {  # lr: per step, in `step`
            name: torch.tensor([float(getattr(o, name)) for o in optimizers], device=device, dtype=torch.float64)
            for name in ("weight_decay", *self.rule.hyper_names)
        }
        self.steps = torch.tensor([o.steps for o in optimizers], device=device, dtype=torch.float64)
        self.buffers = {
            name: [torch.stack(views) for views in zip(*(o.views(o.buffers[name]) for o in optimizers), strict=True)]
            for name in self.rule.buffer_names
        }

    @staticmethod
    def per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Per-run values (P,) shaped to broadcast against a stacked tensor like `like` (P, ...)."""
        return values.view(-1, *[1] * (like.dim() - 1)).to(like.dtype)

    @torch.no_grad()
    def clip_grad_norm(self, max_norms: torch.Tensor) -> torch.Tensor:
        """Scale each run's gradient to an L2 norm of at most its max_norm, as FlatOptimizer does; the norms (P,)."""
        grads = [p.grad for p in self.params]
        totals = torch.stack([g.flatten(1).square().sum(1) for g in grads]).sum(0).sqrt()
        scale = (max_norms / (totals + 1e-6)).clamp_(max=1.0)
        for g in grads:
            g.mul_(self.per_run(scale, g))
        return totals

    @torch.no_grad()
    def step(self, lrs: torch.Tensor) -> None:
        """One update of every run with learning rates `lrs` (P,)."""
        self.steps += 1
        for j, (param, grad) in enumerate(zip(self.params, (p.grad for p in self.params), strict=True)):
            col = {name: self.per_run(values, param) for name, values in self.hyper.items()}
            lr = self.per_run(lrs, param)
            grad = grad + col["weight_decay"] * param
            state = {name: buffers[j] for name, buffers in self.buffers.items()}
            self.rule.stacked_update(param, grad, state, col, lr, self.per_run(self.steps, param))

    @torch.no_grad()
    def read_into(self, optimizers: list[FlatOptimizer]) -> None:
        """Copy run p's state and step count into `optimizers[p]`."""
        for p, optimizer in enumerate(optimizers):
            optimizer.steps = int(self.steps[p].item())
            for name, stacked in self.buffers.items():
                for view, value in zip(optimizer.views(optimizer.buffers[name]), stacked, strict=True):
                    view.copy_(value[p])


# config name (optimizer.name) -> its rule; the rule's constructor takes the optimizer config's keys (schema.py)
OPTIMIZERS: dict[str, type[FlatOptimizer]] = {"sgd": SGD, "sgd_momentum": SGD, "rmsprop": RMSprop, "adam": Adam}


def decayed_lr(lr: float, factor: float, every: int, step: int) -> float:
    """The learning rate of training step `step` (from 0) under step decay: lr * factor ** (step // every), or `lr`
    when every is 0. A function of the step alone, so a resumed run continues the schedule exactly."""
    return lr * factor ** (step // every) if every else lr


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: DictConfig) -> FlatOptimizer:
    """The optimizer `cfg.name` with the learning rate, weight decay and its own knobs from `cfg`."""
    if cfg.name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name={cfg.name!r} is invalid: expected one of {', '.join(OPTIMIZERS)}")
    settings = {key: value for key, value in OmegaConf.to_container(cfg, resolve=True).items() if key != "name"}
    return OPTIMIZERS[cfg.name](list(params), **settings)
