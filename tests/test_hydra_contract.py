"""Hydra's contract: seqlab's plugins leave other Hydra apps alone, and its launchers and sweepers report each job
as Hydra's own do."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, plant

from seqlab import rundir

FOREIGN_APP = """
import json, os, sys
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.1", config_path=None)
def app(cfg):
    print(json.dumps({"cwd": os.getcwd(), "output_dir": HydraConfig.get().runtime.output_dir,
                      "torch": "torch" in sys.modules, "seqlab_run": "seqlab.run" in sys.modules}))

app()
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["-m", "hydra.sweep.dir=multi"]])
def test_installing_seqlab_leaves_a_foreign_hydra_app_its_own_version_base(tmp_path, mode):
    """Hydra imports every `hydra_plugins` module in every Hydra process; a 1.1 app must still change into its
    output directory, and the scan must not import torch or seqlab's app."""
    (tmp_path / "foreign.py").write_text(FOREIGN_APP)
    proc = subprocess.run([sys.executable, "foreign.py", *mode, "hydra.run.dir=single"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["cwd"] == seen["output_dir"] != str(tmp_path)  # version_base 1.1: the job runs in its output dir
    assert not seen["torch"] and not seen["seqlab_run"]


def test_the_plugins_import_nothing_with_side_effects():
    code = ("import sys; from hydra.core.plugins import Plugins; Plugins.instance(); "
            "from hydra.core.plugins import Plugins as P; import hydra_plugins.seqlab_launcher.packed, "
            "hydra_plugins.seqlab_launcher.submitit_packed, hydra_plugins.seqlab_sweeper.capacity; "
            "print(sorted(m for m in ('torch', 'seqlab.run') if m in sys.modules))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def packed_sweep(tmp_path, *extra, seeds="1,2,3"):
    from conftest import TINY, run_cli

    events = tmp_path / "events.jsonl"
    proc = run_cli("-m", *TINY, f"seed={seeds}", "hydra/launcher=packed", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   "hydra.sweep.subdir=seed_${seed}", "+hydra.callbacks.record._target_=callback_recorder.Recorder",
                   f"+hydra.callbacks.record.path={events}", *extra,
                   env={"PYTHONPATH": str(ROOT / "tests")})  # fmt: skip
    return proc, [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []


@pytest.mark.slow
def test_packed_reports_each_run_to_callbacks_around_its_training_with_its_real_status(tmp_path):

    broken = tmp_path / "sweep" / "seed_3"
    assert packed_sweep(tmp_path, seeds="3")[0].returncode == 0
    (broken / "result.json").unlink()
    plant(broken, tmp_path / "pwned")  # resuming it fails (an unsafe checkpoint)
    (tmp_path / "events.jsonl").unlink()
    proc, events = packed_sweep(tmp_path)
    assert proc.returncode == 1, proc.stderr  # one run failed
    starts = [e for e in events if e["event"] == "start"]
    ends = {e["run_dir"]: e for e in events if e["event"] == "end"}
    assert len(starts) == 3 and not any(e["result"] for e in starts)  # before training
    trained = [e for e in starts if e["run_dir"] != str(broken)]
    assert max(map(events.index, trained)) < min(events.index(ends[e["run_dir"]]) for e in trained)
    for seed in (1, 2):
        end = ends[str(tmp_path / "sweep" / f"seed_{seed}")]
        assert end["status"] == "COMPLETED" and end["result"]  # after result.json was written
        assert end["value"] == {"objective": rundir.read_result(end["run_dir"])["eval_accuracy"], "status": "completed",
                                "skipped": False, "run_dir": end["run_dir"]}  # fmt: skip
    assert ends[str(broken)]["status"] == "FAILED" and ends[str(broken)]["value"] == "UnsafeCheckpoint"


@pytest.mark.slow
def test_packed_writes_each_runs_log_lines_into_its_own_log(tmp_path):
    proc, _ = packed_sweep(tmp_path)
    assert proc.returncode == 0, proc.stderr
    for seed in (1, 2, 3):
        run_dir = tmp_path / "sweep" / f"seed_{seed}"
        lines = (run_dir / "run.log").read_text().splitlines()
        own = [line for line in lines if "training lstm" in line or "done " in line]
        assert len(own) == 2 and all(str(run_dir) in line for line in own), lines
        others = [tmp_path / "sweep" / f"seed_{s}" for s in (1, 2, 3) if s != seed]
        assert not any(f"{other}:" in line or line.endswith(str(other)) for line in lines for other in others)


@pytest.mark.slow
def test_packed_refuses_a_config_that_is_not_a_seqlab_run_in_one_line(tmp_path):
    (tmp_path / "foreign.py").write_text(FOREIGN_APP.replace('version_base="1.1"', 'version_base="1.3"'))
    proc = subprocess.run([sys.executable, "foreign.py", "-m", "hydra/launcher=packed", "+x=1,2",
                           "hydra.searchpath=[pkg://seqlab.conf]"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "seqlab: error: hydra/launcher=packed trains seqlab runs (python -m seqlab.run), and this app's config has "
        "no model, data, threads: use Hydra's basic launcher or hydra/launcher=local_parallel"
    ]


@pytest.mark.slow
def test_a_job_number_subdir_is_refused_in_one_line_and_leaves_nothing(tmp_path):
    from conftest import TINY, run_cli

    sweep = tmp_path / "sweep"
    proc = run_cli("-m", *TINY, "hydra.sweep.subdir=${hydra.job.num}", "seed=1,2", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 2 and not sweep.exists()
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("seqlab: error: hydra.sweep.subdir='${hydra.job.num}' is invalid: seqlab's sweepers")


@pytest.mark.slow
def test_packed_keeps_hydras_per_job_outputs_numbers_ids_and_multirun_yaml(tmp_path):
    """The launcher suites' contract checks (`verify_dir_outputs`, job numbers and ids, overrides, multirun.yaml) on
    seqlab's own app under the packed launcher."""
    import yaml

    proc, _ = packed_sweep(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = tmp_path / "sweep"
    assert (sweep / "multirun.yaml").exists()
    jobs = []
    for seed in (1, 2, 3):
        hydra_dir = sweep / f"seed_{seed}" / ".hydra"
        assert {p.name for p in hydra_dir.iterdir()} >= {"config.yaml", "hydra.yaml", "overrides.yaml"}
        overrides = yaml.safe_load((hydra_dir / "overrides.yaml").read_text())
        assert f"seed={seed}" in overrides
        job = yaml.safe_load((hydra_dir / "hydra.yaml").read_text())["hydra"]["job"]
        assert yaml.safe_load((hydra_dir / "config.yaml").read_text())["seed"] == seed
        jobs.append((job["num"], job["id"]))
    assert sorted(num for num, _ in jobs) == [0, 1, 2] and len({job_id for _, job_id in jobs}) == 3
