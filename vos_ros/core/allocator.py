"""Process-wide malloc settings for CPU tracking: keep freed memory instead of handing it back.

Every frame allocates the same large tensors again (feature maps, the P x N affinity: 31 MB in
bf16 and 61 MB in fp32 at 854x480). glibc serves blocks over its mmap threshold with fresh mmaps
and returns the top of the heap to the system when it is freed, so each step touched tens of MB of
new pages: 14,000-70,000 minor page faults per step at 854x480 (bf16 / fp32, one object), all gone
with the two settings below. PyTorch's CPU tuning guide reaches the same end by preloading jemalloc
or tcmalloc; glibc's own `mallopt` needs no extra library. The process then keeps its peak heap
(what the next step needs anyway) rather than shrinking between frames.

Entry points (the ``vos-ros`` command, the ROS nodes) call `retain_freed_memory` once;
``VOS_ROS_RETAIN_FREED_MEMORY=0`` leaves malloc as it is (for A/B timing).
"""
from __future__ import annotations

import ctypes
import os
import platform

# glibc <malloc.h> parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
ENV_SWITCH = "VOS_ROS_RETAIN_FREED_MEMORY"


def retain_freed_memory() -> bool:
    """Never trim the heap and serve every block from it (no per-block mmap). True when applied:
    glibc only, and not switched off by ``VOS_ROS_RETAIN_FREED_MEMORY=0``."""
    if os.environ.get(ENV_SWITCH, "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success
    return bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)) and bool(libc.mallopt(M_MMAP_MAX, 0))
