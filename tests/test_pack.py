"""Packed runs: several runs trained together in one process, each exactly as it trains alone (and the text
task's samples too)."""

import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CUDA, ROOT, TINY, metrics, overridden, run_cli, seqlab_configs, text_args, tiny, write_corpus

import seqlab.loop as loop_module
from seqlab import rundir
from seqlab.packs import packs
from seqlab.train import Claim, claim, train, train_together

COMPARED = ("status", "eval_accuracy", "eval_loss", "steps", "converged", "steps_to_converge", "best_eval_accuracy",
            "best_train_accuracy", "stopped_early", "fingerprint")  # fmt: skip


def claims(make_cfg, root: Path, members: dict[str, list[str]], locks: ExitStack) -> list[Claim]:
    return [claim(make_cfg("threads=1", *overrides), root / name, locks) for name, overrides in members.items()]


def assert_same_runs(alone: Path, packed: Path, names) -> None:
    for name in names:
        for log in (rundir.METRICS, rundir.GRAD_FLOW, rundir.SAMPLES):
            if (alone / name / log).exists():
                assert (packed / name / log).read_bytes() == (alone / name / log).read_bytes(), (name, log)
        expected, got = rundir.read_result(alone / name), rundir.read_result(packed / name)
        assert {k: got[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}, name


def test_packed_runs_write_byte_for_byte_what_they_write_alone(make_cfg, tmp_path):
    # seeds, optimizers, learning rates, budgets, tasks differ; one run stops early and leaves the pack
    members: dict[str, list[str]] = {
        "rnn_seed1": ["model=rnn", "seed=1", "grad_flow.enabled=true"],
        "rnn_seed2_adam": [
            "model=rnn",
            "seed=2",
            "optimizer=adam",
            "optimizer.lr=0.01",
            "train.max_steps=400",
            "data.length=4",
        ],  # fmt: skip
        "rnn_sgd_decay": [
            "model=rnn",
            "seed=3",
            "optimizer=sgd_momentum",
            "train.lr_decay.every=7",
            "train.lr_decay.factor=0.5",
            "train.max_steps=35",
        ],  # fmt: skip
    }
    members["text"] = text_args(write_corpus(tmp_path / "book.txt"), "model=lstm", "seed=4")
    for name, overrides in members.items():
        train(make_cfg("threads=1", *overrides), tmp_path / "alone" / name)
    with ExitStack() as locks:
        outcomes = train_together(claims(make_cfg, tmp_path / "packed", members, locks))
    assert [o["status"] for o in outcomes] == ["completed"] * 4
    assert rundir.read_result(tmp_path / "alone" / "rnn_seed2_adam")["stopped_early"]  # left the pack early
    assert rundir.read_result(tmp_path / "alone" / "text")["pack"] is None
    assert rundir.read_result(tmp_path / "packed" / "text")["pack"] == {"runs": 4, "stacked": False}
    assert_same_runs(tmp_path / "alone", tmp_path / "packed", members)


def test_a_failing_run_leaves_the_pack_and_the_others_finish(make_cfg, tmp_path, monkeypatch):
    real_step = loop_module.training_step
    calls = {"n": 0}

    def fifth_call_fails(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the second member's second step
            raise RuntimeError("boom")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop_module, "training_step", fifth_call_fails)
    members = {"a": ["model=gru", "seed=1"], "b": ["model=gru", "seed=2"], "c": ["model=gru", "seed=3"]}
    with ExitStack() as locks:
        outcomes = train_together(claims(make_cfg, tmp_path, members, locks))
    assert isinstance(outcomes[1], RuntimeError)
    assert [outcomes[0]["status"], outcomes[2]["status"]] == ["completed", "completed"]
    failed = rundir.read_result(tmp_path / "b")
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: boom" and failed["steps"] == 1
    assert [rundir.read_result(tmp_path / n)["steps"] for n in "ac"] == [20, 20]


@pytest.mark.parametrize(
    ("model", "optimizer", "extra"),
    [("rnn", "rmsprop", []), ("lstm", "adam", ["model.num_layers=2"]), ("gru", "sgd_momentum", []),
     ("rrn", "rmsprop", ["data.encoding=scalar"]), ("lstm", "rmsprop", ["text"]),
     ("gru", "adam", ["precision=float64"])],
)  # fmt: skip
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, CUDA])])
def test_a_stacked_pack_trains_each_run_as_it_trains_alone_up_to_rounding(
    make_cfg, tmp_path, model, optimizer, extra, device
):
    text = extra == ["text"]
    extra = text_args(write_corpus(tmp_path / "book.txt")) if text else [*extra, "grad_flow.enabled=true"]
    shared = [f"model={model}", f"optimizer={optimizer}", "threads=1", f"device={device}", *extra]
    members = {  # learning rates, schedules, clips, budgets and seeds differ; one leaves the pack after 10 steps
        "a": ["seed=1"],
        "b": ["seed=2", f"optimizer.lr={0.02 if optimizer == 'sgd_momentum' else 0.003}", "train.max_norm=0.5"],
        "c": ["seed=3", "train.max_steps=10", "train.lr_decay.every=3", "train.lr_decay.factor=0.5"],
    }
    for name, overrides in members.items():
        train(make_cfg(*shared, *overrides), tmp_path / "alone" / name)
    with ExitStack() as locks:
        claimed = [claim(make_cfg(*shared, *o), tmp_path / "stacked" / n, locks) for n, o in members.items()]
        outcomes = train_together(claimed, stacked=True)
    assert [o["status"] for o in outcomes] == ["completed"] * 3
    assert all(o["pack"] == {"runs": 3, "stacked": True} for o in outcomes)
    for name in members:
        alone, stacked = tmp_path / "alone" / name, tmp_path / "stacked" / name
        expected, got = metrics(alone), metrics(stacked)
        assert expected.shape == got.shape and expected.shape[0] == (2 if name == "c" else 4)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)
        weights = [torch.load(d / rundir.CHECKPOINT, weights_only=True)["model"] for d in (alone, stacked)]
        for key, value in weights[0].items():
            torch.testing.assert_close(weights[1][key], value, rtol=1e-3, atol=1e-4)  # a tenth of an lr-1e-3 step
        if not text:  # the gradient-flow probe read the stacked weights, handed back
            np.testing.assert_allclose(
                np.loadtxt(stacked / rundir.GRAD_FLOW, delimiter=",", skiprows=1),
                np.loadtxt(alone / rundir.GRAD_FLOW, delimiter=",", skiprows=1), rtol=1e-4, atol=1e-6,
            )  # fmt: skip


