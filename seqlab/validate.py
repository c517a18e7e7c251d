"""The one check of a composed run config, whatever it came from (command line, preset, a user's config dir or
primary config): its schema (seqlab/schema.py), then what a schema cannot express. Every refusal is one line naming
the key and what it accepts; `explain` turns Hydra's and OmegaConf's composition errors into such a line."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import CompactHydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from seqlab import rundir, schema
from seqlab.data import ALL_QUERIES
from seqlab.errors import ConfigError
from seqlab.rundir import check_sweep_name
from seqlab.tracking import check_installed

# Errors of composing a config (a missing option, an unknown key, a wrong type, a bad interpolation or YAML file):
# bad input, reported in one line (`explain`).
COMPOSITION_ERRORS = (ConfigError, CompactHydraException, OmegaConfBaseException, yaml.YAMLError)


def _fail(key: str, value: Any, accepted: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: expected {accepted}")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first invalid value of a composed run config: every key against its schema (type,
    range, choices: seqlab/schema.py), then the checks a schema cannot express, each stated here."""
    if (key := schema.first_unknown_key(cfg)) is not None:
        raise ConfigError(unknown_key(key))
    for node, (schemas, fallback) in schema.UNIONS.items():
        try:
            typed = schema.typed_node(cfg, node)
        except OmegaConfBaseException as error:  # a key of the node's schema: relative; an interpolation: absolute
            relative = not (error.full_key or "").startswith(node)
            raise ConfigError(explain(error, prefix=f"{node}." if relative else "")) from None
        schema.check_rules(typed, schemas.get(typed.name, fallback), prefix=f"{node}.")
    try:
        schema.check_rules(cfg)
    except OmegaConfBaseException as error:
        raise ConfigError(explain(error)) from None
    _check_combinations(cfg)


def typed_settings(settings: dict[str, Any], unit: Any, prefix: str) -> DictConfig:
    """`settings` (a plugin's constructor arguments, say) typed and checked against the dataclass `unit`:
    ConfigError naming `prefix` + the key."""
    try:
        typed = OmegaConf.merge(OmegaConf.structured(unit), settings)
    except OmegaConfBaseException as error:
        raise ConfigError(explain(error, prefix=prefix)) from None
    schema.check_rules(typed, unit, prefix)
    return typed


def check_here(cfg: DictConfig) -> None:
    """What the machine a run trains on must give it (checked there: a login node submitting to SLURM may differ):
    the device, the cores for `threads`, the memory, the text task's corpus, and the chosen trackers' libraries."""
    if cfg.data.name == "text":
        _check_text(cfg)
    check_installed(cfg)
    check_resources(cfg)


def _check_combinations(cfg: DictConfig) -> None:
    """Values that are valid alone but not together."""
    data, init = cfg.data, cfg.init
    if data.name == "recall":
        if data.vocab_size < data.pairs:
            raise _fail("data.vocab_size", data.vocab_size, f"an integer >= data.pairs ({data.pairs}): n distinct keys")
        if data.queries != ALL_QUERIES and data.queries > data.pairs:
            raise _fail("data.queries", data.queries, f"an integer from 1 to data.pairs ({data.pairs}), or all")
    if cfg.grad_flow.enabled and data.name != "palindrome":
        raise _fail("grad_flow.enabled", True, f"false with dataset={data.name} (the probe measures the palindrome "
                    "task)")  # fmt: skip
    if init.name == "chrono" and cfg.model.name not in ("lstm", "gru"):
        raise _fail("init.name", "chrono", f"lstm or gru with init=chrono (model.name={cfg.model.name!r})")
    if init.get("forget_bias") is not None and cfg.model.name != "lstm":
        raise _fail("init.forget_bias", init.forget_bias, "null, or a number with model=lstm")
    if data.name == "adding" and cfg.train.early_stop.kind == "train_streak":
        raise _fail("train.early_stop.kind", "train_streak", "none, accuracy (solved: eval.solved_mse) or "
                    "loss_plateau with dataset=adding (a regression has no all-correct batches)")  # fmt: skip
    check_sweep_name(cfg.sweep_name)


