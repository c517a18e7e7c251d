"""The fast cores' CPU path: seqlab's C++ recurrences (seqlab/kernels) behind one autograd.Function."""

from __future__ import annotations

import torch


class NativeRecurrence(torch.autograd.Function):
    """Hidden states of `cell` over a sequence, forward and backward in C++.

    inputs: the input projections x_t W_ih^T + b_ih, either dense (T, B, G*n), or a table (V, G*n) with
    `index` (T, B) picking each row (layer 0: one row per digit); w_hh (G*n, n); b_hh (G*n) for the GRU.
    Returns h_1..h_T (T, B, n), or only h_T (B, n) when `last_only` (no (T, B, n) gradient is then built).
    The kernels run one thread per block of batch rows, one GEMM per time step with the gate math fused,
    and the recurrent weight gradient as one GEMM over all time steps.
    """

    @staticmethod
    def forward(ctx, cell, inputs, index, w_hh, b_hh, last_only):
        saved = torch.ops.seqlab.recurrent_forward(cell, inputs, index, w_hh, b_hh)
        ctx.cell = cell
        ctx.save_for_backward(inputs, index, w_hh, b_hh, *saved)
        return saved[0][-1].clone() if last_only else saved[0]

    @staticmethod
    def backward(ctx, grad_hiddens):
        inputs, index, w_hh, b_hh, *saved = ctx.saved_tensors
        grad_inputs, grad_w_hh, grad_b_hh = torch.ops.seqlab.recurrent_backward(
            ctx.cell, grad_hiddens, inputs, index, w_hh, b_hh, saved
        )
        return None, grad_inputs, None, grad_w_hh, grad_b_hh if b_hh is not None else None, None
