"""The palindrome task: read the first L-1 digits of a palindrome of length L, predict the last one.

The last digit equals the first, so solving the task means remembering the first digit for L-1 steps.
"""

from __future__ import annotations

import functools

import torch

from seqlab.data.streams import heldout_batches

NUM_DIGITS = 10


def palindrome_batch(
    length: int, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of palindromes, generated vectorised on `device`.

    Returns (inputs, targets): inputs are the first `length - 1` digits, shape (batch, length - 1), int64,
    stored time-major (a transposed view); targets are the last digits, shape (batch,).
    """
    half = torch.randint(0, NUM_DIGITS, (batch_size, (length + 1) // 2), generator=generator, device=device)
    time_major = half.t().index_select(0, mirror_index(length, half.device))  # (L-1, B): the cores' layout
    return time_major.t(), half[:, 0]


@functools.cache
def mirror_index(length: int, device: torch.device) -> torch.Tensor:
    """Which of the first ceil(L/2) digits sits at each of a palindrome's first L-1 positions: min(j, L-1-j)."""
    return torch.tensor([min(j, length - 1 - j) for j in range(length - 1)], device=device)


def heldout_set(
    length: int, batch_size: int, batches: int, seed: int, device: torch.device | str = "cpu"
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed held-out batches of a run, drawn from the evaluation stream of `seed`."""
    return heldout_batches(lambda generator: palindrome_batch(length, batch_size, generator, device), batches, seed,
                           device)  # fmt: skip


class PalindromeTask:
    """The palindrome task of length `length` as a run sees it: one prediction per sequence, over 10 digits."""

    per_step, masked, samples, regression = False, False, False, False
    outputs: int | None = None  # the head scores every symbol
    metric_columns: tuple[str, ...] = ()
    num_symbols = NUM_DIGITS

    def __init__(self, length: int, device: torch.device) -> None:
        self.length, self.device = length, device

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return palindrome_batch(self.length, batch_size, generator, self.device)

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return heldout_set(self.length, batch_size, batches, seed, self.device)

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        return {}
