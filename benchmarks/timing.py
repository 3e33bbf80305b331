"""Whole-process timing for the benchmarks: wall time, CPU time (user + sys) and peak resident memory of a
command, from the kernel's resource usage of the finished child (``wait4``), so a peer tool (plink2, bcftools)
and our Python process are measured the same way, start-up and imports included. The command is started by a
small launcher process (a bare interpreter): a child forked from this benchmark process would carry its memory
high-water mark across ``exec``. The process tree is also sampled every 20 ms (psutil): a child its parent
never waits for (Hail's JVM) is counted through the samples.

Example
-------
>>> run = measure(["true"], repeats=1)
>>> run.wall < 5 and run.cpu < 5
True
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PY = sys.executable
GIB = 1 << 30
_LAUNCHER = ("import os, sys\n"
             "pid = os.fork()\n"
             "if pid == 0:\n"
             "    os.execvp(sys.argv[2], sys.argv[2:])\n"
             "_, status, ru = os.wait4(pid, 0)\n"
             "open(sys.argv[1], 'w').write(f'{ru.ru_utime} {ru.ru_stime} {ru.ru_maxrss}')\n"
             "sys.exit(os.waitstatus_to_exitcode(status))\n")


@dataclass
class Run:
    """Best wall time and best CPU time (s) over the repeats of one command, its largest peak RSS (bytes), and
    ``work_wall``/``work_cpu``: the best times of the work alone (after imports) where the process printed
    them (``WORK <wall> <cpu>``)."""

    wall: float
    cpu: float
    peak: int
    work_wall: float = float("nan")
    work_cpu: float = float("nan")


def _tree_sampler(pid: int, stop: threading.Event, state: dict[str, float]) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    cpu_seen: dict[int, float] = {}
    while not stop.is_set():
        try:
            procs = root.children(recursive=True)  # not the launcher itself
        except psutil.NoSuchProcess:
            break
        rss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
                t = p.cpu_times()
                # its own time only: a waited-for child's time is already its own entry here (and in the
                # launcher's rusage), so adding children_* would count it twice
                cpu_seen[p.pid] = t.user + t.system
            except psutil.NoSuchProcess:
                continue
        state["peak"] = max(state["peak"], rss)
        state["cpu"] = sum(cpu_seen.values())
        stop.wait(0.02)


def measure(cmd: list[str], repeats: int = 1, before: Callable[[], None] | None = None,
            env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` ``repeats`` times (``before()`` ahead of each): wall, CPU and peak RSS from ``wait4``.

    CPU and peak RSS include the descendants the command waited for (``bcftools`` under our BCF reader), or
    the sampled process tree where that is more.
    """
    best = Run(float("inf"), float("inf"), 0)
    for _ in range(repeats):
        if before:
            before()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.NamedTemporaryFile(mode="r") as usage_file:
            state = {"peak": 0.0, "cpu": 0.0}
            stop = threading.Event()
            start = time.perf_counter()
            proc = subprocess.Popen([PY, "-S", "-c", _LAUNCHER, usage_file.name, *cmd], stdout=out, stderr=err,
                                    env=env)
            sampler = threading.Thread(target=_tree_sampler, args=(proc.pid, stop, state), daemon=True)
            sampler.start()
            proc.wait()
            wall = time.perf_counter() - start
            stop.set()
            sampler.join()
            out.seek(0)
            err.seek(0)
            text, errors = out.read().decode(errors="replace"), err.read().decode(errors="replace")
            usage = usage_file.read().split()
        if proc.returncode != 0 or len(usage) != 3:
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)[:300]}\n{errors[-3000:]}")
        cpu = max(float(usage[0]) + float(usage[1]), state["cpu"])
        peak = max(int(usage[2]) * 1024, int(state["peak"]))
        work = [line.split() for line in text.splitlines() if line.startswith("WORK ")]
        ww, wc = (float(work[-1][1]), float(work[-1][2])) if work else (float("nan"), float("nan"))
        best = Run(min(best.wall, wall), min(best.cpu, cpu), max(best.peak, peak),
                   _nan_min(best.work_wall, ww), _nan_min(best.work_cpu, wc))
    return best


def _nan_min(a: float, b: float) -> float:
    return b if np.isnan(a) else a if np.isnan(b) else min(a, b)


def timed_work(imports: str, work: str) -> str:
    """Python code that runs ``imports``, then ``work`` and prints ``WORK <wall> <cpu>`` of the work alone."""
    return (f"import os, time; {imports}; t0, c0 = time.perf_counter(), sum(os.times()[:2]); {work}; "
            f"print('WORK', time.perf_counter() - t0, sum(os.times()[:2]) - c0)")


def python(code: str) -> list[str]:
    """A command running ``code`` in this interpreter."""
    return [PY, "-c", code]


def env_for(path: str | None) -> dict[str, str] | None:
    """The environment for a Python process that imports ``pmo_workbench`` from ``path`` (a baseline copy of
    the package) instead of this checkout; None for this checkout."""
    if not path:
        return None
    # PYTHONSAFEPATH: ``python -c`` puts the working directory first on sys.path, ahead of PYTHONPATH; run from
    # the project root, the "baseline" would import this checkout's package
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")])),
                PYTHONSAFEPATH="1")


def load_note() -> str:
    """The 1-, 5- and 15-minute load averages and the CPUs this process may use."""
    one, five, fifteen = os.getloadavg()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {cpus} CPUs"
