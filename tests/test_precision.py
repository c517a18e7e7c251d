"""precision=float64 (weights, states, gradients, optimizer) and the diverged status."""

import math

import pytest
import torch

from seqlab import rundir
from seqlab.engines import ImplUnavailable, resolve_impl
from seqlab.train import train


def test_float64_run_computes_in_float64_on_the_fused_path(make_cfg, tmp_path):
    result = train(make_cfg("model=rrn", "precision=float64", "device=cpu"), tmp_path)
    assert result["status"] == "completed" and result["precision"] == "float64"
    assert result["impl"] == "fused" and "float32" in result["impl_fallback"]
    state = torch.load(tmp_path / rundir.CHECKPOINT, weights_only=True)
    assert {v.dtype for v in state["model"].values() if v.is_floating_point()} == {torch.float64}
    assert result["config"]["precision"] == "float64"


def test_float64_survives_the_gradients_that_overflow_float32(make_cfg, tmp_path):
    """The course RRN at L = 200 overflows float32 in its first steps; float64 keeps every gradient norm finite."""
    course = ["model=rrn", "data.encoding=scalar", "model.hidden_size=128", "data.length=200", "optimizer.lr=1e-3",
              "train.max_steps=10", "train.batch_size=32", "device=cpu", "seed=1"]  # fmt: skip
    single = train(make_cfg(*course, "precision=float32"), tmp_path / "f32")
    double = train(make_cfg(*course, "precision=float64"), tmp_path / "f64")
    norms32 = [float(r.split(",")[4]) for r in (tmp_path / "f32" / rundir.METRICS).read_text().splitlines()[1:]]
    norms64 = [float(r.split(",")[4]) for r in (tmp_path / "f64" / rundir.METRICS).read_text().splitlines()[1:]]
    assert not all(math.isfinite(n) for n in norms32)
    squared_overflows_float32 = math.sqrt(torch.finfo(torch.float32).max)  # the norm's sum of squares overflows
    assert all(math.isfinite(n) for n in norms64) and max(norms64) > squared_overflows_float32
    assert single["precision"] == "float32" and double["precision"] == "float64"


def test_float64_refuses_the_float32_kernels():
    with pytest.raises(ImplUnavailable, match="precision=float64"):
        resolve_impl("fast", "rrn", torch.device("cpu"), "float64")
    assert resolve_impl("auto", "lstm", torch.device("cpu"), "float64")[0] == "fused"


def test_precision_is_part_of_the_fingerprint_but_float32_keeps_old_ones():
    old = {"model.name": "rrn", "seed": 1}
    assert rundir.fingerprint(old) == rundir.fingerprint(old | {"precision": "float32"})
    assert rundir.fingerprint(old) != rundir.fingerprint(old | {"precision": "float64"})


def test_a_run_whose_gradient_norm_is_never_finite_stops_as_diverged(make_cfg, tmp_path, monkeypatch):
    import seqlab.loop as loop_module

    real_step = loop_module.training_step

    def overflowing(*args, **kwargs):
        loss, accuracy, _ = real_step(*args, **kwargs)
        return loss, accuracy, torch.tensor(float("inf"))

    monkeypatch.setattr(loop_module, "training_step", overflowing)
    stopped = train(make_cfg("train.stop_on_divergence=true", "train.max_steps=40"), tmp_path / "stop")
    assert stopped["diverged"] and stopped["stopped_early"] and stopped["steps"] == 10
    assert not stopped["converged"]
    kept = train(make_cfg("train.max_steps=40"), tmp_path / "keep")  # the default records it and goes on
    assert kept["diverged"] and not kept["stopped_early"] and kept["steps"] == 40


def test_a_finite_run_is_not_diverged(make_cfg, tmp_path):
    assert train(make_cfg("train.stop_on_divergence=true"), tmp_path)["diverged"] is False
