"""A stacked pack: the models of P runs of one shape as one model whose weights have a leading run dimension.

Each step of every layer is one batched matrix product for all P runs (`torch.baddbmm`) followed by the cell's
`update` on the fused projections, so a pack of P runs costs about as many kernel launches as one run. Runs stay
independent: run p's logits, loss and gradients depend on its own weights and batch only. Built from the runs'
own models (fused layout) and read back into them (`read_into`).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.models import cell
from seqlab.models.base import FusedLayout, SequenceClassifier


class StackedModel(nn.Module):
    """P classifiers of one cell and shape (fast cores, fused layout) as one: parameter `name` (P, *shape)."""

    def __init__(self, models: list[SequenceClassifier], fused: bool = False) -> None:
        super().__init__()
        self.fused = fused  # each layer's time loop in one Triton kernel (seqlab.engines.triton_recurrence)
        first: FusedLayout = models[0].core
        self.cell_name, self.per_step = first.cell, models[0].per_step
        self.num_layers, self.hidden_size, self.hidden_biases = first.num_layers, first.hidden_size, first.hidden_biases
        self.state_size = cell(self.cell_name).reference.state_size
        self.register_buffer("symbol_codes", first.symbol_codes.clone(), persistent=False)
        for name, _ in models[0].named_parameters():
            stacked = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
            self.register_parameter(name.replace(".", "__"), nn.Parameter(stacked))

    def stacked(self, name: str) -> torch.Tensor:
        """The stacked parameter of a member's parameter `name` (e.g. `core.w_hh_l0`, `head.weight`)."""
        return getattr(self, name.replace(".", "__"))

    @torch.no_grad()
    def read_into(self, models: list[SequenceClassifier]) -> None:
        """Copy run p's weights into `models[p]`."""
        for p, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(self.stacked(name)[p])

    def forward(self, symbols: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Symbols (P, B, T) -> logits (P, B, V), or with `per_step` (P, B, T, V). With `lengths` (P,), run p reads
        its first lengths[p] symbols (the rest is padding after them) and is read out after its own last one."""
        update = cell(self.cell_name).update
        runs, batch, _ = symbols.shape
        sequence: torch.Tensor = symbols
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih = (self.stacked(f"core.{n}_l{k}") for n in ("w_ih", "w_hh", "b_ih"))
            if k == 0:  # each symbol's projection, then a gather: (P, V, G*n) -> (P, B, T, G*n)
                table = torch.baddbmm(b_ih.unsqueeze(1), self.symbol_codes.expand(runs, -1, -1), w_ih.mT)
                projections = table[torch.arange(runs, device=symbols.device).view(runs, 1, 1), sequence]
            else:
                projections = torch.baddbmm(b_ih.unsqueeze(1), sequence.flatten(1, 2), w_ih.mT)
                projections = projections.view(runs, batch, -1, w_ih.shape[1])
            if self.fused:
                from seqlab.engines.triton_recurrence import TritonRecurrence  # noqa: PLC0415 - triton is optional

                b_hh = self.stacked(f"core.b_hh_l{k}") if self.hidden_biases else None
                sequence = TritonRecurrence.apply(self.cell_name, projections, w_hh, b_hh, lengths)  # each to its own
                continue
            recurrent_bias = self.stacked(f"core.b_hh_l{k}").unsqueeze(1) if self.hidden_biases else None
            zeros = projections.new_zeros(runs, batch, self.hidden_size)
            state: tuple[torch.Tensor, ...] = (zeros,) * self.state_size
            hiddens = []
            for t in range(projections.shape[2]):
                h = state[0]
                hx = torch.bmm(h, w_hh.mT) if recurrent_bias is None else torch.baddbmm(recurrent_bias, h, w_hh.mT)
                state = update(projections[:, :, t], hx, state)
                hiddens.append(state[0])
            sequence = torch.stack(hiddens, dim=2)  # (P, B, T, n)
        weight, bias = self.stacked("head.weight"), self.stacked("head.bias")
        if self.per_step:
            logits = torch.baddbmm(bias.unsqueeze(1), sequence.flatten(1, 2), weight.mT)
            return logits.view(runs, batch, -1, bias.shape[1])
        last = sequence[:, :, -1] if lengths is None else sequence[torch.arange(runs), :, lengths - 1]
        return torch.baddbmm(bias.unsqueeze(1), last, weight.mT)
