"""seqlab's grid sweeper: every combination of the swept values, launched where needed, then a summary.

Built on Hydra's public plugin API alone (hydra-core 1.3: `Sweeper`, `Plugins.instantiate_launcher`, the overrides
parser, `JobReturn`), so it does not break with Hydra's internals. It does what Hydra's basic sweeper does (a grid,
in batches of `max_batch_size`, `multirun.yaml` at the sweep root) except that
- before launching, it checks each run's directory (`rundir.verdict`) and hands the launcher only the runs that
  need training: a run completed under the same config is counted as skipped, one whose directory holds
  another config's results as failed (unless rerun=changed), and a fully finished sweep launches nothing;
- a failed run does not stop the sweep: runs record their own failures in result.json, and the summary lists
  them all at the end (exit 1), with the runs that another process was training.
"""

from __future__ import annotations

import itertools
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from seqlab import rundir
from seqlab.capacity import Capacity, describe_capacity, is_solved
from seqlab.data.corpus import resolve_digest
from seqlab.errors import ConfigError, one_line, refuse
from seqlab.rundir import RUNNING_ELSEWHERE
from seqlab.threads import resolve_threads
from seqlab.tracking import end_sweep
from seqlab.validate import COMPOSITION_ERRORS, explain, validate

AUTO_SWEEP_NAME = "auto"  # sweep_name's default: the folder is named after the sweep's command line
CAPACITY_KEY = "data.length"  # a grid that sweeps it prints each configuration's capacity at its end


def swept_values(arguments: Sequence[str], parser: OverridesParser, preset: int = 0) -> dict[str, list[str]]:
    """Each key's values (`key=a,b`, `range(...)`; a plain override: one value) as overrides, in command-line order;
    the first `preset` arguments are a preset's params, which the command line may override. ConfigError for a key
    given twice on the command line."""
    choices: dict[str, list[str]] = {}
    given: dict[str, str] = {}  # key -> its override on the command line
    for position, override in enumerate(parser.parse_overrides(list(arguments))):
        key = override.get_key_element()
        if position >= preset:
            if key in given:
                raise ConfigError(f"{key} is given twice ({given[key]} and {override.input_line}): give it once")
            given[key] = override.input_line
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise ConfigError(f"{key}: seqlab's sweepers take lists and range(), not {override.value_type.name}")
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return choices


def sweep_folder(arguments: Sequence[str]) -> str:
    """The folder of a sweep whose sweep_name is auto: its command line's overrides that define runs, sorted (not
    Hydra's keys (the launcher) or DIRNAME_EXCLUDED's), as a run directory is named. A relaunch of the same sweep
    finds its folder again; another sweep gets another."""
    defining = []
    for argument in arguments:
        key = rundir.override_key(argument)
        if not (key.startswith("hydra") or key in rundir.DIRNAME_EXCLUDED):
            defining.append(argument)
    return re.sub(r"['\"\\]", "_", rundir.dir_name(",".join(sorted(defining)) or "sweep"))


def check_launcher(hydra_config: DictConfig) -> None:
    """ConfigError for a SLURM launcher where SLURM is not installed (no sbatch on PATH)."""
    if "Slurm" in str(hydra_config.launcher.get("_target_", "")) and shutil.which("sbatch") is None:
        choice = hydra_config.runtime.choices.get("hydra/launcher")
        raise ConfigError(f"hydra/launcher={choice}: SLURM is not installed here (no sbatch on PATH); use "
                          "hydra/launcher=local_parallel, or launch from a SLURM login node")  # fmt: skip


def grid(choices: dict[str, list[str]]) -> list[list[str]]:
    """Every combination of the keys' values, as override lists."""
    return [list(combination) for combination in itertools.product(*choices.values())]


def job_error(job: JobReturn) -> BaseException | str:
    """The exception a failed job raised (JobReturn keeps it in its `_return_value` field; its `return_value`
    property would re-raise it and write to stderr)."""
    return job._return_value


def describe_failure(job: JobReturn) -> str:
    """One line: the job's run directory and its error."""
    error = job_error(job)
    message = one_line(error) if isinstance(error, BaseException) else str(error)
    run_dir = job.hydra_cfg.hydra.runtime.output_dir if job.hydra_cfg else " ".join(job.overrides or [])
    return f"{run_dir}: {message}"


