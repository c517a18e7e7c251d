"""seqlab: measure how far back recurrent networks remember, on the palindrome task."""

import os

# Back PyTorch's large CPU allocations (a long sequence's saved states are 100s of MB, allocated and freed
# every step) with transparent huge pages: ~500x fewer page faults, ~30% faster training steps at L = 450.
# It must be set before torch allocates its first tensor; an explicit setting of the variable wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
