"""keep_freed_memory: a CPU step's freed activations are reused instead of being faulted in afresh each step."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, torch
from ssal.engine.host_memory import keep_freed_memory
applied = keep_freed_memory()
torch.ones(10_000_000).sum()  # warm up: the first allocation faults its pages in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # the same 40 MB activation, allocated and freed step after step
    torch.ones(10_000_000).sum()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(keep: bool) -> tuple[bool, int]:
    env = {**os.environ, "SSAL_KEEP_FREED_MEMORY": "1" if keep else "0"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_repeated_large_allocations_reuse_their_pages_and_the_switch_turns_it_off():
    applied, kept = _faults(keep=True)
    off, returned = _faults(keep=False)
    assert applied and not off
    assert returned > 20 * 5_000  # each 40 MB allocation faulted in again: ~10,000 pages
    assert kept < returned / 10
