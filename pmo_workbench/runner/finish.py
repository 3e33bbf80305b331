"""Finishing a run: its status and error, the privacy gate, the extra record, ``run.json`` and the report; then
the hidden folder is renamed into place under a free ``<stamp>[-n]`` name.

If the run folder cannot be finished (a full disk, a read-only folder, something in the way of a file the runner
writes), a minimal *failed* run (a small report and ``run.json`` naming the problem) is put in its place where
the file system still allows it, so the catalogue shows the failure; earlier runs are never touched.

Examples
--------
>>> fix_for("ConfigError", None, "wgs_qc", "/data/p")
'Correct the file or setting named above, then run again: pmo run wgs_qc --project /data/p'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmo_workbench.catalogue import (
    EXTRA_FILE,
    INCOMPLETE_KEY,
    REPORT_HTML,
    REPORT_NOTEBOOK,
    RUN_FILE,
    RunError,
    Status,
    summarise_run,
    truncate_message,
)
from pmo_workbench.files import write_text_atomic
from pmo_workbench.runner.context import Outcome, RunContext
from pmo_workbench.runner.html import render_minimal_report, render_report, trim_notebook
from pmo_workbench.runner.provenance import (
    collect_git,
    collect_host,
    collect_inputs,
    collect_outputs,
    collect_versions,
    compute_sha256,
)
from pmo_workbench.runner.scan import code_cells, enforce_privacy, scan_text, withhold_cpr_in_record

RUN_SCHEMA_VERSION = 2
CORE_KEYS = frozenset({
    "schema_version", "track", "project", "parameters", "mode", "status", "error", "started", "ended",
    "duration_s", "limits", "notebook", "inputs", "versions", "git", "host", "outputs", "run_dir", "summary",
    "privacy", "removed_outputs", "withheld",
})
"""Keys of ``run.json`` the runner owns; an extra record's key of the same name is kept apart under ``extra``."""


def fix_for(error_type: str, fix: str | None, track: str, project: str | Path) -> str:
    """The fix a misconfigured run's report states: the exception's own, else a generic one."""
    if fix:
        return fix
    return f"Correct the file or setting named above, then run again: pmo run {track} --project {project}"


def determine_error(ctx: RunContext, nb: Any, outcome: Outcome) -> tuple[RunError | None, Status]:
    """Why the run stopped (or ``None``) and the status that follows (before privacy and completeness)."""
    running = running_cell(nb)
    mem = ctx.memory_gb
    if outcome.timed_out:
        return RunError("TimeoutError", f"the run exceeded its time limit of {ctx.timeout_s:g} s and was stopped",
                        *running), "timeout"
    if outcome.memory_exceeded:
        return RunError("MemoryError", f"memory limit exceeded ({mem:g} GB, --memory-gb): the kernel could not "
                        "start or stayed at the limit and was stopped", *running), "failed"
    werr = outcome.worker_error
    if werr is None and outcome.returncode == 0:
        return None, "succeeded"
    if werr is None or werr["type"] == "RunnerDied":
        last = outcome.log_tail.strip().splitlines()[-1:] or [""]
        if mem and "MemoryError" in outcome.log_tail:
            return RunError("MemoryError", f"memory limit exceeded ({mem:g} GB, --memory-gb)", *running), "failed"
        detail = f": {last[0][:300]}" if last[0] and not scan_text(last, "log") else ""
        return RunError("RunnerError", f"the execution process ended with code {outcome.returncode}{detail}",
                        *running), "failed"
    if werr["type"] == "DeadKernelError":
        why = (f"killed, crashed or over its memory limit of {mem:g} GB" if mem else "killed, crashed or out of memory")
        return RunError("DeadKernelError", f"the kernel died ({why}) while executing this cell", *running), "failed"
    if werr["type"] == "CellTimeoutError":
        return RunError("TimeoutError", f"a cell exceeded the time limit of {ctx.timeout_s:g} s", *running), "timeout"
    cell_error = first_error_output(nb)
    if cell_error is None:
        cell_error = RunError(werr["type"], werr.get("message", ""), werr.get("cell_index"),
                              werr.get("execution_count"))
    if mem and (cell_error.type == "MemoryError" or _mentions_memory_error(nb, outcome)):
        cell_error = RunError("MemoryError", f"memory limit exceeded ({mem:g} GB, --memory-gb)",
                              cell_error.cell_index, cell_error.execution_count)
    kerr = outcome.kernel_error
    if kerr and kerr.get("kind") == "input" and kerr.get("type") == cell_error.type:
        fix = fix_for(cell_error.type, kerr.get("fix"), ctx.track, ctx.project.root)
        return RunError(cell_error.type, cell_error.message, cell_error.cell_index, cell_error.execution_count,
                        fix), "misconfigured"
    return cell_error, "failed"


