"""seqlab's C++ CPU kernels (recurrent.cpp), compiled once per torch version, CPU capability and source.

    python -m seqlab.kernels        # build (about 15 s) or find them, and say where they are

The compiled library is cached under $SEQLAB_KERNELS_DIR (default ~/.cache/seqlab/kernels); a run loads
it in milliseconds and builds it on first use if `scripts/setup.sh` has not. Each build compiles in a
private temporary folder and is moved into the cache in one rename, so concurrent runs never see a
half-written library and no lock can go stale. Without a C++ compiler, `model.impl=auto` runs PyTorch's own
kernels (`fused`) and records why; `model.impl=fast` stops with the reason.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("recurrent.cpp")
LIBRARY = "seqlab_recurrent"
# instruction sets per torch CPU capability: a cache shared by different machines never crosses them
CPU_FLAGS = {
    "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
    "AVX2": ["-mavx2", "-mfma"],
}
log = logging.getLogger(__name__)


def cache_root() -> Path:
    """Where compiled kernels are kept."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqlab" / "kernels"
    return Path(os.environ.get("SEQLAB_KERNELS_DIR", default))


def library_path() -> Path:
    """The compiled library for this torch, this CPU capability and this source."""
    capability = torch.backends.cpu.get_cpu_capability()
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return cache_root() / f"torch{torch.__version__}-{capability}-{digest}" / f"{LIBRARY}.so"


def build(target: Path) -> None:
    """Compile recurrent.cpp into `target` (raises on compiler errors)."""
    from torch.utils.cpp_extension import load  # imported here: ~0.2 s that runs with cached kernels skip

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        load(
            name=LIBRARY, sources=[str(SOURCE)], build_directory=scratch, is_python_module=False, verbose=False,
            extra_cflags=["-O3", "-fopenmp", *CPU_FLAGS.get(torch.backends.cpu.get_cpu_capability(), [])],
            extra_ldflags=["-fopenmp"],
        )  # fmt: skip
        os.replace(Path(scratch) / f"{LIBRARY}.so", target)


@functools.cache
def load() -> str | None:
    """Load the kernels (building them first if needed); None on success, else why they are unavailable."""
    target = library_path()
    try:
        if target.exists():
            torch.ops.load_library(str(target))
        else:
            log.info("compiling seqlab's CPU kernels into %s (once per machine type, ~15 s)", target)
            build(target)  # torch's load() has registered the ops already
    except Exception as error:  # no compiler, no headers, a foreign CPU: the fused fallback still works
        first_line = next(iter(str(error).strip().splitlines()), "")
        reason = f"{type(error).__name__}: {first_line}"
        log.info("seqlab's CPU kernels are unavailable (%s)", reason)
        return reason
    return None


def available() -> bool:
    """True when the native CPU kernels are loaded (built on first call if needed)."""
    return load() is None


def main() -> int:
    reason = load()
    if reason:
        print(f"seqlab kernels: unavailable: {reason}", file=sys.stderr)
        return 1
    print(f"seqlab kernels: {library_path()}")
    return 0
