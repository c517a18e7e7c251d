"""Live tracking with the real libraries: TensorBoard event files and an MLflow store (SQLite, as MLflow recommends),
read back with their own readers; resume after kill -9, a sweep's parent run, packed runs, a server that is down."""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, needs, run_cli, tiny
from omegaconf import OmegaConf

from seqlab import rundir
from seqlab.errors import ConfigError
from seqlab.train import train
from seqlab.validate import check_here

pytestmark = [needs("tensorboard", "tensorboard"), needs("mlflow", "mlflow")]


def rows(run_dir) -> list[dict]:
    with open(run_dir / rundir.METRICS) as file:
        return list(csv.DictReader(file))


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def mlflow_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("seqlab")
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


def assert_in_mlflow_once(uri: str, run_dirs: list) -> None:
    """Each run directory is one closed MLflow run under a sweep's parent, holding each metrics row once."""
    client, found = mlflow_runs(uri)
    children = {r.data.tags["seqlab.run_dir"]: r for r in found if "mlflow.parentRunId" in r.data.tags}
    assert sorted(children) == [str(d) for d in run_dirs]
    for run_dir in run_dirs:
        run = children[str(run_dir)]
        assert run.info.status == "FINISHED" and run.data.tags["seqlab.status"] == "completed"
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert [m.step for m in history] == [int(r["step"]) for r in rows(run_dir)]  # once each


def test_tensorboard_mirrors_every_metrics_row_and_the_hyperparameters(make_cfg, tmp_path):
    train(make_cfg("logger=tensorboard", "threads=1"), tmp_path)
    logged = scalars(tmp_path)
    written = rows(tmp_path)
    assert [step for step, _ in logged["train_loss"]] == [int(r["step"]) for r in written if r["train_loss"]]
    assert [step for step, _ in logged["eval_accuracy"]] == [int(r["step"]) for r in written if r["eval_accuracy"]]
    assert logged["train_loss"][-1][1] == pytest.approx(float(written[-1]["train_loss"]))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.PluginTagToContent("hparams")  # the HParams dashboard's session of this run


