"""The tasks a run trains on, by `data.name`: palindrome and recall (a class per sequence; recall with several
queries, per query step), copy and text (a class per step; copy scores only its output steps), adding (a number per
sequence: a regression).

A task gives a run its batches (`batch`), its fixed held-out set (`heldout_set`), its alphabet (`num_symbols`), and
declares what the model and the loop do with it: `per_step` (the head reads every step, not only the last),
`masked` (some targets are `seqlab.data.IGNORE`: loss and accuracy count the others), `samples` (the run writes
text samples), `regression` (a number per prediction, its `outputs` of them: squared error, no accuracy), and its
extra metrics (`metric_columns`, `extra_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from omegaconf import DictConfig

from seqlab.data.adding import AddingTask
from seqlab.data.copy import CopyTask
from seqlab.data.corpus import read_corpus, resolve_digest
from seqlab.data.palindrome import PalindromeTask
from seqlab.data.recall import RecallTask, query_count
from seqlab.data.text import TextTask

Task = PalindromeTask | TextTask | CopyTask | RecallTask | AddingTask


def text_task(data: DictConfig, device: torch.device) -> TextTask:
    resolve_digest(data.path, data.digest)  # the file may have changed since the run's config was resolved
    return TextTask(read_corpus(data.path), data.seq_length, data.heldout_fraction, device)


BUILDERS: dict[str, Callable[[DictConfig, torch.device], Task]] = {
    "palindrome": lambda data, device: PalindromeTask(data.length, device),
    "text": text_task,
    "copy": lambda data, device: CopyTask(data.length, device),
    "recall": lambda data, device: RecallTask(
        data.pairs, data.vocab_size, device, query_count(data.get("queries", 1), data.pairs)
    ),
    "adding": lambda data, device: AddingTask(data.length, device),
}
# Per task: the input length of its sequences (the memory check's estimate); its length key is LENGTH_KEYS'.
INPUT_STEPS: dict[str, Callable[[DictConfig], int]] = {
    "palindrome": lambda data: data.length - 1,
    "text": lambda data: data.seq_length,
    "copy": lambda data: data.length + 20,
    "recall": lambda data: 2 * data.pairs + query_count(data.get("queries", 1), data.pairs),
    "adding": lambda data: data.length,
}


def build_task(data: DictConfig, device: torch.device) -> Task:
    """The task of a run's `data` config (checked beforehand by `validate.check_config`; data.digest resolved)."""
    return BUILDERS[data.name](data, device)
