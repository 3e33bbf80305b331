"""The benchmarks' process-tree timer: CPU of nested processes counted once."""

from __future__ import annotations

import sys

from benchmarks.timing import measure

SPIN = "sum(range(60_000_000))"


def test_cpu_of_a_grandchild_is_counted_once() -> None:
    """A parent that waits for a child and lives on afterwards (papermill and its kernel) must not add the
    child's time twice: its children_* times and the child's own sampled entry are the same seconds."""
    alone = measure([sys.executable, "-c", SPIN])
    inner = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {SPIN!r}]); time.sleep(0.4)"
    outer = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {inner!r}])"
    nested = measure([sys.executable, "-c", outer])
    # the nested run does the same work plus two interpreter start-ups (~0.05 s CPU each)
    assert nested.cpu < 1.4 * alone.cpu + 0.3, (alone.cpu, nested.cpu)
    assert nested.cpu > 0.8 * alone.cpu
