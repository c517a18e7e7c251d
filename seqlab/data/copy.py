"""The copy memory task (Arjovsky, Shah and Bengio 2016): remember 10 symbols over a delay of T steps.

A sequence of T + 20 symbols: 10 data symbols drawn uniformly from 1..8, then T - 1 blanks (0), the delimiter (9),
and 10 more blanks. The model reads it and, over the last 10 steps, must write the 10 data symbols in order; the
loss and the accuracy count those 10 output positions only (the others are IGNORE). A model that writes a random
data symbol at each output position scores log 8 nats per output position (BASELINE_LOSS), the paper's
10 log 8 / (T + 20) when averaged over all T + 20 steps. Its length key is T (`data.length`).
"""

from __future__ import annotations

import math

import torch

from seqlab.data import IGNORE
from seqlab.data.streams import heldout_batches

SYMBOLS, DATA, COPIED, BLANK, DELIMITER = 10, 8, 10, 0, 9  # alphabet, data symbols 1..8, how many, blank, delimiter
BASELINE_LOSS = math.log(DATA)  # nats per output position of a model that guesses each data symbol


def copy_batch(delay: int, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"):
    """(inputs (B, T + 20) int64, targets (B, T + 20) with IGNORE except the last 10 positions)."""
    data = torch.randint(1, DATA + 1, (batch_size, COPIED), generator=generator, device=device)
    steps = delay + 2 * COPIED
    inputs = torch.full((batch_size, steps), BLANK, dtype=torch.int64, device=device)
    inputs[:, :COPIED] = data
    inputs[:, COPIED + delay - 1] = DELIMITER
    targets = torch.full_like(inputs, IGNORE)
    targets[:, -COPIED:] = data
    return inputs, targets


class CopyTask:
    """The copy task with delay `length` (T): a prediction at every step, scored at the last 10."""

    per_step, masked, samples, regression = True, True, False, False
    outputs: int | None = None  # the head scores every symbol
    metric_columns = ("baseline_loss",)
    num_symbols = SYMBOLS

    def __init__(self, length: int, device: torch.device) -> None:
        self.length, self.device = length, device

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return copy_batch(self.length, batch_size, generator, self.device)

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return heldout_batches(lambda g: copy_batch(self.length, batch_size, g, self.device), batches, seed,
                               self.device)  # fmt: skip

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        return {"baseline_loss": BASELINE_LOSS}
