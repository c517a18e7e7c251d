"""The one list of recurrent cells: each cell module in `seqlab.models.cells` registers itself here.

Everything that needs to know the cells - model building, the config check, the benchmark, the reference
twins, the stacked packs - reads `CELLS`. A new cell is one module in `seqlab/models/cells/` (its fast and
reference cores, its `update` and a `register` call) and one file `seqlab/conf/model/<name>.yaml`; the C++
kernels only if it gets a native path.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from seqlab.models.base import FusedLayout
    from seqlab.models.reference import ReferenceCore


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: its config name, its cores, and whether seqlab's C++ kernels implement it."""

    name: str
    fast: type[FusedLayout]  # parameters in the fused layout: the C++ kernels or PyTorch's own
    reference: type[ReferenceCore]  # one parameter per gate matrix, a Python loop over time: the oracle
    native: bool  # seqlab/kernels/recurrent.cpp knows this cell by `name`
    # one step on the fused projections (x W_ih^T + b_ih, h W_hh^T [+ b_hh]) and the state -> the new state, for
    # any leading dimensions (a stacked pack's runs): seqlab.engines.stacked_model
    update: Callable[[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]]
    # the branch of the Triton kernels (seqlab/engines/triton_recurrence.py) that computes this cell; None: none
    # does, and a fused pack (hydra.launcher.stacked=fused) of it trains stacked in PyTorch instead
    fused_kernel: int | None = None

    @property
    def gates(self) -> tuple[str, ...]:
        return self.fast.gates

    def __post_init__(self) -> None:
        if self.fast.gates != self.reference.gates or self.fast.hidden_biases != self.reference.hidden_biases:
            raise TypeError(f"cell {self.name}: the fast and reference cores disagree on gates or biases")


CELLS: dict[str, Cell] = {}


def register(cell: Cell) -> Cell:
    """Add `cell` to CELLS (a name can be registered once)."""
    if cell.name in CELLS:
        raise ValueError(f"cell {cell.name!r} is registered twice")
    CELLS[cell.name] = cell
    return cell


def load_cells() -> None:
    """Import every module of seqlab.models.cells, each of which registers its cell."""
    from seqlab.models import cells  # noqa: PLC0415

    for module in pkgutil.iter_modules(cells.__path__):
        importlib.import_module(f"{cells.__name__}.{module.name}")
