"""Scheduled runs of a track notebook: papermill → HTML report → ``run.json`` → the run catalogue.

:func:`run_track` executes ``notebooks/<track>.ipynb`` with validated parameters in a killable subprocess (its
own session; the kernel runs the current interpreter under an optional address-space limit), so a failing cell,
a wall-clock timeout, an exhausted memory limit or a dead kernel all end as a *failed* run — never a hang. Every
run, failed or not, lands in its own folder ``PROJECT/runs/<track>/<UTC timestamp>/`` holding ``report.html``
(no code; the error at the top when failed), ``report.ipynb`` (executed), ``run.json`` and the notebook's output
tables. The folder is assembled under a hidden name and renamed into place at the end, so readers never see a
half-written run, and earlier runs are never touched. Before anything leaves the hidden folder, every output is
scanned for CPR-like values (:func:`pmo_workbench.privacy.scan_for_cpr`); a hit fails the run and the offending
output is removed. ``PROJECT/runs/index.html`` is rebuilt from all ``run.json`` files after every run.

Examples
--------
>>> rec = run_track("overview", "demo", {"first_year": 2010}, timeout_s=600)  # doctest: +SKIP
>>> rec.status, rec.report_path.name  # doctest: +SKIP
('succeeded', 'report.html')
>>> latest_run("demo", "overview").run_dir == rec.run_dir  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import yaml

import pmo_workbench
from pmo_workbench.catalogue import (
    CATALOGUE_FILE,
    REPORT_HTML,
    REPORT_NOTEBOOK,
    REPORT_TEMPLATE,
    RUN_FILE,
    TEMPLATES_DIR,
    RunError,
    RunRecord,
    Status,
    latest_run,
    list_runs,
    write_catalogue,
)
from pmo_workbench.errors import ConfigError, PrivacyError
from pmo_workbench.files import write_text_atomic
from pmo_workbench.params import parse_track_params
from pmo_workbench.project import PROJECT_FILE, Project, as_project

__all__ = ["CATALOGUE_FILE", "EXTRA_FILE", "RunError", "RunRecord", "compute_sha256", "latest_run", "list_runs",
           "run_track", "write_catalogue"]

REPO_ROOT = Path(pmo_workbench.__file__).resolve().parents[1]
"""The workbench source tree (holds ``notebooks/`` and ``templates/``)."""
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXTRA_FILE = "run_extra.json"
"""A notebook may write this JSON object into ``output_dir``; its keys are merged into ``run.json``."""
RUN_SCHEMA_VERSION = 1

_RUNNER_PARAMS = ("project", "output_dir", "mode")
_CORE_KEYS = frozenset({
    "schema_version", "track", "project", "parameters", "mode", "status", "error", "started", "ended",
    "duration_s", "limits", "notebook", "inputs", "versions", "git", "host", "outputs", "run_dir",
})
_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
_MARKER_ENV = "PMO_RUN_MARKER"
_PACKAGES = ("pmo-workbench", "numpy", "pandas", "pyarrow", "duckdb", "papermill", "nbconvert", "ipykernel",
             "scikit-allel", "hail", "pyspark")

# --------------------------------------------------------------------------------------------- public API


def run_track(
    track: str,
    project: str | Path | Project,
    parameters: dict[str, Any] | None = None,
    *,
    params_file: Path | None = None,
    mode: Literal["internal", "export"] = "internal",
    timeout_s: float | None = None,
    memory_gb: float | None = None,
    notebook: Path | None = None,
    progress: bool = False,
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
    params_file
        YAML mapping of parameters (a preset or ``-f params.yaml``).
    mode
        ``internal`` or ``export`` (disclosure control in the notebook).
    timeout_s
        Wall-clock limit of the whole run (kernel start-up included), also papermill's per-cell limit
        (default: ``limits.timeout_s`` in pmo.yaml). When it passes, the kernel and all it started are killed.
    memory_gb
        Memory limit (RLIMIT_DATA) of the kernel and its children (default: ``limits.memory_gb``; ``None``: none).
        An allocation beyond it raises ``MemoryError`` in the cell, or kills the kernel: either fails the run.
    notebook
        Notebook to run instead of ``notebooks/<track>.ipynb``.
    progress
        Show papermill's progress bar on stderr.

    Returns
    -------
    RunRecord
        ``status`` is ``"failed"`` for a failing cell, timeout, dead kernel or CPR-like value in an output.

    Raises
    ------
    ConfigError
        Unknown track or parameter, bad value, unreadable params file, missing notebook: nothing is written.
    PrivacyError
        A CPR-like value in the parameters themselves: nothing is written.

    Examples
    --------
    >>> rec = run_track("overview", "demo", mode="export")  # doctest: +SKIP
    >>> rec.status  # doctest: +SKIP
    'succeeded'
    """
    proj = as_project(project)
    nb_path = Path(notebook) if notebook is not None else NOTEBOOKS_DIR / f"{track}.ipynb"
    params = _resolve_parameters(track, proj, parameters, params_file, mode)
    if not nb_path.is_file():
        raise ConfigError(f"no notebook for track {track!r}", file=nb_path)
    _check_no_cpr_in_values(params)
    limits = proj.config.limits
    timeout = float(timeout_s) if timeout_s is not None else float(limits.timeout_s)
    memory = memory_gb if memory_gb is not None else limits.memory_gb
    if timeout <= 0:
        raise ConfigError("must be positive", file="parameters", field="timeout_s")
    if memory is not None and memory <= 0:
        raise ConfigError("must be positive", file="parameters", field="memory_gb")

    track_dir = proj.runs_dir / track
    track_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    _remove_stale_work_dirs(track_dir)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{stamp}.{os.getpid()}.", suffix=".tmp", dir=track_dir))
    tmp_dir.chmod(0o777 & ~_current_umask())
    scratch = Path(tempfile.mkdtemp(prefix="pmo-run-"))
    try:
        params["output_dir"] = str(tmp_dir)
        outcome = _execute(nb_path, tmp_dir, scratch, params, timeout, memory, progress)
        ended = datetime.now(UTC)
        final_dir = _finish_run(
            proj, track, nb_path, params, params_file, mode, tmp_dir, track_dir, stamp, started, ended,
            outcome, timeout, memory,
        )
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_catalogue(proj)
    return RunRecord.from_run_json(final_dir)


