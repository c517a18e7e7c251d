"""Models by config name: the cell registry, the implementations, and building a classifier around a core."""

from __future__ import annotations

from torch import nn

from seqlab.data.palindrome import NUM_DIGITS
from seqlab.models.base import SequenceClassifier
from seqlab.models.reference import ReferenceCore
from seqlab.models.registry import CELLS, Cell, load_cells

load_cells()

# auto: fast where it can run, else fused (the reason is recorded); fast: seqlab's C++ kernels on CPU (PyTorch's
# fused kernels on GPU); fused: PyTorch's fused kernels (the RRN: PyTorch ops) everywhere; reference: the plain
# per-step loop. seqlab.engines.resolve_impl decides.
IMPLS = ("auto", "fast", "fused", "reference")


def cell(name: str) -> Cell:
    """The registered cell `name`; a one-line ValueError naming the accepted cells otherwise."""
    if name not in CELLS:
        raise ValueError(f"model.name={name!r} is invalid: expected one of {', '.join(sorted(CELLS))}")
    return CELLS[name]


def build_model(
    name: str, hidden_size: int, num_layers: int, encoding: str, impl: str = "fast", num_symbols: int = NUM_DIGITS,
    per_step: bool = False, outputs: int | None = None,
) -> SequenceClassifier:  # fmt: skip
    """A classifier around the `impl` core (fast, fused or reference) of cell `name`, over `num_symbols` symbols
    (the palindrome's digits by default; real-valued channels with encoding `values`), predicting after the last
    input or, with `per_step`, after every one: a score per symbol, or `outputs` numbers (a regression)."""
    spec = cell(name)
    if impl not in IMPLS[1:]:
        raise ValueError(f"impl={impl!r} is invalid: expected fast, fused or reference (resolve_impl settles auto)")
    if impl == "reference":
        core = spec.reference(hidden_size, num_layers, encoding, num_symbols)
    else:
        core = spec.fast(hidden_size, num_layers, encoding, num_symbols, native=impl == "fast" and spec.native)
    return SequenceClassifier(core, per_step, outputs)


def reference_twin(model: SequenceClassifier, name: str) -> SequenceClassifier:
    """A reference-implementation copy of a fast `model` with the same weights."""
    core = model.core
    twin = build_model(name, core.hidden_size, core.num_layers, core.encoding, "reference", core.num_symbols,
                       model.per_step, model.head.out_features)  # fmt: skip
    twin.head.load_state_dict(model.head.state_dict())
    if isinstance(core, ReferenceCore):
        twin.core.load_state_dict(core.state_dict())
    else:
        twin.core.load_fused(core)
    return twin.to(next(model.parameters()).device)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
