"""glibc malloc settings for training on a CPU.

By default glibc hands a freed block at the top of the heap back to the system once more
than ``M_TRIM_THRESHOLD`` is free, and serves blocks above a (self-adjusting)
``M_MMAP_THRESHOLD`` with fresh ``mmap`` pages. A training step allocates and frees
activation-sized tensors (MBs) every step, so the next step faults the same pages in again:
on a 2-core CPU machine (2 threads) a ResNet-32 step of a look-ahead method spent
up to a fifth of its time in page faults, more than plain training (allocation order
decides how much). ``tune()`` keeps blocks up to 32 MiB (glibc's largest mmap threshold)
on the heap and freed memory in the process for reuse, so the peak resident size is what
it was and later steps reuse it. Both settings are needed: a fixed trim threshold alone
also freezes the mmap threshold at 128 KiB, and every tensor becomes a fresh mapping.

The same effect as starting Python with MALLOC_MMAP_THRESHOLD_=33554432 and
MALLOC_TRIM_THRESHOLD_=1073741824. No-op (False) where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20                     # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 1 << 30


@functools.cache
def tune() -> bool:
    """Apply the settings once per process; True where they took effect."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only (musl and others have no such symbol)
    except (OSError, AttributeError):
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
