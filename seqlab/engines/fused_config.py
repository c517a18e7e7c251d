"""How the fused Triton recurrences are launched for a shape, and whether that launch fits the GPU.

One rule (`candidates`) proposes block sizes, warps and pipeline stages from the batch, hidden size, number of
runs and the GPU's SM count; `fused_resources.json` beside this file records, for every configuration the rule
can propose, what Triton and ptxas compile it to for sm_80 and sm_90 (shared memory, registers, spilled bytes),
written by `python -m seqlab.engines.fused_resources` and checked in CI (`tests/test_fused_resources.py`).
`launch_config` takes the first candidate that fits by the record; a shape where none fits, or none without
spilling, trains on the stacked PyTorch engine instead, and the run's result says why.
Nothing here imports Triton, so the decision is made (and tested) where Triton is absent.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import torch

RECORD = Path(__file__).with_name("fused_resources.json")
HIDDEN_SIZES = (16, 32, 64, 128, 256)  # the widths the resource check compiles (hidden sizes round up to them)
BLOCK_BS = (16, 32)  # batch rows a program owns: tl.dot's smallest tile, and twice it when the grid stays full
WIDE_UP_TO = 64  # the widest state a 32-row program holds without spilling
CHUNK = 8  # the contraction's chunk where Triton allows it: 16 and 32 keep fp32 operands in too many registers
STAGES = (1, 2, 3)  # software-pipelining depths of the chunk loop: the record covers each, `--stages` times each
# The depth launched, process-wide (as torch.backends' switches): 1, the only one measured on a GPU so far (an
# H200, docs/performance.md); `python -m seqlab.bench --sweep --packs --stages 1,2,3` sets each in turn.
pipeline_stages = 1
# Shared memory a program may use (opt-in maximum per block, bytes): A100 (sm_80) and H100/H200 (sm_90)
SHARED_MEMORY = {"sm_80": 166_912, "sm_90": 232_448}


@dataclass(frozen=True)
class LaunchConfig:
    block_b: int  # batch rows of one program
    block_n: int  # hidden units, padded to a power of two: one program holds a whole state row
    block_k: int  # the contraction's chunk: what one tl.dot reads of the state and of the weights at a time
    num_warps: int
    num_stages: int

    def grid(self, runs: int, batch: int) -> tuple[int, int]:
        """One program per run and block of BLOCK_B batch rows."""
        return runs, math.ceil(batch / self.block_b)

    def constexprs(self) -> dict[str, int]:
        """The kernels' launch keywords."""
        return {"BLOCK_B": self.block_b, "BLOCK_N": self.block_n, "BLOCK_K": self.block_k,
                "num_warps": self.num_warps, "num_stages": self.num_stages}  # fmt: skip


def block_n_of(hidden: int) -> int:
    return max(16, 1 << (hidden - 1).bit_length())


@cache
def dot_chunk() -> int:
    """The contraction's chunk: CHUNK, or the shortest fp32 operand the installed Triton's tl.dot takes where that
    is longer (Triton 3.9 takes 8; 3.6, the H200 image's, asks for K >= 16). Imports Triton only when asked: 16,
    which every Triton takes, where it cannot say."""
    try:
        import triton.language as tl
        from triton.backends.compiler import GPUTarget
        from triton.backends.nvidia.compiler import min_dot_size
    except ImportError:
        return 16
    return max(CHUNK, min_dot_size(GPUTarget("cuda", 90, 32))(tl.float32, tl.float32)[2])


def config_for(block_b: int, block_n: int, stages: int = 1) -> LaunchConfig:
    """The launch of a (block_b, block_n) tile: chunks of `dot_chunk()` along the contraction, 8 warps (4 for tiles
    under 1,024 elements), `stages` deep software pipelining of the chunk loop (the time loop is sequential: there
    is nothing to pipeline across it). Chosen from the sm_90 compiles of every cell at block sizes 16/32 x 16..256,
    chunks 8/16 and 4/8 warps (docs/performance.md)."""
    warps = 8 if block_b * block_n >= 1024 else 4
    return LaunchConfig(block_b, block_n, dot_chunk(), num_warps=warps, num_stages=stages)


