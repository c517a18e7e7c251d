"""Training-speed benchmark: seqlab's fast path vs the plain reference, and vs this machine's matmul rate.

    python -m seqlab.bench [--models rnn,lstm,gru,rrn] [--lengths 10,100,450] [--out bench_results/bench.json]
    python -m seqlab.bench --sweep ...   (a whole sweep, one process per run vs packed: seqlab/bench_sweep.py)
    python -m seqlab.bench --tracking    (what TensorBoard and MLflow logging add to a step: seqlab/bench_tracking.py)

Per model x length x encoding: training steps/s of the fast path (seqlab's C++ recurrences on CPU, fused
cuDNN kernels on GPU, on-device vectorised data, an optimizer over one flat buffer) and of the reference
(one nn.Parameter per matrix, a Python loop over time, autograd, a per-sample palindrome Dataset behind a
DataLoader, torch.optim and torch's clipping), measured alternately with a 1024^3 fp32 GEMM in rounds
(medians; the ratio is the median of per-round ratios); the fast path's GFLOP/s (forward + backward matmul
FLOPs) and its share of the GEMM rate; the ceiling on the ratio that doing the step's matmul FLOPs at that
GEMM rate, and nothing else, would give; on CPU, the speed-up that the C++ recurrence alone reaches (forward and
backward, without data, head, loss, autograd or optimizer: what no change outside the kernels can go past);
plus a run's fixed start-up cost. One run, one machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from seqlab.bench_sweep import main as sweep_main
from seqlab.bench_sweep import write_report
from seqlab.bench_tracking import main as tracking_main
from seqlab.data.palindrome import NUM_DIGITS, palindrome_batch
from seqlab.data.streams import TRAIN_STREAM, stream_generator
from seqlab.loop import select_device, training_step
from seqlab.models import CELLS, build_model, reference_twin
from seqlab.models.base import SequenceClassifier, input_size
from seqlab.optim import build_optimizer
from seqlab.tuning import tune_process

TARGET_RATIO = {10: 4.0, 100: 2.5}
# printed column -> (row key, decimals)
COLUMNS = {"fast st/s": ("fast_steps_per_s", 1), "ref st/s": ("reference_steps_per_s", 2), "ratio": ("ratio", 1),
           "kernels x": ("kernel_ratio", 1), "ceiling": ("ratio_ceiling", 1), "GFLOP/s": ("gflops", 1),
           "mm GF/s": ("matmul_gflops", 1), "% mm": ("percent_of_matmul", 1)}  # fmt: skip
RMSPROP = OmegaConf.create({"name": "rmsprop", "lr": 1e-3, "weight_decay": 0.0, "alpha": 0.99})


def step_flops(model: str, length: int, hidden: int, batch: int, encoding: str) -> float:
    """Matmul FLOPs of one training step: input and recurrent projections over L-1 steps, the head; x3 for backward."""
    rows = len(CELLS[model].gates) * hidden
    forward = 2 * batch * (length - 1) * rows * (input_size(encoding, NUM_DIGITS) + hidden) + 2 * batch * hidden * 10
    return 3.0 * forward


def matmul_step(device: torch.device, size: int = 1024) -> tuple[Callable[[], object], float]:
    """(one fp32 GEMM of size^3 on `device`, its FLOPs): the yardstick of the matmul rate."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return (lambda: torch.mm(a, b)), 2.0 * size**3


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


def fast_step(model: str, length: int, hidden: int, batch: int, encoding: str, device: torch.device):
    """(one fast training step, its model): seqlab's model and optimizer, on-device vectorised data."""
    net = build_model(model, hidden, 1, encoding).to(device)
    optimizer = build_optimizer(net.parameters(), RMSPROP)
    generator = stream_generator(0, TRAIN_STREAM, device)

    def step() -> None:
        training_step(net, optimizer, *palindrome_batch(length, batch, generator, device), 10.0)

    return step, net


