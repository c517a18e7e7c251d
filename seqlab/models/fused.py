"""The fast cores of the cells that PyTorch has fused kernels for (oneDNN on CPU, cuDNN on GPU)."""

from __future__ import annotations

import torch

from seqlab.models.base import FusedLayout


class FusedCore(FusedLayout):
    """Runs `kernel` (torch.rnn_tanh / torch.lstm / torch.gru) over the encoded symbols."""

    kernel = staticmethod(torch.rnn_tanh)

    def __init__(self, hidden_size: int, num_layers: int, encoding: str, num_symbols: int, native: bool = True) -> None:
        super().__init__(hidden_size, num_layers, encoding, num_symbols, native)
        if not self.hidden_biases:  # the kernels always add a recurrent bias: keep it at zero, untrained
            self.register_buffer("zero_bias", torch.zeros(len(self.gates) * hidden_size), persistent=False)

    def flat_weights(self) -> list[torch.Tensor]:
        """Weights in the order the fused kernels take them."""
        weights: list[torch.Tensor] = []
        for k in range(self.num_layers):
            p = self.layer(k)
            weights += [p["w_ih"], p["w_hh"], p["b_ih"], p.get("b_hh", getattr(self, "zero_bias", None))]
        return weights

    def initial_state(self, batch: int, like: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return like.new_zeros(self.num_layers, batch, self.hidden_size)

    def torch_forward(self, symbols: torch.Tensor, every_step: bool) -> torch.Tensor:
        inputs = self.encoded(symbols)  # (T, B, d) in the model's dtype, time-major for the kernels
        state = self.initial_state(symbols.shape[0], inputs)
        output = self.kernel(
            inputs, state, self.flat_weights(), True, self.num_layers, 0.0, self.training, False, False
        )[0]
        return output if every_step else output[-1]