def test_runs_share_a_pack_only_when_their_shapes_agree_and_at_most_max_runs():
    keys = ["lstm", "rnn", "lstm", "lstm", "rnn", "lstm"]
    assert packs(keys, max_runs=3) == [[0, 2, 3], [5], [1, 4]]
    assert packs(keys, max_runs=1) == [[i] for i in (0, 2, 3, 5, 1, 4)]


SWEEP = tiny("model=rnn,lstm", "seed=1,2", "data.length=6", "train.max_steps=400", "train.checkpoint_every=20",
         "train.early_stop.kind=none", "threads=1", "hydra.sweep.subdir=${model.name}_${seed}")  # fmt: skip


@pytest.mark.slow
def test_a_packed_sweep_killed_midway_resumes_to_what_one_run_per_process_writes(tmp_path):
    alone = run_cli("-m", *SWEEP, f"hydra.sweep.dir={tmp_path / 'alone'}")
    assert alone.returncode == 0, alone.stderr[-2000:]
    packed = [sys.executable, "-m", "seqlab.run", "-m", *SWEEP, "hydra/launcher=packed",
              "hydra.launcher.max_runs=2", f"hydra.sweep.dir={tmp_path / 'packed'}"]  # fmt: skip
    first = subprocess.Popen(packed, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "packed" / "rnn_2" / rundir.CHECKPOINT
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-pack: both members of the first pack hold a checkpoint
    first.wait()
    assert not (tmp_path / "packed" / "rnn_2" / rundir.RESULT).exists()
    resumed = subprocess.run(packed, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "4 runs: 4 trained, 0 already completed (skipped), 0 failed" in resumed.stderr
    assert "Launching 4 jobs locally in 2 packs" in resumed.stdout
    names = [p.name for p in (tmp_path / "alone").glob("*_*")]
    assert len(names) == 4
    assert_same_runs(tmp_path / "alone", tmp_path / "packed", names)
    assert all(rundir.read_result(tmp_path / "packed" / n)["resumes"] == 1 for n in names if "rnn" in n)
    again = subprocess.run(packed, cwd=ROOT, capture_output=True, text=True)
    assert "4 runs: 0 trained, 4 already completed (skipped), 0 failed" in again.stderr


def test_a_bad_pack_size_is_one_line(tmp_path):
    proc = run_cli("-m", *TINY, "hydra/launcher=packed", "hydra.launcher.max_runs=0", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "seqlab: error: hydra.launcher.max_runs=0 is invalid: expected an integer >= 1"
    )


@pytest.mark.parametrize("launcher", ["basic", "packed"])
def test_a_stop_signal_stops_the_whole_sweep(tmp_path, launcher):
    sweep = [sys.executable, "-m", "seqlab.run", "-m", *overridden(SWEEP, "train.max_steps=100000"),
             f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"]  # fmt: skip
    first = subprocess.Popen(sweep, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "rnn_1" / rundir.CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 130, stderr[-2000:]
    assert "stopped by SIGINT: " in stderr and "run the same command again to resume" in stderr
    assert rundir.read_result(tmp_path / "rnn_1")["status"] == "interrupted"
    assert not (tmp_path / "lstm_2").exists()  # the sweep did not go on to its other runs


def test_the_slurm_packed_launcher_has_the_slurm_launchers_settings():
    from hydra import compose  # noqa: PLC0415

    with seqlab_configs():
        slurm, packed = (
            compose(config_name="config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True).hydra.launcher
            for name in ("slurm", "slurm_packed")
        )
    assert {k: v for k, v in packed.items() if k not in ("_target_", "max_runs", "stacked", "graph")} == {
        k: v for k, v in slurm.items() if k != "_target_"
    }
    assert (packed.max_runs, packed.stacked, packed.graph) == (32, "auto", False)


def test_runs_of_different_shapes_asked_to_stack_train_each_on_its_own(make_cfg, tmp_path, caplog):
    members = {"narrow": ["model=rnn", "model.hidden_size=8"], "wide": ["model=rnn", "model.hidden_size=12"]}
    with ExitStack() as locks:
        outcomes = train_together(claims(make_cfg, tmp_path, members, locks), stacked=True)
    assert [o["pack"] for o in outcomes] == [{"runs": 2, "stacked": False}] * 2
    assert "the pack trains run by run, not stacked: the runs differ in settings a pack shares" in caplog.text


def stacked_of(models, fused=False):
    from seqlab.engines.stacked_model import StackedModel

    return StackedModel(models, fused)


def test_a_runs_logits_and_gradients_depend_only_on_its_own_inputs_in_a_pack_across_lengths():
    from seqlab.engines.pack import padded
    from seqlab.models import build_model

    torch.manual_seed(0)
    lengths = [4, 9, 6]
    models = [build_model("lstm", 16, 1, "onehot", "fused") for _ in lengths]
    inputs = [torch.randint(0, 10, (8, length)) for length in lengths]
    stacked = stacked_of(models)

    def run_0(batches):
        symbols, sizes = padded(batches)
        stacked.zero_grad()
        logits = stacked(symbols, sizes)
        logits[0].sum().backward()
        return logits[0].detach(), [p.grad[0].clone() for p in stacked.parameters()]

    logits, grads = run_0(inputs)
    others = [inputs[0], torch.randint(0, 10, (8, 9)), torch.randint(0, 10, (8, 3))]  # other runs, other lengths
    logits_again, grads_again = run_0(others)
    torch.testing.assert_close(logits_again, logits, rtol=0, atol=0)
    for a, b in zip(grads, grads_again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for p, model in enumerate(models):  # and each run's logits are its own model's on its own, unpadded inputs
        symbols, sizes = padded(inputs)
        torch.testing.assert_close(stacked(symbols, sizes)[p], model(inputs[p]), rtol=1e-5, atol=1e-6)


def test_a_stacked_pack_across_lengths_trains_each_run_as_alone_up_to_rounding(make_cfg, tmp_path):
    shared = ["model=rnn", "threads=1", "device=cpu"]
    members = {"short": ["seed=1", "data.length=4"], "long": ["seed=2", "data.length=9"],
               "middle": ["seed=3", "data.length=6", "train.max_steps=10"]}  # fmt: skip
    for name, overrides in members.items():
        train(make_cfg(*shared, *overrides), tmp_path / "alone" / name)
    with ExitStack() as locks:
        claimed = [claim(make_cfg(*shared, *o), tmp_path / "stacked" / n, locks) for n, o in members.items()]
        outcomes = train_together(claimed, stacked=True)
    assert all(o["pack"] == {"runs": 3, "stacked": True} for o in outcomes)
    for name in members:
        np.testing.assert_allclose(metrics(tmp_path / "stacked" / name), metrics(tmp_path / "alone" / name),
                                   rtol=2e-4, atol=2e-5)  # fmt: skip


def test_runs_of_different_lengths_share_a_pack():
    from seqlab.packs import shared_settings

    config = {"model.name": "rnn", "data.name": "palindrome", "data.encoding": "onehot", "train.batch_size": 8}
    assert shared_settings(config | {"data.length": 5}) == shared_settings(config | {"data.length": 50})
    assert shared_settings(config | {"data.encoding": "scalar"}) != shared_settings(config)


@pytest.mark.parametrize("faster", [None, "stacked", "run_by_run"])  # None: as measured here
def test_a_measured_pack_settles_on_the_faster_way_and_trains_each_run_as_alone(
    make_cfg, tmp_path, caplog, monkeypatch, faster
):
    import logging

    from seqlab.engines.pack import Calibration

    if faster:
        monkeypatch.setattr(Calibration, "medians", lambda self: (0.001, 0.002) if faster == "stacked" else (2, 1))

    shared = ["model=lstm", "threads=1", "device=cpu", "train.max_steps=30"]
    members = {"a": ["seed=1", "data.length=5"], "b": ["seed=2", "data.length=8"], "c": ["seed=3"]}
    for name, overrides in members.items():
        train(make_cfg(*shared, *overrides), tmp_path / "alone" / name)
    with ExitStack() as locks, caplog.at_level(logging.INFO):
        claimed = [claim(make_cfg(*shared, *o), tmp_path / "measured" / n, locks) for n, o in members.items()]
        outcomes = train_together(claimed, stacked="measure")
    rounds = 2 * (Calibration.WARMUP + Calibration.ROUNDS)
    for outcome in outcomes:
        pack = outcome["pack"]
        assert pack["runs"] == 3 and isinstance(pack["stacked"], bool)
        assert faster is None or pack["stacked"] == (faster == "stacked")
        assert set(pack["measured_ms"]) == {"stacked", "run_by_run"} and min(pack["measured_ms"].values()) > 0
    assert "the pack trains" in caplog.text and "ms stacked" in caplog.text
    for name in members:  # both ways trained it for real: equal to alone up to the stacked steps' rounding
        expected, got = metrics(tmp_path / "alone" / name), metrics(tmp_path / "measured" / name)
        assert expected.shape == got.shape and rounds < 30
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, CUDA])])
def test_a_stacked_step_captured_as_a_cuda_graph_trains_as_the_uncaptured_one(make_cfg, tmp_path, device):
    """hydra.launcher.graph: 3 uncaptured steps, the capture, then replays; on the CPU it says why it cannot."""
    shared = ["model=lstm", "threads=1", f"device={device}", "train.max_steps=20", "train.eval_every=10",
              "train.log_every=5", "train.lr_decay.every=7", "train.lr_decay.factor=0.5"]  # fmt: skip
    members = {"a": ["seed=1"], "b": ["seed=2", "optimizer.lr=0.003"]}
    outcomes = {}
    for way in ("plain", "graph"):
        with ExitStack() as locks:
            claimed = [claim(make_cfg(*shared, *o), tmp_path / way / n, locks) for n, o in members.items()]
            outcomes[way] = train_together(claimed, stacked=True, graph=way == "graph")
    state = "captured" if device == "cuda" else "not captured: CUDA graphs need a CUDA device"
    assert [o["pack"].get("graph") for o in outcomes["graph"]] == [state] * 2
    assert [o["pack"].get("graph") for o in outcomes["plain"]] == [None] * 2
    for name in members:
        np.testing.assert_allclose(metrics(tmp_path / "graph" / name), metrics(tmp_path / "plain" / name),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


def test_a_stacked_step_makes_no_tensor_from_python_values_and_reads_none_back(make_cfg, tmp_path, monkeypatch):
    """What would make a GPU's host loop wait: a tensor from a Python list (a host-to-device copy) or `.item()`,
    `.cpu()`, `.tolist()` (a device-to-host copy), at a step after which no run logs, evaluates or checkpoints. The
    learning rates decay every 5 steps: only then are they copied to the device again."""
    from seqlab.engines.pack import StackedPack

    calls: list[str] = []

    def spy(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    quiet_steps, step = [0], StackedPack.step

    def watched(self):
        quiet, before = not any(run.reads_state() for run in self.runs), self.lr_values
        calls.clear()
        step(self)
        if quiet and self.lr_values is before:  # not the first step, nor one whose learning rates decayed
            quiet_steps[0] += 1
            assert not calls, calls

    monkeypatch.setattr(StackedPack, "step", watched)
    monkeypatch.setattr(torch, "tensor", spy("torch.tensor", torch.tensor))
    for method in ("item", "cpu", "tolist"):
        monkeypatch.setattr(torch.Tensor, method, spy(f"Tensor.{method}", getattr(torch.Tensor, method)))
    shared = ["model=rnn", "threads=1", "device=cpu", "train.max_steps=40", "train.eval_every=20",
              "train.log_every=20", "train.lr_decay.every=5", "train.lr_decay.factor=0.5"]  # fmt: skip
    with ExitStack() as locks:
        claimed = [claim(make_cfg(*shared, f"seed={seed}", f"data.length={length}"), tmp_path / str(seed), locks)
                   for seed, length in ((1, 4), (2, 7))]  # fmt: skip
        outcomes = train_together(claimed, stacked=True)
    assert all(isinstance(o, dict) and o["status"] == "completed" and o["pack"]["stacked"] for o in outcomes), outcomes
    assert quiet_steps[0] >= 20


def test_the_gpu_targets_are_judged_from_the_benchmark_reports():
    from seqlab.gpu_targets import verdicts

    packs = {"rows": [
        {"cell": "rrn", "length": 450, "alone": 200.0, "stacked": 1200.0, "fused": None},
        {"cell": "lstm", "length": 450, "alone": 100.0, "stacked": 250.0, "fused": "OutOfResources: shared memory"},
        {"cell": "lstm", "length": 10, "alone": 900.0, "stacked": 800.0, "fused": None},
    ]}  # fmt: skip
    sweeps = [{"steps": 50, "rows": [{"sweep": "signature", "way": "fused", "wall_s": None, "error": "x"},
                                     {"sweep": "signature", "way": "stacked", "wall_s": 30.0},
                                     {"sweep": "signature", "way": "auto", "wall_s": 20.0},
                                     {"sweep": "long", "way": "auto", "wall_s": 1.0}]},
              {"steps": 500, "rows": [{"sweep": "signature", "way": "stacked", "wall_s": 39.0},
                                      {"sweep": "signature", "way": "fused", "wall_s": 9.0}]}]  # fmt: skip
    assert verdicts(packs, sweeps) == [  # stacked: 29.0 s + 20 ms x 10,000; auto and fused have one step count
        "FAIL signature sweep x 10,000 steps: 229 s (stacked: 29.0 s fixed + 20.0 ms a step, a line through 50 and"
        " 500 steps; target <= 180 s)",
        "PASS RRN at L = 450, pack of 16: 1200 run-steps/s (target >= 1000)",
        "FAIL LSTM at L = 450, pack over alone: 2.50x (target >= 3x)",  # the fused row failed: stacked counts
        "FAIL packing never slower than one run at a time: slower at lstm L = 10",
    ]
    assert all(line.startswith("FAIL") and "not measured" in line for line in verdicts(None, sweeps[:1]))


def test_a_benchmark_row_that_fails_is_a_row_with_its_error_and_the_others_run():
    from seqlab.bench_sweep import pack_rates

    written = []
    rows = pack_rates(torch.device("cpu"), ["rnn"], [1, 4], 2, 1, each=lambda done: written.append(len(done)))
    assert rows[0]["alone"].startswith("RuntimeError") and rows[0]["stacked"].startswith("RuntimeError")  # L = 1
    assert isinstance(rows[1]["alone"], float) and isinstance(rows[1]["stacked"], float)
    assert written == [1, 2]  # the report is written as rows arrive
