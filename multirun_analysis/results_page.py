"""Regenerate docs/results.md from the studies' run directories (see scripts/run_studies.sh).

    seqlab-results-page [--runs outputs/multirun] [--docs docs] [--scale reduced]

Aggregates each study's sweep directory with aggregate_results.py into docs/results/<study>/ (PNG figures and
the summary and memory-capacity tables), and writes docs/results.md: the scale, the commands, the tables, the
figures, and the observations kept by hand in docs/results_notes.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from multirun_analysis.aggregate_results import Options, UsageError, aggregate
from multirun_analysis.report import Report

STUDIES = {
    "rnn_vs_lstm": "Vanilla RNN vs LSTM (the course assignment)",
    "rrn_long": "Long palindromes: RNN, LSTM and RRN",
    "optimizers": "Optimizers",
    "inits": "Init schemes",
    "grad_flow": "Gradient flow through time at L = 100",
}
SCALES = {
    "reduced": "Reduced scale, run on a 2-core CPU machine with `bash scripts/run_studies.sh reduced` "
    "(two single-threaded runs at a time): rnn_vs_lstm at the course setting but at most 2,000 steps; optimizers "
    "and inits with hidden size 64, at most 1,000 steps, lengths 5, 10, 20 and 2 seeds; rrn_long with hidden size 64, "
    "at most 500 steps, lengths 50, 100, 200 and 2 seeds; grad_flow 1,000 steps, 1 seed. Step budgets this small "
    "favour fast learners: a model that fails here may still succeed with the full 10,000 steps.",
    "full": "Full scale: `bash scripts/run_studies.sh full` (the presets as defined).",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("outputs/multirun"))
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--scale", choices=sorted(SCALES), default="reduced")
    args = parser.parse_args(argv)
    page = Report("seqlab results: how far back can each cell remember?")
    page.paragraph(SCALES[args.scale])
    notes = args.docs / "results_notes.md"
    if notes.exists():
        page.heading("Observations")
        page.paragraph(notes.read_text().strip())
    for study, title in STUDIES.items():
        sweep = args.runs / study
        if not sweep.is_dir():
            continue
        out = args.docs / "results" / study
        try:
            aggregate(Options(dirs=[sweep], out=out, formats=["png"]))
        except UsageError as error:
            print(f"results_page: skipping {study}: {error}", file=sys.stderr)
            continue
        page.heading(title)
        page.paragraph(f"Aggregate again: `seqlab-aggregate {sweep}`. "
                       f"Full report: [results/{study}/report.md](results/{study}/report.md).")  # fmt: skip
        capacity = out / "memory_capacity.csv"
        if capacity.exists() and study != "grad_flow":
            page.paragraph(
                "Memory capacity per seed: the longest L with every tested L up to it solved (converged: "
                "held-out accuracy >= 0.99); its median, min and max over seeds, and k/n seeds solving "
                "each tested L."
            )
            page.table(pd.read_csv(capacity))
        for figure in ("eval_accuracy_vs_data.length.png", "memory_capacity.png", "gradient_flow.png",
                       "learning_curves.png"):  # fmt: skip
            if (out / figure).exists() and not (study == "grad_flow" and figure == "memory_capacity.png"):
                page.image(f"results/{study}/{figure}", f"{study}: {figure.removesuffix('.png').replace('_', ' ')}")
        for leftover in out.glob("*.csv"):
            if leftover.name not in ("summary.csv", "memory_capacity.csv"):
                leftover.unlink()  # per-run tables stay with the run directories
        (out / "report.html").unlink(missing_ok=True)
    (args.docs / "results.md").write_text(page.markdown())
    print(f"wrote {args.docs / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