def compute_sha256(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (big genotype files never sit in memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"abc")
    >>> compute_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------- parameters


def _resolve_parameters(
    track: str, proj: Project, parameters: dict[str, Any] | None, params_file: Path | None, mode: str
) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    source = "parameters"
    if params_file is not None:
        params_file = Path(params_file)
        source = str(params_file)
        try:
            loaded = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read parameters file ({exc.strerror})", file=params_file) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=params_file,
                              line=mark.line + 1 if mark else None) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError("must be a mapping of parameter names to values", file=params_file)
        raw.update(loaded)
    raw.update(parameters or {})
    for name in _RUNNER_PARAMS:
        if name in raw:
            hint = "use --mode" if name == "mode" else "the runner sets it"
            raise ConfigError(f"not a settable parameter ({hint})", file=source, field=name)
    raw.update(project=str(proj.root), mode=mode, output_dir=str(proj.runs_dir / track))
    return parse_track_params(track, raw, source=source).model_dump(mode="json")


def _check_no_cpr_in_values(params: dict[str, Any]) -> None:
    import pandas as pd

    from pmo_workbench.privacy import check_no_cpr

    values = {k: [json.dumps(v) if not isinstance(v, str) else v] for k, v in params.items()}
    try:
        check_no_cpr(pd.DataFrame(values))
    except PrivacyError as exc:
        raise PrivacyError(f"parameters: {exc}") from None


# -------------------------------------------------------------------------------------------- execution


@dataclass
class _Outcome:
    """What the execution subprocess left behind."""

    returncode: int | None
    timed_out: bool
    worker_error: dict[str, Any] | None
    log_tail: str


_KERNEL_LAUNCHER = (
    "import os, resource, sys\n"
    "lim = int(sys.argv[1])\n"
    "if lim > 0:\n"
    "    resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', '-f', sys.argv[2]])\n"
)


def _write_kernelspec(scratch: Path, memory_gb: float | None) -> Path:
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
    spec["argv"] = [sys.executable, "-c", _KERNEL_LAUNCHER, str(limit), "{connection_file}"]
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return jupyter_path


