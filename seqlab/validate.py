"""Config checks that stop a run before training with one line naming the key and what it accepts."""

from __future__ import annotations

import difflib
import functools
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from seqlab.data import ALL_QUERIES
from seqlab.errors import ConfigError
from seqlab.rundir import OPTIMIZED_METRICS, RERUN, check_sweep_name, flatten

CONF_DIR = Path(__file__).resolve().parent / "conf"
USER_CONF_DIR = Path("conf")  # the working directory's conf/, on Hydra's search path after seqlab's (config.yaml)
CHECKED_GROUPS = ("model", "dataset", "optimizer", "init", "experiment")
GROUP_PACKAGES = {"model": "model", "dataset": "data", "optimizer": "optimizer", "init": "init"}  # group -> its keys
SLURM_LAUNCHERS = ("slurm", "slurm_gpu")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "float64")
EARLY_STOPS = ("none", "accuracy", "loss_plateau", "train_streak")
GRAD_FLOW_MARKS = ("first", "middle", "last")


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
    from seqlab.models.base import ENCODINGS, VALUES
    from seqlab.optim import OPTIMIZERS
    from seqlab.tasks import TASKS

    _choice(cfg, "model.name", sorted(CELLS))
    _choice(cfg, "data.name", TASKS)
    encodings = {"palindrome": ENCODINGS, "adding": (VALUES,)}.get(cfg.data.name, ("onehot",))
    _choice(cfg, "data.encoding", encodings)
    _choice(cfg, "device", DEVICES)
    _choice(cfg, "precision", PRECISIONS)
    gpu = torch.cuda.is_available()
    if cfg.device == "cuda" and not gpu:
        raise ConfigError("device='cuda' is invalid: no CUDA GPU is available here (use device=cpu or auto)")
    check_memory(cfg, available_memory("cuda" if cfg.device != "cpu" and gpu else "cpu"))  # 1e9: too large first
    _integer(cfg, "model.hidden_size", 1)
    _integer(cfg, "model.num_layers", 1)
    _choice(cfg, "model.impl", IMPLS)
    if cfg.data.name == "text":
        _check_text(cfg)
    elif cfg.data.name == "recall":
        _integer(cfg, "data.pairs", 1)
        _integer(cfg, "data.vocab_size", cfg.data.pairs)  # n distinct keys
        queries = OmegaConf.select(cfg, "data.queries", default=1)
        if queries != ALL_QUERIES and not (_is_int(queries) and 1 <= queries <= cfg.data.pairs):
            raise _fail("data.queries", queries, f"an integer from 1 to data.pairs ({cfg.data.pairs}), or all")
    else:
        _integer(cfg, "data.length", 2 if cfg.data.name == "palindrome" else 1)
    if cfg.grad_flow.enabled is True and cfg.data.name != "palindrome":
        raise _fail("grad_flow.enabled", True, f"false with dataset={cfg.data.name} (the probe measures the "
                    "palindrome task)")  # fmt: skip
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
    if cfg.init.name == "chrono":
        if cfg.model.name not in ("lstm", "gru"):
            raise _fail("init.name", "chrono", f"lstm or gru with init=chrono (model.name={cfg.model.name!r})")
        if not _is_number(cfg.init.t_max) or cfg.init.t_max <= 2:
            raise _fail("init.t_max", cfg.init.t_max, "a number > 2")
    forget_bias = OmegaConf.select(cfg, "init.forget_bias")
    if forget_bias is not None and (not _is_number(forget_bias) or cfg.model.name != "lstm"):
        raise _fail("init.forget_bias", forget_bias, "null, or a number with model=lstm")
    _integer(cfg, "seed", 0)
    _choice(cfg, "rerun", RERUN)
    _choice(cfg, "optimized_metric", OPTIMIZED_METRICS)
    check_sweep_name(cfg.sweep_name)
    if cfg.threads != "auto":
        _integer(cfg, "threads", 1)
    _integer(cfg, "train.batch_size", 1)
    _integer(cfg, "train.max_steps", 0)
    _positive(cfg, "train.max_norm")
    _integer(cfg, "train.log_every", 1)
    _integer(cfg, "train.eval_every", 1)
    _integer(cfg, "train.checkpoint_every", 0)
    _positive(cfg, "train.lr_decay.factor")
    _integer(cfg, "train.lr_decay.every", 0)
    _choice(cfg, "train.progress", ("auto", True, False))
    _choice(cfg, "train.stop_on_divergence", (True, False))
    _choice(cfg, "train.early_stop.kind", EARLY_STOPS)
    _integer(cfg, "train.early_stop.patience", 1)
    _integer(cfg, "train.early_stop.window", 1)
    _integer(cfg, "train.early_stop.streak", 1)
    _positive(cfg, "train.early_stop.epsilon", allow_zero=True)
    _integer(cfg, "eval.batches", 1)
    _positive(cfg, "eval.solved_accuracy", maximum=1.0)
    _positive(cfg, "eval.solved_mse")
    if cfg.data.name == "adding" and cfg.train.early_stop.kind == "train_streak":
        raise _fail("train.early_stop.kind", "train_streak", "none, accuracy (solved: eval.solved_mse) or "
                    "loss_plateau with dataset=adding (a regression has no all-correct batches)")  # fmt: skip
    _choice(cfg, "grad_flow.enabled", (True, False))
    _integer(cfg, "grad_flow.batch_size", 1)
    for mark in cfg.grad_flow.steps:
        if not ((_is_int(mark) and mark >= 0) or mark in GRAD_FLOW_MARKS):
            raise _fail("grad_flow.steps", mark, "integers >= 0 or " + ", ".join(GRAD_FLOW_MARKS))


