"""retain_freed_memory: a large block allocated again and again stops costing page faults."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from vos_ros.core.allocator import ENV_SWITCH

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")

# Allocates, touches and frees a 64 MB tensor (the size of the fp32 affinity at 854x480) again and
# again, and prints what retain_freed_memory returned and the minor page faults of the last ten rounds
# (torch allocates aligned blocks, for which glibc's heap takes a few rounds to settle).
PROBE = """
import json, resource, torch
from vos_ros.core.allocator import retain_freed_memory
applied = retain_freed_memory()
for _ in range(10):  # first touches: faults either way
    torch.ones(16 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(16 << 20)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""
PAGES_PER_BLOCK = (64 << 20) // 4096


def probe(switch: str) -> dict:
    env = {**os.environ, ENV_SWITCH: switch}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_retained_memory_is_reused_without_page_faults() -> None:
    on, off = probe("1"), probe("0")
    assert on["applied"] and not off["applied"]
    # malloc's default mmaps each 64 MB block anew: every round faults all its pages in again
    assert off["faults"] > 5 * PAGES_PER_BLOCK
    assert on["faults"] < PAGES_PER_BLOCK // 2
