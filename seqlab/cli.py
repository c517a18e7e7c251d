"""`seqlab COMMAND ...`: one command for seqlab's tools (each also has its own entry point and `python -m`)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {  # command -> (module, function, what it does): the same functions as the seqlab-* entry points
    "run": ("seqlab.run", "cli", "train a run, or with -m a sweep (Hydra overrides: model=rnn data.length=20 ...)"),
    "status": ("seqlab.status", "main", "what a sweep's runs are doing: started, completed, failed, ETA"),
    "aggregate": ("multirun_analysis.aggregate_results", "main", "tables, figures and a report from run directories"),
    "results-page": ("multirun_analysis.results_page", "main", "regenerate docs/results.md from the studies' runs"),
    "records": ("multirun_analysis.records", "main", "carry studies' runs via the repository (records save|restore)"),
    "export": ("seqlab.export", "main", "finished runs to TensorBoard or MLflow (export tensorboard|mlflow DIR)"),
    "generate": ("seqlab.generate", "main", "text from a trained text run"),
    "prepare": ("seqlab.prepare", "main", "download and check a corpus for dataset=text"),
    "bench": ("seqlab.bench", "main", "the training and sweep benchmarks"),
    "kernels": ("seqlab.kernels", "main", "build (or find) seqlab's C++ CPU kernels"),
}
HELP = ("-h", "--help", "help")


def usage() -> str:
    """The commands, one line each."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:{width}}  {about}" for name, (_, _, about) in COMMANDS.items()]
    return "usage: seqlab COMMAND [ARGS ...]   (seqlab COMMAND --help for a command's own help)\n\ncommands:\n" + (
        "\n".join(lines)
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in HELP:
        print(usage())
        return 0
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        given = f"'{sys.argv[1]}' is not a command; " if len(sys.argv) > 1 else ""
        print(f"seqlab: error: {given}expected one of {', '.join(COMMANDS)} (seqlab --help)", file=sys.stderr)
        return 2
    module, function, _ = COMMANDS[sys.argv[1]]
    sys.argv = [f"seqlab {sys.argv[1]}", *sys.argv[2:]]
    return getattr(importlib.import_module(module), function)() or 0


if __name__ == "__main__":
    sys.exit(main())
