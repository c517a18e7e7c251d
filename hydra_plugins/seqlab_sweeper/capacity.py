"""seqlab's capacity sweeper (`hydra/sweeper=capacity`): per configuration, the longest candidate length it solves.

The swept values of the candidate key (`data.length` by default) are the candidates; every other swept key defines
independent searches (seqlab.capacity.Search: probe upwards, doubling, until a failure, then bisect). Searches run in
rounds: each round launches the next probe of every unfinished search together through the configured launcher (on
SLURM one job array), as ordinary runs in their ordinary run directories - the ones a grid sweep of the same command
uses - so a relaunch re-uses finished probes and an interrupted search resumes where it stopped. At the end:
capacity.csv at the sweep root and one line per search.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import sys
from pathlib import Path
from typing import Any

from hydra_plugins.seqlab_sweeper.sweeper import SummarizingSweeper, grid
from seqlab import rundir
from seqlab.capacity import Capacity, Search, describe_capacity, is_solved
from seqlab.data import LENGTH_KEYS
from seqlab.errors import ConfigError
from seqlab.schema import CapacitySweeperConf
from seqlab.validate import typed_settings

CAPACITY_CSV = "capacity.csv"


class CapacitySearch(Search):
    """A Search with what identifies it: its overrides (other than the candidate key) and, once known, its config."""

    def __init__(self, overrides: list[str], swept: list[str], candidates: list[float], verify: int) -> None:
        super().__init__(candidates, verify)
        self.overrides, self.swept = overrides, swept  # all its overrides; the ones that vary between searches
        self.config: dict[str, Any] = {}
        self.halted: str | None = None  # why the search stopped before finding its boundary (a probe that failed)

    def label(self) -> str:
        return " ".join(self.swept) or "the one configuration"


def candidates_of(key: str, values: list[str] | None) -> tuple[list[float], dict[float, str]]:
    """The candidate values (sorted numbers) and each one's override; ConfigError naming the key when unusable."""
    example = f"e.g. {key}='range(5,455,5)'"
    if values is None:
        raise ConfigError(f"hydra/sweeper=capacity needs a swept {key} (hydra.sweeper.candidate_key): {example}")
    overrides = {}
    for override in values:
        text = override.split("=", 1)[1]
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r} is invalid: capacity candidates must be numbers ({example})") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}={text!r} is invalid: capacity candidates must be finite numbers ({example})")
        overrides[int(number) if number.is_integer() else number] = override
    if len(overrides) < 2:
        raise ConfigError(f"{key}: a capacity search needs at least two candidate values, got {len(overrides)} "
                          f"({', '.join(values)}): {example}")  # fmt: skip
    return sorted(overrides), overrides


class CapacitySweeper(SummarizingSweeper):
    """Searches for each configuration's longest solved candidate; see the module docstring."""

    def __init__(self, candidate_key: str = "auto", solved: str = "converged", verify: int = 0,
                 max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(max_batch_size, params)
        self.candidate_key, self.solved, self.verify = candidate_key, solved, verify

    def check_options(self) -> None:
        settings = {"candidate_key": self.candidate_key, "solved": self.solved, "verify": self.verify}
        typed_settings(settings, CapacitySweeperConf, "hydra.sweeper.")

    def sweep(self, arguments: list[str]) -> Any:
        try:
            self.check_options()
            choices = self.swept(arguments)
            if self.candidate_key == "auto":  # the task's length key
                self.candidate_key = LENGTH_KEYS.get(str(self.config.data.name), "data.length")
            candidates, overrides = candidates_of(self.candidate_key, choices.pop(self.candidate_key, None))
        except ConfigError as error:
            self.refuse(error)
        varying = [i for i, values in enumerate(choices.values()) if len(values) > 1]
        searches = [CapacitySearch(others, [others[i] for i in varying], candidates, self.verify)
                    for others in grid(choices)]  # fmt: skip
        rundir.write_plan(self.sweep_dir, None, len(searches) * len(candidates))
        for round_number in itertools.count(1):
            probes = [(s, p) for s in searches if s.halted is None and (p := s.next_probe()) is not None]
            if not probes:
                break
            print(f"seqlab capacity: round {round_number}: {len(probes)} probes", file=sys.stderr)
            runs = [[*s.overrides, overrides[candidates[p]]] for s, p in probes]
            for (search, position), (run_dir, flat, refused) in zip(probes, self.launch(runs), strict=True):
                self.record(search, position, run_dir, flat, refused)
        write_capacity_table(self.sweep_dir / CAPACITY_CSV, searches, self.candidate_key)
        for search in searches:
            print(f"seqlab capacity: {describe(search, self.candidate_key)}", file=sys.stderr)
        print(f"seqlab capacity: table in {self.sweep_dir / CAPACITY_CSV}", file=sys.stderr)
        self.finish()
        return self.returns

    def record(self, search: CapacitySearch, position: int, run_dir: Path, flat: dict[str, Any],
               refused: str | None) -> None:  # fmt: skip
        """Record a probe's outcome from its run directory, or halt the search when the probe was refused (the
        directory holds another config's results) or did not complete."""
        search.config = search.config or flat
        if refused:
            search.halted = refused
            return
        try:
            result = rundir.read_result(run_dir)
        except ValueError as error:
            result = {"status": f"unreadable ({error})"}
        if result is None or result["status"] != "completed":
            status = "not trained (another process was training it)" if result is None else result["status"]
            reason = str((result or {}).get("error") or "").splitlines()[:1]  # the run's own one-line reason
            search.halted = f"{run_dir}: {': '.join([status, *reason])}"
            return
        search.record(position, is_solved({**result["config"], **result}, self.solved))


def describe(search: CapacitySearch, key: str) -> str:
    """One line: the search, its capacity, first failure and probe count (and what is censored, odd or halted)."""
    found = describe_capacity(search.capacity(), key) if search.outcomes else "no probe completed"
    return f"{search.label()}: {found}" + (f"; HALTED: {search.halted}" if search.halted else "")


def write_capacity_table(path: Path, searches: list[CapacitySearch], key: str) -> None:
    """capacity.csv: one row per search - the config keys that tell searches apart (and the seed), then Capacity's
    columns (the aggregator's per-seed capacity table has the same) and whether the search finished."""
    configs = [s.config for s in searches]
    keys = [k for k in dict.fromkeys(k for c in configs for k in c) if k not in (key, *rundir.NOT_DEFINING)]
    shown = [k for k in keys if k == "seed" or len({str(c.get(k)) for c in configs}) > 1]
    columns = [*shown, *Capacity.__dataclass_fields__, "finished"]
    rows: list[list[Any]] = [columns]
    for search, config in zip(searches, configs, strict=True):
        found = search.capacity() if search.outcomes else None
        values = [config.get(k, "") for k in shown]
        values += [getattr(found, f) if found else "" for f in Capacity.__dataclass_fields__]
        rows.append(["" if isinstance(v, float) and math.isnan(v) else v for v in [*values, search.halted is None]])
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    rundir.atomic_write_text(path, text.getvalue())
