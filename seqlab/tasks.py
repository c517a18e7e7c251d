"""The tasks a run trains on, by `data.name`: the palindrome (many-to-one) and text (many-to-many) tasks.

A task gives a run its batches (`batch`), its fixed held-out set (`heldout_set`), its alphabet (`num_symbols`),
whether the model predicts after every input (`per_step`) and its extra metrics (`metric_columns`, `extra_metrics`).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from seqlab.data.corpus import read_corpus, resolve_digest
from seqlab.data.palindrome import PalindromeTask
from seqlab.data.text import TextTask

TASKS = ("palindrome", "text")
Task = PalindromeTask | TextTask


def build_task(data: DictConfig, device: torch.device) -> Task:
    """The task of a run's `data` config (checked beforehand by `validate.check_config`; data.digest resolved)."""
    if data.name == "text":
        resolve_digest(data.path, data.digest)  # the file may have changed since the run's config was resolved
        return TextTask(read_corpus(data.path), data.seq_length, data.heldout_fraction, device)
    return PalindromeTask(data.length, device)
