"""In-process runs: learning, determinism, resume, skip, failure records."""

import csv
import json
import os
import signal

import pytest
import torch

import seqlab.loop as loop_module
from seqlab import rundir
from seqlab.errors import ConfigError
from seqlab.signals import RunInterrupted
from seqlab.train import train


def test_tiny_model_learns_short_palindromes(make_cfg, tmp_path):
    cfg = make_cfg(
        "model=lstm", "model.hidden_size=32", "data.length=5", "train.batch_size=64", "train.max_steps=1500",
        "train.eval_every=50", "optimizer=adam", "optimizer.lr=0.01", "eval.batches=10",
    )  # fmt: skip
    result = train(cfg, tmp_path)
    assert result["status"] == "completed"
    assert result["eval_accuracy"] >= 0.99
    assert result["converged"] and result["steps_to_converge"] <= 1500
    assert result["stopped_early"] and result["steps"] < 1500  # accuracy early stop, patience 3


@pytest.mark.gpu  # on the GPU where there is one (device=auto)
def test_result_json_has_the_contract_keys(make_cfg, tmp_path):
    result = train(make_cfg("model=rrn", "seed=0"), tmp_path)
    on_disk = json.loads((tmp_path / rundir.RESULT).read_text())
    assert set(rundir.RESULT_KEYS) <= set(on_disk)
    assert on_disk["status"] == "completed" and on_disk["steps"] == 20 == result["steps"]
    assert on_disk["config"]["model.name"] == "rrn" and on_disk["config"]["seed"] == 0
    assert on_disk["versions"]["torch"] and on_disk["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert {"cuda", "cudnn"} <= set(on_disk["versions"]) and on_disk["device_name"]
    assert on_disk["impl"] == ("fused" if torch.cuda.is_available() else "fast")
    assert on_disk["git_commit"] and isinstance(on_disk["git_dirty"], bool)  # the tests run in a checkout
    assert on_disk["git_diff_sha256"] is None or len(on_disk["git_diff_sha256"]) == 64
    assert on_disk["fingerprint"] == rundir.fingerprint(on_disk["config"])
    rows = csv.DictReader((tmp_path / rundir.METRICS).open())
    logged = [float(row["train_loss"]) for row in rows if row["train_loss"]]
    assert 0 < on_disk["min_train_loss"] <= min(logged)  # one batch's loss; the rows are means over batches
    lines = (tmp_path / rundir.METRICS).read_text().splitlines()
    assert lines[0] == ",".join(rundir.METRIC_COLUMNS)
    assert [int(line.split(",")[0]) for line in lines[1:]] == [5, 10, 15, 20]
    assert (tmp_path / rundir.CHECKPOINT).exists()


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru", "rrn"])
def test_same_config_and_seed_give_identical_metrics(make_cfg, tmp_path, model):
    cfg = make_cfg(f"model={model}", "seed=7", "data.encoding=scalar")
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    assert (tmp_path / "a" / rundir.METRICS).read_bytes() == (tmp_path / "b" / rundir.METRICS).read_bytes()
    different = make_cfg(f"model={model}", "seed=8", "data.encoding=scalar")
    train(different, tmp_path / "c")
    assert (tmp_path / "a" / rundir.METRICS).read_bytes() != (tmp_path / "c" / rundir.METRICS).read_bytes()


def test_completed_run_is_skipped_not_retrained(make_cfg, tmp_path):
    cfg = make_cfg()
    train(cfg, tmp_path)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()}
    again = train(cfg, tmp_path)
    assert again["skipped"] is True and again["status"] == "completed"
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_signal_checkpoints_marks_interrupted_and_resume_matches_uninterrupted(make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg("model=gru", "train.max_steps=40", "train.checkpoint_every=0", "grad_flow.enabled=true")
    reference = train(cfg, tmp_path / "whole")

    real_step = loop_module.training_step
    calls = {"n": 0}

    def step_then_signal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 13:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step; handled at the step boundary
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop_module, "training_step", step_then_signal)
    with pytest.raises(RunInterrupted):
        train(cfg, tmp_path / "cut")
    interrupted = rundir.read_result(tmp_path / "cut")
    assert interrupted["status"] == "interrupted" and interrupted["steps"] == 13
    monkeypatch.setattr(loop_module, "training_step", real_step)
    resumed = train(cfg, tmp_path / "cut")
    assert resumed["status"] == "completed" and resumed["resumes"] == 1
    for name in (rundir.METRICS, rundir.GRAD_FLOW):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    for key in ("eval_accuracy", "eval_loss", "steps", "best_eval_accuracy", "steps_to_converge"):
        assert resumed[key] == reference[key]