class Tally:
    """What became of a sweep's runs; `report()` prints the summary. (A plain class: Hydra's plugin scan imports
    this module in a way that dataclasses do not support.)"""

    def __init__(self) -> None:
        self.trained = 0
        self.skipped = 0  # completed under the same config: skipped before launch, or by the run itself
        self.elsewhere: list[str] = []  # another process was training the directory
        self.failed: list[str] = []  # failed runs, and runs refused before launch, with why

    def add(self, jobs: Sequence[JobReturn]) -> None:
        for job in jobs:
            if job.status != JobStatus.COMPLETED:
                self.failed.append(describe_failure(job))
                continue
            returned = job.return_value  # seqlab.jobs.Outcome
            if getattr(returned, "skipped", False):
                self.skipped += 1
            elif getattr(returned, "status", None) == RUNNING_ELSEWHERE:
                self.elsewhere.append(returned.detail)
            else:
                self.trained += 1

    def counts(self) -> dict[str, int]:
        return {"trained": self.trained, "skipped": self.skipped, "failed": len(self.failed),
                "elsewhere": len(self.elsewhere)}  # fmt: skip

    def report(self) -> bool:
        """Print the summary line and each run elsewhere or failed to stderr; True if none failed."""
        total = self.trained + self.skipped + len(self.elsewhere) + len(self.failed)
        line = f"seqlab: {total} runs: {self.trained} trained, {self.skipped} already completed (skipped), "
        line += f"{len(self.failed)} failed" + (f", {len(self.elsewhere)} running elsewhere" if self.elsewhere else "")
        print(line, file=sys.stderr)
        for detail in self.elsewhere:
            print(f"  RUNNING ELSEWHERE {detail}", file=sys.stderr)
        for detail in self.failed:
            print(f"  FAILED {detail}", file=sys.stderr)
        return not self.failed


def job_paths(job_config: DictConfig) -> tuple[Path, dict[str, Any]]:
    """A composed job config's (with its hydra node) run directory and flattened run config."""
    try:
        run_dir = Path(job_config.hydra.sweep.dir) / job_config.hydra.sweep.subdir
    except InterpolationResolutionError as error:
        subdir = OmegaConf.to_container(job_config.hydra.sweep, resolve=False)["subdir"]
        if not re.search(r"hydra\.job\.(num|id)\b", str(subdir)):
            overrides = OmegaConf.to_container(job_config.hydra.overrides.task)
            raise ConfigError(explain(error, overrides=overrides)) from None
        raise ConfigError(  # ${hydra.job.num} or ${hydra.job.id}: set only when a job launches
            f"hydra.sweep.subdir={subdir!r} is invalid: seqlab's sweepers name each run's directory by its config "
            "before launch (a relaunch finds its runs there), so it cannot use hydra.job.num or hydra.job.id; keep "
            "the default or interpolate config keys"
        ) from None
    run_config = OmegaConf.masked_copy(job_config, [k for k in job_config if k != "hydra"])
    flat = rundir.flatten(OmegaConf.to_container(run_config, resolve=True))
    flat["threads"] = resolve_threads(flat["threads"], job_config.hydra.launcher)  # as the job will resolve them
    if flat.get("data.name") == "text":
        flat["data.digest"] = resolve_digest(flat["data.path"], flat["data.digest"])
    return run_dir, flat


def print_capacities(runs: list[list[str]], dirs: list[tuple[Path, dict[str, Any], str | None]],
                     varying: list[str]) -> None:  # fmt: skip
    """One line per configuration of a grid that swept data.length: the capacity its completed runs show (solved:
    converged), as the capacity sweeper prints it."""
    groups: dict[str, dict[float, bool]] = {}
    for overrides, (run_dir, _, refused) in zip(runs, dirs, strict=True):
        try:
            result = None if refused else rundir.read_result(run_dir)
        except ValueError:
            result = None
        if result is None or result["status"] != "completed":
            continue
        label = " ".join(o for o in overrides if o.split("=", 1)[0] in varying) or "the one configuration"
        groups.setdefault(label, {})[result["config"][CAPACITY_KEY]] = is_solved(result | result["config"], "converged")
    for label, outcomes in groups.items():
        print(f"seqlab capacity: {label}: {describe_capacity(Capacity.of(outcomes), CAPACITY_KEY)}", file=sys.stderr)


