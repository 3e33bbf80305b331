"""The run context: everything one run of a track knows, passed between the runner's steps as one object.

Examples
--------
>>> from pmo_workbench.runner.context import Outcome
>>> Outcome(returncode=0, timed_out=False, worker_error=None, log_tail="").memory_exceeded
False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pmo_workbench.project import Project


@dataclass
class RunContext:
    """One run of a track: its inputs (validated), limits, and the folders it is built in.

    Attributes
    ----------
    track, project, notebook
        What runs on what.
    parameters
        The validated notebook parameters (``project``, ``mode`` and ``output_dir`` included).
    params_file
        The parameters file (a preset or ``-f``), recorded among the inputs.
    mode
        ``internal`` or ``export``.
    timeout_s, memory_gb
        Wall-clock limit of the whole run; memory limit of the kernel (``None``: none).
    progress
        Papermill's progress bar on stderr.
    show_traceback
        Keep the traceback of a misconfigured run in its report (``--traceback``); by default the report of a
        misconfigured run states the problem and its fix only.
    started, stamp
        Start time (UTC) and the folder name derived from it (``YYYYmmddTHHMMSSZ``).
    work_dir
        The hidden folder the run is assembled in (``runs/<track>/.<stamp>.<pid>.<random>.tmp``).
    scratch
        A private temporary folder outside the project (kernelspec, job file, worker log).
    """

    track: str
    project: Project
    notebook: Path
    parameters: dict[str, Any]
    params_file: Path | None
    mode: str
    timeout_s: float
    memory_gb: float | None
    progress: bool = False
    show_traceback: bool = False
    started: datetime | None = None
    stamp: str = ""
    work_dir: Path | None = None
    scratch: Path | None = None
    ended: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def track_dir(self) -> Path:
        """``PROJECT/runs/<track>/``."""
        return self.project.runs_dir / self.track


@dataclass
class Outcome:
    """What the execution subprocess left behind.

    Attributes
    ----------
    returncode
        Exit code of the worker (``None`` if it was killed before ending).
    timed_out
        The wall-clock limit passed.
    worker_error
        The worker's error record (papermill's exception, with the cell), or ``None``.
    log_tail
        The end of the worker's log.
    kernel_error
        What the kernel's hook recorded about an uncaught workbench error (type, kind, message, fix).
    memory_exceeded
        The kernel could not start or run under the memory limit.
    """

    returncode: int | None
    timed_out: bool
    worker_error: dict[str, Any] | None
    log_tail: str
    kernel_error: dict[str, Any] | None = None
    memory_exceeded: bool = False
