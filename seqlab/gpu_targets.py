"""The GPU engine's four targets (H100/H200, fp32, hidden 128, batch 128), each judged from the benchmark reports
scripts/gpu_check.sh writes: one line per target, pass or fail, its figure, and the sweep's extrapolated to
10,000 steps a run.

    python -m seqlab.gpu_targets docs/bench        (reads packs_gpu.json and sweep_gpu.json there)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SWEEP_SECONDS = 180.0  # the signature sweep (90 runs) x 10,000 steps, at most
RRN_RATE = 1000.0  # the RRN at L = 450 in a pack of 16: run-steps/s, at least
LSTM_SPEEDUP = 3.0  # the LSTM at L = 450: a pack's run-steps/s over one run alone's, at least
STEPS = 10_000


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _best_pack(row: dict) -> float | None:
    """A pack row's faster way (stacked or fused), None where neither measured."""
    rates = [r for r in (_number(row.get("stacked")), _number(row.get("fused"))) if r is not None]
    return max(rates) if rates else None


def verdicts(packs: dict | None, sweeps: dict | None) -> list[str]:
    """One line per target from the packs and sweeps reports (None: that report is missing)."""
    lines = []
    signature = [r for r in (sweeps or {}).get("rows", []) if r.get("sweep") == "signature" and _number(r["wall_s"])]
    if signature:
        best = min(signature, key=lambda r: r["wall_s"])
        scaled = best["wall_s"] * STEPS / sweeps["steps"]
        lines.append(f"{'PASS' if scaled <= SWEEP_SECONDS else 'FAIL'} signature sweep x 10,000 steps: {scaled:.0f} s "
                     f"extrapolated from {best['wall_s']:.1f} s at {sweeps['steps']} steps ({best['way']}; target "
                     f"<= {SWEEP_SECONDS:.0f} s)")  # fmt: skip
    else:
        lines.append("FAIL signature sweep x 10,000 steps: not measured (no signature row in sweep_gpu.json)")
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
    lines = verdicts(_read(folder / "packs_gpu.json"), _read(folder / "sweep_gpu.json"))
    print("\n".join(lines))
    return 0 if all(line.startswith("PASS") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
