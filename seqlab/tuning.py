"""Process tuning for training: applied where training starts (`seqlab.run`'s task, the benchmark), never on import.

- PyTorch backs large CPU allocations with transparent huge pages (`THP_MEM_ALLOC_ENABLE=1`, unless set): a long
  sequence's saved states are 100s of MB, allocated and freed every step, and the page faults cost ~30% of a step
  at L = 450. PyTorch reads the variable at its first allocation of 2 MB or more (torch 2.13, measured), so this
  must run before that, not necessarily before `import torch`.
- glibc serves allocations up to 32 MB from the heap and keeps freed heap memory (`mallopt`, unless
  MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set): the states each step allocates are reused instead
  of mapped, faulted in and unmapped every step (RNN at L = 100: 12.7 -> 9.6 ms per step). The process keeps
  its peak heap.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys


@functools.cache
def tune_process() -> None:
    """Apply both settings to this process (once; explicit environment settings win)."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if not sys.platform.startswith("linux") or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's largest accepted value
    mallopt(m_trim_threshold, 2**31 - 1)