class SummarizingSweeper(Sweeper):
    """The grid sweep of `hydra.sweeper.params` and the command line's sweeps; exits 1 if any run failed."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__()
        self.max_batch_size, self.params = max_batch_size, params or {}
        self.tally, self.returns, self.launched = Tally(), [], 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def swept(self, arguments: list[str]) -> dict[str, list[str]]:
        """The preset's `params` and the command line's sweeps, parsed; saves multirun.yaml at the sweep root."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        params = [f"{k}={v}" for k, v in self.params.items()]
        try:
            choices = swept_values(params + list(arguments), parser, preset=len(params))
        except ConfigError as error:
            refuse(error)
        if self.config.get("sweep_name") == AUTO_SWEEP_NAME:
            name = sweep_folder(arguments)
            self.config.sweep_name = name  # the sweep directory, and every run's sweep_name (not defining)
            choices["sweep_name"] = [f"sweep_name='{name}'"]
        self.sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            rundir.check_sweep_name(self.config.get("sweep_name", "sweep"))
            check_launcher(self.config.hydra)
            if blocked := rundir.cannot_make("hydra.sweep.dir", self.sweep_dir):
                raise ConfigError(blocked)
        except ConfigError as error:
            refuse(error)
        self.made = rundir.outermost_missing(self.sweep_dir)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        return choices

    def refuse(self, error: ConfigError) -> NoReturn:
        """Bad input stops the sweep (one line, exit 2), removing the sweep directory if this sweep made it and it
        holds nothing but what the sweep wrote at its start (multirun.yaml, plan.json), and the empty folders above it
        that it made (outputs/multirun/)."""
        made = getattr(self, "made", None)
        if made is not None and {p.name for p in self.sweep_dir.iterdir()} <= {"multirun.yaml", rundir.PLAN}:
            shutil.rmtree(self.sweep_dir)
            rundir.remove_made(self.sweep_dir.parent, made)
        refuse(error)

    def sweep(self, arguments: list[str]) -> Any:
        choices = self.swept(arguments)
        runs = grid(choices)
        rundir.write_plan(self.sweep_dir, len(runs), len(runs))
        dirs = self.launch(runs)
        if len(choices.get(CAPACITY_KEY, [])) > 1:
            print_capacities(runs, dirs, [k for k, v in choices.items() if len(v) > 1 and k != CAPACITY_KEY])
        self.finish()
        return self.returns

    def launch(self, runs: list[list[str]]) -> list[tuple[Path, dict[str, Any], str | None]]:
        """Launch the runs that need training, in batches of `max_batch_size`, and count every run in the tally;
        returns each run's directory, flattened config and why it was refused (None unless it was), in order."""
        size = self.max_batch_size or len(runs) or 1
        dirs = []
        for start in range(0, len(runs), size):
            batch = []
            for overrides in runs[start : start + size]:
                try:  # each run's config composed and checked before any of this batch launches
                    job_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                    validate(job_config)
                    run_dir, flat = job_paths(job_config)
                except ConfigError as error:  # also: the text corpus is missing or unreadable: no run can train
                    self.refuse(error)
                except COMPOSITION_ERRORS as error:
                    self.refuse(ConfigError(explain(error, overrides=list(overrides))))
                action, why = rundir.verdict(run_dir, flat, job_config.rerun)
                dirs.append((run_dir, flat, why if action == "refuse" else None))
                if action == "skip":
                    self.tally.skipped += 1
                elif action == "refuse":
                    self.tally.failed.append(why)
                else:
                    batch.append(overrides)
            if batch:  # only the runs that need training reach the launcher (on SLURM: the job array)
                jobs = self.launcher.launch(batch, initial_job_idx=self.launched)
                self.launched += len(batch)
                self.tally.add(jobs)
                self.returns.append(jobs)
        return dirs

    def finish(self) -> None:
        """Mark the launch finished in plan.json, print the summary and where the results are; exit 1 if any run
        failed."""
        rundir.finish_plan(self.sweep_dir)
        succeeded = self.tally.report()
        end_sweep(self.sweep_dir, self.tally.counts())  # closes the sweep's MLflow parent run, if it has one
        print(f"seqlab: run directories in {self.sweep_dir}; tables, figures and report: seqlab-aggregate "
              f"{self.sweep_dir} (writes {self.sweep_dir / 'analysis' / 'report.md'})", file=sys.stderr)  # fmt: skip
        if not succeeded:
            sys.exit(1)
