"""The sweep index behind `seqlab status`: a cache that never hides a run that changed on disk, and that survives
garbage, concurrent writers and a kill -9 mid-write."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from array import array

import pytest
from conftest import ROOT
from synthetic_runs import make_tree, write_run

from seqlab import rundir, status
from seqlab.sweep_index import INDEX, VERSION, runs


def tree(tmp_path, seeds=range(2)):
    return make_tree(tmp_path / "sweep", lambda c: 1.0, seeds=seeds, model__name=["rnn", "lstm"],
                     data__length=[5, 10])  # fmt: skip


def counts(sweep) -> dict[str, int]:
    return {s: n for s, n in ((line.split()[0], int(line.split()[-1])) for line in status.render(sweep).splitlines()[1:]
                              if line.startswith("  "))}  # fmt: skip


def test_a_result_that_changed_on_disk_is_read_again(tmp_path):
    dirs = tree(tmp_path)
    sweep = tmp_path / "sweep"
    assert counts(sweep) == {"completed": 8} and (sweep / INDEX).exists()
    result = json.loads((dirs[0] / rundir.RESULT).read_text())
    (dirs[0] / rundir.RESULT).write_text(json.dumps(result | {"status": "failed", "error": "KeyError: 'x'\nmore"}))
    assert counts(sweep) == {"completed": 7, "failed": 1}
    assert f"FAILED   {dirs[0].name}: KeyError: 'x'" in status.render(sweep)
    (dirs[1] / rundir.RESULT).unlink()
    assert counts(sweep) == {"completed": 6, "failed": 1, "stopped": 1}


def test_an_index_of_garbage_or_of_the_wrong_shape_is_rebuilt(tmp_path):
    tree(tmp_path)
    sweep = tmp_path / "sweep"
    expected = runs(sweep)
    key = sorted(p.name for p in sweep.iterdir() if not p.name.startswith("."))[0]
    good = json.loads((sweep / INDEX).read_text())
    mtimes = array("q", base64.b64decode(good["mtime_ns"]))
    wrong_types = json.dumps(good | {"detail": [1] * 8})
    short = json.dumps(good | {"status": "completed"})
    missing = json.dumps({k: v for k, v in good.items() if k != "cell"})
    not_base64 = json.dumps(good | {"inode": "not base64!"})
    other_byteorder = json.dumps(good | {"byteorder": "big" if sys.byteorder == "little" else "little"})
    stamps_short = json.dumps(good | {"size": base64.b64encode(mtimes[:7].tobytes()).decode()})
    for garbage in ("not json", "[1]", f'{{"version": {VERSION}, "runs": []}}', wrong_types, short, missing,
                    not_base64, other_byteorder, stamps_short):  # fmt: skip
        (sweep / INDEX).write_text(garbage)
        assert runs(sweep) == expected
    forged = json.loads((sweep / INDEX).read_text())
    at = forged["names"].split("\n").index(key)
    statuses = forged["status"].split("\n")
    statuses[at] = "failed"  # a summary whose stamp no longer matches is never trusted
    mtimes[at] += 1
    forged |= {"status": "\n".join(statuses), "mtime_ns": base64.b64encode(mtimes.tobytes()).decode()}
    (sweep / INDEX).write_text(json.dumps(forged))
    assert runs(sweep) == expected


def test_concurrent_writers_and_kill_9_mid_write_leave_a_usable_index(tmp_path):
    tree(tmp_path, seeds=range(50))  # 200 runs: each status rewrites an index of some size
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "seqlab.status", str(sweep)]
    for round_number in range(6):
        (sweep / INDEX).unlink(missing_ok=True)  # every process rebuilds and writes it
        running = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(3)]
        time.sleep(0.05 * round_number)
        running[0].send_signal(signal.SIGKILL)
        for process in running:
            process.wait(timeout=120)
        if (sweep / INDEX).exists():
            assert json.loads((sweep / INDEX).read_text())["version"] == VERSION  # whole, never half written
        assert counts(sweep) == {"completed": 200}
    leftovers = {p.name for p in sweep.iterdir()} - {INDEX} - {p.name for p in sweep.iterdir() if "=" in p.name}
    assert all(name.startswith(f".{INDEX}.") and name.endswith(".tmp") for name in leftovers)  # a killed write's temp


def test_the_eta_scales_by_the_work_left_not_by_the_mean_run(tmp_path):
    """Two short runs completed (L = 10, 100 steps, 1 s each: 1 ms per step and digit); one long run stopped half
    way (L = 100, 1,000 steps); one planned run not started. The work left: 50,000 + 100,000 step-digits at 1 ms =
    150 s, where the mean of the completed runs (1 s) would say 2 s."""
    from synthetic_runs import write_run

    from seqlab import status

    sweep = tmp_path / "sweep"
    short = {"model": {"name": "lstm"}, "data": {"name": "palindrome", "length": 10}, "train": {"max_steps": 100}}
    for seed in (1, 2):
        write_run(sweep / f"short_{seed}", short | {"seed": seed}, accuracy=1.0, steps=100)
    long = sweep / "long"
    long.mkdir()
    config = {"model.name": "lstm", "data.name": "palindrome", "data.length": 100, "train.max_steps": 1000}
    (long / rundir.FINGERPRINT).write_text(json.dumps({"fingerprint": "f", "config": config}))
    rundir.CsvLog(long / rundir.METRICS, rundir.METRIC_COLUMNS).append([{"step": 500, "train_loss": 1.0}])
    rundir.write_plan(sweep, 4, 4)
    assert status.eta_seconds(runs(sweep), not_completed(sweep), 4) == pytest.approx(150.0)
    assert "ETA 2 min (2 runs left; from the work left" in status.render(sweep)
    (sweep / "launched").mkdir()  # a directory that holds nothing yet counts as a planned run not started
    assert status.eta_seconds(runs(sweep), not_completed(sweep), 4) == pytest.approx(150.0)


def test_status_says_a_launch_stopped_before_it_finished(tmp_path):
    sweep = tmp_path / "sweep"
    write_run(sweep / "done", {"model": {"name": "lstm"}, "seed": 1}, accuracy=1.0)
    rundir.write_plan(sweep, 2, 2)  # the machine stopped after the first of two runs
    assert status.render(sweep).splitlines()[0].endswith("its launch stopped before it finished (no run is running): "
                                                         "its command resumes it")  # fmt: skip
    rundir.finish_plan(sweep)
    assert "stopped" not in status.render(sweep)


def not_completed(sweep) -> list[tuple[str, str, str]]:
    found = runs(sweep)
    return [(path, *status.run_state(path, found.summary(at))) for at, path in enumerate(found.paths)
            if found.status[at] != "completed"]  # fmt: skip


def test_numbers_too_large_for_a_float_are_summarised_as_none(tmp_path):
    dirs = tree(tmp_path)
    result = json.loads((dirs[0] / rundir.RESULT).read_text())
    (dirs[0] / rundir.RESULT).write_text(json.dumps(result | {"wall_time_s": 10**400, "steps": 10**400}))
    found = runs(tmp_path / "sweep")
    at = found.paths.index(str(dirs[0]))
    assert found.summary(at).wall_time_s is None and found.summary(at).work is None
    assert counts(tmp_path / "sweep") == {"completed": 8}


def test_a_running_run_whose_metrics_stopped_coming_says_so_instead_of_an_eta(tmp_path):
    """A live lock holder that started at step 0, 100 s before its last row at step 500 (5 steps/s, 10,000 steps
    planned): a fresh row gives an ETA of 31.7 min; the same row 15 minutes old says that no row came since."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {"model.name": "lstm", "train.max_steps": 10_000, "train.early_stop.kind": "none"}
    (run_dir / rundir.FINGERPRINT).write_text(json.dumps({"fingerprint": "f", "config": config}))
    rundir.CsvLog(run_dir / rundir.METRICS, rundir.METRIC_COLUMNS).append([{"step": 500, "train_loss": 1.0}])
    written = time.time()
    holder = lambda at: f"host vm pid 7 step 0 at {at - 100}"  # noqa: E731
    assert status.running(run_dir, holder(written)) == "vm:7, step 500/10000, 5.0 steps/s, ETA 31.7 min"
    stale = written - 15 * 60
    os.utime(run_dir / rundir.METRICS, (stale, stale))
    assert status.running(run_dir, holder(stale)) == (
        "vm:7, step 500/10000, 5.0 steps/s, no new row for 15 min (its process holds the lock: stopped or hung?)"
    )
