"""Optimizers by config name."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from omegaconf import DictConfig

OPTIMIZERS = ("sgd", "rmsprop", "adam")


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: DictConfig) -> torch.optim.Optimizer:
    """The optimizer `cfg.name` with the learning rate, weight decay and its own knobs from `cfg`."""
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "foreach": True}
    if cfg.name == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **common)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, alpha=cfg.alpha, **common)
    return torch.optim.Adam(params, betas=tuple(cfg.betas), **common)
