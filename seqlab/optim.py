"""SGD (with momentum), RMSprop and Adam as multi-tensor (foreach) updates, by config name.

The update rules are torch.optim's (tests check them step by step against it); seqlab keeps its own because
constructing any torch.optim.Optimizer imports torch._dynamo, about 1 s of every run's start-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from omegaconf import DictConfig

OPTIMIZERS = ("sgd", "sgd_momentum", "rmsprop", "adam")


class ForeachOptimizer:
    """A minimal optimizer over one parameter group: `step()`, `zero_grad()`, `state_dict()`, `lr`."""

    buffer_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay = lr, weight_decay
        self.steps = 0
        self.buffers = {name: [torch.zeros_like(p) for p in self.params] for name in self.buffer_names}

    @property
    def param_groups(self) -> list[dict]:
        """torch.optim-style view of the hyper-parameters (read-only)."""
        return [{"lr": self.lr, "weight_decay": self.weight_decay}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def _gradients(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(params, gradients with weight decay added) for the parameters that have a gradient."""
        params = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        return params, grads

    def _buffers_of(self, params: list[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        index = {id(p): i for i, p in enumerate(self.params)}
        return {name: [bufs[index[id(p)]] for p in params] for name, bufs in self.buffers.items()}

    @torch.no_grad()
    def step(self) -> None:
        params, grads = self._gradients()
        self.steps += 1
        self.update(params, grads, self._buffers_of(params))

    def update(self, params: list[torch.Tensor], grads: list[torch.Tensor], buffers: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"steps": self.steps, "buffers": {k: [b.clone() for b in v] for k, v in self.buffers.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        for name, saved in state["buffers"].items():
            for buffer, value in zip(self.buffers[name], saved, strict=True):
                buffer.copy_(value)


class SGD(ForeachOptimizer):
    """p -= lr * b, b = momentum * b + g (b = g on the first step; plain SGD without momentum)."""

    buffer_names = ("momentum",)

    def __init__(self, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = momentum

    def update(self, params, grads, buffers):
        if self.momentum:
            momentum = buffers["momentum"]
            if self.steps == 1:
                torch._foreach_copy_(momentum, grads)
            else:
                torch._foreach_mul_(momentum, self.momentum)
                torch._foreach_add_(momentum, grads)
            grads = momentum
        torch._foreach_add_(params, grads, alpha=-self.lr)


class RMSprop(ForeachOptimizer):
    """s = alpha * s + (1 - alpha) * g^2;  p -= lr * g / (sqrt(s) + eps)."""

    buffer_names = ("square_avg",)

    def __init__(self, params, lr: float, weight_decay: float = 0.0, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps = alpha, eps

    def update(self, params, grads, buffers):
        square_avg = buffers["square_avg"]
        torch._foreach_mul_(square_avg, self.alpha)
        torch._foreach_addcmul_(square_avg, grads, grads, value=1 - self.alpha)
        denominator = torch._foreach_sqrt(square_avg)
        torch._foreach_add_(denominator, self.eps)
        torch._foreach_addcdiv_(params, grads, denominator, value=-self.lr)


class Adam(ForeachOptimizer):
    """Adam with bias correction: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)."""

    buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def update(self, params, grads, buffers):
        exp_avg, exp_avg_sq = buffers["exp_avg"], buffers["exp_avg_sq"]
        torch._foreach_lerp_(exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(exp_avg_sq, grads, grads, value=1 - self.beta2)
        bias_correction1 = 1 - self.beta1**self.steps
        bias_correction2 = 1 - self.beta2**self.steps
        denominator = torch._foreach_sqrt(exp_avg_sq)
        torch._foreach_div_(denominator, math.sqrt(bias_correction2))
        torch._foreach_add_(denominator, self.eps)
        torch._foreach_addcdiv_(params, exp_avg, denominator, value=-self.lr / bias_correction1)


def clip_grad_norm(params: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ (L2 norm, foreach), less its per-call grouping overhead; the total norm."""
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp_(max=1.0))
    return total


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: DictConfig) -> ForeachOptimizer:
    """The optimizer `cfg.name` with the learning rate, weight decay and its own knobs from `cfg`."""
    if cfg.name in ("sgd", "sgd_momentum"):
        return SGD(params, cfg.lr, cfg.weight_decay, momentum=cfg.momentum)
    if cfg.name == "rmsprop":
        return RMSprop(params, cfg.lr, cfg.weight_decay, alpha=cfg.alpha)
    return Adam(params, cfg.lr, cfg.weight_decay, betas=tuple(cfg.betas))
