"""The adding problem (Hochreiter and Schmidhuber 1997, in the two-channel form of Le, Jaitly and Hinton 2015).

Each of T steps reads two numbers: a value drawn uniformly from [0, 1], and a marker that is 1 at exactly two steps
(one in each half of the sequence) and 0 elsewhere. The target is the sum of the two marked values: a regression,
scored by its mean squared error. Predicting 1 whatever the input scores BASELINE_MSE = 1/6 (the variance of the
sum of two uniform values); solved: held-out MSE <= `eval.solved_mse` (0.01 by default). Length key: T
(`data.length`).
"""

from __future__ import annotations

import torch

from seqlab.data.streams import heldout_batches

CHANNELS = 2  # value, marker
BASELINE_MSE = 1 / 6


def adding_batch(length: int, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"):
    """(inputs (B, T, 2) float32: values and markers, targets (B,) float32: the sum of the two marked values)."""
    values = torch.rand(batch_size, length, generator=generator, device=device)
    half = length // 2
    first = torch.randint(0, half, (batch_size, 1), generator=generator, device=device)
    second = torch.randint(half, length, (batch_size, 1), generator=generator, device=device)
    markers = torch.zeros_like(values)
    markers.scatter_(1, first, 1.0)
    markers.scatter_(1, second, 1.0)
    return torch.stack([values, markers], dim=2), (values * markers).sum(1)


class AddingTask:
    """The adding problem of length `length`: one number predicted per sequence."""

    per_step, masked, samples, regression = False, False, False, True
    metric_columns = ("baseline_mse",)
    num_symbols = CHANNELS  # input channels (encoding values)
    outputs = 1

    def __init__(self, length: int, device: torch.device) -> None:
        self.length, self.device = length, device

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return adding_batch(self.length, batch_size, generator, self.device)

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return heldout_batches(lambda g: adding_batch(self.length, batch_size, g, self.device), batches, seed,
                               self.device)  # fmt: skip

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        return {"baseline_mse": BASELINE_MSE}
