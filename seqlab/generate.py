"""Text from a trained text run: `python -m seqlab.generate RUN_DIR --prompt "Sleeping beauty is"`.

Loads the run's checkpoint (its final model when the run completed, else its latest), feeds the prompt and prints
the prompt followed by `--length` generated characters: greedy at `--temperature 0`, else drawn from
softmax(logits / T). `--seed` makes a drawn text repeatable. A prompt character outside the run's vocabulary is
refused with one line naming it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from seqlab import checkpoint, rundir
from seqlab.checkpoint import UnsafeCheckpoint
from seqlab.data.text import encode_text
from seqlab.errors import report
from seqlab.models import build_model
from seqlab.models.base import SequenceClassifier
from seqlab.sampling import generate, stepper


class GenerateError(Exception):
    """The run directory or an argument cannot give text; the message is one line."""


def load_text_model(run_dir: Path) -> tuple[SequenceClassifier, str, str, int]:
    """(model with the checkpoint's weights on the CPU, cell name, vocabulary, the checkpoint's step)."""
    try:
        vocab_path, checkpoint_path = rundir.inside(run_dir, rundir.VOCAB), rundir.inside(run_dir, rundir.CHECKPOINT)
        config = rundir.recorded(run_dir)[1]
    except ValueError as error:  # a link out of the run directory, or a fingerprint that is not JSON
        raise GenerateError(str(error)) from None
    if not vocab_path.exists():
        raise GenerateError(f"{run_dir} is not a text run's directory (it has no {rundir.VOCAB})")
    if not checkpoint_path.exists():
        raise GenerateError(f"{run_dir} has no {rundir.CHECKPOINT} yet (the run saves one every "
                            "train.checkpoint_every steps and at its end)")  # fmt: skip
    symbols = json.loads(vocab_path.read_text())["symbols"]
    try:
        state = checkpoint.load(checkpoint_path)
    except UnsafeCheckpoint as error:
        raise GenerateError(str(error)) from None
    impl = "reference" if config["model.impl"] == "reference" else "fused"  # fast and fused share the layout
    model = build_model(config["model.name"], config["model.hidden_size"], config["model.num_layers"],
                        config["data.encoding"], impl, len(symbols), per_step=True)  # fmt: skip
    model.load_state_dict(state["model"])
    return model, config["model.name"], symbols, state["progress"]["step"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.generate", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a text run's directory")
    parser.add_argument("--prompt", required=True, help="the text to continue (characters of the run's vocabulary)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default); > 0: softmax(logits/T)")
    parser.add_argument("--length", type=int, default=200, help="characters to generate (default 200)")
    parser.add_argument("--seed", type=int, help="seed of the draws (a drawn text is repeatable with it)")
    args = parser.parse_args(argv)
    try:
        if not args.prompt:
            raise GenerateError("--prompt is empty: give at least one character to start from")
        if not 0 <= args.temperature < math.inf:
            raise GenerateError(f"--temperature {args.temperature}: expected a finite number >= 0 (0: greedy)")
        if args.length < 1:
            raise GenerateError(f"--length {args.length}: expected an integer >= 1")
        if args.seed is not None and not 0 <= args.seed < 2**64:
            raise GenerateError(f"--seed {args.seed}: expected an integer from 0 to 2**64 - 1")
        model, name, symbols, step = load_text_model(args.run_dir)
        if unknown := sorted(set(args.prompt) - set(symbols)):
            named = ", ".join(repr(c) for c in unknown)
            raise GenerateError(f"--prompt has characters that are not in the run's vocabulary: {named} (it has "
                                f"{len(symbols)} characters, listed in {args.run_dir / rundir.VOCAB})")  # fmt: skip
    except GenerateError as error:
        report(error)
        return 2
    generator = torch.Generator()
    if args.seed is None:
        generator.seed()
    else:
        generator.manual_seed(args.seed)
    drawn = generate(stepper(model, name), encode_text(args.prompt, symbols), args.length, args.temperature, generator)
    print(f"seqlab: {args.run_dir} at step {step}, temperature {args.temperature}", file=sys.stderr)
    print(args.prompt + "".join(symbols[i] for i in drawn.tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
