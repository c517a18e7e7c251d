"""A run directory is data, never a pointer elsewhere; the tools that read many of them survive any one bad one."""

import errno
import json
import os

import pytest
from conftest import TINY, run_cli

from multirun_analysis import aggregate_results
from seqlab import rundir, status
from seqlab.train import train

SECRET = "root:x:0:0:secret-line\n"


@pytest.fixture
def outside(tmp_path):
    """A file outside every run directory, with content that must never be changed nor copied."""
    path = tmp_path / "outside.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def interrupted(make_cfg, tmp_path):
    """A trained run directory without its result.json: what a relaunch resumes."""
    run_dir = tmp_path / "run"
    train(make_cfg(), run_dir)
    (run_dir / rundir.RESULT).unlink()
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("name", [rundir.LOCK, "run.log", f"{rundir.HYDRA}/config.yaml"])
def test_a_relaunch_never_writes_through_a_link_in_the_run_directory(interrupted, outside, name):
    (interrupted / name).parent.mkdir(exist_ok=True)
    (interrupted / name).unlink(missing_ok=True)
    (interrupted / name).symlink_to(outside)
    relaunched = run_cli(*TINY, f"hydra.run.dir={interrupted}")
    assert relaunched.returncode == 2 and outside.read_text() == SECRET
    [line] = relaunched.stderr.strip().splitlines()
    assert line == (f"seqlab: error: {interrupted / name} is a symbolic link: seqlab never writes through a link "
                    "in a run directory; remove the link (or the directory) and launch again")  # fmt: skip


def test_a_lock_planted_as_a_link_is_never_opened(tmp_path, outside):
    (tmp_path / rundir.LOCK).symlink_to(outside)
    with pytest.raises(rundir.ConfigError, match="is a symbolic link"), rundir.RunLock(tmp_path):
        pass
    assert outside.read_text() == SECRET
    assert rundir.verdict(tmp_path, {})[0] == "refuse"


def completed(make_cfg, tmp_path, name="sweep/run"):
    run_dir = tmp_path / name
    train(make_cfg(), run_dir)
    return run_dir


def test_aggregate_reads_no_file_outside_a_run_directory(make_cfg, tmp_path, outside, capsys):
    good = completed(make_cfg, tmp_path, "sweep/good")
    linked = completed(make_cfg, tmp_path, "sweep/linked")
    (linked / rundir.METRICS).unlink()
    (linked / rundir.METRICS).symlink_to(outside)
    planted = completed(make_cfg, tmp_path, "sweep/planted")
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps(rundir.read_result(planted) | {"eval_accuracy": 0.123456}))
    (planted / rundir.RESULT).unlink()
    (planted / rundir.RESULT).symlink_to(fake)
    assert aggregate_results.main([str(tmp_path / "sweep")]) == 0
    analysis = tmp_path / "sweep" / "analysis"
    written = "".join(p.read_text(errors="replace") for p in analysis.iterdir() if p.suffix in (".md", ".html", ".csv"))
    assert "secret-line" not in written and "0.123456" not in written
    assert "symbolic link out of its run directory" in (analysis / "report.md").read_text()
    assert str(good) in (analysis / "runs.csv").read_text()
    assert "secret-line" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "field, value",
    [("eval_accuracy", "high"), ("steps", "fifty"), ("steps_to_converge", "x"), ("config", "oops")],
)
def test_one_wrongly_typed_result_is_named_and_the_rest_aggregated(make_cfg, tmp_path, capsys, field, value):
    completed(make_cfg, tmp_path, "sweep/good")
    bad = completed(make_cfg, tmp_path, "sweep/bad")
    result = json.loads((bad / rundir.RESULT).read_text())
    (bad / rundir.RESULT).write_text(json.dumps(result | {field: value}))
    assert aggregate_results.main([str(tmp_path / "sweep")]) == 0
    err = capsys.readouterr().err
    assert f"UNREADABLE {bad}: {bad / rundir.RESULT}: '{field}' is not" in err
    assert "1 run directories without a completed result (1 unreadable)" in err
    assert str(bad) in (tmp_path / "sweep" / "analysis" / "report.md").read_text()
    shown = status.render(tmp_path / "sweep").splitlines()
    assert shown[1:3] == ["  completed            1", "  unreadable           1"]
    assert shown[3].startswith(f"UNREADABLE bad: {bad / rundir.RESULT}: '{field}' is not")


@pytest.mark.parametrize("plan", [{"planned": "many"}, [1], {"planned_runs": "x", "at_most": 3},
                                  {"planned_runs": 1, "at_most": 1, "finished_at": "yes"}])  # fmt: skip
def test_status_survives_a_plan_of_the_wrong_shape(make_cfg, tmp_path, plan):
    completed(make_cfg, tmp_path, "sweep/run")
    (tmp_path / "sweep" / rundir.PLAN).write_text(json.dumps(plan))
    assert status.render(tmp_path / "sweep").startswith(f"{tmp_path / 'sweep'}: 1 runs")


def test_a_failed_aggregate_leaves_the_previous_analysis_intact(make_cfg, tmp_path, monkeypatch):
    completed(make_cfg, tmp_path, "sweep/run")
    assert aggregate_results.main([str(tmp_path / "sweep")]) == 0
    analysis = tmp_path / "sweep" / "analysis"
    before = {p.name: p.read_bytes() for p in analysis.iterdir()}

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "summary.csv")

    monkeypatch.setattr(aggregate_results, "write_outputs", full)
    assert aggregate_results.main([str(tmp_path / "sweep")]) == 1
    assert {p.name: p.read_bytes() for p in analysis.iterdir()} == before
    assert [p.name for p in (tmp_path / "sweep").iterdir() if p.name.startswith(".")] == []


def test_a_full_disk_is_named_with_the_file(tmp_path):
    def no_space(file):  # what a write to a full file system raises
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(rundir.DiskFull, match=f"^no space left on device writing {tmp_path / 'checkpoint.pt'}$"):
        rundir.atomic_write(tmp_path / "checkpoint.pt", no_space)
    assert list(tmp_path.iterdir()) == []
