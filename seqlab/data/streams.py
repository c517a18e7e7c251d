"""Seeded random streams: one torch generator per (seed, purpose), so no purpose's draws shift another's."""

from __future__ import annotations

import torch

# The held-out set never overlaps the training stream's draws; samples and probes never shift training.
TRAIN_STREAM, EVAL_STREAM, GRAD_FLOW_STREAM, SAMPLE_STREAM = 0, 1, 2, 3


def stream_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on `device` for one (seed, stream) pair."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 8 + stream)
    return generator
