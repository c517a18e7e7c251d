"""A Hydra callback for the contract tests: records each job event, its status and whether the run had ended."""

import json
from pathlib import Path

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback

from seqlab.jobs import Outcome


class Recorder(Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def write(self, **event) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(event) + "\n")

    def on_job_start(self, config, **kwargs) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        self.write(event="start", run_dir=str(run_dir), result=(run_dir / "result.json").exists())

    def on_job_end(self, config, job_return, **kwargs) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        value = job_return._return_value
        self.write(
            event="end",
            run_dir=str(run_dir),
            status=job_return.status.name,
            value=outcome(value) if isinstance(value, Outcome) else type(value).__name__,
            result=(run_dir / "result.json").exists(),
            failed=job_return.status == JobStatus.FAILED,
        )


def outcome(value: Outcome) -> dict:
    """What a job's Outcome carries, as JSON: its objective and the run's status, skip and directory."""
    return {"objective": float(value), "status": value.status, "skipped": value.skipped, "run_dir": value.run_dir}
