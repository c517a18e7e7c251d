"""seqlab's typed config schema: every key's type, default, accepted values and meaning, in one place.

Hydra composes a run's config on top of these dataclasses (config.yaml's first default is `seqlab_schema`; each
option of the `dataset`, `optimizer` and `init` groups starts from its own, e.g. `/schema/optimizer/AdamConf`), so
a key that does not exist, wherever it comes from (command line, preset, a user's config dir or primary config),
or a value of the wrong type, stops composition. A group whose options differ in their keys (`data`, `optimizer`,
`init`) is typed by its `name` once composed (`typed_node`), which also types a user's option that did not start
from a schema. The ranges and choices that types cannot express are each field's `Rule` (`check_rules`).

No torch here: the choices that live beside their code (cells, tasks, update rules, init schemes) are named as
`module:NAME` and imported when a config is checked.
"""

import dataclasses
import importlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from seqlab.errors import ConfigError
from seqlab.rundir import DIRNAME_EXCLUDED, dir_name

INT64_MAX = 2**63 - 1
SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit: a larger seed would alias a smaller one


@dataclass(frozen=True)
class Rule:
    """What a key accepts beyond its type: bounds (`above`: strictly greater than `low`), a choice from a tuple or
    from a `module:NAME` collection, or values besides numbers (`also`: e.g. auto)."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    below: bool = False
    choices: tuple[Any, ...] | str = ()
    also: tuple[Any, ...] = ()
    integer: bool = False  # for a field typed Any (threads: auto or an integer)

    def accepted(self) -> tuple[Any, ...]:
        """The choices, imported if named as `module:NAME`."""
        if isinstance(self.choices, str):
            module, name = self.choices.split(":")
            named = getattr(importlib.import_module(module), name)
            return tuple(sorted(named)) if isinstance(named, dict | set) else tuple(named)  # a sequence keeps its order
        return self.choices

    def describe(self, kind: str) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.accepted())
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.above else '>='} {self.low:g}")
        if self.high is not None and self.high != INT64_MAX:  # an int64's own bound goes without saying
            bounds.append(f"{'<' if self.below else '<='} {self.high:.10g}")
        text = f"{'an integer' if kind == 'int' else 'a finite number'} {' and '.join(bounds)}".strip()
        return " or ".join([*(str(a) for a in self.also), text])

    def admits(self, value: Any, kind: str) -> bool:
        if value in self.also and not isinstance(value, int | float):
            return True
        if self.choices:
            return value in self.accepted()
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind == "int" and not isinstance(value, int)) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or (value < self.high if self.below else value <= self.high)


def rule(default: Any = MISSING, **bounds: Any) -> Any:
    """A dataclass field with its default and its Rule."""
    factory = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"rule": Rule(**bounds)}, **factory)


COUNT = {"low": 1, "high": INT64_MAX, "integer": True}  # a positive integer
STEPS = {"low": 0, "high": INT64_MAX, "integer": True}  # an integer >= 0
POSITIVE = {"low": 0, "above": True}
FRACTION = {"low": 0, "high": 1, "above": True}  # in (0, 1]


@dataclass
class ModelConf:
    """The recurrent cell (conf/model/: one option per cell)."""

    name: str = rule("lstm", choices="seqlab.models.registry:CELLS")
    hidden_size: int = rule(128, **COUNT)
    num_layers: int = rule(1, **COUNT)
    # auto (fast where it can run, else fused, recorded) | fast (C++ CPU kernels; cuDNN on GPU) | fused | reference
    impl: str = rule("auto", choices="seqlab.models:IMPLS")


@dataclass
class LrDecayConf:
    """Step decay: the learning rate is optimizer.lr * factor ** (step // every)."""

    factor: float = rule(1.0, **POSITIVE)
    every: int = rule(0, **STEPS)  # steps between decays (0: never)


@dataclass
class EarlyStopConf:
    """When a run stops before train.max_steps."""

    kind: str = rule("accuracy", choices=("none", "accuracy", "loss_plateau", "train_streak"))
    patience: int = rule(3, **COUNT)  # accuracy: stop after this many consecutive evaluations >= eval.solved_accuracy
    window: int = rule(500, **COUNT)  # loss_plateau: steps in each of the two compared windows of training loss
    epsilon: float = rule(1.0e-4, low=0)  # loss_plateau: stop when |mean(window 1) - mean(window 2)| < epsilon
    streak: int = rule(50, **COUNT)  # train_streak: stop after this many consecutive all-correct training batches


@dataclass
class TrainConf:
    batch_size: int = rule(128, **COUNT)
    max_steps: int = rule(10000, **STEPS)
    max_norm: float = rule(10.0, **POSITIVE)  # gradient-norm clip
    log_every: int = rule(50, **COUNT)  # steps between metrics.csv rows
    eval_every: int = rule(250, **COUNT)  # steps between held-out evaluations (and checkpoints)
    checkpoint_every: int = rule(250, **STEPS)  # steps between checkpoints (0: only at the end and on signals)
    lr_decay: LrDecayConf = field(default_factory=LrDecayConf)
    progress: Any = rule("auto", choices=("auto", True, False))  # a bar: auto (on an interactive terminal)
    stop_on_divergence: bool = False  # stop once the gradient norm was inf or NaN at every step of an eval interval
    early_stop: EarlyStopConf = field(default_factory=EarlyStopConf)


@dataclass
class EvalConf:
    batches: int = rule(10, **COUNT)  # size of the fixed held-out set, in batches of train.batch_size
    solved_accuracy: float = rule(0.99, **FRACTION)  # a run has converged at the first evaluation reaching this
    solved_mse: float = rule(0.01, **POSITIVE)  # ... or, for a regression (dataset=adding), at this MSE or below


@dataclass
class GradFlowConf:
    enabled: bool = False  # record ||dL/dh_t|| for every time step t into grad_flow.csv
    steps: list[Any] = rule([0, "middle", "last"], **STEPS, also=("first", "middle", "last"))  # of train.max_steps
    batch_size: int = rule(128, **COUNT)


@dataclass
class TensorBoardConf:
    enabled: bool = False  # event files in each run's directory


@dataclass
class MLflowConf:
    enabled: bool = False
    tracking_uri: str = "sqlite:///outputs/mlflow.db"  # MLflow's recommended local store; or a server's http://...
    experiment: str = "seqlab"  # the MLflow experiment the runs go to


@dataclass
class LoggerConf:
    """Live tracking (seqlab/tracking.py), chosen with the `logger` group: none (default), tensorboard, mlflow, or
    several as a list (`logger=[tensorboard,mlflow]`). Not part of what a run computes (rundir.NOT_DEFINING)."""

    tensorboard: TensorBoardConf = field(default_factory=TensorBoardConf)
    mlflow: MLflowConf = field(default_factory=MLflowConf)


@dataclass
class SeqlabConfig:
    """One training run of a recurrent cell on a task. `data`, `optimizer` and `init` are typed by their name
    (DATASETS, OPTIMIZERS, INITS below)."""

    model: ModelConf = field(default_factory=ModelConf)
    data: Any = MISSING
    optimizer: Any = MISSING
    init: Any = MISSING
    seed: int = rule(0, low=0, high=SEED_MAX)  # seeds python, numpy, torch and the task generators
    device: str = rule("auto", choices=("auto", "cpu", "cuda"))  # auto picks cuda when available
    # torch CPU threads: auto (SLURM's cpus per task, else 1: seqlab/threads.py says why) or at most the cores here
    threads: Any = rule("auto", **COUNT, also=("auto",))
    precision: str = rule("float32", choices=("float32", "float64"))  # float64: no C++ kernels
    # names the multirun directory outputs/multirun/<sweep_name>/; an experiment preset names its own; auto: seqlab's
    # sweepers name it after the sweep's command line (its run-defining overrides, sorted), so that a relaunch finds
    # it and another sweep gets another
    sweep_name: str = "auto"
    # never | changed: retrain a run whose directory holds another config's results (moved to .replaced/)
    rerun: str = rule("never", choices="seqlab.rundir:RERUN")
    # the result.json number a run returns to an optimising sweeper (hydra/sweeper=optuna); NaN where it has none
    optimized_metric: str = rule("eval_accuracy", choices="seqlab.rundir:OPTIMIZED_METRICS")
    train: TrainConf = field(default_factory=TrainConf)
    eval: EvalConf = field(default_factory=EvalConf)
    grad_flow: GradFlowConf = field(default_factory=GradFlowConf)
    logger: LoggerConf = field(default_factory=LoggerConf)


# --- data: one schema per task (conf/dataset/, mounted at `data`) -------------------------------------------------
@dataclass
class PalindromeConf:
    name: str = "palindrome"
    length: int = rule(10, low=2, high=INT64_MAX)  # full palindrome length L: the model reads L-1 digits
    encoding: str = rule("onehot", choices="seqlab.models.base:ENCODINGS")  # scalar: each digit one float (course)


@dataclass
class CopyConf:
    name: str = "copy"
    length: int = rule(10, **COUNT)  # T: the delay between the last data symbol and the delimiter
    encoding: str = rule("onehot", choices=("onehot",))


@dataclass
class AddingConf:
    name: str = "adding"
    length: int = rule(100, low=2, high=INT64_MAX)  # T steps
    encoding: str = rule("values", choices=("values",))  # two real-valued channels (value, marker)


@dataclass
class RecallConf:
    name: str = "recall"
    pairs: int = rule(8, **COUNT)  # n key-value pairs (the sequence is 2n + 1 long)
    vocab_size: int = rule(16, **COUNT)  # keys and values each drawn from this many (>= pairs)
    queries: Any = rule(1, **COUNT, also=("all",))  # keys asked after the pairs (1 to pairs, or all)
    encoding: str = rule("onehot", choices=("onehot",))


@dataclass
class TextConf:
    name: str = "text"
    path: str = "data/grimm.txt"  # a UTF-8 text file, relative to the working directory
    digest: str = "auto"  # the file's sha256, resolved when the run starts and recorded
    seq_length: int = rule(30, **COUNT)  # characters per training sequence (a prediction after each)
    heldout_fraction: float = rule(0.05, low=0, high=1, above=True, below=True)  # the text's last part, held out
    encoding: str = rule("onehot", choices=("onehot",))
    sample_every: int = rule(1000, **STEPS)  # steps between samples written to samples.csv (0: only at the end)
    sample_length: int = rule(200, **COUNT)  # characters generated per sample
    # softmax(logits / T); 0: greedy. Any, not float: a recorded 0 stays 0 (the fingerprint hashes the values as given)
    sample_temperatures: list[Any] = rule([0, 0.5, 1.0, 2.0], low=0)
    sample_prompt: str = ""  # the start of every sample; empty: a random character of the training text


# --- optimizer: one schema per update rule (seqlab/optim.py's OPTIMIZERS) ----------------------------------------
@dataclass
class SGDConf:
    name: str = "sgd"
    lr: float = rule(1.0e-3, **POSITIVE)
    weight_decay: float = rule(0.0, low=0)
    momentum: float = rule(0.0, low=0)  # heavy-ball momentum


@dataclass
class RMSpropConf:
    name: str = "rmsprop"
    lr: float = rule(1.0e-3, **POSITIVE)
    weight_decay: float = rule(0.0, low=0)
    alpha: float = rule(0.99, **FRACTION)  # smoothing of the squared-gradient average


@dataclass
class AdamConf:
    name: str = "adam"
    lr: float = rule(1.0e-3, **POSITIVE)
    weight_decay: float = rule(0.0, low=0)
    betas: list[float] = rule([0.9, 0.999], low=0, high=1, below=True)


# --- init: one schema per scheme with parameters (seqlab/init.py) --------------------------------------------------
@dataclass
class InitConf:
    name: str = rule("default", choices="seqlab.init:INIT_SCHEMES")
    forget_bias: float | None = None  # LSTM only: set the forget-gate bias to this value; null keeps the scheme's


@dataclass
class NormalInitConf(InitConf):
    name: str = "normal"
    std: float = rule(1.0e-4, **POSITIVE)  # weights from N(0, std^2)


@dataclass
class ChronoInitConf(InitConf):
    name: str = "chrono"
    t_max: int = rule(100, low=2, above=True, high=INT64_MAX)  # the longest characteristic time the gates start with


# --- hydra/sweeper and hydra/launcher: the settings of seqlab's own plugins -----------------------------------------
@dataclass
class SweeperConf:
    """hydra/sweeper=seqlab: the grid of every swept value, runs launched where needed, a summary at the end."""

    _target_: str = "hydra_plugins.seqlab_sweeper.sweeper.SummarizingSweeper"
    max_batch_size: int | None = rule(None, **COUNT, also=(None,))  # runs handed to the launcher at once (null: all)
    params: dict[str, str] | None = None  # sweeps defined in a config (presets): `key: a,b` or `key: range(...)`


@dataclass
class CapacitySweeperConf(SweeperConf):
    """hydra/sweeper=capacity: per configuration, the longest solved candidate, found in a few probes."""

    _target_: str = "hydra_plugins.seqlab_sweeper.capacity.CapacitySweeper"
    candidate_key: str = "auto"  # the swept key whose values are the candidates; auto: the task's length key
    solved: str = rule("converged", choices="seqlab.capacity:SOLVED_CRITERIA")
    verify: int = rule(0, **STEPS)  # extra probes below the boundary, to catch non-monotone solving


@dataclass
class PackSettings:
    """What seqlab's packed launchers add (hydra/launcher=packed, slurm_packed)."""

    max_runs: int = rule(32, **COUNT)  # most runs in one pack
    stacked: Any = rule("auto", choices=("auto", True, False, "fused"))  # one stacked model (fused: Triton, opt-in)
    graph: bool = False  # a stacked step captured as one CUDA graph and replayed (opt-in; CUDA only)


@dataclass
class PackedLauncherConf(PackSettings):
    _target_: str = "hydra_plugins.seqlab_launcher.packed.PackedLauncher"


DATASETS = {"palindrome": PalindromeConf, "copy": CopyConf, "adding": AddingConf, "recall": RecallConf,
            "text": TextConf}  # fmt: skip
OPTIMIZERS = {"sgd": SGDConf, "sgd_momentum": SGDConf, "rmsprop": RMSpropConf, "adam": AdamConf}
INITS = {"normal": NormalInitConf, "chrono": ChronoInitConf}  # any other scheme: InitConf
UNIONS = {"data": (DATASETS, None), "optimizer": (OPTIMIZERS, None), "init": (INITS, InitConf)}  # node -> schemas


def register() -> None:
    """Store the run schemas in Hydra's ConfigStore - `seqlab_schema` (config.yaml's first default) and the schemas
    in `schema/<group>/` that conf/dataset, conf/optimizer and conf/init options start from - and register the
    resolvers that name run directories, `seqlab_dirname` and `seqlab_dirname_excluded` (hydra_plugins/seqlab_config
    calls this before Hydra composes a seqlab config)."""
    OmegaConf.register_new_resolver("seqlab_dirname", dir_name, replace=True)
    OmegaConf.register_new_resolver("seqlab_dirname_excluded", lambda: list(DIRNAME_EXCLUDED), replace=True)
    store = ConfigStore.instance()
    store.store(name="seqlab_schema", node=SeqlabConfig)
    _store({"dataset": DATASETS.values(), "optimizer": OPTIMIZERS.values(), "init": [*INITS.values(), InitConf]})


def register_plugins() -> None:
    """Store the schemas of seqlab's sweepers and launchers (`schema/sweeper/`, `schema/launcher/`), which any Hydra
    app may choose (hydra/launcher=packed), as Hydra's own plugins store theirs."""
    _store({"sweeper": [SweeperConf, CapacitySweeperConf], "launcher": [PackedLauncherConf]})


def _store(groups: dict[str, Any]) -> None:
    for group, schemas in groups.items():
        for schema in set(schemas):  # schema/optimizer/SGDConf, ...: apart from the options users pick
            ConfigStore.instance().store(group=f"schema/{group}", name=schema.__name__, node=schema)


def typed_node(cfg: DictConfig, node: str) -> DictConfig:
    """`cfg[node]` (data, optimizer or init) merged into the schema its `name` chooses: ConfigError for an unknown
    name; OmegaConf's errors for an unknown key or a value of the wrong type."""
    schemas, fallback = UNIONS[node]
    name = OmegaConf.select(cfg, f"{node}.name")
    schema = schemas.get(name, fallback)
    if schema is None:
        raise ConfigError(f"{node}.name={name!r} is invalid: expected one of {', '.join(schemas)}")
    return OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.to_container(cfg[node], resolve=True))


