"""Training-speed benchmark: seqlab's fast path vs the plain reference, and vs this machine's matmul rate.

    python -m seqlab.bench [--models rnn,lstm,gru,rrn] [--lengths 10,100,450] [--out bench_results/bench.json]

Per model x length x encoding: training steps/s of the fast path (fused kernels / hand-written backward,
on-device vectorised data, foreach optimizer) and of the reference (one nn.Parameter per matrix, a Python
loop over time, autograd, a per-sample palindrome Dataset behind a DataLoader, torch.optim), their ratio,
the fast path's GFLOP/s (forward + backward matmul FLOPs) and its share of the fp32 matmul rate measured
here in the same run; plus a run's fixed start-up cost. Ratios come from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from seqlab.data.palindrome import TRAIN_STREAM, PalindromeDataset, palindrome_batch, stream_generator
from seqlab.models import build_model, reference_twin
from seqlab.models.base import input_size
from seqlab.optim import build_optimizer
from seqlab.train import select_device, training_step

GATES = {"rnn": 1, "lstm": 4, "gru": 3, "rrn": 2}
TARGET_RATIO = {10: 4.0, 100: 2.5}
RMSPROP = OmegaConf.create({"name": "rmsprop", "lr": 1e-3, "weight_decay": 0.0, "alpha": 0.99})


def step_flops(model: str, length: int, hidden: int, batch: int, encoding: str) -> float:
    """Matmul FLOPs of one training step: input and recurrent projections over L-1 steps, the head; x3 for backward."""
    rows = GATES[model] * hidden
    forward = 2 * batch * (length - 1) * rows * (input_size(encoding) + hidden) + 2 * batch * hidden * 10
    return 3.0 * forward


def matmul_gflops(device: torch.device, size: int = 1024, seconds: float = 1.0) -> float:
    """fp32 GEMM rate (GFLOP/s) of this device at the current thread count."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return 2 * size**3 * _rate(lambda: torch.mm(a, b), device, seconds) / 1e9


def _rate(step: Callable[[], object], device: torch.device, seconds: float, warmup: int = 3) -> float:
    """Calls per second of `step`, timed for about `seconds` after `warmup` calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        if calls % 2 == 0 or calls < 4:
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and calls >= 3:
                return calls / elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fast_rate(model: str, length: int, hidden: int, batch: int, encoding: str, device: torch.device, seconds: float):
    net = build_model(model, hidden, 1, encoding).to(device)
    optimizer = build_optimizer(net.parameters(), RMSPROP)
    generator = stream_generator(0, TRAIN_STREAM, device)

    def step() -> None:
        training_step(net, optimizer, *palindrome_batch(length, batch, generator, device), 10.0)

    return _rate(step, device, seconds), net


def reference_rate(fast_net, model: str, length: int, batch: int, device: torch.device, seconds: float) -> float:
    net = reference_twin(fast_net, model)
    optimizer = torch.optim.RMSprop(net.parameters(), lr=1e-3)
    loader = DataLoader(PalindromeDataset(length, size=10**9, seed=0), batch_size=batch)
    batches: Iterator = iter(loader)

    def step() -> None:
        inputs, targets = next(batches)
        training_step(net, optimizer, inputs.to(device), targets.to(device), 10.0)

    return _rate(step, device, seconds, warmup=1)


def startup_seconds(repeats: int = 3) -> float:
    """Median wall time of `python -m seqlab.run train.max_steps=0` (start, imports, composition, one tiny eval)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tic = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "seqlab.run", "train.max_steps=0", "eval.batches=1", f"hydra.run.dir={tmp}"],
                check=True, capture_output=True, cwd=Path(__file__).resolve().parent.parent,
            )  # fmt: skip
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="rnn,lstm,gru,rrn")
    parser.add_argument("--lengths", default="10,100,450")
    parser.add_argument("--encodings", default="scalar,onehot")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing budget per measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-reference", action="store_true", help="time the fast path only")
    parser.add_argument("--out", type=Path, default=Path("bench_results/bench.json"))
    args = parser.parse_args(argv)
    device = select_device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    peak = matmul_gflops(device)
    print(f"device {device}, {torch.get_num_threads()} threads, fp32 matmul {peak:.1f} GFLOP/s (1024^3 GEMM)")
    header = f"{'model':5} {'L':>4} {'enc':6} {'fast st/s':>10} {'ref st/s':>9} {'ratio':>6} {'GFLOP/s':>8} {'% mm':>5}"
    print(header)
    rows = []
    for model in args.models.split(","):
        for length in map(int, args.lengths.split(",")):
            for encoding in args.encodings.split(","):
                torch.manual_seed(0)
                fast, net = fast_rate(model, length, args.hidden, args.batch, encoding, device, args.seconds)
                ref = (
                    None
                    if args.skip_reference
                    else reference_rate(net, model, length, args.batch, device, args.seconds)
                )
                gflops = fast * step_flops(model, length, args.hidden, args.batch, encoding) / 1e9
                row = {"model": model, "length": length, "encoding": encoding, "fast_steps_per_s": fast,
                       "reference_steps_per_s": ref, "ratio": fast / ref if ref else None, "gflops": gflops,
                       "percent_of_matmul": 100 * gflops / peak, "target_ratio": TARGET_RATIO.get(length)}  # fmt: skip
                rows.append(row)
                ratio = f"{row['ratio']:6.1f}" if ref else "     -"
                print(f"{model:5} {length:4d} {encoding:6} {fast:10.1f} {ref or 0:9.2f} {ratio} {gflops:8.1f} "
                      f"{row['percent_of_matmul']:5.1f}", flush=True)  # fmt: skip
    startup = startup_seconds()
    print(f"fixed cost of a run (python -m seqlab.run train.max_steps=0, median of 3): {startup:.2f} s (target <= 2 s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
              "matmul_gflops": peak, "hidden": args.hidden, "batch": args.batch, "startup_s": startup,
              "rows": rows}  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