def _execute(
    nb_path: Path, tmp_dir: Path, scratch: Path, params: dict[str, Any], timeout: float,
    memory_gb: float | None, progress: bool,
) -> _Outcome:
    jupyter_path = _write_kernelspec(scratch, memory_gb)
    job = {
        "input": str(nb_path.resolve()),
        "output": str(tmp_dir / REPORT_NOTEBOOK),
        "parameters": params,
        "timeout": timeout,
        "cwd": str(tmp_dir),
        "result": str(scratch / "result.json"),
        "progress": progress,
        # unix sockets need short paths (108 bytes); else fall back to TCP on 127.0.0.1
        "ipc": len(str(scratch / "runtime" / "kernel-00000000-0000-0000-0000-000000000000-ipc-00000")) < 100,
    }
    (scratch / "job.json").write_text(json.dumps(job), encoding="utf-8")
    marker = uuid.uuid4().hex
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), env.get("JUPYTER_PATH")]))
    env[_MARKER_ENV] = marker
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "runtime")  # private (0700): connection file and sockets
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures go into the report
    log_path = scratch / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pmo_workbench.reports", str(scratch / "job.json")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=None if progress else log,
            env=env, cwd=tmp_dir, start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)  # wall clock of the whole run, kernel start-up included
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_run_processes(proc, marker)
    result_file = scratch / "result.json"
    worker_error = None
    if result_file.exists():
        worker_error = json.loads(result_file.read_text(encoding="utf-8")).get("error")
    elif not timed_out:
        worker_error = {"type": "RunnerDied", "message": f"the execution process ended with code {proc.returncode}"}
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:] if log_path.exists() else ""
    return _Outcome(proc.returncode, timed_out, worker_error, tail)