def _mentions_memory_error(nb: Any, outcome: Outcome) -> bool:
    """Whether the run ended in a MemoryError that was not reported as the cell's error (under a tight limit
    IPython may fail to format the exception and print a fallback to stderr instead)."""
    if "MemoryError" in outcome.log_tail:
        return True
    if nb is None:
        return False
    from pmo_workbench.runner.scan import output_texts

    return any("MemoryError" in text for _, cell in code_cells(nb) for text in output_texts(cell))


def running_cell(nb: Any) -> tuple[int | None, int | None]:
    """The cell that was executing when the run stopped: the last one papermill started."""
    if nb is None:
        return None, None
    last: tuple[int | None, int | None] = (None, None)
    for i, cell in code_cells(nb):
        pm = cell.get("metadata", {}).get("papermill", {})
        if cell.get("cell_type") == "code" and pm.get("start_time"):
            last = (i, cell.get("execution_count"))
    return last


def first_error_output(nb: Any) -> RunError | None:
    """The first error output of the executed notebook (``SystemExit(0)`` is not an error)."""
    if nb is None:
        return None
    for i, cell in code_cells(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if out.get("ename") == "SystemExit" and str(out.get("evalue")) in ("", "0"):
                    continue
                return RunError(out.get("ename", "Error"), str(out.get("evalue", "")), i,
                                cell.get("execution_count"))
    return None


def read_extra(work_dir: Path) -> dict[str, Any]:
    """The notebook's extra record (already through the privacy gate), or a note why it was not usable."""
    path = work_dir / EXTRA_FILE
    if not path.exists():
        return {}
    try:
        extra = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"extra_error": f"{EXTRA_FILE} is not valid JSON"}
    return extra if isinstance(extra, dict) else {"extra_error": f"{EXTRA_FILE} is not a JSON object"}


def _incomplete_reasons(extra: dict[str, Any]) -> list[str]:
    reasons = extra.get(INCOMPLETE_KEY)
    if isinstance(reasons, str):
        reasons = [reasons]
    if not isinstance(reasons, list):
        return []
    return [truncate_message(str(r)) for r in reasons if str(r).strip()]


def finish_run(ctx: RunContext, outcome: Outcome) -> Path:
    """Turn the hidden work folder into a finished run folder; return its final path."""
    assert ctx.work_dir is not None and ctx.started is not None and ctx.ended is not None
    try:
        return _finish(ctx, outcome)
    except OSError as exc:
        return finish_unwritable(ctx, exc)


def _finish(ctx: RunContext, outcome: Outcome) -> Path:
    import nbformat

    work_dir = ctx.work_dir
    assert work_dir is not None and ctx.started is not None and ctx.ended is not None
    nb_file = work_dir / REPORT_NOTEBOOK
    nb = nbformat.read(nb_file, as_version=4) if nb_file.exists() else None
    error, status = determine_error(ctx, nb, outcome)

    privacy_error, removed = enforce_privacy(work_dir, nb)
    extra = read_extra(work_dir)  # after the gate: a record holding a CPR-like value was removed, never merged
    if privacy_error is not None:
        nb = nbformat.read(nb_file, as_version=4) if nb_file.exists() else None
        if error is None:
            error = privacy_error
        else:
            # the earlier error's message might itself be the leak: keep only its type and place
            error = RunError(error.type, f"(message withheld) — and {privacy_error.message}", error.cell_index,
                             error.execution_count, error.fix) if removed.get("notebook") else error
        status = "failed"
    if error is not None and error.message and scan_text([error.message], "error"):
        error = RunError(error.type, "(message withheld: it held a CPR-like value)", error.cell_index,
                         error.execution_count, None if error.fix and scan_text([error.fix], "fix") else error.fix)
    if error is not None:
        error = RunError(error.type, truncate_message(error.message), error.cell_index, error.execution_count,
                         truncate_message(error.fix) if error.fix else None)
    incomplete = _incomplete_reasons(extra)
    if error is None and incomplete:
        status = "incomplete"

    proj = ctx.project
    record: dict[str, Any] = {
        "schema_version": RUN_SCHEMA_VERSION,
        "track": ctx.track,
        "project": {"name": proj.config.name, "path": str(proj.root)},
        "parameters": dict(ctx.parameters),
        "mode": ctx.mode,
        "status": status,
        "error": error.__dict__ if error else None,
        "started": ctx.started.isoformat(),
        "ended": ctx.ended.isoformat(),
        "duration_s": round((ctx.ended - ctx.started).total_seconds(), 3),
        "limits": {"timeout_s": ctx.timeout_s, "memory_gb": ctx.memory_gb},
        "privacy": {"min_cell_count": proj.config.privacy.min_cell_count},
        "notebook": {"path": str(ctx.notebook.resolve()), "sha256": compute_sha256(ctx.notebook)},
        "inputs": collect_inputs(proj, ctx.params_file),
        "versions": collect_versions(),
        "git": collect_git(_repo_root()),
        "host": collect_host(),
        "outputs": [],
        "removed_outputs": removed.get("files", []),
    }
    for key, value in extra.items():
        if key in CORE_KEYS:
            record.setdefault("extra", {})[key] = value
        else:
            record[key] = value
    if incomplete:
        record[INCOMPLETE_KEY] = incomplete
    withheld = withhold_cpr_in_record(record)
    if withheld:
        record["withheld"] = withheld
        message = "CPR-like value in the run record, withheld: " + ", ".join(withheld)
        if error is None:
            error = RunError("PrivacyError", truncate_message(message))
        status = "failed"
        record["status"], record["error"] = status, error.__dict__
    record["summary"] = summarise_run(ctx.track, record, work_dir)

    header = {
        "track": ctx.track,
        "project": record["project"]["name"],
        "mode": ctx.mode,
        "status": status,
        "started": ctx.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "duration_s": record["duration_s"],
        "error": error.describe() if error else None,
        "problem": error.message if error else None,
        "fix": error.fix if error and status == "misconfigured" else None,
        "incomplete": record.get(INCOMPLETE_KEY, []) if status == "incomplete" else [],
    }
    shown = nb
    if error is not None and error.cell_index is not None and nb is not None:
        shown = trim_notebook(nb, error_cell=error.cell_index,
                              drop_traceback=status == "misconfigured" and not ctx.show_traceback)
    render_report(shown, header, work_dir / REPORT_HTML)
    return move_into_place(work_dir, ctx.track_dir, ctx.stamp, record)


