"""Config checks that stop a run before training with one line naming the key and what it accepts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqlab.rundir import RERUN

CONF_DIR = Path(__file__).resolve().parent / "conf"
USER_CONF_DIR = Path("conf")  # the working directory's conf/, on Hydra's search path after seqlab's (config.yaml)
CHECKED_GROUPS = ("model", "dataset", "optimizer", "init", "experiment")
DEVICES = ("auto", "cpu", "cuda")
EARLY_STOPS = ("none", "accuracy", "loss_plateau", "train_streak")
GRAD_FLOW_MARKS = ("first", "middle", "last")


class ConfigError(ValueError):
    """An invalid config value; its message is one line."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fail(key: str, value: Any, accepted: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: expected {accepted}")


def _integer(cfg: DictConfig, key: str, minimum: int) -> None:
    value = OmegaConf.select(cfg, key)
    if not _is_int(value) or value < minimum:
        raise _fail(key, value, f"an integer >= {minimum}")


def _positive(cfg: DictConfig, key: str, allow_zero: bool = False, maximum: float | None = None) -> None:
    value = OmegaConf.select(cfg, key)
    low_ok = _is_number(value) and (value >= 0 if allow_zero else value > 0)
    if not low_ok or (maximum is not None and value > maximum):
        bound = ">= 0" if allow_zero else "> 0"
        raise _fail(key, value, f"a number {bound}" + (f" and <= {maximum}" if maximum is not None else ""))


def _choice(cfg: DictConfig, key: str, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    value = OmegaConf.select(cfg, key)
    if value not in choices:
        raise _fail(key, value, "one of " + ", ".join(str(c) for c in choices))


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first invalid value of a composed run config."""
    import torch  # noqa: PLC0415 - only runs need torch; the aggregator imports this package without it

    from seqlab.init import INIT_SCHEMES
    from seqlab.models import CELLS, IMPLS
    from seqlab.models.base import ENCODINGS
    from seqlab.optim import OPTIMIZERS

    _choice(cfg, "model.name", sorted(CELLS))
    _integer(cfg, "model.hidden_size", 1)
    _integer(cfg, "model.num_layers", 1)
    _choice(cfg, "model.impl", IMPLS)
    _choice(cfg, "data.name", ("palindrome",))
    _integer(cfg, "data.length", 2)
    _choice(cfg, "data.encoding", ENCODINGS)
    _choice(cfg, "optimizer.name", OPTIMIZERS)
    _positive(cfg, "optimizer.lr")
    _positive(cfg, "optimizer.weight_decay", allow_zero=True)
    if cfg.optimizer.name in ("sgd", "sgd_momentum"):
        _positive(cfg, "optimizer.momentum", allow_zero=True)
    if cfg.optimizer.name == "rmsprop":
        _positive(cfg, "optimizer.alpha", maximum=1.0)
    if cfg.optimizer.name == "adam":
        betas = cfg.optimizer.betas
        if len(betas) != 2 or not all(_is_number(b) and 0 <= b < 1 for b in betas):
            raise _fail("optimizer.betas", list(betas), "two numbers in [0, 1)")
    _choice(cfg, "init.name", INIT_SCHEMES)
    if cfg.init.name == "normal":
        _positive(cfg, "init.std")
    forget_bias = OmegaConf.select(cfg, "init.forget_bias")
    if forget_bias is not None and (not _is_number(forget_bias) or cfg.model.name != "lstm"):
        raise _fail("init.forget_bias", forget_bias, "null, or a number with model=lstm")
    _integer(cfg, "seed", 0)
    _choice(cfg, "rerun", RERUN)
    _choice(cfg, "device", DEVICES)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' is invalid: no CUDA GPU is available here (use device=cpu or auto)")
    if cfg.threads != "auto":
        _integer(cfg, "threads", 1)
    _integer(cfg, "train.batch_size", 1)
    _integer(cfg, "train.max_steps", 0)
    _positive(cfg, "train.max_norm")
    _integer(cfg, "train.log_every", 1)
    _integer(cfg, "train.eval_every", 1)
    _integer(cfg, "train.checkpoint_every", 0)
    _choice(cfg, "train.progress", ("auto", True, False))
    _choice(cfg, "train.early_stop.kind", EARLY_STOPS)
    _integer(cfg, "train.early_stop.patience", 1)
    _integer(cfg, "train.early_stop.window", 1)
    _integer(cfg, "train.early_stop.streak", 1)
    _positive(cfg, "train.early_stop.epsilon", allow_zero=True)
    _integer(cfg, "eval.batches", 1)
    _positive(cfg, "eval.solved_accuracy", maximum=1.0)
    _choice(cfg, "grad_flow.enabled", (True, False))
    _integer(cfg, "grad_flow.batch_size", 1)
    for mark in cfg.grad_flow.steps:
        if not ((_is_int(mark) and mark >= 0) or mark in GRAD_FLOW_MARKS):
            raise _fail("grad_flow.steps", mark, "integers >= 0 or " + ", ".join(GRAD_FLOW_MARKS))


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The options of config group `group`: its yaml files in seqlab's configs and in the working directory's conf/."""
    return sorted({p.stem for d in (conf_dir, USER_CONF_DIR) for p in (d / group).glob("*.yaml")})


def check_group_overrides(arguments: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Raise ConfigError if a command-line override picks an option that a config group does not have."""
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415

    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # malformed overrides: Hydra itself reports them
        return
    for override in overrides:
        group = override.key_or_group.split("@")[0]
        if group not in CHECKED_GROUPS or override.is_delete():
            continue
        try:
            values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        except Exception:  # glob(), range() of groups and the like: Hydra itself reports them
            continue
        options = group_options(group, conf_dir)
        for value in values:
            if value not in options:
                raise ConfigError(f"{override.key_or_group}={value!s} is invalid: expected one of {', '.join(options)}")
