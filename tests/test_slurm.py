"""Real SLURM: sweeps through hydra/launcher=slurm on the local cluster (scripts/slurm/start_local_cluster.sh)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, cluster_is_up, needs, run_cli, tiny

from seqlab import rundir

if not cluster_is_up():
    if os.environ.get("SEQLAB_REQUIRE_SLURM"):
        raise RuntimeError("SEQLAB_REQUIRE_SLURM is set but no SLURM cluster answers: run start_local_cluster.sh")
    pytest.skip("no SLURM cluster (start one with scripts/slurm/start_local_cluster.sh)", allow_module_level=True)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SLURM = ["-m", "hydra/launcher=slurm", "hydra.launcher.timeout_min=10"]


def release_requeued_job(job: str, timeout: float = 60) -> None:
    """SLURM holds a requeued job for ~2 minutes (Reason=BeginTime); let it start as soon as it is pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job} was not requeued")


def test_sweep_runs_as_a_job_array_and_relaunch_trains_nothing(tmp_path):
    args = [*SLURM, *TINY, "model=rnn,rrn", "data.length=4,7", f"hydra.sweep.dir={tmp_path}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 runs: 4 trained, 0 already completed (skipped), 0 failed" in proc.stderr
    results = [rundir.read_result(p.parent) for p in tmp_path.glob(f"*/{rundir.RESULT}")]
    assert len(results) == 4 and {r["status"] for r in results} == {"completed"}
    assert len({r["slurm"]["array_job_id"] for r in results}) == 1  # one job array
    assert sorted(r["slurm"]["array_task_id"] for r in results) == ["0", "1", "2", "3"]
    assert all(r["threads"] == 1 and r["slurm"]["node"] for r in results)  # torch uses the 1 CPU it was given
    assert "sacct" not in proc.stderr.lower() or "error" not in proc.stderr.lower()

    submitted = sorted((tmp_path / ".submitit").iterdir())  # one folder per submitted job array
    again = run_cli(*args)
    assert again.returncode == 0 and "4 runs: 0 trained, 4 already completed (skipped), 0 failed" in again.stderr
    assert sorted((tmp_path / ".submitit").iterdir()) == submitted  # a finished sweep submits nothing


def test_failed_run_is_summarised_and_others_finish(tmp_path):
    # a budget that passes the schema and fails on the node where the run trains (its step log's memory)
    proc = run_cli(*SLURM, *tiny("train.max_steps=20,100000000000"), f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1
    assert "2 runs: 1 trained, 0 already completed (skipped), 1 failed" in proc.stderr
    assert "train.max_steps=100000000000 is too large here" in proc.stderr


def test_scontrol_requeue_mid_run_ends_like_an_uninterrupted_run(tmp_path):
    # Long enough (~20 s here) to outlast SLURM's KillWait (5 s in our cluster) by far: submitit ignores SIGTERM,
    # so training goes on until SIGKILL. At 6,000 steps the faster training path sometimes finished first.
    config = tiny("model=lstm", "model.hidden_size=24", "data.length=16", "train.max_steps=15000", "threads=1",
              "train.checkpoint_every=25", "train.eval_every=250", "train.early_stop.kind=none")  # fmt: skip
    whole = tmp_path / "whole"
    assert run_cli(*config, f"hydra.run.dir={whole}").returncode == 0

    sweep = tmp_path / "sweep"
    launch = subprocess.Popen([sys.executable, "-m", "seqlab.run", *SLURM, *config, f"hydra.sweep.dir={sweep}"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    checkpoints = []
    while not checkpoints and time.monotonic() < deadline:
        checkpoints = list(sweep.glob(f"*/{rundir.CHECKPOINT}"))
        time.sleep(0.05)
    run_dir = checkpoints[0].parent
    jobs = [p.name for p in (sweep / ".submitit").iterdir() if p.name[0].isdigit()]  # submitit's <array>_<task>
    assert len(jobs) == 1, jobs
    subprocess.run(["scontrol", "requeue", jobs[0]], check=True)
    release_requeued_job(jobs[0])
    output, _ = launch.communicate(timeout=600)
    assert launch.returncode == 0, output[-3000:]

    result, reference = rundir.read_result(run_dir), rundir.read_result(whole)
    assert result["status"] == "completed" and result["resumes"] >= 1
    assert int(result["slurm"]["restart_count"]) >= 1
    assert (run_dir / rundir.METRICS).read_bytes() == (whole / rundir.METRICS).read_bytes()
    for key in ("eval_accuracy", "eval_loss", "steps", "best_eval_accuracy"):
        assert result[key] == reference[key]


def test_capacity_search_runs_one_job_array_per_round(tmp_path):
    setting = [
        "model=lstm",
        "model.hidden_size=16",
        "train.batch_size=32",
        "train.max_steps=300",
        "train.eval_every=25",
        "eval.batches=2",
        "optimizer=adam",
        "optimizer.lr=0.01",
        "train.progress=false",
    ]
    args = [*SLURM, "hydra/sweeper=capacity", *setting, "seed=1,2", "data.length=2,3,40", f"hydra.sweep.dir={tmp_path}"]
    proc = run_cli(*args)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [rundir.read_result(p.parent) for p in tmp_path.glob(f"*/{rundir.RESULT}")]
    arrays: dict[str, set] = {}
    for result in results:
        arrays.setdefault(result["slurm"]["array_job_id"], set()).add(result["config"]["data.length"])
    assert sorted(arrays.values(), key=min) == [{2}, {3}, {40}]  # rounds: both seeds' probe of L = 2, 3, then 40
    assert len(results) == 6 and "seed=1: capacity 3 (first failure data.length=40), 3 tested" in proc.stderr


def test_a_packed_sweep_trains_one_pack_per_array_task_as_it_trains_locally(tmp_path):
    sweep = [
        *TINY,
        "model=rnn,lstm",
        "seed=1,2",
        "data.length=5",
        "threads=1",
        "hydra.sweep.subdir=${model.name}_${seed}",
    ]
    packed = [
        "-m",
        "hydra/launcher=slurm_packed",
        "hydra.launcher.timeout_min=10",
        *sweep,
        f"hydra.sweep.dir={tmp_path}",
    ]
    proc = run_cli(*packed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 runs: 4 trained, 0 already completed (skipped), 0 failed" in proc.stderr
    slurm = {run: rundir.read_result(tmp_path / run)["slurm"] for run in ("rnn_1", "rnn_2", "lstm_1", "lstm_2")}
    assert len({s["array_job_id"] for s in slurm.values()}) == 1  # one job array ...
    assert slurm["rnn_1"]["array_task_id"] == slurm["rnn_2"]["array_task_id"]  # ... one task per pack
    assert slurm["lstm_1"]["array_task_id"] == slurm["lstm_2"]["array_task_id"] != slurm["rnn_1"]["array_task_id"]
    local = run_cli("-m", *sweep, f"hydra.sweep.dir={tmp_path / 'local'}")
    assert local.returncode == 0, local.stderr[-3000:]
    for run in slurm:
        assert (tmp_path / run / rundir.METRICS).read_bytes() == (
            tmp_path / "local" / run / rundir.METRICS
        ).read_bytes()
    submitted = sorted((tmp_path / ".submitit").iterdir())
    again = run_cli(*packed)
    assert again.returncode == 0 and "4 runs: 0 trained, 4 already completed (skipped), 0 failed" in again.stderr
    assert sorted((tmp_path / ".submitit").iterdir()) == submitted


@needs("tensorboard", "tensorboard")
@needs("mlflow", "mlflow")
def test_a_slurm_sweep_is_tracked_live_each_run_as_its_own_run_under_the_sweeps(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sweep = tmp_path / "sweep"
    proc = run_cli(*SLURM, *TINY, "seed=1,2", "logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={uri}",
                   f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("seqlab").experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 3 and len(children) == 2 and {r.info.status for r in children} == {"FINISHED"}
    for child in children:
        run_dir = Path(child.data.tags["seqlab.run_dir"])
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "train_loss")]
        rows = (run_dir / rundir.METRICS).read_text().splitlines()[1:]
        assert steps == [int(row.split(",")[0]) for row in rows if row.split(",")[1]]
        assert list(run_dir.glob("events.out.tfevents.*"))