def recurrence_step(
    net: SequenceClassifier, length: int, batch: int, device: torch.device
) -> Callable[[], None] | None:
    """The C++ recurrence of a one-layer fast `net` alone, forward and backward of h_T over one fixed batch;
    None where a fast step does not run it (GPU, no compiler)."""
    core = net.core
    if core.num_layers != 1 or not core.runs_native(device):
        return None
    digits = palindrome_batch(length, batch, stream_generator(0, TRAIN_STREAM, device), device)[0].t()  # (T, B)
    p = {name: value.detach() for name, value in core.layer(0).items()}
    table, b_hh = core.symbol_table().detach(), p.get("b_hh")
    grad_last = torch.ones(batch, core.hidden_size, device=device)

    def step() -> None:
        saved = torch.ops.seqlab.recurrent_forward(core.cell, table, digits, p["w_hh"], b_hh)
        torch.ops.seqlab.recurrent_backward(core.cell, grad_last, table, digits, p["w_hh"], b_hh, saved)

    return step


class PalindromeDataset(Dataset):
    """One palindrome per item, the way the course template generated them: the benchmark's baseline."""

    def __init__(self, length: int, size: int, seed: int) -> None:
        self.length, self.size = length, size
        self.generator = stream_generator(seed, TRAIN_STREAM)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        half = torch.randint(0, NUM_DIGITS, ((self.length + 1) // 2,), generator=self.generator)
        full = torch.cat([half, half[: self.length // 2].flip(0)])
        return full[:-1], full[-1]


class ReferenceRMSprop(torch.optim.RMSprop):
    """The reference's optimizer: torch.optim's RMSprop (per-parameter loops on the CPU) and torch's clipping,
    behind the interface that `training_step` calls (zero_grad, clip_grad_norm, step)."""

    def clip_grad_norm(self, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(self.param_groups[0]["params"], max_norm)


def reference_step(fast_net, model: str, length: int, batch: int, device: torch.device) -> Callable[[], None]:
    """One reference training step: per-gate parameters, per-sample Dataset + DataLoader, torch.optim."""
    net = reference_twin(fast_net, model)
    optimizer = ReferenceRMSprop(net.parameters(), lr=1e-3)
    loader = DataLoader(PalindromeDataset(length, size=10**9, seed=0), batch_size=batch)
    batches: Iterator = iter(loader)

    def step() -> None:
        inputs, targets = next(batches)
        training_step(net, optimizer, inputs.to(device), targets.to(device), 10.0)

    return step


def summarise(rates: dict[str, list[float]], gemm_flops: float, flops: float) -> dict[str, float | None]:
    """One table row from the per-round rates (calls/s) of "matmul", "fast" and, where timed, "kernels" and
    "reference": medians, and speed-ups as medians of per-round ratios."""
    median = {name: statistics.median(measured) for name, measured in rates.items()}

    def speedup(name: str) -> float | None:
        if name not in rates or "reference" not in rates:
            return None
        return statistics.median(a / r for a, r in zip(rates[name], rates["reference"], strict=True))

    peak = median["matmul"] * gemm_flops / 1e9
    gflops = median["fast"] * flops / 1e9
    reference = median.get("reference")
    return {"fast_steps_per_s": median["fast"], "reference_steps_per_s": reference, "ratio": speedup("fast"),
            "kernel_steps_per_s": median.get("kernels"), "kernel_ratio": speedup("kernels"),
            "ratio_ceiling": peak * 1e9 / (flops * reference) if reference else None, "gflops": gflops,
            "matmul_gflops": peak, "percent_of_matmul": 100 * gflops / peak}  # fmt: skip


def table_line(row: dict) -> str:
    """A row as printed: model, length, encoding, then COLUMNS ('-' where not measured)."""
    cells = [f"{'-':>9}" if row[key] is None else f"{row[key]:9.{digits}f}" for key, digits in COLUMNS.values()]
    return f"{row['model']:5} {row['length']:4d} {row['encoding']:6} " + " ".join(cells)


def interleaved_rates(
    steps: list[Callable[[], None]], device: torch.device, seconds: float, rounds: int
) -> list[list[float]]:
    """Steps/s of each of `steps`, measured in turn `rounds` times, so slow drifts of the machine hit all alike."""
    rates: list[list[float]] = [[] for _ in steps]
    for _ in range(rounds):
        for step, measured in zip(steps, rates, strict=True):
            measured.append(_rate(step, device, seconds / rounds, warmup=1))
    return rates


def startup_seconds(repeats: int = 5) -> tuple[float, float]:
    """Median wall times of `python -m seqlab.run train.max_steps=0` (start, imports, composition, one tiny eval)
    and, alternating with it, of `python -c "import torch"`, the part no seqlab code can shorten."""
    run, torch_import = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            for command, times in (
                (["-m", "seqlab.run", "train.max_steps=0", "eval.batches=1", f"hydra.run.dir={tmp}"], run),
                (["-c", "import torch"], torch_import),
            ):
                tic = time.perf_counter()
                subprocess.run(
                    [sys.executable, *command], check=True, capture_output=True, cwd=Path(__file__).parents[1]
                )
                times.append(time.perf_counter() - tic)
    return statistics.median(run), statistics.median(torch_import)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--sweep" in argv:  # the sweep benchmark: seqlab/bench_sweep.py
        return sweep_main([a for a in argv if a != "--sweep"])
    if "--tracking" in argv:  # what live tracking costs a step: seqlab/bench_tracking.py
        return tracking_main([a for a in argv if a != "--tracking"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="rnn,lstm,gru,rrn")
    parser.add_argument("--lengths", default="10,100,450")
    parser.add_argument("--encodings", default="scalar,onehot")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=1.5, help="timing budget per path and configuration")
    parser.add_argument("--rounds", type=int, default=3, help="alternating fast/reference measurements; medians")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-reference", action="store_true", help="time the fast path only")
    parser.add_argument("--out", type=Path, default=Path("bench_results/bench.json"))
    args = parser.parse_args(argv)
    tune_process()  # timed steps run in a process tuned as a run's is
    device = select_device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    gemm_step, gemm_flops = matmul_step(device)
    print(f"device {device}, {torch.get_num_threads()} threads; the fp32 matmul rate (1024^3 GEMM) is measured in")
    print("the same rounds as each row ('mm GF/s'); '% mm' is the fast path's GFLOP/s as a share of it")
    print("'ceiling': the ratio a step doing only its matmul FLOPs at that rate would reach against the reference")
    print("'kernels x': the ratio of the C++ recurrence alone (forward + backward, CPU) to the reference's whole step")
    print(f"{'model':5} {'L':>4} {'enc':6} " + " ".join(f"{c:>9}" for c in COLUMNS))
    rows = []
    for model in args.models.split(","):
        for length in map(int, args.lengths.split(",")):
            for encoding in args.encodings.split(","):
                torch.manual_seed(0)
                step, net = fast_step(model, length, args.hidden, args.batch, encoding, device)
                steps = {"matmul": gemm_step, "fast": step, "kernels": recurrence_step(net, length, args.batch, device)}
                if not args.skip_reference:
                    steps["reference"] = reference_step(net, model, length, args.batch, device)
                steps = {name: call for name, call in steps.items() if call}
                measured = interleaved_rates(list(steps.values()), device, args.seconds, args.rounds)
                rates = dict(zip(steps, measured, strict=True))
                flops = step_flops(model, length, args.hidden, args.batch, encoding)
                row = summarise(rates, gemm_flops, flops)
                rows.append({"model": model, "length": length, "encoding": encoding, **row,
                             "target_ratio": TARGET_RATIO.get(length)})  # fmt: skip
                print(table_line(rows[-1]), flush=True)
    startup, torch_import = startup_seconds()
    print(
        f"fixed cost of a run (python -m seqlab.run train.max_steps=0, median of 5): {startup:.2f} s (target <= 2 s);"
    )
    print(f"of which `import torch` alone takes {torch_import:.2f} s (median of 5, alternating)")
    write_report(args.out, {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
                            "hidden": args.hidden, "batch": args.batch, "startup_s": startup,
                            "import_torch_s": torch_import, "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