def check_resources(cfg: DictConfig) -> None:
    """The device, the cores for `threads` and the memory one run needs, on this machine."""
    import torch  # noqa: PLC0415 - only runs need torch; the aggregator imports this package without it

    gpu = torch.cuda.is_available()
    if cfg.device == "cuda" and not gpu:
        raise ConfigError("device='cuda' is invalid: no CUDA GPU is available here (use device=cpu or auto)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cfg.threads != "auto" and cfg.threads > cores:
        raise _fail("threads", cfg.threads, f"auto or an integer from 1 to the {cores} cores this process may use")
    check_memory(cfg, available_memory("cuda" if cfg.device != "cpu" and gpu else "cpu"))


def _check_text(cfg: DictConfig) -> None:
    """The text task's corpus: readable UTF-8, long enough for one sequence in each part, and holding the prompt's
    characters (data.digest is checked where the run resolves it, `train.resolved`)."""
    from seqlab.data.corpus import check_split, read_corpus  # noqa: PLC0415

    if not cfg.data.path:
        raise _fail("data.path", cfg.data.path, "the path of a UTF-8 text file")
    corpus = read_corpus(cfg.data.path)
    check_split(corpus, cfg.data.path, cfg.data.seq_length, cfg.data.heldout_fraction)
    if unknown := sorted(set(cfg.data.sample_prompt) - set(corpus.symbols)):
        raise ConfigError(f"data.sample_prompt={cfg.data.sample_prompt!r} is invalid: {_characters(unknown)} not in "
                          f"the corpus's {len(corpus.symbols)} characters")  # fmt: skip


def _characters(characters: Sequence[str]) -> str:
    """'Z', '@' are / 'Z' is: characters named for a one-line message."""
    return ", ".join(repr(c) for c in characters) + (" are" if len(characters) > 1 else " is")


def check_memory(cfg: DictConfig, available: int) -> None:
    """Raise ConfigError, naming the key that weighs most, when one run would need more than `available` bytes."""
    from seqlab.data import LENGTH_KEYS  # noqa: PLC0415
    from seqlab.data.palindrome import NUM_DIGITS  # noqa: PLC0415
    from seqlab.models import CELLS  # noqa: PLC0415
    from seqlab.models.base import input_size  # noqa: PLC0415
    from seqlab.tasks import INPUT_STEPS  # noqa: PLC0415

    length_key, input_steps = LENGTH_KEYS[cfg.data.name], INPUT_STEPS[cfg.data.name]
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


def explain(error: BaseException, prefix: str = "", overrides: Sequence[str] = ()) -> str:
    """One line for a composition error: the group option or key at fault and what it accepts, else the error's
    first lines without OmegaConf's object details (`prefix`: the node a key's full_key is relative to; `overrides`:
    the command line's, to name the one whose interpolation failed while Hydra named the run)."""
    if isinstance(error, MissingConfigException):  # `find`: group=option; `load`: an option of a list of them
        if found := re.search(r"Could not (?:find|load) '(.+)/([^/']+)'", str(error)):
            options = error.options if error.options is not None else group_options(found[1])
            return f"{found[1]}={found[2]} is invalid: expected one of {', '.join(options)}"
    if sweep := re.match(r"(?:Ambiguous value for argument|Sweep parameters) '(.+?)'", str(error)):
        line = sweep[1]
        return (f"{line} is a sweep: add -m to run one run per value (python -m seqlab.run -m {line}), or quote it "
                "to mean one string")  # fmt: skip
    linked = [e for e in (error, error.__cause__, error.__context__) if isinstance(e, OmegaConfBaseException)]
    cause = linked[0] if linked else error  # Hydra's composition errors wrap OmegaConf's, which name the key
    key = getattr(cause, "full_key", None)
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    lines = [line for line in lines if not re.match(r"(full_key|object_type|reference_type|Config search path)", line)]
    text = lines[0] if lines else type(error).__name__
    if key and re.match(r"Key '.+' not in", text):
        return unknown_key(f"{prefix}{key}")
    if isinstance(cause, InterpolationResolutionError):
        if key and not key.startswith("hydra."):
            return f"{prefix}{key}: {text}"
        interpolated = [override for override in overrides if "${" in override]  # met while naming the run
        return f"{' '.join(interpolated)}: {text}" if interpolated else text
    if key:
        accepted = schema.accepted(f"{prefix}{key}")
        return f"{prefix}{key}: {text}" + (f" (expected {accepted})" if accepted else "")
    return "; ".join(lines[:4]) if isinstance(error, MissingConfigException) or cause is error else text


def group_options(group: str) -> list[str]:
    """The options of the config group `group`: the running Hydra app's (in a sweep), else those on seqlab's search
    path (its own and its search path plugins'; a command line's --config-dir is not read here)."""
    if GlobalHydra.instance().is_initialized():
        return GlobalHydra.instance().config_loader().get_group_options(group)
    with initialize_config_module("seqlab.conf", version_base="1.3"):
        return GlobalHydra.instance().config_loader().get_group_options(group)


def unknown_key(key: str) -> str:
    """`key is not a config key (did you mean ...?)`, from the schema's keys; for a key of another option of its
    group (optimizer.momentum with adam), the options that have it."""
    node = key.split(".", 1)[0]
    if key in schema.keys() and node in schema.UNIONS:
        names = [name for name, unit in schema.UNIONS[node][0].items() if key.split(".", 1)[1] in unit.__annotations__]
        return f"{key} is not a key of this {node}: only of {node}.name = {', '.join(names)}"
    parent, _, leaf = key.rpartition(".")
    siblings = sorted({known.rpartition(".")[2] for known in schema.keys() if known.rpartition(".")[0] == parent})
    close = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)  # a misspelt key, beside the one it meant
    listing = "--cfg hydra" if key.startswith("hydra.") else "--cfg job"
    meant = f"{parent}.{close[0]}" if parent and close else "".join(close)
    hint = f"did you mean {meant}?" if close else f"see the keys with: python -m seqlab.run {listing}"
    return f"{key} is not a config key ({hint}; seqlab/schema.py lists every key)"


def check_job(task_overrides: Sequence[str], sweep_params: Any, single: bool) -> None:
    """What a job's own command line must not do: give a key twice (the run directory would be named after both
    values), or run a config that defines a sweep (hydra.sweeper.params) as a single run (all but one of its runs
    would be silently dropped)."""
    seen: dict[str, str] = {}
    for override in task_overrides:
        key = rundir.override_key(override)
        if key in seen:
            raise ConfigError(f"{key} is given twice ({seen[key]} and {override}): give it once")
        seen[key] = override
    if single and sweep_params:
        raise ConfigError(f"this config defines a sweep (hydra.sweeper.params: {', '.join(sweep_params)}): add -m to "
                          "run it, or pin one value of each of these keys in a preset of its own")  # fmt: skip
