"""The vanilla tanh RNN: h' = tanh(W_hx x + W_hh h + b_h)."""

from __future__ import annotations

import torch

from seqlab.models.fused import FusedCore
from seqlab.models.reference import ReferenceCore
from seqlab.models.registry import Cell, register

NAME, GATES = "rnn", ("h",)


class ReferenceRNN(ReferenceCore):
    gates = GATES

    def step(self, k, x, state):
        return (torch.tanh(self.gate("h", k, x, state[0])),)


class FusedRNN(FusedCore):
    cell, gates = NAME, GATES
    kernel = staticmethod(torch.rnn_tanh)


def update(x: torch.Tensor, hx: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One step on fused projections x = x W_ih^T + b_ih and hx = h W_hh^T (any leading dimensions)."""
    return (torch.tanh(x + hx),)


register(Cell(NAME, fast=FusedRNN, reference=ReferenceRNN, native=True, update=update, fused_kernel=0))