def _repo_root() -> Path:
    import pmo_workbench

    return Path(pmo_workbench.__file__).resolve().parents[1]


def move_into_place(work_dir: Path, track_dir: Path, stamp: str, record: dict[str, Any]) -> Path:
    """Pick a free ``<stamp>[-n]`` name, write run.json with the final paths and rename the folder in place."""
    n = 1
    recorded = str(work_dir)  # the path the notebook currently names as its output_dir
    while True:
        name = stamp if n == 1 else f"{stamp}-{n}"
        final_dir = track_dir / name
        if not final_dir.exists():
            record["run_dir"] = str(final_dir)
            record.setdefault("parameters", {})["output_dir"] = str(final_dir)
            fix_output_dir_in_notebook(work_dir / REPORT_NOTEBOOK, recorded, str(final_dir))
            recorded = str(final_dir)
            record["outputs"] = collect_outputs(work_dir)
            write_text_atomic(work_dir / RUN_FILE, json.dumps(record, indent=2, default=str) + "\n")
            try:
                os.rename(work_dir, final_dir)  # fails (ENOTEMPTY) if another run took the name meanwhile
                return final_dir
            except OSError:
                if not final_dir.exists():
                    raise
        n += 1


def fix_output_dir_in_notebook(nb_file: Path, tmp: str, final: str) -> None:
    """Record the run folder's final path (not the hidden one it was built in) in the executed notebook."""
    if not nb_file.exists():
        return
    text = nb_file.read_text(encoding="utf-8")
    new = text.replace(json.dumps(tmp)[1:-1], json.dumps(final)[1:-1])
    if new != text:
        write_text_atomic(nb_file, new)


def finish_unwritable(ctx: RunContext, exc: OSError) -> Path:
    """The run folder could not be finished: put a minimal failed run in its place (report and ``run.json``).

    Raises the original ``OSError`` if even that cannot be written (the caller reports it in one line).
    """
    assert ctx.work_dir is not None and ctx.started is not None
    ended = ctx.ended or datetime.now(UTC)
    what = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else type(exc).__name__
    target = getattr(exc, "filename2", None) or getattr(exc, "filename", None)  # a rename names its target second
    where = Path(target).name if target else "the run folder"
    error = RunError("OSError", truncate_message(f"the run folder could not be written ({what}: {where}); its "
                                                 "outputs were discarded"))
    if scan_text([error.message], "error"):
        error = RunError("OSError", "the run folder could not be written; its outputs were discarded")
    record = {
        "schema_version": RUN_SCHEMA_VERSION, "track": ctx.track,
        "project": {"name": ctx.project.config.name, "path": str(ctx.project.root)},
        "parameters": dict(ctx.parameters), "mode": ctx.mode, "status": "failed", "error": error.__dict__,
        "started": ctx.started.isoformat(), "ended": ended.isoformat(),
        "duration_s": round((ended - ctx.started).total_seconds(), 3),
        "limits": {"timeout_s": ctx.timeout_s, "memory_gb": ctx.memory_gb}, "outputs": [],
    }
    if withhold_cpr_in_record(record):
        record["project"] = {"name": "(withheld)", "path": "(withheld)"}
    header = {"track": ctx.track, "project": record["project"]["name"], "mode": ctx.mode, "status": "failed",
              "started": ctx.started.strftime("%Y-%m-%d %H:%M:%S UTC"), "error": error.describe()}
    fresh = Path(tempfile.mkdtemp(prefix=f".{ctx.stamp}.{os.getpid()}.", suffix=".tmp", dir=ctx.track_dir))
    try:
        render_minimal_report(header, fresh / REPORT_HTML)
        final = move_into_place(fresh, ctx.track_dir, ctx.stamp, record)
    except OSError:
        shutil.rmtree(fresh, ignore_errors=True)
        raise exc from None
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return final