def _kill_run_processes(proc: subprocess.Popen, marker: str) -> None:
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
            if p.environ().get(_MARKER_ENV) == marker:
                victims[p.pid] = p
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for p in victims.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(list(victims.values()), timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _start_watchdog(deadline: float, scratch: Path) -> None:
    """In the worker: if the runner dies (or overruns), kill the kernel and everything it started, then exit.

    The worker runs in its own session so the runner can kill it; this keeps an orphaned worker from running on.
    """
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


def _run_worker(job_file: str) -> int:
    """Entry point of the execution subprocess: papermill with the private kernelspec; result to JSON."""
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    import papermill
    from jupyter_client import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class _IpcKernelManager(AsyncKernelManager):
        """Kernel sockets as files in the run's private runtime folder, not TCP ports other users could reach."""

        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    _start_watchdog(time.monotonic() + job["timeout"] + 30, Path(job_file).parent)
    engine_kwargs = {"kernel_manager_class": _IpcKernelManager} if job["ipc"] else {}
    error = None
    try:
        papermill.execute_notebook(
            job["input"], job["output"], parameters=job["parameters"], kernel_name="python3", language="python",
            progress_bar=job["progress"], log_output=False, cwd=job["cwd"], execution_timeout=job["timeout"],
            request_save_on_cell_execute=True, autosave_cell_every=5, **engine_kwargs,
        )
    except Exception as exc:  # every failure is reported, the parent decides
        error = {"type": type(exc).__name__, "message": str(exc).strip().splitlines()[0] if str(exc).strip() else ""}
        if type(exc).__name__ == "PapermillExecutionError":
            error.update(type=exc.ename, message=str(exc.evalue), cell_index=exc.cell_index,
                         execution_count=exc.exec_count)
    Path(job["result"]).write_text(json.dumps({"error": error}), encoding="utf-8")
    return 0 if error is None else 1


# ------------------------------------------------------------------------------------------- finishing


def _finish_run(
    proj: Project, track: str, nb_path: Path, params: dict[str, Any], params_file: Path | None, mode: str,
    tmp_dir: Path, track_dir: Path, stamp: str, started: datetime, ended: datetime, outcome: _Outcome,
    timeout: float, memory_gb: float | None,
) -> Path:
    import nbformat

    nb_file = tmp_dir / REPORT_NOTEBOOK
    nb = nbformat.read(nb_file, as_version=4) if nb_file.exists() else None
    error = _determine_error(nb, outcome, timeout)

    extra = _read_extra(tmp_dir)
    privacy_error, removed = _enforce_privacy(tmp_dir, nb)
    if privacy_error is not None:
        nb = nbformat.read(nb_file, as_version=4) if nb_file.exists() else None
        if error is None:
            error = privacy_error
        else:
            # the earlier error's message might itself be the leak: keep only its type and place
            error = RunError(error.type, f"(message withheld) — and {privacy_error.message}", error.cell_index,
                             error.execution_count) if removed.get("notebook") else error
    if error is not None and error.message and _scan_text([error.message], "error"):
        error = RunError(error.type, "(message withheld: it held a CPR-like value)", error.cell_index,
                         error.execution_count)
    status: Status = "failed" if error else "succeeded"

    final_params = dict(params)
    header = {
        "track": track,
        "project": proj.config.name,
        "mode": mode,
        "status": status,
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "duration_s": round((ended - started).total_seconds(), 3),
        "error": error.describe() if error else None,
    }
    _render_report(nb, header, tmp_dir / REPORT_HTML)

    record: dict[str, Any] = {
        "schema_version": RUN_SCHEMA_VERSION,
        "track": track,
        "project": {"name": proj.config.name, "path": str(proj.root)},
        "parameters": final_params,
        "mode": mode,
        "status": status,
        "error": error.__dict__ if error else None,
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "duration_s": round((ended - started).total_seconds(), 3),
        "limits": {"timeout_s": timeout, "memory_gb": memory_gb},
        "notebook": {"path": str(nb_path.resolve()), "sha256": compute_sha256(nb_path)},
        "inputs": _collect_inputs(proj, params_file),
        "versions": _collect_versions(),
        "git": _collect_git(REPO_ROOT),
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "outputs": [],
        "removed_outputs": removed.get("files", []),
    }
    for key, value in extra.items():
        if key in _CORE_KEYS:
            record.setdefault("extra", {})[key] = value
        else:
            record[key] = value

    final_dir = _move_into_place(tmp_dir, track_dir, stamp, record)
    return final_dir


def _move_into_place(tmp_dir: Path, track_dir: Path, stamp: str, record: dict[str, Any]) -> Path:
    """Pick a free ``<stamp>[-n]`` name, write run.json with the final paths and rename the folder in place."""
    n = 1
    recorded = str(tmp_dir)  # the path the notebook currently names as its output_dir
    while True:
        name = stamp if n == 1 else f"{stamp}-{n}"
        final_dir = track_dir / name
        if not final_dir.exists():
            record["run_dir"] = str(final_dir)
            record["parameters"]["output_dir"] = str(final_dir)
            _fix_output_dir_in_notebook(tmp_dir / REPORT_NOTEBOOK, recorded, str(final_dir))
            recorded = str(final_dir)
            record["outputs"] = _collect_outputs(tmp_dir)
            write_text_atomic(tmp_dir / RUN_FILE, json.dumps(record, indent=2, default=str) + "\n")
            try:
                os.rename(tmp_dir, final_dir)  # fails (ENOTEMPTY) if another run took the name meanwhile
                return final_dir
            except OSError:
                if not final_dir.exists():
                    raise
        n += 1


def _fix_output_dir_in_notebook(nb_file: Path, tmp: str, final: str) -> None:
    """Record the run folder's final path (not the hidden one it was built in) in the executed notebook."""
    if not nb_file.exists():
        return
    text = nb_file.read_text(encoding="utf-8")
    new = text.replace(json.dumps(tmp)[1:-1], json.dumps(final)[1:-1])
    if new != text:
        write_text_atomic(nb_file, new)


def _determine_error(nb: Any, outcome: _Outcome, timeout: float) -> RunError | None:
    running = _running_cell(nb)
    if outcome.timed_out:
        return RunError("TimeoutError", f"the run exceeded its time limit of {timeout:g} s and was stopped",
                        *running)
    werr = outcome.worker_error
    if werr is None and outcome.returncode == 0:
        return None
    if werr is None or werr["type"] == "RunnerDied":
        last = outcome.log_tail.strip().splitlines()[-1:] or [""]
        detail = f": {last[0][:300]}" if last[0] and not _scan_text(last, "log") else ""
        return RunError("RunnerError", f"the execution process ended with code {outcome.returncode}{detail}",
                        *running)
    if werr["type"] == "DeadKernelError":
        return RunError("DeadKernelError",
                        "the kernel died (killed, crashed or out of memory) while executing this cell", *running)
    if werr["type"] == "CellTimeoutError":
        return RunError("TimeoutError", f"a cell exceeded the time limit of {timeout:g} s", *running)
    cell_error = _first_error_output(nb)
    if cell_error is not None:
        return cell_error
    return RunError(werr["type"], werr.get("message", ""), werr.get("cell_index"), werr.get("execution_count"))


def _code_cells(nb: Any) -> list[tuple[int, Any]]:
    cells = [c for c in nb.cells if _PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    return list(enumerate(cells))


def _running_cell(nb: Any) -> tuple[int | None, int | None]:
    """The cell that was executing when the run stopped: the last one papermill started."""
    if nb is None:
        return None, None
    last: tuple[int | None, int | None] = (None, None)
    for i, cell in _code_cells(nb):
        pm = cell.get("metadata", {}).get("papermill", {})
        if cell.get("cell_type") == "code" and pm.get("start_time"):
            last = (i, cell.get("execution_count"))
    return last


def _first_error_output(nb: Any) -> RunError | None:
    if nb is None:
        return None
    for i, cell in _code_cells(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if out.get("ename") == "SystemExit" and str(out.get("evalue")) in ("", "0"):
                    continue
                return RunError(out.get("ename", "Error"), str(out.get("evalue", "")), i,
                                cell.get("execution_count"))
    return None


def _read_extra(tmp_dir: Path) -> dict[str, Any]:
    path = tmp_dir / EXTRA_FILE
    if not path.exists():
        return {}
    try:
        extra = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"extra_error": f"{EXTRA_FILE} is not valid JSON"}
    return extra if isinstance(extra, dict) else {"extra_error": f"{EXTRA_FILE} is not a JSON object"}


# ---------------------------------------------------------------------------------------------- privacy


def _enforce_privacy(tmp_dir: Path, nb: Any) -> tuple[RunError | None, dict[str, Any]]:
    """Scan every output in the hidden run folder; remove what holds a CPR-like value.

    A file with a hit is deleted. In the executed notebook, the text of every cell (source, text outputs, error
    messages and tracebacks; not images) is scanned: offending outputs are replaced by a notice, and if a cell's
    source holds a hit the executed notebook is deleted.
    """
    from pmo_workbench.privacy import scan_for_cpr

    problems: list[str] = []
    removed: dict[str, Any] = {"files": []}
    for path in sorted(p for p in tmp_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(tmp_dir).as_posix()
        if rel == REPORT_NOTEBOOK:
            continue
        hits = scan_for_cpr(path)  # tables by column, text files by line; images and binaries are skipped
        if hits:
            problems.append(_describe_hits(rel, hits))
            path.unlink()
            removed["files"].append(rel)
    nb_file = tmp_dir / REPORT_NOTEBOOK
    if nb is not None and nb_file.exists():
        import nbformat

        changed = source_hit = False
        for i, cell in _code_cells(nb):
            if _scan_text([cell.get("source", "")], f"cell {i} source"):
                source_hit = True
                problems.append(f"{REPORT_NOTEBOOK}: source of cell {i}")
            if _scan_text(_output_texts(cell), f"cell {i} output"):
                changed = True
                problems.append(f"{REPORT_NOTEBOOK}: output of cell {i}")
                cell["outputs"] = [nbformat.v4.new_output(
                    "stream", name="stderr", text="[output removed by the runner: it held a CPR-like value]\n")]
        if changed or source_hit:
            removed["notebook"] = True
        if source_hit:
            nb_file.unlink()
            removed["files"].append(REPORT_NOTEBOOK)
            for cell in nb.cells:  # the HTML report keeps outputs only
                cell["source"] = ""
        elif changed:
            write_text_atomic(nb_file, nbformat.writes(nb))
    if not problems:
        return None, removed
    return RunError("PrivacyError", "CPR-like value found, output removed: " + "; ".join(problems)), removed


def _output_texts(cell: Any) -> list[str]:
    """The human-readable text of a cell's outputs (stream, text/*, errors), not images or widget state."""
    texts: list[str] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            texts.append(_joined(out.get("text", "")))
        elif kind == "error":
            texts.append(str(out.get("evalue", "")))
            texts.extend(_joined(t) for t in out.get("traceback", []))
        elif kind in ("display_data", "execute_result"):
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime in ("application/json", "image/svg+xml"):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


def _scan_text(texts: list[str], column: str) -> list[Any]:
    import pandas as pd

    from pmo_workbench.privacy import scan_for_cpr

    lines = [line for t in texts for line in t.splitlines()]
    if not lines:
        return []
    return scan_for_cpr(pd.DataFrame({column: lines}))


def _describe_hits(rel: str, hits: list[Any]) -> str:
    """``persons.csv: column cpr_raw`` or ``notes.txt: line 3`` — the place, never the value."""
    columns = sorted({h.column for h in hits if h.column is not None})
    if columns:
        return f"{rel}: column {', '.join(columns)}"
    lines = sorted({h.line for h in hits if h.line is not None})
    return f"{rel}: line {', '.join(map(str, lines))}" if lines else rel


# ------------------------------------------------------------------------------------------------ record


def _collect_inputs(proj: Project, params_file: Path | None) -> list[dict[str, Any]]:
    files: list[tuple[str, Path]] = [("pmo.yaml", proj.root / PROJECT_FILE)]
    if params_file is not None:
        files.append(("params_file", Path(params_file)))
    for name in ("genotypes", "manifest", "pedigree", "registry", "biobank", "consent"):
        p = proj.source(name)
        if p is None:
            continue
        if p.is_dir():
            files.extend((name, f) for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            files.append((name, p))
        else:  # a PLINK prefix
            files.extend((name, p.with_suffix(s)) for s in (".bed", ".bim", ".fam") if p.with_suffix(s).is_file())
    out = []
    for source, f in files:
        f = f.resolve()
        rel = f.relative_to(proj.root).as_posix() if f.is_relative_to(proj.root) else str(f)
        out.append({"source": source, "path": rel, "size": f.stat().st_size, "sha256": compute_sha256(f)})
    return out


def _collect_outputs(run_dir: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(run_dir).as_posix()
        if rel == RUN_FILE:
            continue
        out.append({"path": rel, "size": f.stat().st_size, "sha256": compute_sha256(f)})
    return out


def _collect_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["java"] = _java_version()
    return versions


@functools.cache
def _java_version() -> str | None:
    java = shutil.which("java")
    if java is None:
        return None
    try:
        res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (res.stderr or res.stdout).strip().splitlines()
    return lines[0] if lines else None


def _collect_git(root: Path) -> dict[str, Any] | None:
    if not (root / ".git").exists():
        return None
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # read-only: never refresh the index
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=20, env=env)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


# ------------------------------------------------------------------------------------------------- HTML


def _render_report(nb: Any, header: dict[str, Any], target: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    if nb is None:  # the kernel never started: a report with the banner only
        nb = nbformat.v4.new_notebook()
    cfg = Config()
    cfg.TagRemovePreprocessor.enabled = True
    cfg.TagRemovePreprocessor.remove_cell_tags = {"remove-cell", _PAPERMILL_ERROR_TAG}
    cfg.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    cfg.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = HTMLExporter(config=cfg, template_name=REPORT_TEMPLATE,
                            extra_template_basedirs=[str(TEMPLATES_DIR)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    title = f"{header['track']} · {header['project']} · {header['status']}"
    resources = {"metadata": {"name": title}, "pmo": header}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    write_text_atomic(target, body)


# ------------------------------------------------------------------------------------------------ files


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_work_dirs(track_dir: Path) -> None:
    """Remove hidden work folders ``.<stamp>.<pid>.<random>.tmp`` left by a runner that was killed.

    Only folders whose runner process no longer exists on this host are removed; a live concurrent run's folder
    is left alone.
    """
    import psutil

    for d in track_dir.glob(".*.tmp"):
        parts = d.name.split(".")
        if len(parts) >= 5 and parts[2].isdigit() and not psutil.pid_exists(int(parts[2])) and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":  # the execution subprocess started by _execute()
    sys.exit(_run_worker(sys.argv[1]))
