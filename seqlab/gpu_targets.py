"""The GPU engine's four targets (H100/H200, fp32, hidden 128, batch 128), each judged from the benchmark reports
scripts/gpu_check.sh writes: one line per target, pass or fail, and its figure. The signature sweep at 10,000
steps a run is a straight line through its wall times at two step counts (sweep_gpu.json and sweep_gpu_x10.json):
what a run costs besides its steps (the process, CUDA, compiling the kernels) is paid once, not scaled.

    python -m seqlab.gpu_targets docs/bench        (reads packs_gpu.json, sweep_gpu.json, sweep_gpu_x10.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SWEEP_SECONDS = 180.0  # the signature sweep (90 runs) x 10,000 steps, at most
RRN_RATE = 1000.0  # the RRN at L = 450 in a pack of 16: run-steps/s, at least
LSTM_SPEEDUP = 3.0  # the LSTM at L = 450: a pack's run-steps/s over one run alone's, at least
STEPS = 10_000
SWEEP_REPORTS = ("sweep_gpu.json", "sweep_gpu_x10.json")  # the sweeps at STEPS of gpu_check.sh, and at 10 times that


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _best_pack(row: dict) -> float | None:
    """A pack row's faster way (stacked or fused), None where neither measured."""
    rates = [r for r in (_number(row.get("stacked")), _number(row.get("fused"))) if r is not None]
    return max(rates) if rates else None


def sweep_at_full_length(reports: list[dict]) -> dict[str, tuple[float, float, float, list[int]]]:
    """Per way, the signature sweep's wall time at STEPS steps a run: a line through its walls at the fewest and
    the most steps measured, as (seconds, fixed seconds, seconds a step, the step counts); never under the longest
    measured. Only ways measured at two step counts."""
    walls: dict[str, dict[int, float]] = {}
    for report in reports:
        for row in report.get("rows", []):
            if row.get("sweep") == "signature" and (wall := _number(row.get("wall_s"))) is not None:
                walls.setdefault(row["way"], {})[report["steps"]] = wall
    fits = {}
    for way, by_steps in walls.items():
        if len(by_steps) > 1:
            (few, first), (most, last) = min(by_steps.items()), max(by_steps.items())
            per_step = (last - first) / (most - few)
            seconds = max(last, first + per_step * (STEPS - few))
            fits[way] = (seconds, first - per_step * few, per_step, sorted(by_steps))
    return fits


def verdicts(packs: dict | None, sweeps: list[dict]) -> list[str]:
    """One line per target from the packs report (None: missing) and the sweep reports (at two step counts)."""
    fits = sweep_at_full_length(sweeps)
    if fits:
        way, (seconds, fixed, per_step, counts) = min(fits.items(), key=lambda item: item[1][0])
        lines = [f"{'PASS' if seconds <= SWEEP_SECONDS else 'FAIL'} signature sweep x 10,000 steps: {seconds:.0f} s "
                 f"({way}: {fixed:.1f} s fixed + {per_step * 1000:.1f} ms a step, a line through "
                 f"{' and '.join(map(str, counts))} steps; target <= {SWEEP_SECONDS:.0f} s)"]  # fmt: skip
    else:
        lines = ["FAIL signature sweep x 10,000 steps: not measured at two step counts (no way with signature rows "
                 "in both sweep reports: one step count cannot tell a run's start-up from its steps)"]  # fmt: skip
    rows = {(r["cell"], r["length"]): r for r in (packs or {}).get("rows", [])}
    rrn = _best_pack(rows.get(("rrn", 450), {}))
    lines.append(f"{'PASS' if rrn and rrn >= RRN_RATE else 'FAIL'} RRN at L = 450, pack of 16: "
                 + (f"{rrn:.0f} run-steps/s" if rrn else "not measured") + f" (target >= {RRN_RATE:.0f})")  # fmt: skip
    lstm = rows.get(("lstm", 450), {})
    alone, packed = _number(lstm.get("alone")), _best_pack(lstm)
    ratio = packed / alone if alone and packed else None
    lines.append(f"{'PASS' if ratio and ratio >= LSTM_SPEEDUP else 'FAIL'} LSTM at L = 450, pack over alone: "
                 + (f"{ratio:.2f}x" if ratio else "not measured") + f" (target >= {LSTM_SPEEDUP:g}x)")  # fmt: skip
    slower = [f"{cell} L = {length}" for (cell, length), r in rows.items()
              if (_best_pack(r) or 0) < (_number(r.get("alone")) or float("inf"))]  # fmt: skip
    lines.append(
        f"{'FAIL' if slower or not rows else 'PASS'} packing never slower than one run at a time: "
        + (f"slower at {', '.join(slower)}" if slower else f"{len(rows)} rows" if rows else "not measured")
    )
    return lines


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv if argv is not None else sys.argv[1:] or ["docs/bench"])[0])
    sweeps = [report for name in SWEEP_REPORTS if (report := _read(folder / name))]
    lines = verdicts(_read(folder / "packs_gpu.json"), sweeps)
    print("\n".join(lines))
    return 0 if all(line.startswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
