"""Execution and supervision: the notebook runs in a killable subprocess (its own session) with a private
kernelspec (the current interpreter under an optional memory limit); the runner waits for it up to the time limit,
watches for a kernel that cannot live under the memory limit, and kills everything the run started.

Examples
--------
>>> launcher_argv(0, "/tmp/k.json")[-2:]
['0', '/tmp/k.json']
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pmo_workbench.catalogue import REPORT_NOTEBOOK
from pmo_workbench.runner.context import Outcome, RunContext
from pmo_workbench.runner.kernel_hook import ERROR_FILE_ENV

MARKER_ENV = "PMO_RUN_MARKER"
MEMORY_MARKER = "memory-exceeded"
"""File the kernel launcher writes into the scratch folder when the kernel cannot start under the memory limit."""
WORKER_MODULE = "pmo_workbench.runner.worker"
_POLL_S = 0.25

_KERNEL_LAUNCHER = (
    "import os, resource, sys\n"
    "lim = int(sys.argv[1])\n"
    "marker = os.path.join(os.environ.get('PMO_RUN_SCRATCH', ''), 'memory-exceeded')\n"
    "if lim > 0:\n"
    "    resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))\n"
    "try:\n"
    "    import runpy\n"
    "    sys.argv = ['ipykernel_launcher', '-f', sys.argv[2],\n"
    "                '--IPKernelApp.exec_lines=import pmo_workbench.runner.kernel_hook as _pmo_hook; "
    "_pmo_hook.install(); del _pmo_hook']\n"
    "    runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)\n"
    "except MemoryError:\n"
    "    if lim > 0 and os.environ.get('PMO_RUN_SCRATCH'):\n"
    "        open(marker, 'w').close()\n"
    "    os._exit(75)\n"
)


def launcher_argv(limit_bytes: int, connection_file: str) -> list[str]:
    """The kernel's command line: this interpreter, the launcher (memory limit, hook), the connection file."""
    return [sys.executable, "-c", _KERNEL_LAUNCHER, str(limit_bytes), connection_file]


def write_kernelspec(scratch: Path, memory_gb: float | None) -> Path:
    """A ``python3`` kernelspec for this interpreter (optionally under a memory limit), in a private JUPYTER_PATH.

    The limit is RLIMIT_DATA (private writable memory: heap, anonymous mmap), inherited by everything the kernel
    starts. RLIMIT_AS would count mere address-space reservations, and a JVM (Hail) then fails to start.
    """
    jupyter_path = scratch / "jupyter"
    spec_dir = jupyter_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    limit = int(memory_gb * 1024**3) if memory_gb else 0
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()  # ipykernel's own spec (display name, metadata such as CurveZMQ support)
    spec["argv"] = launcher_argv(limit, "{connection_file}")
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return jupyter_path