def _check_text(cfg: DictConfig) -> None:
    """The text task's keys, then its corpus: readable UTF-8, long enough for one sequence in each part (data.digest
    is checked where the run resolves it, `train.resolved`)."""
    from seqlab.data.corpus import check_split, read_corpus  # noqa: PLC0415

    if not isinstance(cfg.data.path, str) or not cfg.data.path:
        raise _fail("data.path", cfg.data.path, "the path of a UTF-8 text file")
    _integer(cfg, "data.seq_length", 1)
    _positive(cfg, "data.heldout_fraction")
    if cfg.data.heldout_fraction >= 1:
        raise _fail("data.heldout_fraction", cfg.data.heldout_fraction, "a number > 0 and < 1")
    _integer(cfg, "data.sample_every", 0)
    _integer(cfg, "data.sample_length", 1)
    temperatures = cfg.data.sample_temperatures
    if not OmegaConf.is_list(temperatures) or not all(_is_number(t) and t >= 0 for t in temperatures):
        raise _fail("data.sample_temperatures", temperatures, "a list of numbers >= 0 (0: greedy)")
    if not isinstance(cfg.data.sample_prompt, str):
        raise _fail("data.sample_prompt", cfg.data.sample_prompt, "a string (empty: a random first character)")
    corpus = read_corpus(cfg.data.path)
    check_split(corpus, cfg.data.path, cfg.data.seq_length, cfg.data.heldout_fraction)
    if unknown := sorted(set(cfg.data.sample_prompt) - set(corpus.symbols)):
        raise ConfigError(f"data.sample_prompt={cfg.data.sample_prompt!r} is invalid: {_characters(unknown)} not in "
                          f"the corpus's {len(corpus.symbols)} characters")  # fmt: skip


