"""seqlab: measure how far back recurrent networks remember, on the palindrome task."""

import ctypes
import os
import sys

# Back PyTorch's large CPU allocations (a long sequence's saved states are 100s of MB, allocated and freed
# every step) with transparent huge pages: ~500x fewer page faults, ~30% faster training steps at L = 450.
# It must be set before torch allocates its first tensor; an explicit setting of the variable wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


def _reuse_freed_memory() -> None:
    """glibc: serve allocations up to 32 MB from the heap and keep freed heap memory, so the states that each
    training step allocates and frees are reused instead of mapped, faulted in and unmapped every step (RNN at
    L = 100: ~25% faster steps). Explicit MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ settings win."""
    if not sys.platform.startswith("linux") or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's largest accepted value
    mallopt(m_trim_threshold, 2**31 - 1)


_reuse_freed_memory()

__version__ = "0.1.0"
