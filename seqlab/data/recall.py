"""Associative recall (Ba et al. 2016; the form zoology uses): key-value pairs, then a query key; answer its value.

A sequence of 2n + 1 symbols: n pairs `k_1 v_1 ... k_n v_n` with n distinct keys drawn from `vocab_size` keys and
values drawn from `vocab_size` values, then one of the n keys again. The target is that key's value: one prediction
per sequence, over the 2 * vocab_size symbols (keys 0..K-1, values K..2K-1). Chance is 1 / vocab_size. Its length
keys are the number of pairs (`data.pairs`) and the vocabulary (`data.vocab_size`).
"""

from __future__ import annotations

import torch

from seqlab.data.streams import heldout_batches


def recall_batch(pairs: int, vocab_size: int, batch_size: int, generator: torch.Generator,
                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(inputs (B, 2n + 1) int64, targets (B,) int64)."""
    keys = torch.rand(batch_size, vocab_size, generator=generator, device=device).argsort(dim=1)[:, :pairs]
    values = torch.randint(0, vocab_size, (batch_size, pairs), generator=generator, device=device) + vocab_size
    query = torch.randint(0, pairs, (batch_size, 1), generator=generator, device=device)
    sequence = torch.stack([keys, values], dim=2).flatten(1)  # k_1 v_1 k_2 v_2 ...
    inputs = torch.cat([sequence, keys.gather(1, query)], dim=1)
    return inputs, values.gather(1, query).squeeze(1)


class RecallTask:
    """Associative recall of `pairs` pairs over `vocab_size` keys and values: one prediction per sequence."""

    per_step, masked, samples, regression = False, False, False, False
    outputs: int | None = None  # the head scores every symbol
    metric_columns: tuple[str, ...] = ()

    def __init__(self, pairs: int, vocab_size: int, device: torch.device) -> None:
        self.pairs, self.vocab_size, self.device = pairs, vocab_size, device
        self.num_symbols = 2 * vocab_size

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return recall_batch(self.pairs, self.vocab_size, batch_size, generator, self.device)

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        draw = lambda g: recall_batch(self.pairs, self.vocab_size, batch_size, g, self.device)  # noqa: E731
        return heldout_batches(draw, batches, seed, self.device)

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        return {}
