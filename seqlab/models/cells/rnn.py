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


register(Cell(NAME, fast=FusedRNN, reference=ReferenceRNN, native=True))
