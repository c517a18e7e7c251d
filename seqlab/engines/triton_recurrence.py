"""Fused recurrences for stacked packs on Triton: for each cell, one kernel for a layer's forward pass and one for
its backward, with the time loop inside the kernel, over P runs at once (weights with a leading run dimension).

A program owns one run and a block of its batch rows: its hidden (and cell) state stays in registers across the
time loop, and each step multiplies it by the run's recurrent weights (read through L2). The input projections of
all time steps come in precomputed (one batched matmul outside), and the recurrent weights' gradient is one
batched matmul over all time steps after the backward kernel: the kernels do only what is sequential.

fp32 throughout, and the matrix products in IEEE fp32 (no TF32). Runs on a CUDA GPU, or on CPU tensors in Triton's
interpreter (TRITON_INTERPRET=1, set before triton is imported), which is how the tests check it without a GPU.
Layouts: projections (P, B, T, G*N) and states (P, B, T, N), time along the third dimension; weights (P, G*N, N).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

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
def _w_t(w_ptr, base, g, N, rk, rj, wmask):
    """Gate g's recurrent weights transposed, (k, j) = W[g*N + j, k]: h @ it is h W_g^T."""
    return tl.load(w_ptr + base + (g * N + rj) * N + rk, mask=wmask, other=0.0)


@triton.jit
def _w(w_ptr, base, g, N, rj, rk, wmask):
    """Gate g's recurrent weights, (j, k) = W[g*N + j, k]: d @ it is the gradient flowing back into h."""
    return tl.load(w_ptr + base + (g * N + rj) * N + rk, mask=wmask, other=0.0)