def _characters(characters: Sequence[str]) -> str:
    """'Z', '@' are / 'Z' is: characters named for a one-line message."""
    return ", ".join(repr(c) for c in characters) + (" are" if len(characters) > 1 else " is")


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The options of config group `group`: its yaml files in seqlab's configs and in the working directory's conf/."""
    return sorted({p.stem for d in (conf_dir, USER_CONF_DIR) for p in (d / group).glob("*.yaml")})


def check_command_line(arguments: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Raise ConfigError for a command line that would not do what it says: an option a config group lacks, a key
    that is not in the config (naming the closest one), an experiment preset without -m (its sweep would be
    ignored), or a SLURM launcher where SLURM is not installed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser  # noqa: PLC0415

    candidates = [a for a in arguments if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # malformed overrides: Hydra itself reports them
        return
    for override in overrides:
        if (group := override.key_or_group.split("@")[0]) in CHECKED_GROUPS and not override.is_delete():
            _check_group_option(override, group, conf_dir)
    multirun = any(a in ("-m", "--multirun", "-c", "--cfg", "--info", "-i", "--help", "-h") for a in arguments)
    chosen = _chosen_options(overrides, conf_dir)
    keys = None
    for override in overrides:
        group = override.key_or_group.split("@")[0]
        if override.is_sweep_override() and not multirun:
            line = override.input_line
            raise ConfigError(f"{line} is a sweep: add -m to run one run per value (python -m seqlab.run -m {line}), "
                              "or quote it to mean one string")  # fmt: skip
        if group == "experiment" and not multirun:
            raise ConfigError(f"{override.input_line}: an experiment preset defines a sweep; add -m to run it "
                              f"(python -m seqlab.run -m {override.input_line})")  # fmt: skip
        if group == "hydra/launcher" and override.value() in SLURM_LAUNCHERS and shutil.which("sbatch") is None:
            raise ConfigError(f"hydra/launcher={override.value()}: SLURM is not installed here (no sbatch on PATH); "
                              "use hydra/launcher=local_parallel, or launch from a SLURM login node")  # fmt: skip
        plain = "/" not in group and group not in (*CHECKED_GROUPS, "local") and not group.startswith("hydra.")
        if plain and not override.is_add() and not override.is_force_add() and not override.is_delete():
            keys = keys if keys is not None else known_keys(conf_dir)
            if override.key_or_group not in keys:
                raise ConfigError(_unknown_key(override.key_or_group, keys))
            _check_option_has_key(override.key_or_group, chosen, conf_dir)


def _chosen_options(overrides: Sequence[Any], conf_dir: Path) -> dict[str, list[str]]:
    """Each group's options this command line runs: its override's values, else config.yaml's default; {} when an
    experiment preset is given (a preset may choose options of its own)."""
    if any(o.key_or_group.split("@")[0] == "experiment" for o in overrides):
        return {}
    chosen = {}
    for entry in _root_config(conf_dir)["defaults"]:
        if isinstance(entry, dict) and (group := next(iter(entry)).split("@")[0]) in GROUP_PACKAGES:
            chosen[group] = [next(iter(entry.values()))]
    for override in overrides:
        group = override.key_or_group.split("@")[0]
        if group in GROUP_PACKAGES and not override.is_delete():
            values = override_values(override)
            if values is None:  # glob() and the like: no per-option check
                chosen.pop(group, None)
            else:
                chosen[group] = values
    return chosen


@functools.cache
def _root_config(conf_dir: Path) -> dict[str, Any]:
    """config.yaml, read once per process (the checks of one command line consult it more than once)."""
    return yaml.safe_load((conf_dir / "config.yaml").read_text())


def override_values(override: Any) -> list[str] | None:
    """The options a group override picks (`model=rnn`, `model=rnn,lstm`); None for glob(), range() and the like."""
    try:
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
    except Exception:
        return None
    return [str(value) for value in values]


def _check_option_has_key(key: str, chosen: dict[str, list[str]], conf_dir: Path) -> None:
    """Raise ConfigError when `key` belongs to a group whose chosen option lacks it (optimizer.momentum with adam)."""
    for group, package in GROUP_PACKAGES.items():
        if not key.startswith(f"{package}.") or group not in chosen:
            continue
        lacking = [option for option in chosen[group] if key not in _option_keys(group, option, package, conf_dir)]
        if lacking:
            having = [o for o in group_options(group, conf_dir) if key in _option_keys(group, o, package, conf_dir)]
            raise ConfigError(f"{key} is not a key of {group}={','.join(lacking)}; it is a key of {group}="
                              f"{', '.join(having)}")  # fmt: skip


def _option_keys(group: str, option: str, package: str, conf_dir: Path) -> set[str]:
    for directory in (conf_dir, USER_CONF_DIR):
        path = directory / group / f"{option}.yaml"
        if path.exists():
            keys = {f"{package}.{k}" for k in flatten(yaml.safe_load(path.read_text()) or {})}
            return keys | {k.rsplit(".", 1)[0] for k in keys}
    return set()


def _check_group_option(override: Any, group: str, conf_dir: Path) -> None:
    options = group_options(group, conf_dir)
    for value in override_values(override) or []:  # glob(), range() of groups and the like: Hydra reports them
        if value not in options:
            raise ConfigError(f"{override.key_or_group}={value} is invalid: expected one of {', '.join(options)}")


def known_keys(conf_dir: Path = CONF_DIR) -> set[str]:
    """Every key that a composed run config can have: config.yaml's and every option's of each group (at the group's
    package), in seqlab's configs and the working directory's conf/."""
    keys = set(flatten({k: v for k, v in _root_config(conf_dir).items() if k not in ("defaults", "hydra")}))
    keys |= {k.rsplit(".", 1)[0] for k in keys if "." in k}  # a whole node (train.early_stop=...) too
    for group, package in GROUP_PACKAGES.items():
        for option in group_options(group, conf_dir):
            keys |= _option_keys(group, option, package, conf_dir)
    return keys


def _unknown_key(key: str, keys: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see the keys with: python -m seqlab.run --cfg job"
    return f"{key} is not a config key ({hint}); to add a new key on purpose, write +{key}=..."


def check_memory(cfg: DictConfig, available: int) -> None:
    """Raise ConfigError, naming the key that weighs most, when one run would need more than `available` bytes."""
    from seqlab.data import LENGTH_KEYS  # noqa: PLC0415
    from seqlab.data.palindrome import NUM_DIGITS  # noqa: PLC0415
    from seqlab.models import CELLS  # noqa: PLC0415
    from seqlab.models.base import input_size  # noqa: PLC0415
    from seqlab.tasks import INPUT_STEPS  # noqa: PLC0415

    length_key, input_steps = LENGTH_KEYS[cfg.data.name], INPUT_STEPS[cfg.data.name]
    sizes = ("train.batch_size", length_key, "model.hidden_size", "model.num_layers", "eval.batches", "train.max_steps")
    if not all(_is_number(v := OmegaConf.select(cfg, k)) and v > 0 for k in sizes):
        return  # their own checks report them
    batch, length, hidden = cfg.train.batch_size, input_steps(cfg.data), cfg.model.hidden_size
    states = cfg.model.num_layers * hidden * (len(CELLS[cfg.model.name].gates) + 2)  # per time step and sequence
    symbols = 256 if cfg.data.name in ("text", "recall") else NUM_DIGITS  # one-hot inputs and per-step logits, about
    needs = {  # bytes: float32 activations kept for backward and their gradients; int64 held-out digits; step logs
        length_key: 2 * 4 * batch * length * (input_size(cfg.data.encoding, symbols) + states),
        "eval.batches": 8 * cfg.eval.batches * batch * length,
        "train.max_steps": 3 * 4 * cfg.train.max_steps,
    }
    total = sum(needs.values())
    if total > available:
        key = max(needs, key=needs.get)
        raise ConfigError(f"{key}={OmegaConf.select(cfg, key)} is too large here: the run would need about "
                          f"{_gigabytes(total)} of memory (train.batch_size={batch}, model.hidden_size={hidden}), "
                          f"{_gigabytes(available)} is available; lower {key}")  # fmt: skip


def _gigabytes(count: float) -> str:
    return f"{count / 2**30:,.1f} GiB"


def available_memory(device: str) -> int:
    """Bytes free for a run: the GPU's free memory on `cuda`, else the system's available memory."""
    import torch  # noqa: PLC0415

    if device == "cuda":
        return torch.cuda.mem_get_info()[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
