"""The Recurrent ReLU Network, with a hand-written backward.

dec = ReLU([h,x] W_dec + b_dec), inc = ReLU([h,x] W_inc + b_inc), c' = c + inc - dec, h' = ReLU(c').
The input projection of all time steps is hoisted out of the time loop (a gather for one-hot input);
each step is one GEMM against the stacked [W_inc; W_dec]; the backward recurses only through the state
and computes the recurrent weight gradient in one GEMM over all time steps.
"""

from __future__ import annotations

import torch

from seqlab.models.base import FusedLayout, time_major
from seqlab.models.reference import ReferenceCore
from seqlab.models.registry import Cell, register

NAME, GATES = "rrn", ("inc", "dec")


class RRNRecurrence(torch.autograd.Function):
    """Hidden states (T, B, n) from input projections (T, B, 2n) [inc | dec] and w_hh (2n, n)."""

    @staticmethod
    def forward(ctx, projections: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        steps, batch, two_n = projections.shape
        n = two_n // 2
        preactivations = torch.empty_like(projections)
        cells = projections.new_empty(steps, batch, n)
        hiddens = projections.new_empty(steps, batch, n)
        h = c = projections.new_zeros(batch, n)
        w_hh_t = w_hh.t()
        for t in range(steps):
            a = torch.addmm(projections[t], h, w_hh_t, out=preactivations[t])
            r = a.clamp_min(0)
            c = torch.add(c, r[:, :n] - r[:, n:], out=cells[t])
            h = torch.clamp_min(c, 0, out=hiddens[t])
        ctx.save_for_backward(w_hh, preactivations, cells, hiddens)
        return hiddens

    @staticmethod
    def backward(ctx, grad_hiddens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w_hh, preactivations, cells, hiddens = ctx.saved_tensors
        steps, batch, n = cells.shape
        cell_open = (cells > 0).to(cells.dtype)
        # d(inc - dec)/da: +1 where the inc unit is active, -1 where the dec unit is active
        gate_slope = (preactivations > 0).to(cells.dtype).view(steps, batch, 2, n)
        gate_slope[:, :, 1].neg_()
        grad_pre = torch.empty_like(preactivations)
        grad_cell = cells.new_zeros(batch, n)
        grad_h_recurrent = cells.new_zeros(batch, n)
        for t in range(steps - 1, -1, -1):
            grad_cell = torch.addcmul(grad_cell, grad_hiddens[t] + grad_h_recurrent, cell_open[t])
            g = torch.mul(gate_slope[t], grad_cell.unsqueeze(1), out=grad_pre[t].view(batch, 2, n))
            if t:
                grad_h_recurrent = torch.mm(g.view(batch, 2 * n), w_hh)
        previous = torch.cat([hiddens.new_zeros(1, batch, n), hiddens[:-1]])
        grad_w_hh = grad_pre.reshape(-1, 2 * n).t() @ previous.reshape(-1, n)
        return grad_pre, grad_w_hh


class ReferenceRRN(ReferenceCore):
    gates = GATES
    state_size = 2

    def step(self, k, x, state):
        h, c = state
        inc = torch.relu(self.gate("inc", k, x, h))
        dec = torch.relu(self.gate("dec", k, x, h))
        c = c + inc - dec
        return torch.relu(c), c


class FastRRN(FusedLayout):
    """RRN core in the fused layout: gates (inc, dec) stacked in w_ih, w_hh, b_ih."""

    cell, gates = NAME, GATES

    def torch_forward(self, symbols: torch.Tensor, every_step: bool) -> torch.Tensor:
        sequence = time_major(symbols)  # (T, B[, d])
        for k in range(self.num_layers):
            sequence = RRNRecurrence.apply(self.input_projections(k, sequence), self.layer(k)["w_hh"])
        return sequence if every_step else sequence[-1]


def update(x: torch.Tensor, hx: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """One step on fused projections x = x W_ih^T + b_ih and hx = h W_hh^T (any leading dimensions)."""
    inc, dec = torch.relu(x + hx).chunk(2, dim=-1)
    c = state[1] + inc - dec
    return torch.relu(c), c


register(Cell(NAME, fast=FastRRN, reference=ReferenceRRN, native=True, update=update, fused_kernel=3))
