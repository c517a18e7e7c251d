"""`seqlab COMMAND ...`: one command for seqlab's tools (each also has its own entry point and `python -m`)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {  # command -> (module, function): the same functions as the seqlab-* entry points
    "run": ("seqlab.run", "cli"),
    "status": ("seqlab.status", "main"),
    "aggregate": ("multirun_analysis.aggregate_results", "main"),
    "results-page": ("multirun_analysis.results_page", "main"),
    "generate": ("seqlab.generate", "main"),
    "prepare": ("seqlab.prepare", "main"),
    "bench": ("seqlab.bench", "main"),
    "kernels": ("seqlab.kernels", "main"),
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        given = f"'{sys.argv[1]}' is not a command; " if len(sys.argv) > 1 else ""
        print(f"seqlab: error: {given}expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module, function = COMMANDS[sys.argv[1]]
    sys.argv = [f"seqlab {sys.argv[1]}", *sys.argv[2:]]
    return getattr(importlib.import_module(module), function)() or 0