def _fields(schema: Any, prefix: str) -> Iterator[tuple[str, dataclasses.Field]]:
    for item in dataclasses.fields(schema):
        if dataclasses.is_dataclass(item.type):
            yield from _fields(item.type, f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", item


def _kind(item: dataclasses.Field) -> str:
    checked = item.metadata.get("rule")
    return "int" if item.type is int or (checked is not None and checked.integer) else "number"


def check_rules(cfg: DictConfig, schema: Any = SeqlabConfig, prefix: str = "") -> None:
    """ConfigError, naming the key and what it accepts, for the first value outside its field's Rule (each element
    of a list), and for a float that is not finite."""
    for key, item in _fields(schema, ""):
        value = OmegaConf.select(cfg, key)
        checked = item.metadata.get("rule")
        if checked is None and "float" in str(item.type) and value is not None:  # any float: finite
            checked = Rule()
        if checked is None:
            continue
        for element in value if OmegaConf.is_list(value) else [value]:
            if not checked.admits(element, _kind(item)):
                raise ConfigError(f"{prefix}{key}={element!r} is invalid: expected {checked.describe(_kind(item))}")


def first_unknown_key(cfg: DictConfig, schema: Any = SeqlabConfig, prefix: str = "") -> str | None:
    """The first key of `cfg` that `schema` has no field for, or None. Hydra adds any key a `+key=value` override
    names, so a misspelt one would run the default under the misspelt name; the nodes typed by their name (UNIONS)
    refuse unknown keys as `typed_node` merges them. The root's `hydra` node is Hydra's own."""
    fields = {item.name: item.type for item in dataclasses.fields(schema)}
    for key in cfg:
        if not prefix and key == "hydra":
            continue
        if key not in fields:
            return f"{prefix}{key}"
        if dataclasses.is_dataclass(fields[key]) and OmegaConf.is_dict(node := cfg[key]):
            if (found := first_unknown_key(node, fields[key], f"{prefix}{key}.")) is not None:
                return found
    return None


def _all_fields() -> Iterator[tuple[str, dataclasses.Field]]:
    """Every field of every schema, by its key in a run config (a key shared by several tasks: once per task)."""
    yield from _fields(SeqlabConfig, "")
    for node, (schemas, fallback) in UNIONS.items():
        for unit in dict.fromkeys([*schemas.values(), fallback]):  # in the tables' order: palindrome first
            if unit is not None:
                yield from _fields(unit, f"{node}.")


def keys() -> set[str]:
    """Every key a run config can have, with each node's own name (train.early_stop) too."""
    found = set()
    for key, _ in _all_fields():
        found.update(key.rsplit(".", depth)[0] for depth in range(key.count(".") + 1))
    return found


def accepted(key: str) -> str | None:
    """What `key` accepts by its Rule (the first task's, rule's or init's that has the key); None if it has none."""
    for name, item in _all_fields():
        if name == key and (checked := item.metadata.get("rule")) is not None:
            return checked.describe(_kind(item))
    return None