def test_exception_inside_the_run_is_recorded_as_failed(make_cfg, tmp_path, monkeypatch):
    def broken_step(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(loop_module, "training_step", broken_step)
    with pytest.raises(RuntimeError):
        train(make_cfg(), tmp_path)
    result = rundir.read_result(tmp_path)
    assert result["status"] == "failed" and result["error"] == "RuntimeError: boom"
    assert "broken_step" in result["traceback"]


def test_invalid_config_writes_nothing(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match="train.batch_size"):
        train(make_cfg("train.batch_size=0"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_gradient_flow_is_recorded_at_first_middle_last(make_cfg, tmp_path):
    train(make_cfg("model=rnn", "data.length=9", "grad_flow.enabled=true", "train.early_stop.kind=none"), tmp_path)
    rows = (tmp_path / rundir.GRAD_FLOW).read_text().splitlines()
    assert rows[0] == "step,t,grad_norm"
    steps = sorted({int(r.split(",")[0]) for r in rows[1:]})
    assert steps == [0, 10, 20]
    assert len(rows) - 1 == 3 * 8  # 8 time steps per recording
    assert all(float(r.split(",")[2]) >= 0 for r in rows[1:])


def test_loss_plateau_early_stop(make_cfg, tmp_path):
    cfg = make_cfg(
        "train.early_stop.kind=loss_plateau", "train.early_stop.window=5", "train.early_stop.epsilon=100",
        "train.max_steps=100",
    )  # fmt: skip
    result = train(cfg, tmp_path)
    assert result["stopped_early"] and result["steps"] == 10  # first evaluation with two full windows


def test_reference_impl_starts_from_the_same_initial_weights(make_cfg, tmp_path):
    from seqlab.loop import Run
    from seqlab.models import reference_twin

    cpu = torch.device("cpu")
    fast_cfg = make_cfg("model=lstm", "init=orthogonal", "seed=3", "threads=1")  # a Run takes a resolved count
    fast = Run(fast_cfg, tmp_path / "fast", cpu, "fast", None).model
    cfg = make_cfg("model=lstm", "init=orthogonal", "seed=3", "model.impl=reference", "threads=1")
    reference = Run(cfg, tmp_path / "ref", cpu, "reference", None).model
    expected = reference_twin(fast, "lstm").state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in reference.state_dict().items())
    result = train(make_cfg("model=lstm", "model.impl=reference"), tmp_path / "run")
    assert result["status"] == "completed"


def test_progress_bar_shows_loss_and_accuracy_when_asked(make_cfg, tmp_path, capsys):
    train(make_cfg("train.progress=true"), tmp_path / "bar")
    err = capsys.readouterr().err
    assert "step" in err and "loss=" in err and "acc=" in err
    train(make_cfg("train.progress=auto"), tmp_path / "quiet")  # stderr is not a terminal under pytest
    assert "loss=" not in capsys.readouterr().err


def test_auto_impl_falls_back_to_fused_and_records_why(make_cfg, tmp_path, monkeypatch):
    from seqlab import kernels

    result = train(make_cfg(), tmp_path / "native")
    assert result["impl"] == "fast" and result["impl_fallback"] is None
    monkeypatch.setattr(kernels, "load", lambda: "RuntimeError: no compiler")
    result = train(make_cfg(), tmp_path / "fallback")
    assert result["impl"] == "fused" and "no compiler" in result["impl_fallback"]
    assert json.loads((tmp_path / "fallback" / rundir.RESULT).read_text())["impl"] == "fused"
    with pytest.raises(ConfigError, match="model.impl=fast is unavailable here .*no compiler"):
        train(make_cfg("model.impl=fast"), tmp_path / "asked_fast")
    assert not (tmp_path / "asked_fast").exists()


def test_train_streak_stops_after_that_many_all_correct_batches(make_cfg, tmp_path):
    # L = 2 (read one digit, say it again) is learnt within a few hundred steps at this learning rate.
    overrides = ["data.length=2", "optimizer=adam", "optimizer.lr=0.05", "train.max_steps=2000", "train.log_every=10",
                 "train.early_stop.kind=train_streak", "train.early_stop.streak=20"]  # fmt: skip
    result = train(make_cfg(*overrides), tmp_path)
    assert result["stopped_early"] and result["steps"] < 2000 and result["steps"] % 10 == 0
    assert result["best_train_accuracy"] == 1.0
    rows = (tmp_path / rundir.METRICS).read_text().splitlines()
    last = dict(zip(rows[0].split(","), rows[-1].split(","), strict=True))
    assert float(last["train_accuracy"]) == 1.0  # the row's batches were all correct
