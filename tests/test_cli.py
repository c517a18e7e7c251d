"""The command line in subprocesses: bad input, the signature sweep, relaunch, kill -9 and resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import NO_CUDA, ROOT, TINY, run_cli, tiny

from seqlab import rundir

pytestmark = pytest.mark.slow

BAD_INPUTS = [
    ("data.length=1", "data.length"),
    ("data.length=2.5", "data.length"),
    ("data.length=abc", "data.length"),
    ("model.hidden_size=0", "model.hidden_size"),
    ("model.hidden_size=-3", "model.hidden_size"),
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=-0.1", "optimizer.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.max_norm=0", "train.max_norm"),
    ("train.max_steps=-1", "train.max_steps"),
    ("data.encoding=binary", "data.encoding"),
    ("device=tpu", "device"),
    ("threads=0", "threads"),
    ("threads=many", "threads"),
    ("seed=1.5", "seed"),
    ("seed=abc", "seed"),
    ("model=transformer", "model"),
    ("optimizer=lbfgs", "optimizer"),
    ("init=kaiming", "init"),
    ("train.early_stop.kind=sometimes", "train.early_stop.kind"),
]


@pytest.mark.parametrize(("override", "key"), BAD_INPUTS)
def test_bad_input_is_one_line_naming_the_key(tmp_path, override, key):
    run_dir = tmp_path / "run"
    proc = run_cli(*[t for t in TINY if not t.startswith(f"{key}=")], override, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert key in lines[0] and "expected" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (run_dir / rundir.RESULT).exists() and not (run_dir / rundir.METRICS).exists()


COMMAND_LINE_TRAPS = [  # (arguments, environment, the start of the one line)
    (["train.max_step=10"], {}, "seqlab: error: train.max_step is not a config key (did you mean train.max_steps?"),
    (["model.hiden_size=3"], {}, "seqlab: error: model.hiden_size is not a config key (did you mean model.hidden_"),
    (["optimizer.momentum=0.5"], {}, "seqlab: error: optimizer.momentum is not a key of this optimizer: only of "
     "optimizer.name = sgd, sgd_momentum"),
    (["+train.early_stop.patiense=3"], {}, "seqlab: error: train.early_stop.patiense is not a config key (did you "
     "mean train.early_stop.patience?"),  # `+` adds any key: a misspelt one would run the default under its name
    (["+foo=1"], {}, "seqlab: error: foo is not a config key (see the keys with: python -m seqlab.run --cfg job"),
    (["-m", "seed=1,2", "+model.dropout=0.1"], {}, "seqlab: error: model.dropout is not a config key"),
    (["logger=[tensorboard,foo]"], {}, "seqlab: error: logger=foo is invalid: expected one of mlflow, none, "
     "tensorboard"),  # an option of a list: Hydra names no options
    (["-m", "seed=1,2", "logger=[foo]"], {}, "seqlab: error: logger=foo is invalid: expected one of mlflow, none"),
    (["+experiment=course"], {}, "seqlab: error: this config defines a sweep (hydra.sweeper.params: seed, model, "
     "data.length): add -m"),
    (["seed=4294967297"], {}, "seqlab: error: seed=4294967297 is invalid: expected an integer >= 0 and <= 4294967295"),
    (["seed=9223372036854775808"], {}, "seqlab: error: seed=9223372036854775808 is invalid: expected an integer"),
    (["optimizer.lr=nan"], {}, "seqlab: error: optimizer.lr=nan is invalid: expected a finite number > 0"),
    (["train.max_norm=inf"], {}, "seqlab: error: train.max_norm=inf is invalid: expected a finite number > 0"),
    (["threads=9999"], {}, "seqlab: error: threads=9999 is invalid: expected auto or an integer from 1 to the"),
    (["optimizer.lr=${nope}"], {}, "seqlab: error: optimizer.lr"),  # named by its key or its override
    (["-m", "seed=1,2", "optimizer.lr=${nope}"], {}, "seqlab: error: optimizer.lr=${nope}: Interpolation key"),
    (["optimizer.lr=${oc.env:SEQLAB_UNSET}"], {}, "seqlab: error: "),
    (["train.max_steps=20", "train.max_steps=30"], {}, "seqlab: error: train.max_steps is given twice"),
    (["-m", "train.max_steps=20", "train.max_steps=30"], {}, "seqlab: error: train.max_steps is given twice"),
    (["-m", "seed=1,2", "optimizer.lr=nan"], {}, "seqlab: error: optimizer.lr=nan is invalid: expected a finite"),
    (["-m", "seed=1,2", "data.length=1"], {}, "seqlab: error: data.length=1 is invalid: expected an integer >= 2"),
    (["-m", "hydra/launcher=slurm"], {"PATH": os.path.dirname(sys.executable)},
     "seqlab: error: hydra/launcher=slurm: SLURM is not installed here (no sbatch on PATH)"),
    (["data.length=1000000000"], {}, "seqlab: error: data.length=1000000000 is too large here: the run would need"),
    (["data.length=1e9"], {}, "seqlab: error: data.length: Value '1000000000.0' of type 'float' could not be "
     "converted to Integer (expected an integer >= 2)"),
    (["train.max_steps=100000000000"], {}, "seqlab: error: train.max_steps=100000000000 is too large here"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "environment", "message"), COMMAND_LINE_TRAPS)
def test_command_line_traps_stop_with_one_line(tmp_path, arguments, environment, message):
    proc = run_cli(*arguments, "train.progress=false", "hydra.run.dir=run", "hydra.sweep.dir=sweep", cwd=tmp_path,
                   env=environment)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not list(tmp_path.iterdir())  # no run or sweep directory left behind


def test_bad_input_removes_the_folders_it_made_and_only_those(tmp_path):
    for arguments in (["data.length=1"], ["-m", "seed=1,2", "data.length=1"]):  # default outputs/runs/, multirun/
        proc = run_cli(*arguments, "train.progress=false", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert not list(tmp_path.iterdir())
    (tmp_path / "outputs" / "runs").mkdir(parents=True)  # there before: stays
    proc = run_cli("data.length=1", "train.progress=false", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == ["outputs", "outputs/runs"]


def test_a_file_where_a_folder_goes_is_one_line(tmp_path):
    (tmp_path / "blocker").write_text("mine")
    for arguments in (["hydra.run.dir=blocker/run"], ["hydra.run.dir=blocker"], ["-m", "hydra.sweep.dir=blocker/s"]):
        proc = run_cli(*arguments, *TINY, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        key = arguments[-1].split("=")[0]
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert (
            lines[0].startswith(f"seqlab: error: {key}=blocker") and f"({tmp_path / 'blocker'} is a file)" in lines[0]
        )
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"] and (tmp_path / "blocker").read_text() == "mine"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "seed=1").write_text("mine")  # where a run's directory goes: that run fails, the others train
    subdir = "hydra.sweep.subdir='seed=${seed}'"
    proc = run_cli("-m", "seed=1,2", *TINY, f"hydra.sweep.dir={sweep}", subdir, cwd=tmp_path)
    assert proc.returncode == 1 and "FAILED" in proc.stderr and "seed=1 is a file, not a run directory" in proc.stderr
    assert (sweep / "seed=1").read_text() == "mine" and (sweep / "seed=2" / rundir.RESULT).exists()


@NO_CUDA
def test_cuda_without_a_gpu_says_so(tmp_path):
    proc = run_cli(*TINY, "device=cuda", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "no CUDA GPU" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_signature_sweep_verbatim_then_relaunch_fills_only_gaps(tmp_path):
    sweep = tmp_path / "sweep"
    tiny = ["model.hidden_size=4", "train.max_steps=2", "train.batch_size=8", "eval.batches=1", "train.progress=false"]
    signature = ["-m", "model=rnn,lstm,rrn", "data.length=range(5,55,5)", "seed=1,2,3"]
    proc = run_cli(*signature, *tiny, f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.glob(f"*/{rundir.RESULT}"))
    assert len(runs) == 90
    assert all(rundir.read_result(r)["status"] == "completed" for r in runs)
    stable_name = (
        "data.length=45,eval.batches=1,model.hidden_size=4,model=lstm,seed=3,train.batch_size=8,train.max_steps=2"
    )
    assert sweep / stable_name in runs  # derived from the overrides; train.progress is excluded

    # Make two gaps: one run deleted, one marked failed; the relaunch trains exactly those two.
    done = runs[0]
    mtime = (done / rundir.RESULT).stat().st_mtime_ns
    for path in runs[1].iterdir():
        if path.is_file():
            path.unlink()
    failed = json.loads((runs[2] / rundir.RESULT).read_text()) | {"status": "failed"}
    (runs[2] / rundir.RESULT).write_text(json.dumps(failed))
    proc = run_cli(*signature, *tiny, f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "90 runs: 2 trained, 88 already completed (skipped), 0 failed" in proc.stderr
    assert (done / rundir.RESULT).stat().st_mtime_ns == mtime
    assert rundir.read_result(runs[1])["status"] == rundir.read_result(runs[2])["status"] == "completed"


def test_failing_run_does_not_take_the_sweep_down(tmp_path):
    unsafe = tmp_path / (
        "data.length=4,eval.batches=2,model.hidden_size=8,train.batch_size=16,"
        "train.checkpoint_every=10,train.eval_every=10,train.log_every=5,train.max_steps=20"
    )
    unsafe.mkdir()
    (unsafe / rundir.CHECKPOINT).write_bytes(b"not a checkpoint")  # a checkpoint with no recorded config
    proc = run_cli("-m", *TINY, "data.length=4,6,8", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1
    assert "3 runs: 2 trained, 0 already completed (skipped), 1 failed" in proc.stderr
    assert f"FAILED {unsafe} holds a checkpoint with no recorded config" in proc.stderr
    statuses = sorted(rundir.read_result(p.parent)["status"] for p in tmp_path.glob(f"*/{rundir.RESULT}"))
    assert statuses == ["completed", "completed"]


def test_default_run_directory_is_stable(tmp_path):
    proc = run_cli(*TINY[:0], "train.max_steps=3", "model.hidden_size=4", "eval.batches=1", cwd=tmp_path,
                   env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "outputs/runs/eval.batches=1,model.hidden_size=4,train.max_steps=3"
    assert rundir.read_result(run_dir)["status"] == "completed"
    again = run_cli("train.max_steps=3", "model.hidden_size=4", "eval.batches=1", cwd=tmp_path,
                    env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert again.returncode == 0 and "already completed" in again.stdout + again.stderr


def test_kill_9_then_relaunch_ends_like_an_uninterrupted_run(tmp_path):
    args = tiny("model=lstm", "model.hidden_size=16", "data.length=12", "train.max_steps=1500",
            "train.checkpoint_every=20", "train.eval_every=100", "train.early_stop.kind=none")  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_cli(*args, f"hydra.run.dir={whole}").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab.run", *args, f"hydra.run.dir={cut}"], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (cut / rundir.CHECKPOINT).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / rundir.RESULT).exists(), "the run finished before it could be killed"
    assert run_cli(*args, f"hydra.run.dir={cut}").returncode == 0
    assert (cut / rundir.METRICS).read_bytes() == (whole / rundir.METRICS).read_bytes()
    killed, reference = rundir.read_result(cut), rundir.read_result(whole)
    assert killed["resumes"] == 1
    for key in ("eval_accuracy", "eval_loss", "steps", "best_eval_accuracy"):
        assert killed[key] == reference[key]


def test_local_parallel_launcher_runs_one_single_threaded_run_per_core(tmp_path):
    proc = run_cli(
        "-m", "hydra/launcher=local_parallel", *TINY, "model=rnn,lstm,gru,rrn", f"hydra.sweep.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [rundir.read_result(p.parent) for p in tmp_path.glob(f"*/{rundir.RESULT}")]
    assert len(results) == 4 and all(r["status"] == "completed" and r["threads"] == 1 for r in results)


def test_local_parallel_failure_summary(tmp_path):
    # a budget that passes the schema and fails where the run trains (the memory its step log would need)
    budgets = "train.max_steps=20,100000000000"
    proc = run_cli("-m", "hydra/launcher=local_parallel", *tiny(budgets), f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1 and "2 runs: 1 trained, 0 already completed (skipped), 1 failed" in proc.stderr
    assert "train.max_steps=100000000000 is too large here" in proc.stderr


def test_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "seqlab.bench", "--models", "rnn,rrn", "--lengths", "3", "--encodings", "onehot",
         "--hidden", "8", "--batch", "4", "--seconds", "0.05", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["startup_s"] > 0
    assert [(r["model"], r["length"]) for r in report["rows"]] == [("rnn", 3), ("rrn", 3)]
    assert all(r["fast_steps_per_s"] > 0 and r["reference_steps_per_s"] > 0 for r in report["rows"])
    assert all(r["matmul_gflops"] > 0 and r["ratio"] > 0 for r in report["rows"])
    # the C++ recurrence alone is timed where fast steps run it: on the CPU (its speed is the benchmark's to report,
    # not a test's to judge)
    on_cpu = report["device"] == "cpu"
    assert all((r["kernel_ratio"] > 0) if on_cpu else r["kernel_ratio"] is None for r in report["rows"])


def test_sweep_benchmark_smoke(tmp_path):
    out = tmp_path / "sweep.json"
    proc = subprocess.run([sys.executable, "-m", "seqlab.bench", "--sweep", "--sweeps", "smoke", "--steps", "3",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    ways = ("per_process", "sweep", "packed", "stacked")
    assert [(r["sweep"], r["runs"], r["way"]) for r in rows] == [("smoke", 4, way) for way in ways]
    assert all(r["wall_s"] > 0 for r in rows)
    assert [r["identical_metrics"] for r in rows] == [True, True, True, None]  # packing changes no run's metrics


def test_fast_impl_where_the_kernels_cannot_build_is_one_line(tmp_path):
    broken = {"SEQLAB_KERNELS_DIR": str(tmp_path / "kernels"), "CXX": "/bin/false"}  # an empty cache, no compiler
    proc = run_cli(*TINY, "model.impl=fast", "device=cpu", f"hydra.run.dir={tmp_path / 'fast'}", env=broken)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "model.impl=fast is unavailable" in proc.stderr
    assert not (tmp_path / "fast" / rundir.RESULT).exists()
    proc = run_cli(*TINY, "device=cpu", f"hydra.run.dir={tmp_path / 'auto'}", env=broken)
    assert proc.returncode == 0, proc.stderr
    result = rundir.read_result(tmp_path / "auto")
    assert result["impl"] == "fused" and "CalledProcessError" in result["impl_fallback"]


def test_importing_seqlab_leaves_the_process_untuned():
    code = "import os, seqlab, seqlab.rundir, seqlab.models; assert 'THP_MEM_ALLOC_ENABLE' not in os.environ"
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_dataset_is_chosen_as_dataset_equals_option(tmp_path):
    proc = run_cli(*TINY, "dataset=palindrome", "data.length=5", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    config = rundir.read_result(tmp_path)["config"]
    assert config["data.name"] == "palindrome" and config["data.length"] == 5 and "dataset.name" not in config


def test_pack_benchmark_smoke(tmp_path):
    out = tmp_path / "packs.json"
    no_interpreter = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # test_triton.py sets it
    proc = subprocess.run([sys.executable, "-m", "seqlab.bench", "--sweep", "--packs", "--device", "cpu", "--lengths",
                           "5", "--steps", "1", "--pack-size", "2", "--out", str(out), "--markdown"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=no_interpreter)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["cell"], r["length"], r["pack"]) for r in rows] == [(c, 5, 2) for c in ("rnn", "lstm", "gru", "rrn")]
    assert all(r["alone"] > 0 and r["stacked"] > 0 and r["fused"] is None for r in rows)  # no GPU: fused not timed
    assert out.with_suffix(".md").read_text().startswith("| cell | length | pack | alone | stacked | fused |")
