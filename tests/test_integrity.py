"""One owner per run directory, and no results attributed to a config they did not run: real processes."""

import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY, overridden, run_cli, tiny
from omegaconf import OmegaConf

from seqlab import rundir
from seqlab.errors import ConfigError
from seqlab.provenance import device_name
from seqlab.train import train

LONG_STEPS = 8000  # long enough that a second process starts (about 2 s) while the first still trains
LONG = tiny("model=lstm", "model.hidden_size=16", "data.length=12", f"train.max_steps={LONG_STEPS}",
        "train.checkpoint_every=20", "train.early_stop.kind=none")  # fmt: skip


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqlab.run", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_a_run_recorded_before_a_key_was_added_keeps_its_fingerprint(make_cfg, tmp_path):
    first = train(make_cfg("threads=1"), tmp_path)
    for key in rundir.ADDED_KEYS:  # as written by a seqlab that did not have these keys yet
        first["config"].pop(key, None)
    rundir.write_result(tmp_path, first)
    assert rundir.verdict(tmp_path, flat(make_cfg("threads=1"))) == ("skip", None)
    changed = rundir.verdict(tmp_path, flat(make_cfg("threads=1", "train.early_stop.streak=7")))
    assert changed[0] == "refuse" and "train.early_stop.streak: '<none>' -> 7" in changed[1]


def test_a_checkpoint_written_before_a_key_joined_added_keys_resumes(make_cfg, tmp_path):
    """A run that held a key at its neutral value while that value still counted in fingerprints (eval.solved_mse
    before it joined ADDED_KEYS) resumes from its checkpoint, to the metrics it had."""
    import torch

    cfg = make_cfg("train.max_steps=40", "train.checkpoint_every=10", "threads=1")
    train(cfg, tmp_path)
    metrics = (tmp_path / rundir.METRICS).read_text()
    (tmp_path / rundir.RESULT).unlink()  # as if killed after its last checkpoint
    config = flat(cfg)
    old = rundir._hash({k: v for k, v in sorted(config.items()) if k not in rundir.NOT_DEFINING
                        and (k == "eval.solved_mse" or rundir.ADDED_KEYS.get(k, rundir.NO_VALUE) != v)})  # fmt: skip
    assert old != rundir.fingerprint(config) and old in rundir.fingerprints(config)
    state = torch.load(tmp_path / rundir.CHECKPOINT, weights_only=True)
    torch.save({**state, "fingerprint": old}, tmp_path / rundir.CHECKPOINT)
    resumed = train(cfg, tmp_path)
    assert resumed["status"] == "completed" and resumed["resumes"] == 1
    assert (tmp_path / rundir.METRICS).read_text() == metrics
    assert old not in rundir.fingerprints(flat(make_cfg("train.max_steps=40", "optimizer.lr=0.002")))


@pytest.mark.parametrize(("earlier", "expected"), [(["AMD EPYC"], ["AMD EPYC"]), (None, [rundir.NOT_RECORDED])])
def test_a_resumed_run_names_every_processor_that_trained_it(make_cfg, tmp_path, earlier, expected):
    """A checkpoint trained elsewhere (or before seqlab kept the list, `earlier` None) resumes here: result.json's
    `trained_on` names both, so no result reads as one processor's when two computed it."""
    import torch

    cfg = make_cfg("train.max_steps=40", "train.checkpoint_every=10", "threads=1")
    here = device_name(torch.device("cpu"))
    assert train(cfg, tmp_path)["trained_on"] == [here]
    (tmp_path / rundir.RESULT).unlink()  # as if killed after its last checkpoint
    state = torch.load(tmp_path / rundir.CHECKPOINT, weights_only=True)
    progress = {key: value for key, value in state["progress"].items() if key != "trained_on"}
    torch.save({**state, "progress": progress | ({"trained_on": earlier} if earlier else {})},
               tmp_path / rundir.CHECKPOINT)  # fmt: skip
    resumed = train(cfg, tmp_path)
    assert resumed["resumes"] == 1 and resumed["trained_on"] == [*expected, here]


