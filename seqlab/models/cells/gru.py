"""PyTorch's GRU: gates r, z, n, with the second bias inside the reset-gated term."""

from __future__ import annotations

import torch

from seqlab.models.fused import FusedCore
from seqlab.models.reference import ReferenceCore
from seqlab.models.registry import Cell, register

NAME, GATES = "gru", ("r", "z", "n")


class ReferenceGRU(ReferenceCore):
    gates = GATES
    hidden_biases = True

    def step(self, k, x, state):
        (h,) = state
        p = self._parameters
        r = torch.sigmoid(self.gate("r", k, x, h) + p[f"b_rh_l{k}"])
        z = torch.sigmoid(self.gate("z", k, x, h) + p[f"b_zh_l{k}"])
        n = torch.tanh(x @ p[f"W_nx_l{k}"].t() + p[f"b_n_l{k}"] + r * (h @ p[f"W_nh_l{k}"].t() + p[f"b_nh_l{k}"]))
        return ((1 - z) * n + z * h,)


class FusedGRU(FusedCore):
    cell, gates = NAME, GATES
    hidden_biases = True
    kernel = staticmethod(torch.gru)


def update(x: torch.Tensor, hx: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One step on fused projections x = x W_ih^T + b_ih and hx = h W_hh^T + b_hh (any leading dimensions)."""
    x_r, x_z, x_n = x.chunk(3, dim=-1)
    h_r, h_z, h_n = hx.chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * state[0],)


register(Cell(NAME, fast=FusedGRU, reference=ReferenceGRU, native=True, update=update, fused_kernel=2))