def execute(ctx: RunContext) -> Outcome:
    """Run the notebook of ``ctx`` into ``ctx.work_dir``; never longer than ``ctx.timeout_s``."""
    assert ctx.work_dir is not None and ctx.scratch is not None
    scratch = ctx.scratch
    jupyter_path = write_kernelspec(scratch, ctx.memory_gb)
    job = {
        "input": str(ctx.notebook.resolve()),
        "output": str(ctx.work_dir / REPORT_NOTEBOOK),
        "parameters": ctx.parameters,
        "timeout": ctx.timeout_s,
        "cwd": str(ctx.work_dir),
        "result": str(scratch / "result.json"),
        "progress": ctx.progress,
        # unix sockets need short paths (108 bytes); else fall back to TCP on 127.0.0.1
        "ipc": len(str(scratch / "runtime" / "kernel-00000000-0000-0000-0000-000000000000-ipc-00000")) < 100,
    }
    (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
    marker = uuid.uuid4().hex
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), env.get("JUPYTER_PATH")]))
    env[MARKER_ENV] = marker
    env["PMO_RUN_SCRATCH"] = str(scratch)
    env[ERROR_FILE_ENV] = str(scratch / "kernel_error.json")
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "runtime")  # private (0700): connection file and sockets
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures go into the report
    log_path = scratch / "worker.log"
    memory_flag = scratch / MEMORY_MARKER
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, str(scratch / "job.json")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=None if ctx.progress else log,
            env=env, cwd=ctx.work_dir, start_new_session=True,
        )
        timed_out = memory_exceeded = False
        deadline = time.monotonic() + ctx.timeout_s  # wall clock of the whole run, kernel start-up included
        at_limit = MemoryWatch(proc.pid, ctx.memory_gb)
        try:
            while proc.poll() is None:
                if memory_flag.exists() or at_limit.exceeded():  # no use waiting for the time limit
                    memory_exceeded = True
                    break
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                time.sleep(_POLL_S)
        finally:
            kill_run_processes(proc, marker)
    memory_exceeded = memory_exceeded or memory_flag.exists()
    result_file = scratch / "result.json"
    worker_error = None
    if result_file.exists():
        worker_error = json.loads(result_file.read_text(encoding="utf-8")).get("error")
    elif not timed_out and not memory_exceeded:
        worker_error = {"type": "RunnerDied", "message": f"the execution process ended with code {proc.returncode}"}
    kernel_error = None
    kfile = scratch / "kernel_error.json"
    if kfile.exists():
        with contextlib.suppress(OSError, ValueError):
            kernel_error = json.loads(kfile.read_text(encoding="utf-8"))
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:] if log_path.exists() else ""
    return Outcome(proc.returncode, timed_out, worker_error, tail, kernel_error, memory_exceeded)


class MemoryWatch:
    """Whether a process under the worker has sat at the memory limit for :attr:`patience_s` seconds.

    Under RLIMIT_DATA an allocation beyond the limit fails; most code raises ``MemoryError`` at once, but some
    allocators (jemalloc in Arrow, OpenBLAS) retry and the kernel then spins at the limit until the time limit.
    A kernel whose private data (``/proc/PID/statm`` data) stays within :attr:`margin` of the limit is therefore
    treated as out of memory.
    """

    patience_s = 3.0

    def __init__(self, root_pid: int, memory_gb: float | None) -> None:
        self.root_pid = root_pid
        self.limit = int(memory_gb * 1024**3) if memory_gb else 0
        self.margin = max(16 * 1024**2, int(0.03 * self.limit))
        self._since: float | None = None

    def exceeded(self) -> bool:
        """Poll once: True once a process has stayed at the limit for the patience."""
        if not self.limit:
            return False
        import psutil

        top = 0
        try:
            for child in psutil.Process(self.root_pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    top = max(top, child.memory_info().data)
        except psutil.Error:
            return False
        if top < self.limit - self.margin:
            self._since = None
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - self._since >= self.patience_s


def kill_run_processes(proc: subprocess.Popen, marker: str) -> None:
    """Kill the worker, its kernel and everything they started (also orphans carrying the run marker)."""
    import psutil

    victims: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(proc.pid)
        victims[root.pid] = root
        for child in root.children(recursive=True):
            victims[child.pid] = child
    me = os.getpid()
    for p in psutil.process_iter(["pid"]):
        if p.pid in victims or p.pid == me:
            continue
        with contextlib.suppress(psutil.Error):
            if p.environ().get(MARKER_ENV) == marker:
                victims[p.pid] = p
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for p in victims.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(list(victims.values()), timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def remove_stale_work_dirs(track_dir: Path) -> None:
    """Remove hidden work folders ``.<stamp>.<pid>.<random>.tmp`` left by a runner that was killed.

    Only folders whose runner process no longer exists on this host are removed; a live concurrent run's folder
    is left alone.
    """
    import psutil

    for d in track_dir.glob(".*.tmp"):
        parts = d.name.split(".")
        if len(parts) >= 5 and parts[2].isdigit() and not psutil.pid_exists(int(parts[2])) and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)


def current_umask() -> int:
    """The process umask (read without changing it for longer than two calls)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
