"""What every model shares: the symbol encoding, the parameter layout and the read-out head."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqlab import kernels
from seqlab.models.native import NativeRecurrence

ENCODINGS = ("onehot", "scalar")
VALUES = "values"  # not symbols: real-valued input channels (B, T, num_symbols), fed as they are (the adding task)


def input_size(encoding: str, num_symbols: int) -> int:
    """Width d of one encoded symbol: `num_symbols` for one-hot (and for real-valued channels, one per channel), 1
    for a scalar (the symbol's index as a number)."""
    return 1 if encoding == "scalar" else num_symbols


def encode(symbols: torch.Tensor, encoding: str, num_symbols: int) -> torch.Tensor:
    """Symbols (..., T) int64 in [0, num_symbols) -> float inputs (..., T, d); real values (..., T, d) as floats."""
    if encoding == "onehot":
        return F.one_hot(symbols, num_symbols).float()
    if encoding == VALUES:
        return symbols.float()
    return symbols.unsqueeze(-1).float()


def time_major(inputs: torch.Tensor) -> torch.Tensor:
    """Inputs (B, T[, d]) -> (T, B[, d]), the cores' layout (a view)."""
    return inputs.transpose(0, 1)


class FusedLayout(nn.Module):
    """Parameters in the fused layout that fast cores compute with and init schemes act on.

    Per layer k: `w_ih_l{k}` (G*n, d_k), `w_hh_l{k}` (G*n, n), `b_ih_l{k}` (G*n) and, for cells with a
    second bias inside the recurrent term (GRU), `b_hh_l{k}` (G*n); G = len(gates), stacked in `gates` order.
    Initialised like PyTorch's nn.RNN family: U(-1/sqrt(n), 1/sqrt(n)). Inputs are symbols 0..num_symbols-1 (the
    palindrome's 10 digits, a corpus's characters). On CPU the forward runs seqlab's C++ recurrence when `native`
    and the kernels are built, else `torch_forward` (PyTorch's fused kernels, cuDNN on GPU; PyTorch ops for the RRN).
    """

    cell = ""  # the model's config name, which the native kernels know it by
    gates: tuple[str, ...] = ()
    hidden_biases = False

    def __init__(self, hidden_size: int, num_layers: int, encoding: str, num_symbols: int, native: bool = True) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.encoding, self.native = hidden_size, num_layers, encoding, native
        self.num_symbols = num_symbols
        codes = encode(torch.arange(num_symbols), encoding, num_symbols) if encoding != VALUES else torch.zeros(1)
        self.register_buffer("symbol_codes", codes, persistent=False)  # (V, d)
        rows = len(self.gates) * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for k in range(num_layers):
            d = input_size(encoding, num_symbols) if k == 0 else hidden_size
            shapes = {"w_ih": (rows, d), "w_hh": (rows, hidden_size), "b_ih": (rows,)}
            if self.hidden_biases:
                shapes["b_hh"] = (rows,)
            for name, shape in shapes.items():
                self.register_parameter(f"{name}_l{k}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def layer(self, k: int) -> dict[str, torch.Tensor]:
        """The fused parameters of layer k, by short name (w_ih, w_hh, b_ih[, b_hh])."""
        names = ("w_ih", "w_hh", "b_ih", "b_hh") if self.hidden_biases else ("w_ih", "w_hh", "b_ih")
        return {name: getattr(self, f"{name}_l{k}") for name in names}

    def symbol_table(self) -> torch.Tensor:
        """Layer 0's input projection x W_ih^T + b_ih of each symbol: (V, G*n), whatever the encoding."""
        p = self.layer(0)
        return F.linear(self.symbol_codes, p["w_ih"], p["b_ih"])

    def encoded(self, symbols: torch.Tensor) -> torch.Tensor:
        """Layer 0's inputs, time-major, in the model's dtype: (T, B, d) from symbols (B, T) or values (B, T, d)."""
        if self.encoding == VALUES:
            return time_major(symbols).to(self.symbol_codes.dtype)
        return self.symbol_codes[symbols.t()]

    def input_projections(self, k: int, sequence: torch.Tensor) -> torch.Tensor:
        """x_t W_ih^T + b_ih for all t of layer k: (T, B, G*n) from symbols (T, B), values (T, B, d) or layer k-1's
        states (T, B, n)."""
        if k == 0 and self.encoding != VALUES:
            return F.embedding(sequence, self.symbol_table())
        p = self.layer(k)
        return F.linear(sequence, p["w_ih"], p["b_ih"])

    def runs_native(self, device: torch.device) -> bool:
        """Whether the forward on `device` runs seqlab's C++ recurrence (else `torch_forward`)."""
        return self.native and device.type == "cpu" and kernels.available()

    def forward(self, symbols: torch.Tensor, every_step: bool = False) -> torch.Tensor:
        """Symbols (B, T) -> the last layer's last hidden state h_T (B, n), or with `every_step` h_1..h_T (T, B, n)."""
        if not self.runs_native(symbols.device):
            return self.torch_forward(symbols, every_step)
        sequence = time_major(symbols).contiguous()  # (T, B[, d]), time-major
        for k in range(self.num_layers):
            p = self.layer(k)
            table = k == 0 and self.encoding != VALUES  # symbols: a gather from the table of their projections
            inputs, index = (self.symbol_table(), sequence) if table else (self.input_projections(k, sequence), None)
            last_only = k == self.num_layers - 1 and not every_step
            sequence = NativeRecurrence.apply(self.cell, inputs, index, p["w_hh"], p.get("b_hh"), last_only)
        return sequence

    def torch_forward(self, symbols: torch.Tensor, every_step: bool) -> torch.Tensor:
        """The forward pass on PyTorch's own kernels."""
        raise NotImplementedError


class SequenceClassifier(nn.Module):
    """A recurrent core with a linear read-out p = W_ph h + b_p over its symbols: of the last hidden state h_T
    (the palindrome's one prediction), or with `per_step` of every h_t (next-symbol prediction, as for text)."""

    def __init__(self, core: nn.Module, per_step: bool = False, outputs: int | None = None) -> None:
        super().__init__()
        self.core, self.per_step = core, per_step
        self.head = nn.Linear(core.hidden_size, outputs or core.num_symbols)  # outputs: a regression's, say 1

    def forward(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbols (B, T) -> logits (B, V), or with `per_step` (B, T, V)."""
        if self.per_step:
            return self.head(self.core(symbols, every_step=True)).transpose(0, 1)
        return self.head(self.core(symbols))
