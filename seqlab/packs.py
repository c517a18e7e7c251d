"""Which runs may train together in one pack: those that agree on every setting that shapes the computation.

Used by the packed launchers to group a sweep's runs and by the stacked engine to check a pack (no torch here:
the launchers import this module when Hydra scans its plugins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Config keys (or key prefixes, ending in '.') that runs of one pack share; they may differ in anything else, and
# in PACK_FREE: a stacked pack pads each run's inputs after its own last one and reads it out there.
PACK_FREE = ("data.length",)
PACK_KEYS = ("model.", "data.", "train.batch_size", "eval.batches", "device", "threads", "precision", "optimizer.name")


def shared_settings(flat_config: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A run's values of PACK_KEYS (from its flattened, resolved config): runs with equal ones may share a pack."""
    shared = (k for k in flat_config if k not in PACK_FREE
              and any(k == key or (key.endswith(".") and k.startswith(key)) for key in PACK_KEYS))  # fmt: skip
    return tuple((k, str(flat_config[k])) for k in sorted(shared))


def packs(keys: Sequence[Any], max_runs: int) -> list[list[int]]:
    """Indices grouped by equal key, in order of first appearance, each group cut into packs of `max_runs`."""
    groups: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return [group[i : i + max_runs] for group in groups.values() for i in range(0, len(group), max_runs)]