def test_mlflow_records_params_tags_metrics_summary_and_artifacts(make_cfg, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir = tmp_path / "run"
    cfg = make_cfg("logger=mlflow", f"logger.mlflow.tracking_uri={uri}", "threads=1")
    (run_dir / rundir.HYDRA).mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / rundir.HYDRA / "config.yaml")  # as Hydra writes it before the run
    result = train(cfg, run_dir)
    client, found = mlflow_runs(uri)
    (run,) = found
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "lstm" and run.data.params["train.max_steps"] == "20"
    assert run.data.tags["seqlab.fingerprint"] == result["fingerprint"]
    assert run.data.tags["seqlab.run_dir"] == str(run_dir) and run.data.tags["seqlab.status"] == "completed"
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [int(r["step"]) for r in rows(run_dir) if r["train_loss"]]
    assert run.data.metrics["final_eval_accuracy"] == pytest.approx(result["eval_accuracy"])
    assert run.data.metrics["final_converged"] == float(result["converged"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert rundir.RESULT in artifacts and "config.yaml" in artifacts
    assert json.loads((run_dir / "tracking.json").read_text())["mlflow_runs"] == {uri: run.info.run_id}


def test_a_tracking_server_that_is_down_costs_one_warning_and_nothing_else(make_cfg, tmp_path, caplog):
    result = train(make_cfg("logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:9", "threads=1"), tmp_path)
    assert result["status"] == "completed" and rundir.read_result(tmp_path)["status"] == "completed"
    warnings = [r.getMessage() for r in caplog.records if "tracking with mlflow stopped" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]


def test_a_logger_that_is_not_installed_is_refused_naming_its_extra(make_cfg, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"logger.mlflow.enabled=true needs mlflow: pip install -e '.\[mlflow\]'"):
        check_here(make_cfg("logger=mlflow"))


def test_export_without_the_trackers_library_names_its_extra(monkeypatch, capsys, tmp_path):
    import importlib.util

    from seqlab.export import main as export

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert export(["tensorboard", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "seqlab export: error: seqlab export tensorboard needs tensorboard: pip install -e '.[tensorboard]'\n"
    )


def test_the_logger_does_not_define_the_run(make_cfg, tmp_path):
    first = train(make_cfg("threads=1"), tmp_path)
    again = train(make_cfg("threads=1", "logger=tensorboard"), tmp_path)
    assert again["skipped"] and again["fingerprint"] == first["fingerprint"]
    assert not list(tmp_path.glob("events.out.tfevents.*"))  # a skipped run logs nothing again


@pytest.mark.slow
def test_a_sweep_nests_its_runs_under_one_parent_also_packed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    for launcher, name in (("basic", "plain"), ("packed", "packed")):
        proc = run_cli("-m", f"hydra/launcher={launcher}", *tiny("seed=1,2", "logger=[tensorboard,mlflow]"),
                       f"logger.mlflow.tracking_uri={uri}", f"hydra.sweep.dir={tmp_path / name}")  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    client, found = mlflow_runs(uri)
    parents = {r.info.run_id: r for r in found if "mlflow.parentRunId" not in r.data.tags}
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(children) == 4
    assert {parents[c.data.tags["mlflow.parentRunId"]].info.run_name for c in children} == {"plain", "packed"}
    for parent in parents.values():  # closed by the sweep, with its counts
        assert parent.info.status == "FINISHED" and parent.data.metrics["runs_trained"] == 2
    for run_dir in (tmp_path / "packed").glob(f"*/{rundir.RESULT}"):
        assert scalars(run_dir.parent)["train_loss"]  # each run of the pack logs as its own run


@pytest.mark.slow
def test_kill_9_and_relaunch_continue_the_same_tracker_runs_without_duplicate_steps(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_dir = tmp_path / "run"
    args = tiny("model.hidden_size=16", "data.length=12", "train.max_steps=30000", "train.checkpoint_every=20",
                "train.early_stop.kind=none", "logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={uri}",
                "threads=1", f"hydra.run.dir={run_dir}")  # fmt: skip
    first = subprocess.Popen([sys.executable, "-m", "seqlab.run", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / rundir.METRICS).exists() or len(rows(run_dir)) < 8:
        time.sleep(0.2)
    time.sleep(6)  # past one MLflow flush
    first.send_signal(signal.SIGKILL)
    first.wait()
    relaunched = run_cli(*args)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    result = rundir.read_result(run_dir)
    assert result["resumes"] == 1
    steps = [int(r["step"]) for r in rows(run_dir) if r["train_loss"]]
    client, (run,) = mlflow_runs(uri)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == steps
    assert run.info.status == "FINISHED"
    assert [step for step, _ in scalars(run_dir)["train_loss"]] == steps


def test_a_tracker_whose_writes_fail_warns_once_and_the_run_completes(tmp_path):
    """The disk refusing the event file's writes (a real EFBIG: the process may write no file beyond 24 KB, which the
    event file passes long before metrics.csv or the checkpoint): one warning line, the run trains to the end, and
    its directory is complete."""
    import resource

    limit = 24 * 1024
    run_dir = tmp_path / "run"
    args = tiny("model.hidden_size=4", "train.max_steps=200", "train.log_every=1", "train.eval_every=100",
                "train.checkpoint_every=0", "logger=tensorboard", "threads=1", f"hydra.run.dir={run_dir}")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab.run", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),  # noqa: PLW1509
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = (proc.stdout + proc.stderr).splitlines()  # Hydra's console log is on stdout
    assert len([line for line in said if "tracking with tensorboard stopped" in line]) == 1, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    result = rundir.read_result(run_dir)
    assert result["status"] == "completed" and result["steps"] == 200
    with (run_dir / rundir.METRICS).open() as metrics:
        assert [int(row["step"]) for row in csv.DictReader(metrics)] == list(range(1, 201))
    assert (run_dir / rundir.METRICS).stat().st_size < limit


def mlflow_server(tmp_path, port: int) -> subprocess.Popen:
    """A real `mlflow server` on localhost (SQLite store in tmp_path), answering /health, in a process group."""
    import urllib.request

    args = ["server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--backend-store-uri",
            f"sqlite:///{tmp_path}/server.db", "--default-artifact-root", str(tmp_path / "art")]  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "mlflow", *args], cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "a"))  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    raise AssertionError("mlflow server did not answer: " + (tmp_path / "server.log").read_text()[-2000:])


def stop(server: subprocess.Popen) -> None:
    import os

    os.killpg(server.pid, signal.SIGKILL)  # the server and its workers, at once, as a crash would
    server.wait()


@pytest.mark.slow
@needs("flask_cors", "mlflow-server")
def test_a_real_mlflow_server_stopped_mid_sweep_costs_no_run_and_export_fills_the_gap(tmp_path):
    """Three runs log to a real `mlflow server`; it is killed as the first run ends. The sweep completes, each run
    that lost the server says so once, and `seqlab export` against the restarted server brings every run to its
    full history, once."""
    import socket

    from seqlab.export import main as export

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri, sweep = f"http://127.0.0.1:{port}", tmp_path / "sweep"
    server = mlflow_server(tmp_path, port)
    args = tiny("seed=1,2,3", "train.max_steps=400", "train.eval_every=100", "logger=mlflow",
                f"logger.mlflow.tracking_uri={uri}", "threads=1", f"hydra.sweep.dir={sweep}")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "seqlab.run", "-m", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list(sweep.glob(f"*seed=1*/{rundir.RESULT}")):
            time.sleep(0.1)
        stop(server)
        said, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, said[-3000:]
    run_dirs = sorted(p.parent for p in sweep.glob(f"*/{rundir.RESULT}"))
    assert [rundir.read_result(d)["status"] for d in run_dirs] == ["completed"] * 3
    stopped = [line.split(": tracking with mlflow stopped")[0].split(" - ")[-1].split("] ")[-1]
               for line in said.splitlines() if "tracking with mlflow stopped" in line]  # fmt: skip
    assert stopped and len(stopped) == len(set(stopped)), said[-3000:]  # once for each run that met it, at most
    assert f"the sweep's parent run stays open (seqlab export mlflow {sweep} closes it)" in said
    server = mlflow_server(tmp_path, port)
    try:
        for _ in range(2):  # the second time, everything is already there
            assert export(["mlflow", str(sweep), "--tracking-uri", uri]) == 0
        assert_in_mlflow_once(uri, run_dirs)
    finally:
        stop(server)


@pytest.mark.slow
def test_export_writes_existing_runs_to_each_tracker_once_and_fills_a_gap(tmp_path):
    """A sweep run without a logger, and one whose MLflow server was down throughout (nothing listens on port 9):
    `seqlab export` puts every run into TensorBoard and MLflow as live logging would have; exporting again adds
    nothing."""
    from seqlab.export import main as export

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    plain, gap = tmp_path / "plain", tmp_path / "gap"
    proc = run_cli("-m", *tiny("seed=1,2"), f"hydra.sweep.dir={plain}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    down = run_cli("-m", *tiny("seed=3"), "logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:9",
                   f"hydra.sweep.dir={gap}")  # fmt: skip
    assert down.returncode == 0 and "tracking with mlflow stopped" in down.stdout + down.stderr, down.stderr[-2000:]
    for _ in range(2):  # the second time, everything is already there
        assert export(["tensorboard", str(plain)]) == 0
        assert export(["mlflow", str(plain), str(gap), "--tracking-uri", uri]) == 0
    exported = sorted(p.parent for p in plain.glob(f"*/{rundir.RESULT}"))
    run_dirs = sorted([*exported, *(p.parent for p in gap.glob(f"*/{rundir.RESULT}"))])
    for run_dir in exported:
        assert [s for s, _ in scalars(run_dir)["train_loss"]] == [int(r["step"]) for r in rows(run_dir)]
    assert_in_mlflow_once(uri, run_dirs)
