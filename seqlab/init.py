"""Weight-init schemes, applied by name to a model in the fused layout.

| scheme          | input matrices  | recurrent matrices (each gate's n x n block) | biases  | head        |
|-----------------|-----------------|----------------------------------------------|---------|-------------|
| default         | PyTorch's U(-1/sqrt(n), 1/sqrt(n)) for the cores, nn.Linear's for the head (untouched)    |
| normal          | N(0, std)       | N(0, std)                                    | 0       | N(0, std), 0|
| standard_normal | N(0, 1)         | N(0, 1)                                      | 0       | N(0, 1), 0  |
| xavier_uniform  | Xavier per gate | Xavier per gate                              | 0       | Xavier, 0   |
| xavier_normal   | Xavier per gate | Xavier per gate                              | 0       | Xavier, 0   |
| orthogonal      | default         | orthogonal                                   | default | default     |
| identity        | default         | identity (the IRNN recipe)                   | 0       | default     |
| chrono          | default         | default                                      | chrono  | default     |

chrono (Tallec and Ollivier 2018; LSTM and GRU only): for a characteristic time range up to `t_max`, the forget
gate's bias is log(u), u ~ U(1, t_max - 1), and the LSTM's input gate bias its negative; the GRU's update gate
(z, which keeps the state: h' = (1 - z) n + z h) gets the forget gate's. The other biases are zero.
`forget_bias` (LSTM only) then sets the forget-gate bias, e.g. to 1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from seqlab.models.base import FusedLayout, SequenceClassifier

Fill = Callable[[torch.Tensor], object]


def _apply(model: SequenceClassifier, weights: Fill | None, recurrent: Fill | None, zero_biases: bool) -> None:
    """Fill each gate block of the input (`weights`) and recurrent (`recurrent`) matrices, and the head."""
    core: FusedLayout = model.core
    gates = len(core.gates)
    for k in range(core.num_layers):
        p = core.layer(k)
        for fill, matrix in ((weights, p["w_ih"]), (recurrent or weights, p["w_hh"])):
            for block in matrix.chunk(gates) if fill else ():
                fill(block)
        if zero_biases:
            for name in ("b_ih", "b_hh"):
                if name in p:
                    p[name].zero_()
    if weights:
        weights(model.head.weight)
        model.head.bias.zero_()


def _identity(block: torch.Tensor) -> None:
    block.copy_(torch.eye(*block.shape))


SCHEMES: dict[str, Callable[[float], tuple[Fill | None, Fill | None, bool]]] = {
    # name -> std -> (input and head fill, recurrent fill, zero biases)
    "default": lambda std: (None, None, False),
    "normal": lambda std: (lambda t: nn.init.normal_(t, 0.0, std), None, True),
    "standard_normal": lambda std: (lambda t: nn.init.normal_(t, 0.0, 1.0), None, True),
    "xavier_uniform": lambda std: (nn.init.xavier_uniform_, None, True),
    "xavier_normal": lambda std: (nn.init.xavier_normal_, None, True),
    "orthogonal": lambda std: (None, nn.init.orthogonal_, False),
    "identity": lambda std: (None, _identity, True),
}
INIT_SCHEMES = (*SCHEMES, "chrono")


CHRONO_GATES = {"lstm": ("f", "i"), "gru": ("z", None)}  # cell -> (the gate that keeps the state, its opposite)


def _chrono(model: SequenceClassifier, t_max: float) -> None:
    """The chrono biases (see the table's note) of every layer."""
    core = model.core
    n = core.hidden_size
    keep, opposite = CHRONO_GATES[core.cell]
    for k in range(core.num_layers):
        p = core.layer(k)
        for name in ("b_ih", "b_hh"):
            if name in p:
                p[name].zero_()
        bias = torch.log(torch.empty(n).uniform_(1.0, t_max - 1.0))
        keep_at = core.gates.index(keep)
        p["b_ih"][keep_at * n : (keep_at + 1) * n] = bias
        if opposite:
            at = core.gates.index(opposite)
            p["b_ih"][at * n : (at + 1) * n] = -bias


@torch.no_grad()
def apply_init(
    model: SequenceClassifier, name: str, std: float = 1e-4, forget_bias: float | None = None, t_max: float = 100.0
) -> None:  # fmt: skip
    """Initialise `model` (fast core) in place with scheme `name`; optionally set the LSTM forget bias."""
    if name not in INIT_SCHEMES:
        raise ValueError(f"init.name={name!r} is invalid: expected one of {', '.join(INIT_SCHEMES)}")
    if name == "chrono":
        _chrono(model, t_max)
    else:
        _apply(model, *SCHEMES[name](std))
    if forget_bias is not None:
        core = model.core
        n = core.hidden_size
        forget = core.gates.index("f")
        for k in range(core.num_layers):
            core.layer(k)["b_ih"][forget * n : (forget + 1) * n].fill_(forget_bias)
