"""The execution subprocess (``python -m pmo_workbench.runner.worker JOB``): papermill with the private kernelspec.

It runs in its own session so the runner can kill it and all it started; a watchdog thread kills the kernel and
exits if the runner dies or the run overruns. The result (papermill's error, with the cell) goes to a JSON file.

Examples
--------
>>> from pmo_workbench.runner.worker import describe_exception
>>> describe_exception(RuntimeError("first line\\nsecond"))
{'type': 'RuntimeError', 'message': 'first line'}
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any


def start_watchdog(deadline: float, scratch: Path) -> None:
    """If the runner dies (or overruns), kill the kernel and everything it started, then exit."""
    import threading

    import psutil

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(1.0)
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        if os.getppid() != parent:  # nobody is left to clean up the scratch folder
            shutil.rmtree(scratch, ignore_errors=True)
        os._exit(3)

    threading.Thread(target=watch, name="pmo-run-watchdog", daemon=True).start()


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """The error record of an exception: its type and first line (with the cell for a failing cell)."""
    text = str(exc).strip()
    error: dict[str, Any] = {"type": type(exc).__name__, "message": text.splitlines()[0] if text else ""}
    if type(exc).__name__ == "PapermillExecutionError":
        error.update(type=exc.ename, message=str(exc.evalue), cell_index=exc.cell_index,  # type: ignore[attr-defined]
                     execution_count=exc.exec_count)  # type: ignore[attr-defined]
    return error


def run_worker(job_file: str) -> int:
    """Execute the job: papermill with the private kernelspec; the result to JSON."""
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    from pmo_workbench.runner.deferred_imports import defer_iri_grammars

    defer_iri_grammars()  # also when started without the package's __init__ (it is a no-op the second time)
    import papermill
    from jupyter_client import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class _IpcKernelManager(AsyncKernelManager):
        """Kernel sockets as files in the run's private runtime folder, not TCP ports other users could reach."""

        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    start_watchdog(time.monotonic() + job["timeout"] + 30, Path(job_file).parent)
    engine_kwargs = {"kernel_manager_class": _IpcKernelManager} if job["ipc"] else {}
    error = None
    try:
        papermill.execute_notebook(
            job["input"], job["output"], parameters=job["parameters"], kernel_name="python3", language="python",
            progress_bar=job["progress"], log_output=False, cwd=job["cwd"], execution_timeout=job["timeout"],
            request_save_on_cell_execute=True, autosave_cell_every=5, **engine_kwargs,
        )
    except Exception as exc:  # every failure is reported, the parent decides
        error = describe_exception(exc)
    Path(job["result"]).write_text(json.dumps({"error": error}), encoding="utf-8")
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(run_worker(sys.argv[1]))
