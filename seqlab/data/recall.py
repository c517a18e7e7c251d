"""Associative recall (Ba et al. 2016), with one query or zoology's several (multi-query associative recall).

A sequence of 2n + q symbols: n pairs `k_1 v_1 ... k_n v_n` with n distinct keys drawn from `vocab_size` keys and
values drawn from `vocab_size` values, then q of the n keys again, each once (`data.queries`: 1 by default, `all`
for every key in a random order). The target of each query is its key's value, over the 2 * vocab_size symbols
(keys 0..K-1, values K..2K-1); chance is 1 / vocab_size. One query is one prediction per sequence; several are a
prediction at each query step (the other steps are IGNORE). Its length keys are the number of pairs (`data.pairs`)
and the vocabulary (`data.vocab_size`).
"""

from __future__ import annotations

import torch

from seqlab.data import ALL_QUERIES, IGNORE
from seqlab.data.streams import heldout_batches


def recall_batch(
    pairs: int,
    vocab_size: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    queries: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (B, 2n + q) int64, targets: (B,) int64 for one query, else (B, 2n + q) with IGNORE before the
    queries)."""
    keys = torch.rand(batch_size, vocab_size, generator=generator, device=device).argsort(dim=1)[:, :pairs]
    values = torch.randint(0, vocab_size, (batch_size, pairs), generator=generator, device=device) + vocab_size
    if queries == 1:  # one pair at random (as seqlab drew it before several queries existed)
        asked = torch.randint(0, pairs, (batch_size, 1), generator=generator, device=device)
    else:  # q distinct pairs in a random order
        asked = torch.rand(batch_size, pairs, generator=generator, device=device).argsort(dim=1)[:, :queries]
    sequence = torch.stack([keys, values], dim=2).flatten(1)  # k_1 v_1 k_2 v_2 ...
    inputs = torch.cat([sequence, keys.gather(1, asked)], dim=1)
    answers = values.gather(1, asked)
    if queries == 1:
        return inputs, answers.squeeze(1)
    targets = torch.full_like(inputs, IGNORE)
    targets[:, -queries:] = answers
    return inputs, targets


def query_count(queries: int | str, pairs: int) -> int:
    """data.queries as a number: `all` is one query per pair."""
    return pairs if queries == ALL_QUERIES else int(queries)


class RecallTask:
    """Associative recall of `pairs` pairs over `vocab_size` keys and values, asked `queries` of them: one query is
    one prediction per sequence; several are a prediction at each query step (the task is then per step, masked)."""

    samples, regression = False, False
    outputs: int | None = None  # the head scores every symbol
    metric_columns: tuple[str, ...] = ()

    def __init__(self, pairs: int, vocab_size: int, device: torch.device, queries: int = 1) -> None:
        self.pairs, self.vocab_size, self.queries, self.device = pairs, vocab_size, queries, device
        self.num_symbols = 2 * vocab_size
        self.per_step = self.masked = queries > 1

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return recall_batch(self.pairs, self.vocab_size, batch_size, generator, self.device, self.queries)

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        draw = lambda g: recall_batch(self.pairs, self.vocab_size, batch_size, g, self.device, self.queries)  # noqa: E731
        return heldout_batches(draw, batches, seed, self.device)

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        return {}
