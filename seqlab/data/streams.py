"""Seeded random streams: one torch generator per (seed, purpose), so no purpose's draws shift another's."""

from __future__ import annotations

from collections.abc import Callable

import torch

# The held-out set never overlaps the training stream's draws; samples and probes never shift training.
TRAIN_STREAM, EVAL_STREAM, GRAD_FLOW_STREAM, SAMPLE_STREAM = 0, 1, 2, 3


def stream_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on `device` for one (seed, stream) pair."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 8 + stream)
    return generator


def heldout_batches(
    draw: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]], batches: int, seed: int,
    device: torch.device | str = "cpu",
) -> list[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """A run's fixed held-out set: `batches` batches of `draw`, from the evaluation stream of `seed`."""
    generator = stream_generator(seed, EVAL_STREAM, device)
    return [draw(generator) for _ in range(batches)]