def flat(cfg) -> dict:
    return rundir.flatten(OmegaConf.to_container(cfg, resolve=True))


def wait_for_owner(run_dir, timeout: float = 120) -> str:
    """The lock file's `host .. pid ..` once a process holds it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owner = (run_dir / rundir.LOCK).read_text() if (run_dir / rundir.LOCK).exists() else ""
        if owner.strip():
            return owner.strip()
        time.sleep(0.01)
    raise AssertionError("no process took the lock")


def test_changed_config_in_the_same_directory_is_refused_then_replaced_on_request(make_cfg, tmp_path):
    first = train(make_cfg("train.max_steps=20"), tmp_path)
    assert first["fingerprint"] == rundir.fingerprint(first["config"])
    with pytest.raises(ConfigError, match=r"another config \(train.max_steps: 20 -> 30\); relaunch with rerun="):
        train(make_cfg("train.max_steps=30"), tmp_path)
    assert rundir.read_result(tmp_path)["steps"] == 20  # untouched
    same_but_progress = train(make_cfg("train.max_steps=20", "train.progress=true", "threads=1"), tmp_path)
    assert same_but_progress["skipped"]  # keys that never change results are not part of the fingerprint
    second = train(make_cfg("train.max_steps=30", "rerun=changed"), tmp_path)
    assert second["status"] == "completed" and second["steps"] == 30 and not second.get("skipped")
    [moved] = (tmp_path / rundir.REPLACED).iterdir()
    assert rundir.read_result(moved)["steps"] == 20 and (moved / rundir.METRICS).exists()
    assert not any(p.is_dir() and p.name != rundir.REPLACED for p in moved.parent.iterdir() if p != moved)


def test_a_checkpoint_of_another_config_is_never_resumed(make_cfg, tmp_path):
    cfg = make_cfg("train.max_steps=40", "train.checkpoint_every=10")
    train(cfg, tmp_path)
    (tmp_path / rundir.RESULT).unlink()  # as if killed after its last checkpoint
    with pytest.raises(ConfigError, match="optimizer.lr: 0.001 -> 0.002"):
        train(make_cfg("train.max_steps=40", "train.checkpoint_every=10", "optimizer.lr=0.002"), tmp_path)
    assert train(cfg, tmp_path)["status"] == "completed"  # the same config resumes it


@pytest.mark.slow
def test_two_launches_racing_on_one_directory_train_it_once(tmp_path):
    run_dir = tmp_path / "run"
    first = start([*LONG, f"hydra.run.dir={run_dir}"])
    owner = wait_for_owner(run_dir)
    second = run_cli(*LONG, f"hydra.run.dir={run_dir}")
    assert second.returncode == 3, second.stderr
    lines = second.stderr.strip().splitlines()
    assert owner.startswith(f"host {socket.gethostname()} pid {first.pid} ")  # then its step and start time
    assert len(lines) == 1 and str(run_dir) in lines[0] and f"host {socket.gethostname()} pid {first.pid}" in lines[0]
    assert first.wait(timeout=600) == 0
    steps = [line.split(",")[0] for line in (run_dir / rundir.METRICS).read_text().splitlines()[1:]]
    assert len(steps) == len(set(steps)) == LONG_STEPS // 5  # every row once (log_every=5)


@pytest.mark.slow
def test_a_sweep_reports_a_run_another_process_trains_as_running_elsewhere(tmp_path):
    held, steps = tmp_path / "lstm", "train.max_steps=20000"
    first = start([*overridden(LONG, steps), f"hydra.run.dir={held}"])
    wait_for_owner(held)
    status = subprocess.run([sys.executable, "-m", "seqlab.status", str(tmp_path)], capture_output=True, text=True)
    assert "1 runs" in status.stdout and "running              1" in status.stdout, status.stdout
    assert f"RUNNING  lstm: {socket.gethostname()}:{first.pid}, step" in status.stdout
    proc = run_cli("-m", *overridden(LONG, steps), f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${model.name}")
    first.kill()
    first.wait()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 runs: 0 trained, 0 already completed (skipped), 0 failed, 1 running elsewhere" in proc.stderr
    assert f"RUNNING ELSEWHERE {held} is being trained by another process (host" in proc.stderr
    after = subprocess.run([sys.executable, "-m", "seqlab.status", str(tmp_path)], capture_output=True, text=True)
    assert "stopped (no result)  1" in after.stdout, after.stdout
    assert "launching the sweep again resumes it" in after.stdout


@pytest.mark.slow
def test_a_changed_default_is_refused_by_the_sweep_and_retrained_with_rerun_changed(tmp_path):
    (tmp_path / "conf" / "local").mkdir(parents=True)
    sweep = [sys.executable, "-m", "seqlab.run", "-m", *TINY, "model=rnn,gru", f"hydra.sweep.dir={tmp_path / 's'}"]
    run = lambda *extra: subprocess.run([*sweep, *extra], cwd=tmp_path, capture_output=True, text=True)  # noqa: E731
    assert run().returncode == 0
    (tmp_path / "conf" / "local" / "default.yaml").write_text("# @package _global_\ntrain:\n  max_norm: 5.0\n")
    refused = run()
    assert refused.returncode == 1
    assert "2 runs: 0 trained, 0 already completed (skipped), 2 failed" in refused.stderr
    assert (
        "holds results of another config (train.max_norm: 10.0 -> 5.0); relaunch with rerun=changed" in refused.stderr
    )
    assert all(r["config"]["train.max_norm"] == 10.0 for r in map(rundir.read_result, (tmp_path / "s").glob("*=*")))
    replaced = run("rerun=changed")
    assert replaced.returncode == 0 and "2 runs: 2 trained, 0 already completed (skipped), 0 failed" in replaced.stderr
    assert all(r["config"]["train.max_norm"] == 5.0 for r in map(rundir.read_result, (tmp_path / "s").glob("*=*")))
    again = run()
    assert again.returncode == 0 and "2 runs: 0 trained, 2 already completed (skipped), 0 failed" in again.stderr


@pytest.mark.slow
def test_another_thread_count_is_another_config(tmp_path):
    args = tiny("model=rnn", "data.length=6", "hydra.run.dir=run")
    first = run_cli(*args, "threads=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert rundir.read_result(tmp_path / "run")["config"]["threads"] == 1
    again = run_cli(*args, "threads=2", cwd=tmp_path)
    assert again.returncode == 2 and "another config (threads: 1 -> 2)" in again.stderr
    same = run_cli(*args, "threads=1", cwd=tmp_path)
    assert same.returncode == 0 and "skipping" in same.stdout + same.stderr


@pytest.mark.slow
def test_threads_auto_is_recorded_as_the_count_the_launcher_gives(tmp_path):
    sweep = run_cli("-m", *TINY, "model=rnn", "data.length=5,6", "hydra/launcher=local_parallel",
                    "hydra.launcher.n_jobs=2", cwd=tmp_path)  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    results = [rundir.read_result(p.parent) for p in tmp_path.rglob(rundir.RESULT)]
    assert len(results) == 2 and all(r["config"]["threads"] == 1 == r["threads"] for r in results)
    relaunch = run_cli("-m", *TINY, "model=rnn", "data.length=5,6", "hydra/launcher=local_parallel", cwd=tmp_path)
    assert relaunch.returncode == 0 and "2 runs: 0 trained, 2 already completed (skipped)" in relaunch.stderr
    basic = run_cli("-m", *TINY, "model=rnn", "data.length=5,6", "threads=2", cwd=tmp_path)
    assert basic.returncode == 1 and "2 failed" in basic.stderr and "threads: 1 -> 2" in basic.stderr
