"""Plain reference cells: one nn.Parameter per matrix, a Python loop over time, autograd.

This is how these cells are usually written. They are the benchmark's baseline and the correctness oracle
of the fast cores, and, since every hidden state is a node of the autograd graph, the gradient-flow probe.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.models.base import FusedLayout, encode, input_size


class ReferenceCore(nn.Module):
    """Per gate g and layer k: W_{g}x_l{k} (n, d_k), W_{g}h_l{k} (n, n), b_{g}_l{k} (n)[, b_{g}h_l{k}]."""

    gates: tuple[str, ...] = ()
    hidden_biases = False
    state_size = 1  # tensors in the recurrent state; the hidden state h is the first

    def __init__(self, hidden_size: int, num_layers: int, encoding: str, num_symbols: int) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.encoding = hidden_size, num_layers, encoding
        self.num_symbols = num_symbols
        n = hidden_size
        for k in range(num_layers):
            d = input_size(encoding, num_symbols) if k == 0 else n
            for g in self.gates:
                self.register_parameter(f"W_{g}x_l{k}", nn.Parameter(torch.empty(n, d)))
                self.register_parameter(f"W_{g}h_l{k}", nn.Parameter(torch.empty(n, n)))
                self.register_parameter(f"b_{g}_l{k}", nn.Parameter(torch.zeros(n)))
                if self.hidden_biases:
                    self.register_parameter(f"b_{g}h_l{k}", nn.Parameter(torch.zeros(n)))
        for param in self.parameters():  # PyTorch's default for recurrent cells
            nn.init.uniform_(param, -(n**-0.5), n**-0.5)

    def _names(self, k: int) -> dict[str, list[str]]:
        """Per fused-layout name, this core's parameter names in gate order."""
        names = {
            "w_ih": [f"W_{g}x_l{k}" for g in self.gates],
            "w_hh": [f"W_{g}h_l{k}" for g in self.gates],
            "b_ih": [f"b_{g}_l{k}" for g in self.gates],
        }
        if self.hidden_biases:
            names["b_hh"] = [f"b_{g}h_l{k}" for g in self.gates]
        return names

    @torch.no_grad()
    def load_fused(self, fused: FusedLayout) -> None:
        """Copy the weights of a fast core (same family and sizes) into this one."""
        for k in range(self.num_layers):
            for fused_name, names in self._names(k).items():
                for name, block in zip(names, fused.layer(k)[fused_name].chunk(len(self.gates)), strict=True):
                    getattr(self, name).copy_(block)

    def fused_gradients(self) -> dict[str, torch.Tensor]:
        """This core's gradients in the fused layout, keyed like the fast core's parameters."""
        return {
            f"{fused_name}_l{k}": torch.cat([getattr(self, name).grad for name in names])
            for k in range(self.num_layers)
            for fused_name, names in self._names(k).items()
        }

    def gate(self, g: str, k: int, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x W_gx^T + h W_gh^T + b_g for gate g of layer k."""
        p = self._parameters
        return x @ p[f"W_{g}x_l{k}"].t() + h @ p[f"W_{g}h_l{k}"].t() + p[f"b_{g}_l{k}"]

    def step(self, k: int, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def hidden_states(
        self, symbols: torch.Tensor, states: list[tuple[torch.Tensor, ...]] | None = None
    ) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, ...]]]:
        """h_1 .. h_T of the last layer, each (B, n), all nodes of the autograd graph, and every layer's state
        after step T; starting from `states` (such a list, from an earlier call) or from zeros."""
        inputs = list(encode(symbols, self.encoding, self.num_symbols).unbind(1))
        batch, finals = symbols.shape[0], []
        for k in range(self.num_layers):
            zeros = tuple(inputs[0].new_zeros(batch, self.hidden_size) for _ in range(self.state_size))
            state = states[k] if states else zeros
            outputs = []
            for x in inputs:
                state = self.step(k, x, state)
                outputs.append(state[0])
            finals.append(state)
            inputs = outputs
        return inputs, finals

    def forward(self, symbols: torch.Tensor, every_step: bool = False) -> torch.Tensor:
        hiddens = self.hidden_states(symbols)[0]
        return torch.stack(hiddens) if every_step else hiddens[-1]
