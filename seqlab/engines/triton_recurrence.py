"""Fused recurrences for stacked packs on Triton: for each cell, one kernel for a layer's forward pass and one for
its backward, with the time loop inside the kernel, over P runs at once (weights with a leading run dimension).

A program owns one run and a block of its batch rows. At each time step it multiplies the previous state by the
run's recurrent weights one gate at a time, in chunks of BLOCK_K along the contraction: the previous state (or
the gates' gradients) is read back from the output it has just written (through L1), and the weights stream from
L2 chunk by chunk. So what a program holds is one (BLOCK_B, BLOCK_N) accumulator and one weight chunk, whatever
the cell: shared memory and registers stay within an H100's at hidden 256 (`seqlab.engines.fused_resources`
compiles each configuration for sm_80 and sm_90 and checks). A barrier orders each step's stores before the loads
that read them back. The input projections of all time steps come in precomputed (one batched matmul outside),
and the recurrent weights' gradient is one batched matmul over all time steps after the backward kernel: the
kernels do only what is sequential. Each run stops at its own length (padding after it is never computed).

fp32 throughout, and the matrix products in IEEE fp32 (no TF32). Runs on a CUDA GPU, or on CPU tensors in Triton's
interpreter (TRITON_INTERPRET=1, set before triton is imported), which is how the tests check it without a GPU.
Layouts: projections (P, B, T, G*N) and states (P, B, T, N), time along the third dimension; weights (P, G*N, N).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from seqlab.engines.fused_config import device_target, launch_config
from seqlab.models import cell as registered


def kernel_of(cell: str) -> int:
    """The kernels' constexpr branch for `cell` (its registry entry's fused_kernel)."""
    return registered(cell).fused_kernel


def gates_of(cell: str) -> int:
    return len(registered(cell).gates)


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    return 2.0 * _sigmoid(2.0 * x) - 1.0


@triton.jit
def _tile(B, N, sx_p, sx_b, sh_p, sh_b, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's run p, its batch rows rb and units rn, the live rows and the (rows, units) mask, and the
    offsets of its rows in projections (xrow) and states (hrow) at t = 0."""
    p = tl.program_id(0)
    rb = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    rn = tl.arange(0, BLOCK_N)
    rows = (rb < B)[:, None]
    return p, rb, rn, rows, rows & (rn < N)[None, :], p * sx_p + rb[:, None] * sx_b, p * sh_p + rb[:, None] * sh_b


@triton.jit
def _times(acc, v_ptr, rows, live, m_ptr, m_stride, N, BLOCK_K: tl.constexpr, BLOCK_N: tl.constexpr):
    """acc + V @ M in chunks of BLOCK_K: V (rows, N) read at v_ptr + rows + k for the rows where `live` holds,
    M (N, N) read at m_ptr + k * m_stride + n."""
    rk = tl.arange(0, BLOCK_K)
    rn = tl.arange(0, BLOCK_N)
    for k0 in range(0, N, BLOCK_K):
        kk = k0 + rk
        v = tl.load(v_ptr + rows + kk[None, :], mask=live & (kk < N)[None, :], other=0.0)
        m = tl.load(m_ptr + kk[:, None] * m_stride + rn[None, :], mask=(kk < N)[:, None] & (rn < N)[None, :],
                    other=0.0)  # fmt: skip
        acc += tl.dot(v, m, input_precision="ieee")
    return acc


