"""The text task: read a corpus's characters and predict, after each one, the next (the many-to-many head).

Training sequences are windows of `data.seq_length` characters at uniformly random offsets of the training part
(the first 1 - data.heldout_fraction of the corpus), each with the next character of every position as its
targets. The held-out set is the last part: consecutive windows from its start, each predicting every held-out
character once after the first, at most `eval.batches` batches. No window crosses the split.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from seqlab.data.corpus import Corpus

Batch = tuple[torch.Tensor, torch.Tensor]


def encode_text(text: str, symbols: str) -> torch.Tensor:
    """The index of each character of `text` in `symbols` (sorted by code point; every character must be there)."""
    codes = torch.from_numpy(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64))
    return torch.searchsorted(torch.tensor([ord(c) for c in symbols]), codes)


class TextTask:
    """Next-character prediction on a corpus; inputs and targets are (B, seq_length) character indices."""

    per_step, masked, samples, regression = True, False, True, False
    outputs: int | None = None  # the head scores every symbol
    metric_columns = ("eval_bpc",)

    def __init__(self, corpus: Corpus, seq_length: int, heldout_fraction: float, device: torch.device) -> None:
        self.corpus, self.seq_length, self.device = corpus, seq_length, device
        self.symbols = corpus.symbols
        self.num_symbols = len(self.symbols)
        ids = encode_text(corpus.text, self.symbols).to(device)
        self.split = corpus.split_point(heldout_fraction)
        self.train_ids, self.heldout_ids = ids[: self.split], ids[self.split :]
        self.window = torch.arange(seq_length + 1, device=device)

    def batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Random windows of the training part: (inputs, targets), the targets being the inputs shifted by one."""
        starts = torch.randint(0, len(self.train_ids) - self.seq_length, (batch_size,), generator=generator,
                               device=self.device)  # fmt: skip
        windows = self.train_ids[starts[:, None] + self.window]  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]

    def heldout_set(self, batch_size: int, batches: int, seed: int) -> list[Batch]:
        """Consecutive windows of the held-out part (each starting where the previous one's inputs end), in batches;
        the same for every seed."""
        count = min((len(self.heldout_ids) - 1) // self.seq_length, batch_size * batches)
        starts = torch.arange(count, device=self.device) * self.seq_length
        windows = self.heldout_ids[starts[:, None] + self.window]
        return [(w[:, :-1], w[:, 1:]) for w in windows.split(batch_size)]

    def extra_metrics(self, eval_loss: float) -> dict[str, float]:
        """Bits per character: the held-out cross-entropy in bits."""
        return {"eval_bpc": eval_loss / math.log(2)}

    def vocabulary(self) -> dict[str, object]:
        """What `vocab.json` records: the symbols in index order and the corpus they came from."""
        return {"symbols": self.symbols, "corpus": str(self.corpus.path), "sha256": self.corpus.digest,
                "characters": len(self.corpus.text), "training_characters": self.split,
                "heldout_characters": len(self.corpus.text) - self.split}  # fmt: skip

    def random_character(self, generator: torch.Generator) -> torch.Tensor:
        """The character at a random position of the training part, as a (1,) index tensor on the CPU (`generator`
        is a CPU generator): how a sample without a prompt starts."""
        position = torch.randint(0, len(self.train_ids), (1,), generator=generator).item()
        return self.train_ids[position].view(1).cpu()
