"""Scheduled runs of a track notebook: papermill → HTML report → ``run.json`` → the run catalogue.

:func:`run_track` executes ``notebooks/<track>.ipynb`` with validated parameters in a killable subprocess (its
own session; the kernel runs the current interpreter under an optional memory limit), so a failing cell, a
wall-clock timeout, an exhausted memory limit or a dead kernel all end as a finished run with a status — never a
hang. Every run lands in its own folder ``PROJECT/runs/<track>/<UTC timestamp>/`` holding ``report.html`` (no
code; the problem at the top when it did not succeed), ``report.ipynb`` (executed), ``run.json`` and the notebook's
output tables. The folder is assembled under a hidden name and renamed into place at the end, so readers never see
a half-written run, and earlier runs are never touched. Before anything leaves the hidden folder, every output, the
extra record and ``run.json`` itself pass the CPR scan (:mod:`pmo_workbench.runner.scan`).
``PROJECT/runs/index.html`` is rebuilt from all ``run.json`` files after every run.

The steps, one module each: :mod:`~pmo_workbench.runner.parameters` (resolution and limits),
:mod:`~pmo_workbench.runner.execute` and :mod:`~pmo_workbench.runner.worker` (execution and supervision),
:mod:`~pmo_workbench.runner.finish` (status, record, folder), :mod:`~pmo_workbench.runner.scan` (privacy gate),
:mod:`~pmo_workbench.runner.provenance` (inputs, versions, git), :mod:`~pmo_workbench.runner.html` (report); they
pass one :class:`~pmo_workbench.runner.context.RunContext`. Statuses and exit codes: :mod:`pmo_workbench.catalogue`.

Examples
--------
>>> rec = run_track("overview", "demo", {"first_year": 2010}, timeout_s=600)  # doctest: +SKIP
>>> rec.status, rec.exit_code, rec.report_path.name  # doctest: +SKIP
('succeeded', 0, 'report.html')
>>> latest_run("demo", "overview").run_dir == rec.run_dir  # doctest: +SKIP
True
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

import pmo_workbench
from pmo_workbench.catalogue import (
    CATALOGUE_FILE,
    EXIT_CODES,
    EXTRA_FILE,
    STATUSES,
    RunError,
    RunRecord,
    latest_run,
    latest_run_dir,
    list_runs,
    write_catalogue,
)
from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.project import Project, as_project
from pmo_workbench.runner.context import RunContext
from pmo_workbench.runner.deferred_imports import defer_iri_grammars
from pmo_workbench.runner.execute import current_umask, execute, remove_stale_work_dirs
from pmo_workbench.runner.finish import finish_run
from pmo_workbench.runner.parameters import check_limits, check_no_cpr_in_values, resolve_parameters
from pmo_workbench.runner.provenance import compute_sha256

defer_iri_grammars()  # before anything here imports nbformat/papermill: 2–3 s less start-up per process

__all__ = ["CATALOGUE_FILE", "EXIT_CODES", "EXTRA_FILE", "STATUSES", "RunContext", "RunError", "RunOptions",
           "RunRecord",
           "compute_sha256", "latest_run", "latest_run_dir", "list_runs", "prepare_run", "run_track",
           "write_catalogue"]

class RunOptions(TypedDict, total=False):
    """How a run is carried out: the keyword options of :func:`run_track` and :func:`prepare_run`, declared once.

    Every key is optional; :func:`prepare_run` applies the defaults.

    params_file
        YAML mapping of parameters (a preset or ``-f params.yaml``); ``-p`` values win over it. Default: none.
    mode
        ``internal`` (default) or ``export`` (disclosure control in the notebook).
    timeout_s
        Wall-clock limit of the whole run (kernel start-up included), also papermill's per-cell limit
        (default: ``limits.timeout_s`` in pmo.yaml). When it passes, the kernel and all it started are killed.
    memory_gb
        Memory limit (RLIMIT_DATA) of the kernel and its children (default: ``limits.memory_gb``; ``None``: none).
        An allocation beyond it fails the run with "memory limit exceeded", quickly also when the kernel cannot
        even start under it.
    notebook
        Notebook to run instead of ``notebooks/<track>.ipynb``.
    progress
        Show papermill's progress bar on stderr (default: no).
    show_traceback
        Keep the traceback in the report of a misconfigured run (default: the problem and its fix only).

    Examples
    --------
    >>> opts: RunOptions = {"mode": "export", "timeout_s": 600}
    >>> sorted(opts)
    ['mode', 'timeout_s']
    """

    params_file: Path | None
    mode: Literal["internal", "export"]
    timeout_s: float | None
    memory_gb: float | None
    notebook: Path | None
    progress: bool
    show_traceback: bool


REPO_ROOT = Path(pmo_workbench.__file__).resolve().parents[1]
"""The workbench source tree (holds ``notebooks/`` and ``templates/``)."""
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def prepare_run(
    track: str,
    project: str | Path | Project,
    parameters: dict[str, Any] | None = None,
    **options: Unpack[RunOptions],
) -> RunContext:
    """Validate everything a run needs and return its context; nothing is written.

    ``options`` are :class:`RunOptions` (the same keywords :func:`run_track` takes and forwards here).

    Raises
    ------
    ConfigError
        Unknown track or parameter, bad value, unreadable params file, missing notebook, a time limit that is not
        a finite positive number of seconds, a memory limit that is not a finite number of GB.
    PrivacyError
        A CPR-like value in the parameters themselves.
    """
    unknown = sorted(set(options) - set(RunOptions.__annotations__))
    if unknown:
        raise TypeError(f"unknown run option(s): {', '.join(unknown)} (known: {', '.join(RunOptions.__annotations__)})")
    params_file = options.get("params_file")
    mode = options.get("mode", "internal")
    timeout_s = options.get("timeout_s")
    memory_gb = options.get("memory_gb")
    notebook = options.get("notebook")
    proj = as_project(project)
    nb_path = Path(notebook) if notebook is not None else NOTEBOOKS_DIR / f"{track}.ipynb"
    params = resolve_parameters(track, proj, parameters, params_file, mode)
    if not nb_path.is_file():
        raise ConfigError(f"no notebook for track {track!r}", file=nb_path)
    check_no_cpr_in_values(params)
    limits = proj.config.limits
    timeout, memory = check_limits(timeout_s if timeout_s is not None else limits.timeout_s,
                                   memory_gb if memory_gb is not None else limits.memory_gb)
    return RunContext(track=track, project=proj, notebook=nb_path, parameters=params,
                      params_file=Path(params_file) if params_file is not None else None, mode=mode,
                      timeout_s=timeout, memory_gb=memory, progress=bool(options.get("progress", False)),
                      show_traceback=bool(options.get("show_traceback", False)))


def run_track(
    track: str,
    project: str | Path | Project,
    parameters: dict[str, Any] | None = None,
    **options: Unpack[RunOptions],
) -> RunRecord:
    """Run a track notebook on a project and record it (report, executed notebook, ``run.json``, catalogue).

    Parameters
    ----------
    track
        Track name; its parameter class must be registered in :mod:`pmo_workbench.params`.
    project
        Project folder or loaded :class:`~pmo_workbench.project.Project`.
    parameters
        Notebook parameters (``-p NAME VALUE``); they win over ``params_file``.
    **options
        :class:`RunOptions`: ``params_file``, ``mode``, ``timeout_s``, ``memory_gb``, ``notebook``, ``progress``,
        ``show_traceback`` (their meanings and defaults are listed there).

    Returns
    -------
    RunRecord
        ``status``: ``succeeded``, ``incomplete`` (a rule could not be applied), ``misconfigured`` (a
        ``ConfigError``/``InputError`` inside the notebook), ``failed`` (failing cell, dead kernel, memory limit,
        CPR-like value in an output, unwritable run folder) or ``timeout``; ``exit_code`` follows
        :data:`~pmo_workbench.catalogue.EXIT_CODES`.

    Raises
    ------
    ConfigError
        Bad parameters or limits (see :func:`prepare_run`): nothing is written.
    InputError
        The project's ``runs/<track>/`` folder cannot be created (read-only project, a file in the way).
    PrivacyError
        A CPR-like value in the parameters themselves: nothing is written.
    OSError
        Not even a minimal failed run could be written (the disk is full or the folder read-only).

    Examples
    --------
    >>> rec = run_track("overview", "demo", mode="export")  # doctest: +SKIP
    >>> rec.status  # doctest: +SKIP
    'succeeded'
    """
    ctx = prepare_run(track, project, parameters, **options)
    track_dir = ctx.track_dir
    try:
        track_dir.mkdir(parents=True, exist_ok=True)
        ctx.started = datetime.now(UTC)
        ctx.stamp = ctx.started.strftime("%Y%m%dT%H%M%SZ")
        remove_stale_work_dirs(track_dir)
        ctx.work_dir = Path(tempfile.mkdtemp(prefix=f".{ctx.stamp}.{os.getpid()}.", suffix=".tmp", dir=track_dir))
        ctx.work_dir.chmod(0o777 & ~current_umask())
    except OSError as exc:
        raise InputError(f"cannot create the run folder ({exc.strerror or type(exc).__name__})",
                         file=track_dir) from None
    ctx.scratch = Path(tempfile.mkdtemp(prefix="pmo-run-"))
    try:
        ctx.parameters["output_dir"] = str(ctx.work_dir)
        outcome = execute(ctx)
        ctx.ended = datetime.now(UTC)
        final_dir = finish_run(ctx, outcome)
    except BaseException:
        shutil.rmtree(ctx.work_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    try:
        write_catalogue(ctx.project)
    except OSError as exc:
        import warnings

        warnings.warn(f"the run catalogue could not be rebuilt ({exc.strerror or exc}); the run is in {final_dir}",
                      RuntimeWarning, stacklevel=2)
    return RunRecord.from_run_json(final_dir)
