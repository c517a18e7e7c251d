"""Model registry: config names -> recurrent cores, fast and reference."""

from __future__ import annotations

from torch import nn

from seqlab.models.base import SequenceClassifier
from seqlab.models.fused import FusedGRU, FusedLSTM, FusedRNN
from seqlab.models.reference import ReferenceCore, ReferenceGRU, ReferenceLSTM, ReferenceRNN, ReferenceRRN
from seqlab.models.rrn import FastRRN

CORES: dict[str, dict[str, type[nn.Module]]] = {
    "rnn": {"fast": FusedRNN, "reference": ReferenceRNN},
    "lstm": {"fast": FusedLSTM, "reference": ReferenceLSTM},
    "gru": {"fast": FusedGRU, "reference": ReferenceGRU},
    "rrn": {"fast": FastRRN, "reference": ReferenceRRN},
}
# fast: seqlab's C++ recurrences on CPU (PyTorch's fused kernels where they are not built, and on GPU);
# fused: PyTorch's fused kernels (PyTorch ops for the RRN) everywhere; reference: the plain per-step loop
IMPLS = ("fast", "fused", "reference")


def build_model(name: str, hidden_size: int, num_layers: int, encoding: str, impl: str = "fast") -> SequenceClassifier:
    """A classifier around the `impl` core of model `name`."""
    if impl == "reference":
        return SequenceClassifier(CORES[name]["reference"](hidden_size, num_layers, encoding))
    return SequenceClassifier(CORES[name]["fast"](hidden_size, num_layers, encoding, native=impl == "fast"))


def reference_twin(model: SequenceClassifier, name: str) -> SequenceClassifier:
    """A reference-implementation copy of a fast `model` with the same weights."""
    core = model.core
    twin = build_model(name, core.hidden_size, core.num_layers, core.encoding, "reference")
    twin.head.load_state_dict(model.head.state_dict())
    if isinstance(core, ReferenceCore):
        twin.core.load_state_dict(core.state_dict())
    else:
        twin.core.load_fused(core)
    return twin.to(next(model.parameters()).device)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
