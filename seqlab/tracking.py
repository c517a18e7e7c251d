"""Live tracking of a run in TensorBoard and MLflow: `logger=tensorboard`, `logger=mlflow`, or both as a list
(`logger=[tensorboard,mlflow]`); `logger=none` is the default.

metrics.csv and result.json stay the source of truth; a tracker mirrors them while the run trains: each metrics row
as it is written, and the result at the end. A tracker never costs a run: the first error it raises (a server that
is down, a full disk) is logged once, in one line, and that tracker stops; training goes on.

Resume and requeue continue the same tracker runs: `tracking.json` in the run directory keeps the MLflow run id.
A tracker buffers (TensorBoard flushes every 10 s, MLflow every MLFLOW_FLUSH_S), so a kill -9 loses its last rows;
a resumed run therefore first hands its trackers metrics.csv's rows up to the checkpoint (`backlog`): TensorBoard
discards the events it holds (`purge_step`) and takes them all again, MLflow takes those past the last step it
holds. No step is logged twice, none is missing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from seqlab import rundir
from seqlab.errors import ConfigError, one_line

log = logging.getLogger(__name__)

TRACKING = "tracking.json"  # the run's tracker ids: {"mlflow_runs": {tracking URI: run id}}: one per store
PARENT_RECORD = "mlflow_parent.json"  # in a sweep directory: its MLflow parent run per store, {tracking URI: run id}
EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}  # logger -> module, extra
SUMMARY_KEYS = ("eval_accuracy", "eval_loss", "best_eval_accuracy", "best_train_accuracy", "min_train_loss",
                "steps", "steps_to_converge", "bits_per_char", "wall_time_s")  # fmt: skip
HPARAM_KEYS = (
    "model.name",
    "model.hidden_size",
    "data.name",
    "optimizer.name",
    "optimizer.lr",
    "init.name",
    "seed",
    "precision",
)  # fmt: skip  (and every key the run directory is named by: what a sweep varies)
MLFLOW_FLUSH_S = 5.0  # MLflow gets the rows written since its last batch at most this often: live, and cheap


def enabled(cfg: DictConfig) -> list[str]:
    """The trackers `cfg.logger` turns on."""
    return [name for name in EXTRAS if cfg.logger[name].enabled]


def check_installed(cfg: DictConfig) -> None:
    """ConfigError naming the extra to install for a chosen tracker whose library is missing."""
    for name in enabled(cfg):
        if missing := missing_library(name):
            raise ConfigError(f"logger.{name}.enabled=true {missing}")


def missing_library(tracker: str) -> str | None:
    """`needs <library>: pip install -e '.[<extra>]'` where the `tracker`'s library is not installed, else None."""
    import importlib.util  # noqa: PLC0415

    module, extra = EXTRAS[tracker]
    return f"needs {module}: pip install -e '.[{extra}]'" if importlib.util.find_spec(module) is None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def summary(result: Mapping[str, Any]) -> dict[str, float]:
    """A finished run's summary numbers: its final and best scores, steps, and converged as 0 or 1."""
    numbers = {k: n for k in SUMMARY_KEYS if (n := _number(result.get(k))) is not None}
    return numbers | {"converged": float(bool(result.get("converged")))}