def candidates(batch: int, hidden: int, runs: int, processors: int = 0, stages: int = 1) -> list[LaunchConfig]:
    """The configurations for `runs` runs of `batch` rows and `hidden` units on a GPU of `processors` SMs (0: not
    known), best first: 32 rows a program up to hidden 64 while that still gives every SM a program, else 16."""
    block_n = block_n_of(hidden)
    wide = block_n <= WIDE_UP_TO and batch > BLOCK_BS[0] and runs * math.ceil(batch / BLOCK_BS[1]) >= processors
    return [config_for(BLOCK_BS[1], block_n, stages)] * wide + [config_for(BLOCK_BS[0], block_n, stages)]


def configurations() -> list[LaunchConfig]:
    """Every configuration `launch_config` can pick for the hidden sizes the resource check covers, at each of
    STAGES."""
    return [config_for(b, n, stages) for stages in STAGES for n in HIDDEN_SIZES for b in BLOCK_BS
            if b == BLOCK_BS[0] or n <= WIDE_UP_TO]  # fmt: skip


@cache
def record() -> dict:
    """The resource check's record (`fused_resources.json`); empty where it has not been written."""
    return json.loads(RECORD.read_text()) if RECORD.exists() else {"kernels": []}


def measured(cell: str, config: LaunchConfig, target: str) -> list[dict]:
    """The record's rows (forward and backward) for `cell` launched as `config` on `target` (sm_80, sm_90)."""
    wanted = {"cell": cell, "target": target, **asdict(config)}
    return [row for row in record()["kernels"] if all(row.get(key) == value for key, value in wanted.items())]


def overflow(row: dict) -> str | None:
    """Why a compiled kernel (a record row) cannot run well on its target: over shared memory, or spilling."""
    limit = SHARED_MEMORY[row["target"]]
    if row["shared"] > limit:
        return f"needs {row['shared']:,} B of shared memory, over {row['target']}'s {limit:,}"
    if row["spill_bytes"]:
        return f"spills {row['spill_bytes']} B a thread to local memory on {row['target']}"
    return None


def launch_config(
    cell: str, batch: int, hidden: int, runs: int, target: str | None = None, processors: int = 0
) -> LaunchConfig | str:  # fmt: skip
    """The launch of `cell` at this shape, `pipeline_stages` deep (see fits)."""
    return fits(cell, batch, hidden, runs, target, processors, pipeline_stages)


@cache
def fits(cell: str, batch: int, hidden: int, runs: int, target: str | None, processors: int,
         stages: int) -> LaunchConfig | str:  # fmt: skip
    """The first candidate whose kernels fit `target` by the record (without spilling, within shared memory), or
    why none does. The interpreter (target None) launches what an H100 would (sm_90); a target or chunk the record
    does not cover (the record is of Triton 3.9's chunk of 8) gets the first candidate. Kept per shape: each
    layer's forward asks at every step."""
    if hidden > HIDDEN_SIZES[-1]:
        return f"the fused kernels are checked up to hidden {HIDDEN_SIZES[-1]}, not model.hidden_size={hidden}"
    why = ""
    for config in candidates(batch, hidden, runs, processors, stages):
        rows = measured(cell, config, target or "sm_90")
        why = next((f"the fused {cell} {row['kernel']} at hidden {hidden} {w}" for row in rows if (w := overflow(row))),
                   "")  # fmt: skip
        if not why:
            return config
    return why


@cache
def device_target(device: torch.device) -> tuple[str | None, int]:
    """The GPU architecture (sm_XY) and SM count of `device`; (None, 0) on the CPU (Triton's interpreter)."""
    if device.type != "cuda":
        return None, 0
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}", torch.cuda.get_device_properties(device).multi_processor_count
