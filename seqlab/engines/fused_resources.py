"""The fused kernels' resource check: compile every configuration the engine can launch for sm_80 and sm_90,
ahead of time on any machine (Triton compiles for a named target without a GPU), and record what ptxas reports.

    python -m seqlab.engines.fused_resources            # write seqlab/engines/fused_resources.json (a minute or two)

Each row: the target, cell, kernel (forward, backward), the launch configuration, the shared memory the program
asks for (Triton's allocation, bytes), and ptxas's registers a thread and spilled bytes a thread. The record
carries the kernels' source hash and Triton's version; `tests/test_fused_resources.py` fails when the record is
stale, when a configuration `launch_config` can pick is missing from it, or when one overflows without the
engine falling back (`fused_config.launch_config` says why).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path

from seqlab.engines.fused_config import RECORD, SHARED_MEMORY, LaunchConfig, configurations, overflow
from seqlab.models import CELLS, cell

KERNELS = ("forward", "backward")
SOURCE = Path(__file__).with_name("triton_recurrence.py")


def source_hash() -> str:
    """The kernels' source (triton_recurrence.py from its first @triton.jit to the autograd Function that launches
    them), hashed: a record of another source is stale. Read as text, so it is the same under the interpreter."""
    text = SOURCE.read_text()
    kernels = text[text.index("@triton.jit") : text.index("class TritonRecurrence")]
    return hashlib.sha256(kernels.encode()).hexdigest()[:16]


def fused_cells() -> list[str]:
    return [name for name in CELLS if cell(name).fused_kernel is not None]


def signature(kernel) -> dict[str, str]:  # noqa: ANN001 - a triton.JITFunction
    """The kernel's argument types: fp32 pointers, the lengths' int32 pointer, int32 scalars, constexprs."""

    def kind(name: str) -> str:
        if name == "len_ptr":
            return "*i32"
        if name.endswith("_ptr"):
            return "*fp32"
        return "constexpr" if name in ("CELL", "G") or name.startswith("BLOCK_") else "i32"

    return {name: kind(name) for name in kernel.arg_names}


def compiled(name: str, kernel: str, config: LaunchConfig, target: str) -> dict:
    """One row: `kernel` of cell `name` compiled as `config` for `target` ("sm_80", "sm_90")."""
    os.environ["TRITON_ALWAYS_COMPILE"] = "1"  # ptxas's report comes from a compile, never from Triton's cache
    os.environ["TRITON_DUMP_PTXAS_LOG"] = "1"
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, stated
    import triton  # noqa: PLC0415 - an optional dependency
    from triton.backends.compiler import GPUTarget  # noqa: PLC0415
    from triton.compiler import ASTSource  # noqa: PLC0415

    from seqlab.engines import triton_recurrence  # noqa: PLC0415

    fn = triton_recurrence._forward if kernel == "forward" else triton_recurrence._backward
    constexprs = {"CELL": triton_recurrence.kernel_of(name), "G": triton_recurrence.gates_of(name),
                  **config.constexprs()}  # fmt: skip
    options = {key: constexprs.pop(key) for key in ("num_warps", "num_stages")}
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        binary = triton.compile(ASTSource(fn, signature(fn), constexprs=constexprs),
                                target=GPUTarget("cuda", int(target[3:]), 32), options=options)  # fmt: skip
    report = log.getvalue()
    registers = re.search(r"Used (\d+) registers", report)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)
    if registers is None or spills is None:
        raise RuntimeError(f"ptxas reported no registers or spills for {name} {kernel} {config}")
    return {"target": target, "cell": name, "kernel": kernel, **asdict(config), "shared": binary.metadata.shared,
            "registers": int(registers.group(1)), "spill_bytes": max(map(int, spills.groups()))}  # fmt: skip


def measure(progress: bool = True) -> dict:
    """The record: every fused cell's kernels x every configuration x sm_80 and sm_90."""
    import triton  # noqa: PLC0415

    rows = []
    for target in SHARED_MEMORY:
        for name in fused_cells():
            for kernel in KERNELS:
                for config in configurations():
                    rows.append(compiled(name, kernel, config, target))
                    if progress:
                        print(" ".join(str(v) for v in rows[-1].values()), file=sys.stderr, flush=True)
    return {"triton": triton.__version__, "source": source_hash(), "kernels": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RECORD, help="where to write the record (default: %(default)s)")
    args = parser.parse_args(argv)
    result = measure()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    over = [(row, why) for row in result["kernels"] if (why := overflow(row))]
    print(f"{len(result['kernels'])} kernels compiled, {len(over)} over a limit; wrote {args.out}")
    for row, why in over:
        print(f"  {row['target']} {row['cell']} {row['kernel']} {row['block_b']}x{row['block_n']}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