@triton.jit
def _tile(B, N, sx_p, sx_b, sh_p, sh_b, G: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's run p and batch rows rb, the units rn, the masks of a (rows, units) tile and of a weight
    block, the offset of run p's weights, and the offsets of its rows in projections (xrow) and states (hrow) at
    t = 0."""
    p = tl.program_id(0)
    rb = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    rn = tl.arange(0, BLOCK_N)
    m2 = (rb < B)[:, None] & (rn < N)[None, :]
    wmask = (rn < N)[:, None] & (rn < N)[None, :]
    xrow = p * sx_p + rb[:, None] * sx_b + rn[None, :]
    hrow = p * sh_p + rb[:, None] * sh_b + rn[None, :]
    return p, rb, rn, m2, wmask, p * G * N * N, xrow, hrow


@triton.jit
def _forward(
    x_ptr, w_ptr, bh_ptr, h_ptr, c_ptr, a_ptr, hn_ptr,
    T, B, N,
    sx_p, sx_b, sx_t, sh_p, sh_b, sh_t,
    CELL: tl.constexpr, G: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    p, rb, rn, m2, wmask, wbase, xrow, hrow = _tile(B, N, sx_p, sx_b, sh_p, sh_b, G, BLOCK_B, BLOCK_N)
    rk, rj = rn[:, None], rn[None, :]
    h = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    c = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    for t in range(T):
        xo, ho = xrow + t * sx_t, hrow + t * sh_t
        if CELL == 0:  # rnn: h' = tanh(x + h W^T)
            a = tl.load(x_ptr + xo, mask=m2, other=0.0) + tl.dot(h, _w_t(w_ptr, wbase, 0, N, rk, rj, wmask),
                                                                 input_precision="ieee")  # fmt: skip
            h = _tanh(a)
        elif CELL == 1:  # lstm: gates i, f, g, o
            a_i = tl.load(x_ptr + xo, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 0, N, rk, rj, wmask), input_precision="ieee"
            )
            a_f = tl.load(x_ptr + xo + N, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 1, N, rk, rj, wmask), input_precision="ieee"
            )
            a_g = tl.load(x_ptr + xo + 2 * N, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 2, N, rk, rj, wmask), input_precision="ieee"
            )
            a_o = tl.load(x_ptr + xo + 3 * N, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 3, N, rk, rj, wmask), input_precision="ieee"
            )
            tl.store(a_ptr + xo, a_i, mask=m2)
            tl.store(a_ptr + xo + N, a_f, mask=m2)
            tl.store(a_ptr + xo + 2 * N, a_g, mask=m2)
            tl.store(a_ptr + xo + 3 * N, a_o, mask=m2)
            c = _tanh(a_g) * _sigmoid(a_i) + c * _sigmoid(a_f)
            h = _tanh(c) * _sigmoid(a_o)
            tl.store(c_ptr + ho, c, mask=m2)
        elif CELL == 2:  # gru: r, z from x + h W^T + b_hh; n = tanh(x_n + r * (h W_n^T + b_hn))
            brow = bh_ptr + p * G * N + rn[None, :]
            bmask = (rn < N)[None, :]
            a_r = (tl.load(x_ptr + xo, mask=m2, other=0.0) + tl.load(brow, mask=bmask, other=0.0)
                   + tl.dot(h, _w_t(w_ptr, wbase, 0, N, rk, rj, wmask), input_precision="ieee"))  # fmt: skip
            a_z = (tl.load(x_ptr + xo + N, mask=m2, other=0.0) + tl.load(brow + N, mask=bmask, other=0.0)
                   + tl.dot(h, _w_t(w_ptr, wbase, 1, N, rk, rj, wmask), input_precision="ieee"))  # fmt: skip
            hn = tl.load(brow + 2 * N, mask=bmask, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 2, N, rk, rj, wmask), input_precision="ieee"
            )
            r, z = _sigmoid(a_r), _sigmoid(a_z)
            a_n = tl.load(x_ptr + xo + 2 * N, mask=m2, other=0.0) + r * hn
            tl.store(a_ptr + xo, a_r, mask=m2)
            tl.store(a_ptr + xo + N, a_z, mask=m2)
            tl.store(a_ptr + xo + 2 * N, a_n, mask=m2)
            tl.store(hn_ptr + ho, hn, mask=m2)
            h = (1.0 - z) * _tanh(a_n) + z * h
        else:  # rrn: c' = c + relu(inc) - relu(dec), h' = relu(c')
            a_inc = tl.load(x_ptr + xo, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 0, N, rk, rj, wmask), input_precision="ieee"
            )
            a_dec = tl.load(x_ptr + xo + N, mask=m2, other=0.0) + tl.dot(
                h, _w_t(w_ptr, wbase, 1, N, rk, rj, wmask), input_precision="ieee"
            )
            tl.store(a_ptr + xo, a_inc, mask=m2)
            tl.store(a_ptr + xo + N, a_dec, mask=m2)
            c = c + tl.maximum(a_inc, 0.0) - tl.maximum(a_dec, 0.0)
            h = tl.maximum(c, 0.0)
            tl.store(c_ptr + ho, c, mask=m2)
        tl.store(h_ptr + ho, h, mask=m2)


@triton.jit
def _backward(
    dh_ptr, w_ptr, h_ptr, c_ptr, a_ptr, hn_ptr, dx_ptr, dhx_ptr,
    T, B, N,
    sx_p, sx_b, sx_t, sh_p, sh_b, sh_t,
    CELL: tl.constexpr, G: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    p, rb, rn, m2, wmask, wbase, xrow, hrow = _tile(B, N, sx_p, sx_b, sh_p, sh_b, G, BLOCK_B, BLOCK_N)
    rj, rk = rn[:, None], rn[None, :]
    dh_rec = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    dc_rec = tl.zeros((BLOCK_B, BLOCK_N), tl.float32)
    for step in range(T):
        t = T - 1 - step
        xo, ho = xrow + t * sx_t, hrow + t * sh_t
        prev = hrow + tl.maximum(t - 1, 0) * sh_t
        before = m2 & ((rb[:, None] * 0 + t) > 0)  # a previous step exists
        dh = tl.load(dh_ptr + ho, mask=m2, other=0.0) + dh_rec
        if CELL == 0:
            h = tl.load(h_ptr + ho, mask=m2, other=0.0)
            da = dh * (1.0 - h * h)
            tl.store(dx_ptr + xo, da, mask=m2)
            dh_rec = tl.dot(da, _w(w_ptr, wbase, 0, N, rj, rk, wmask), input_precision="ieee")
        elif CELL == 1:
            i = _sigmoid(tl.load(a_ptr + xo, mask=m2, other=0.0))
            f = _sigmoid(tl.load(a_ptr + xo + N, mask=m2, other=0.0))
            g = _tanh(tl.load(a_ptr + xo + 2 * N, mask=m2, other=0.0))
            o = _sigmoid(tl.load(a_ptr + xo + 3 * N, mask=m2, other=0.0))
            c = tl.load(c_ptr + ho, mask=m2, other=0.0)
            c_prev = tl.load(c_ptr + prev, mask=before, other=0.0)
            tc = _tanh(c)
            dc = dc_rec + dh * o * (1.0 - tc * tc)
            d_i, d_f = dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f)
            d_g, d_o = dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)
            dc_rec = dc * f
            tl.store(dx_ptr + xo, d_i, mask=m2)
            tl.store(dx_ptr + xo + N, d_f, mask=m2)
            tl.store(dx_ptr + xo + 2 * N, d_g, mask=m2)
            tl.store(dx_ptr + xo + 3 * N, d_o, mask=m2)
            dh_rec = (tl.dot(d_i, _w(w_ptr, wbase, 0, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_f, _w(w_ptr, wbase, 1, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_g, _w(w_ptr, wbase, 2, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_o, _w(w_ptr, wbase, 3, N, rj, rk, wmask), input_precision="ieee"))  # fmt: skip
        elif CELL == 2:
            r = _sigmoid(tl.load(a_ptr + xo, mask=m2, other=0.0))
            z = _sigmoid(tl.load(a_ptr + xo + N, mask=m2, other=0.0))
            n = _tanh(tl.load(a_ptr + xo + 2 * N, mask=m2, other=0.0))
            hn = tl.load(hn_ptr + ho, mask=m2, other=0.0)
            h_prev = tl.load(h_ptr + prev, mask=before, other=0.0)
            d_an = dh * (1.0 - z) * (1.0 - n * n)
            d_ar = d_an * hn * r * (1.0 - r)
            d_az = dh * (h_prev - n) * z * (1.0 - z)
            d_hn = d_an * r
            tl.store(dx_ptr + xo, d_ar, mask=m2)
            tl.store(dx_ptr + xo + N, d_az, mask=m2)
            tl.store(dx_ptr + xo + 2 * N, d_an, mask=m2)
            tl.store(dhx_ptr + xo, d_ar, mask=m2)
            tl.store(dhx_ptr + xo + N, d_az, mask=m2)
            tl.store(dhx_ptr + xo + 2 * N, d_hn, mask=m2)
            dh_rec = (tl.dot(d_ar, _w(w_ptr, wbase, 0, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_az, _w(w_ptr, wbase, 1, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_hn, _w(w_ptr, wbase, 2, N, rj, rk, wmask), input_precision="ieee")
                      + dh * z)  # fmt: skip
        else:
            c = tl.load(c_ptr + ho, mask=m2, other=0.0)
            dc = dc_rec + tl.where(c > 0.0, dh, 0.0)
            d_inc = tl.where(tl.load(a_ptr + xo, mask=m2, other=0.0) > 0.0, dc, 0.0)
            d_dec = tl.where(tl.load(a_ptr + xo + N, mask=m2, other=0.0) > 0.0, -dc, 0.0)
            dc_rec = dc
            tl.store(dx_ptr + xo, d_inc, mask=m2)
            tl.store(dx_ptr + xo + N, d_dec, mask=m2)
            dh_rec = (tl.dot(d_inc, _w(w_ptr, wbase, 0, N, rj, rk, wmask), input_precision="ieee")
                      + tl.dot(d_dec, _w(w_ptr, wbase, 1, N, rj, rk, wmask), input_precision="ieee"))  # fmt: skip


def _blocks(batch: int, hidden: int) -> tuple[int, int]:
    """(BLOCK_B, BLOCK_N): powers of two, at least 16 (tl.dot's smallest tile), at most 32 batch rows a program."""
    return max(16, min(32, triton.next_power_of_2(batch))), max(16, triton.next_power_of_2(hidden))


class TritonRecurrence(torch.autograd.Function):
    """Hidden states (P, B, T, N) of one layer of `cell` for P runs, from input projections x W_ih^T + b_ih
    (P, B, T, G*N), recurrent weights (P, G*N, N) and, for the GRU, the recurrent bias (P, G*N)."""

    @staticmethod
    def forward(ctx, cell: str, x: torch.Tensor, w: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
        runs, batch, steps, _ = x.shape
        hidden, gates = w.shape[-1], gates_of(cell)
        x, w = x.contiguous(), w.contiguous()
        h = x.new_empty(runs, batch, steps, hidden)
        c = x.new_empty(runs, batch, steps, hidden) if cell in ("lstm", "rrn") else h
        a = torch.empty_like(x) if cell != "rnn" else x
        hn = torch.empty_like(h) if cell == "gru" else h
        bias = b_hh.contiguous() if b_hh is not None else w  # unread unless the GRU's
        block_b, block_n = _blocks(batch, hidden)
        grid = (runs, triton.cdiv(batch, block_b))
        _forward[grid](x, w, bias, h, c, a, hn, steps, batch, hidden, *x.stride()[:3], *h.stride()[:3],
                       CELL=kernel_of(cell), G=gates, BLOCK_B=block_b, BLOCK_N=block_n)  # fmt: skip
        ctx.cell, ctx.has_bias = cell, b_hh is not None
        ctx.save_for_backward(w, h, c, a, hn)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor) -> tuple[None, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        w, h, c, a, hn = ctx.saved_tensors
        cell = ctx.cell
        runs, batch, steps, hidden = h.shape
        grad_h = grad_h.contiguous()
        grad_x = h.new_empty(runs, batch, steps, gates_of(cell) * hidden)
        grad_hx = torch.empty_like(grad_x) if cell == "gru" else grad_x  # differs from grad_x in the GRU's n gate
        block_b, block_n = _blocks(batch, hidden)
        grid = (runs, triton.cdiv(batch, block_b))
        _backward[grid](grad_h, w, h, c, a, hn, grad_x, grad_hx, steps, batch, hidden, *grad_x.stride()[:3],
                        *h.stride()[:3], CELL=kernel_of(cell), G=gates_of(cell), BLOCK_B=block_b,
                        BLOCK_N=block_n)  # fmt: skip
        previous = torch.cat([h.new_zeros(runs, batch, 1, hidden), h[:, :, :-1]], dim=2)
        grad_w = grad_hx.flatten(1, 2).mT @ previous.flatten(1, 2)  # every time step in one batched matmul
        grad_b = grad_hx.sum((1, 2)) if ctx.has_bias else None
        return None, grad_x, grad_w, grad_b
