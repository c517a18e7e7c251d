"""The LSTM: gates i, f, g, o; c' = g*i + c*f, h' = tanh(c')*o."""

from __future__ import annotations

import torch

from seqlab.models.fused import FusedCore
from seqlab.models.reference import ReferenceCore
from seqlab.models.registry import Cell, register

NAME, GATES = "lstm", ("i", "f", "g", "o")


class ReferenceLSTM(ReferenceCore):
    gates = GATES
    state_size = 2

    def step(self, k, x, state):
        h, c = state
        i = torch.sigmoid(self.gate("i", k, x, h))
        f = torch.sigmoid(self.gate("f", k, x, h))
        g = torch.tanh(self.gate("g", k, x, h))
        o = torch.sigmoid(self.gate("o", k, x, h))
        c = g * i + c * f
        return torch.tanh(c) * o, c


class FusedLSTM(FusedCore):
    cell, gates = NAME, GATES
    kernel = staticmethod(torch.lstm)

    def initial_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = like.new_zeros(self.num_layers, batch, self.hidden_size)
        return zeros, zeros


def update(x: torch.Tensor, hx: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One step on fused projections x = x W_ih^T + b_ih and hx = h W_hh^T (any leading dimensions)."""
    i, f, g, o = (x + hx).chunk(4, dim=-1)
    c = torch.tanh(g) * torch.sigmoid(i) + state[1] * torch.sigmoid(f)
    return torch.tanh(c) * torch.sigmoid(o), c


register(Cell(NAME, fast=FusedLSTM, reference=ReferenceLSTM, native=True, update=update, fused_kernel=1))