@triton.jit
def _forward(
    x_ptr, wt_ptr, bh_ptr, len_ptr, h_ptr, c_ptr, a_ptr, hn_ptr,
    B, N, sx_p, sx_b, sx_t, sh_p, sh_b, sh_t,
    CELL: tl.constexpr, G: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """States h (and c, the gates' pre-activations a, the GRU's h W_n^T + b_hn) for one run and BLOCK_B rows, from
    projections x and the transposed recurrent weights wt (P, N, G*N): gate g's columns are g*N .. g*N + N."""
    p, rb, rn, rows, m2, xrow, hrow = _tile(B, N, sx_p, sx_b, sh_p, sh_b, BLOCK_B, BLOCK_N)
    wt = wt_ptr + p * N * G * N
    for t in range(tl.load(len_ptr + p)):
        xo, ho, prev = xrow + t * sx_t, hrow + t * sh_t, hrow + (t - 1) * sh_t
        live = rows & ((rb[:, None] * 0 + t) > 0)  # h_{-1} = 0 (a tensor: a bare bool is no mask)
        for g in tl.static_range(G):
            if CELL == 2 and g == 2:  # the GRU's n gate: h W_n^T + b_hn, kept apart from x_n
                acc = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
            else:
                acc = tl.load(x_ptr + xo + g * N + rn[None, :], mask=m2, other=0.0)
            if CELL == 2:
                acc += tl.load(bh_ptr + p * G * N + g * N + rn[None, :], mask=(rn < N)[None, :], other=0.0)
            acc = _times(acc, h_ptr, prev, live, wt + g * N, G * N, N, BLOCK_K, BLOCK_N)
            if CELL == 0:  # rnn: h' = tanh(x + h W^T)
                tl.store(h_ptr + ho + rn[None, :], _tanh(acc), mask=m2)
            elif CELL == 2 and g == 2:
                tl.store(hn_ptr + ho + rn[None, :], acc, mask=m2)
            else:
                tl.store(a_ptr + xo + g * N + rn[None, :], acc, mask=m2)
        if CELL != 0:
            tl.debug_barrier()  # the gates are in memory
            gate = a_ptr + xo + rn[None, :]
            if CELL == 1:  # lstm: gates i, f, g, o
                c = (_tanh(tl.load(gate + 2 * N, mask=m2)) * _sigmoid(tl.load(gate, mask=m2))
                     + tl.load(c_ptr + prev + rn[None, :], mask=live & m2, other=0.0)
                     * _sigmoid(tl.load(gate + N, mask=m2)))  # fmt: skip
                tl.store(c_ptr + ho + rn[None, :], c, mask=m2)
                tl.store(h_ptr + ho + rn[None, :], _tanh(c) * _sigmoid(tl.load(gate + 3 * N, mask=m2)), mask=m2)
            elif CELL == 2:  # gru: r, z from x + h W^T + b_hh; n = tanh(x_n + r * (h W_n^T + b_hn))
                z = _sigmoid(tl.load(gate + N, mask=m2))
                a_n = (tl.load(x_ptr + xo + 2 * N + rn[None, :], mask=m2)
                       + _sigmoid(tl.load(gate, mask=m2)) * tl.load(hn_ptr + ho + rn[None, :], mask=m2))  # fmt: skip
                tl.store(gate + 2 * N, a_n, mask=m2)
                h_prev = tl.load(h_ptr + prev + rn[None, :], mask=live & m2, other=0.0)
                tl.store(h_ptr + ho + rn[None, :], (1.0 - z) * _tanh(a_n) + z * h_prev, mask=m2)
            else:  # rrn: c' = c + relu(inc) - relu(dec), h' = relu(c')
                c = tl.load(c_ptr + prev + rn[None, :], mask=live & m2, other=0.0)
                c += tl.maximum(tl.load(gate, mask=m2), 0.0) - tl.maximum(tl.load(gate + N, mask=m2), 0.0)
                tl.store(c_ptr + ho + rn[None, :], c, mask=m2)
                tl.store(h_ptr + ho + rn[None, :], tl.maximum(c, 0.0), mask=m2)
        tl.debug_barrier()  # h_t is in memory for step t + 1


@triton.jit
def _backward(
    dh_ptr, w_ptr, len_ptr, h_ptr, c_ptr, a_ptr, hn_ptr, dx_ptr, dhx_ptr,
    B, N, sx_p, sx_b, sx_t, sh_p, sh_b, sh_t,
    CELL: tl.constexpr, G: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """The projections' gradients dx (and dhx, the gradients that flow through W: the GRU's n gate differs) from
    the states' gradients dh, back from each run's own last step; dh_{t-1} gets sum over gates of dhx_g W_g."""
    p, rb, rn, rows, m2, xrow, hrow = _tile(B, N, sx_p, sx_b, sh_p, sh_b, BLOCK_B, BLOCK_N)
    w = w_ptr + p * G * N * N
    steps = tl.load(len_ptr + p)
    dh_rec = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    dc_rec = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    for step in range(steps):
        t = steps - 1 - step
        xo, ho, prev = xrow + t * sx_t + rn[None, :], hrow + t * sh_t + rn[None, :], hrow + (t - 1) * sh_t + rn[None, :]
        before = m2 & ((rb[:, None] * 0 + t) > 0)  # a previous step exists
        dh = tl.load(dh_ptr + ho, mask=m2, other=0.0) + dh_rec
        if CELL == 0:
            h = tl.load(h_ptr + ho, mask=m2, other=0.0)
            tl.store(dx_ptr + xo, dh * (1.0 - h * h), mask=m2)
        elif CELL == 1:
            i = _sigmoid(tl.load(a_ptr + xo, mask=m2, other=0.0))
            f = _sigmoid(tl.load(a_ptr + xo + N, mask=m2, other=0.0))
            g = _tanh(tl.load(a_ptr + xo + 2 * N, mask=m2, other=0.0))
            o = _sigmoid(tl.load(a_ptr + xo + 3 * N, mask=m2, other=0.0))
            tc = _tanh(tl.load(c_ptr + ho, mask=m2, other=0.0))
            dc = dc_rec + dh * o * (1.0 - tc * tc)
            tl.store(dx_ptr + xo, dc * g * i * (1.0 - i), mask=m2)
            tl.store(dx_ptr + xo + N, dc * tl.load(c_ptr + prev, mask=before, other=0.0) * f * (1.0 - f), mask=m2)
            tl.store(dx_ptr + xo + 2 * N, dc * i * (1.0 - g * g), mask=m2)
            tl.store(dx_ptr + xo + 3 * N, dh * tc * o * (1.0 - o), mask=m2)
            dc_rec = dc * f
        elif CELL == 2:
            r = _sigmoid(tl.load(a_ptr + xo, mask=m2, other=0.0))
            z = _sigmoid(tl.load(a_ptr + xo + N, mask=m2, other=0.0))
            n = _tanh(tl.load(a_ptr + xo + 2 * N, mask=m2, other=0.0))
            d_an = dh * (1.0 - z) * (1.0 - n * n)
            d_ar = d_an * tl.load(hn_ptr + ho, mask=m2, other=0.0) * r * (1.0 - r)
            d_az = dh * (tl.load(h_ptr + prev, mask=before, other=0.0) - n) * z * (1.0 - z)
            tl.store(dx_ptr + xo, d_ar, mask=m2)
            tl.store(dx_ptr + xo + N, d_az, mask=m2)
            tl.store(dx_ptr + xo + 2 * N, d_an, mask=m2)
            tl.store(dhx_ptr + xo, d_ar, mask=m2)
            tl.store(dhx_ptr + xo + N, d_az, mask=m2)
            tl.store(dhx_ptr + xo + 2 * N, d_an * r, mask=m2)
            dz = dh * z  # the state's own path
        else:
            dc = dc_rec + tl.where(tl.load(c_ptr + ho, mask=m2, other=0.0) > 0.0, dh, 0.0)
            tl.store(dx_ptr + xo, tl.where(tl.load(a_ptr + xo, mask=m2, other=0.0) > 0.0, dc, 0.0), mask=m2)
            tl.store(dx_ptr + xo + N, tl.where(tl.load(a_ptr + xo + N, mask=m2, other=0.0) > 0.0, -dc, 0.0),
                     mask=m2)  # fmt: skip
            dc_rec = dc
        tl.debug_barrier()  # this step's gate gradients are in memory
        acc = dz if CELL == 2 else tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
        for g in tl.static_range(G):
            acc = _times(acc, dhx_ptr, xrow + t * sx_t + g * N, rows, w + g * N * N, N, N, BLOCK_K, BLOCK_N)
        dh_rec = acc


class TritonRecurrence(torch.autograd.Function):
    """Hidden states (P, B, T, N) of one layer of `cell` for P runs, from input projections x W_ih^T + b_ih
    (P, B, T, G*N), recurrent weights (P, G*N, N), for the GRU the recurrent bias (P, G*N), and each run's length
    (P,) int32 on the device (None: all T). States past a run's length are zero, and so are their gradients."""

    @staticmethod
    def forward(ctx, cell: str, x: torch.Tensor, w: torch.Tensor, b_hh: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        runs, batch, steps, _ = x.shape
        hidden = w.shape[-1]
        if lengths is None:
            lengths = torch.full((runs,), steps, dtype=torch.int32, device=x.device)
        x, lengths = x.contiguous(), lengths.to(torch.int32)
        h = x.new_zeros(runs, batch, steps, hidden)
        c = x.new_zeros(runs, batch, steps, hidden) if cell in ("lstm", "rrn") else h
        a = torch.zeros_like(x) if cell != "rnn" else x
        hn = torch.zeros_like(h) if cell == "gru" else h
        bias = b_hh.contiguous() if b_hh is not None else x  # unread unless the GRU's
        config = launch_config(cell, batch, hidden, runs, *device_target(x.device))
        if isinstance(config, str):  # the engine trains such a pack stacked in PyTorch (seqlab.engines.unfused)
            raise ValueError(config)
        _forward[config.grid(runs, batch)](
            x, w.mT.contiguous(), bias, lengths, h, c, a, hn, batch, hidden, *x.stride()[:3], *h.stride()[:3],
            CELL=kernel_of(cell), G=gates_of(cell), **config.constexprs(),
        )  # fmt: skip
        ctx.cell, ctx.has_bias, ctx.config = cell, b_hh is not None, config
        ctx.save_for_backward(w, lengths, h, c, a, hn)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor) -> tuple[None, torch.Tensor, torch.Tensor, torch.Tensor | None, None]:
        w, lengths, h, c, a, hn = ctx.saved_tensors
        cell, config = ctx.cell, ctx.config
        runs, batch, steps, hidden = h.shape
        grad_x = h.new_zeros(runs, batch, steps, gates_of(cell) * hidden)
        grad_hx = torch.zeros_like(grad_x) if cell == "gru" else grad_x  # differs from grad_x in the GRU's n gate
        _backward[config.grid(runs, batch)](
            grad_h.contiguous(), w.contiguous(), lengths, h, c, a, hn, grad_x, grad_hx, batch, hidden,
            *grad_x.stride()[:3], *h.stride()[:3], CELL=kernel_of(cell), G=gates_of(cell), **config.constexprs(),
        )  # fmt: skip
        previous = torch.cat([h.new_zeros(runs, batch, 1, hidden), h[:, :, :-1]], dim=2)
        grad_w = grad_hx.flatten(1, 2).mT @ previous.flatten(1, 2)  # every time step in one batched matmul
        grad_b = grad_hx.sum((1, 2)) if ctx.has_bias else None
        return None, grad_x, grad_w, grad_b, None
