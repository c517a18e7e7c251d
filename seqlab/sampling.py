"""Text from a next-character model: greedy (temperature 0) or drawn from softmax(logits / T), and the samples a
text run writes while it trains (`samples.csv`), so a reader can watch the text improve."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from seqlab import rundir
from seqlab.data.streams import SAMPLE_STREAM, stream_generator
from seqlab.data.text import TextTask, encode_text
from seqlab.models import reference_twin
from seqlab.models.base import SequenceClassifier


def stepper(model: SequenceClassifier, name: str) -> SequenceClassifier:
    """The reference twin of `model` (cell `name`) on the CPU in eval mode: the model `generate` steps."""
    return reference_twin(model, name).cpu().eval()


@torch.no_grad()
def generate(
    twin: SequenceClassifier, prompt: torch.Tensor, length: int, temperature: float, generator: torch.Generator
) -> torch.Tensor:
    """`length` symbols that follow `prompt` ((P,) indices, P >= 1), each fed back as the next input, through the
    reference model `twin` (`stepper`), whose recurrent state carries over from step to step."""
    hiddens, states = twin.core.hidden_states(prompt.view(1, -1).cpu())
    drawn = []
    for _ in range(length):
        logits = twin.head(hiddens[-1])[0]
        if temperature == 0:
            symbol = logits.argmax().view(1)
        else:
            symbol = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
        drawn.append(symbol)
        hiddens, states = twin.core.hidden_states(symbol.view(1, 1), states)
    return torch.cat(drawn)


class TrainingSamples:
    """Writes samples.csv for a text run: every `data.sample_every` steps and at the end, one sample of
    `data.sample_length` characters per temperature of `data.sample_temperatures`. Each sample draws from a fresh
    generator of the run's sample stream, so samples at different steps differ only by the model (and a resumed run
    writes the same samples)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, task: TextTask) -> None:
        self.cfg, self.task = cfg, task
        self.log = rundir.CsvLog(Path(run_dir) / rundir.SAMPLES, rundir.SAMPLE_COLUMNS)
        self.every = cfg.data.sample_every

    def due(self, step: int) -> bool:
        return bool(self.every) and step % self.every == 0

    def record(self, model: SequenceClassifier, step: int) -> None:
        data, rows = self.cfg.data, []
        twin = stepper(model, self.cfg.model.name)
        for temperature in data.sample_temperatures:
            generator = stream_generator(self.cfg.seed, SAMPLE_STREAM)
            prompt = encode_text(data.sample_prompt, self.task.symbols) if data.sample_prompt else None
            if prompt is None:
                prompt = self.task.random_character(generator)
            drawn = generate(twin, prompt, data.sample_length, temperature, generator)
            text = "".join(self.task.symbols[i] for i in drawn.tolist())
            start = "".join(self.task.symbols[i] for i in prompt.tolist())
            rows.append({"step": step, "temperature": float(temperature), "prompt": start, "text": text})
        self.log.append(rows)