def hyperparameters(flat_config: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """The keys a sweep is sorted and filtered by: HPARAM_KEYS and the keys the run directory is named by."""
    named = {rundir.override_key(part) for part in re.split(r",(?=[+~]?[\w./@-]+=)", run_dir.name)}
    keys = [k for k in flat_config if k in HPARAM_KEYS or k in named]
    return {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in ((k, flat_config[k]) for k in keys)}


class Tracker:
    """One tracking library's view of one run; every call may raise (Tracking turns that into one warning)."""

    name = ""

    def log_row(self, row: Mapping[str, Any]) -> None: ...

    def finish(self, result: Mapping[str, Any]) -> None: ...


def _quiet_writer_threads() -> None:
    """Keep the traceback of TensorBoard's writer thread (a full disk, a file too large) off stderr: the writer
    raises the same error to its caller at the next write, where the tracker stops with its one warning line."""
    if getattr(threading.excepthook, "seqlab", False):
        return
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__name__ != "_AsyncWriterThread":  # tensorboard.summary.writer.event_file_writer's
            previous(args)

    hook.seqlab = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class TensorBoardTracker(Tracker):
    """Event files in the run directory: `tensorboard --logdir SWEEP` names each run by its directory."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, flat_config: Mapping[str, Any], backlog: list[dict[str, Any]]) -> None:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415

        _quiet_writer_threads()
        self.run_dir, self.flat_config = run_dir, flat_config
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=1 if backlog else None, flush_secs=10)
        for row in backlog:
            self.log_row(row)

    def log_row(self, row: Mapping[str, Any]) -> None:
        step = row["step"]
        for key, value in row.items():
            if key != "step" and (number := _number(value)) is not None:
                self.writer.add_scalar(key, number, step)

    def finish(self, result: Mapping[str, Any]) -> None:
        metrics = {f"final/{k}": v for k, v in summary(result).items()}
        self.writer.add_hparams(hyperparameters(self.flat_config, self.run_dir), metrics, run_name=".")
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run per seqlab run, nested under one parent run per sweep (the sweep directory's)."""

    name = "mlflow"

    def __init__(self, cfg: DictConfig, run_dir: Path, flat_config: Mapping[str, Any], impl: str,
                 backlog: list[dict[str, Any]]) -> None:  # fmt: skip
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a server that is down: fail fast, warn once
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        settings = cfg.logger.mlflow
        with store_lock(settings.tracking_uri):  # the runs of a sweep start at once; the first creates the store
            self.client = MlflowClient(tracking_uri=settings.tracking_uri)
            experiment = self.client.get_experiment_by_name(settings.experiment)
            if experiment is None:
                location = artifact_location(settings.tracking_uri)
                experiment_id = self.client.create_experiment(settings.experiment, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
        self.run_dir, self.pending, self.flushed = run_dir, [], time.monotonic()
        ids = read_ids(run_dir)
        self.run_id = mlflow_run_id(ids, settings.tracking_uri)
        if self.run_id is None:
            sweep = run_dir.parent if (run_dir.parent / "multirun.yaml").exists() else None
            tags = {"seqlab.fingerprint": rundir.fingerprint(flat_config), "seqlab.seed": str(flat_config.get("seed")),
                    "seqlab.sweep_name": str(flat_config.get("sweep_name")), "seqlab.run_dir": str(run_dir),
                    "seqlab.impl": impl, "mlflow.runName": run_dir.name}  # fmt: skip
            if sweep is not None:
                tags["mlflow.parentRunId"] = self._parent(experiment_id, sweep)
            self.run_id = self.client.create_run(experiment_id, tags=tags).info.run_id
            _write_ids(
                run_dir, ids | {"mlflow_runs": {**ids.get("mlflow_runs", {}), settings.tracking_uri: self.run_id}}
            )
            self._log_params(flat_config)
            self.logged_step = -1
        else:
            self.client.update_run(self.run_id, status="RUNNING")
            history = self.client.get_metric_history(self.run_id, "train_loss")
            self.logged_step = max((m.step for m in history), default=-1)
        for row in backlog:
            self.log_row(row)
        self.flush()

    def _parent(self, experiment_id: str, sweep: Path) -> str:
        """The sweep's parent run: created by the first of its runs, found by the others (under the sweep's lock)."""
        with rundir.exclusive(sweep / ".mlflow_parent.lock"):
            saved = _parent_record(sweep)
            if (run_id := saved.get(self.client.tracking_uri)) is not None:
                if self.client.get_run(run_id).info.status != "RUNNING":  # a relaunched sweep
                    self.client.update_run(run_id, status="RUNNING")
                return run_id
            tags = {"mlflow.runName": sweep.name, "seqlab.sweep_dir": str(sweep)}
            run_id = self.client.create_run(experiment_id, tags=tags).info.run_id
            record = {**saved, self.client.tracking_uri: run_id}
            rundir.atomic_write_text(sweep / PARENT_RECORD, json.dumps(record) + "\n")
            return run_id

    def _log_params(self, flat_config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param  # noqa: PLC0415

        params = [Param(k, str(v)[:6000]) for k, v in sorted(flat_config.items())]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def log_row(self, row: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric  # noqa: PLC0415

        step = row["step"]
        if step <= self.logged_step:  # logged before a kill -9: the resumed run computes the same row again
            return
        stamp = int(time.time() * 1000)
        numbers = {k: n for k, v in row.items() if k != "step" and (n := _number(v)) is not None}
        self.pending += [Metric(k, n, stamp, step) for k, n in numbers.items()]
        self.logged_step = step
        if time.monotonic() - self.flushed >= MLFLOW_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        for start in range(0, len(self.pending), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(self.run_id, metrics=self.pending[start : start + 1000])
        self.pending, self.flushed = [], time.monotonic()

    def finish(self, result: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag  # noqa: PLC0415

        self.flush()
        stamp, step = int(time.time() * 1000), int(result.get("steps") or 0)
        finals = [Metric(f"final_{k}", n, stamp, step) for k, n in summary(result).items()]
        self.client.log_batch(self.run_id, metrics=finals, tags=[RunTag("seqlab.status", str(result["status"]))])
        for name in (rundir.RESULT, f"{rundir.HYDRA}/config.yaml"):
            if (path := self.run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(path))
        status = {"completed": "FINISHED", "interrupted": "KILLED"}.get(result["status"], "FAILED")
        self.client.set_terminated(self.run_id, status=status)


def mlflow_run_id(ids: Mapping[str, Any], tracking_uri: str) -> str | None:
    """The run's MLflow run in the store at `tracking_uri` (from its tracking.json `ids`); None: none there yet."""
    runs = ids.get("mlflow_runs")
    return runs.get(tracking_uri) if isinstance(runs, dict) else None


def mlflow_status(tracking_uri: str, run_id: str) -> str:
    """An MLflow run's status (RUNNING, FINISHED, FAILED, KILLED) in the store at `tracking_uri`."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    return MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.status


def _parent_record(sweep: Path) -> dict[str, str]:
    """The sweep's MLflow parent run in each store (tracking URI -> run id), as their first runs recorded them."""
    if not (sweep / PARENT_RECORD).is_file():
        return {}
    saved = json.loads(rundir.inside(sweep, PARENT_RECORD).read_text())
    return {k: v for k, v in saved.items() if isinstance(v, str)} if isinstance(saved, dict) else {}


def end_sweep(sweep: Path, counts: Mapping[str, int], tracking_uri: str | None = None) -> None:
    """Close the sweep's MLflow parent run in each store its runs made one in (or in `tracking_uri` only): FINISHED,
    or FAILED when a run failed, with the sweep's `counts` (trained, skipped, failed, ...) as metrics. A relaunch's
    first run marks it RUNNING again. A store that cannot be reached costs one warning line, never the sweep."""
    try:
        parents = _parent_record(sweep)
        if not parents:
            return
        from mlflow.entities import Metric  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        for uri, run_id in parents.items():
            if tracking_uri in (None, uri):
                client, stamp = MlflowClient(tracking_uri=uri), int(time.time() * 1000)
                client.log_batch(run_id, metrics=[Metric(f"runs_{k}", v, stamp, 0) for k, v in counts.items()])
                client.set_terminated(run_id, status="FAILED" if counts.get("failed") else "FINISHED")
    except Exception as error:  # noqa: BLE001 - tracking never costs a sweep
        _warn("mlflow", error, sweep, f"the sweep's parent run stays open (seqlab export mlflow {sweep} closes it)")


def _sqlite_file(tracking_uri: str) -> Path | None:
    """The database file of a local SQLite store's URI (`sqlite:///path`); None for any other store."""
    return Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a local SQLite store (its file + `.lock`): MLflow creates the store's tables on
    first use, and two processes doing so at once fail ("table alembic_version already exists")."""
    database = _sqlite_file(tracking_uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with rundir.exclusive(Path(f"{database}.lock")):
        yield


def artifact_location(tracking_uri: str) -> str | None:
    """Where a local store keeps artifacts: `mlartifacts/` beside its SQLite file (MLflow's own default, ./mlruns in
    the working directory, would leave them outside outputs/); a server decides its own (None)."""
    database = _sqlite_file(tracking_uri)
    return None if database is None else database.resolve().parent.joinpath("mlartifacts").as_uri()


def backlog(metrics: rundir.CsvLog, until: int) -> list[dict[str, Any]]:
    """metrics.csv's rows up to step `until`, numbers as numbers (an empty cell: absent)."""
    rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in metrics.rows(lambda s: s <= until)]
    return [row | {"step": int(row["step"])} for row in rows]


def read_ids(run_dir: Path) -> dict[str, Any]:
    """The run's tracker ids (tracking.json), {} when it has none."""
    path = rundir.inside(run_dir, TRACKING)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_ids(run_dir: Path, ids: dict[str, Any]) -> None:
    rundir.atomic_write_text(Path(run_dir) / TRACKING, json.dumps(ids, indent=1) + "\n")


class Tracking:
    """The trackers a run's config turns on. Each call reaches every tracker still working; a tracker that raises
    is reported once and dropped."""

    def __init__(self, trackers: list[Tracker], run_dir: Path | None = None) -> None:
        self.trackers, self.run_dir = trackers, run_dir

    @classmethod
    def open(cls, cfg: DictConfig, run_dir: Path, flat_config: Mapping[str, Any], metrics: rundir.CsvLog,
             resumed_step: int, impl: str) -> Tracking:  # fmt: skip
        """The trackers `cfg.logger` turns on, for a run starting (or resumed) at `resumed_step` with its metrics
        log `metrics`."""
        trackers = []
        names = enabled(cfg)
        written = backlog(metrics, resumed_step) if names and resumed_step else []
        for name in names:
            try:
                if name == "tensorboard":
                    trackers.append(TensorBoardTracker(run_dir, flat_config, written))
                else:
                    trackers.append(MLflowTracker(cfg, run_dir, flat_config, impl, written))
            except Exception as error:
                _warn(name, error, run_dir)
        return cls(trackers, run_dir)

    def _each(self, call: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, call)(*args)
            except Exception as error:
                _warn(tracker.name, error, self.run_dir)
                self.trackers.remove(tracker)

    def log_row(self, row: Mapping[str, Any]) -> None:
        self._each("log_row", row)

    def finish(self, result: Mapping[str, Any]) -> None:
        self._each("finish", result)
        self.trackers = []


def _warn(name: str, error: Exception, where: Any,
          then: str = "the run goes on, metrics.csv and result.json are complete") -> None:  # fmt: skip
    log.warning("%s: tracking with %s stopped (%s); %s", where, name, one_line(error), then)
