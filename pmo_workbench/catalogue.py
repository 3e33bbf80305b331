"""Finished runs of a project: their records (``run.json``), look-ups for later tracks, and the catalogue page.

A run folder is ``PROJECT/runs/<track>/<UTC timestamp>/`` holding ``run.json`` (written by
:func:`pmo_workbench.reports.run_track`). :func:`list_runs` and :func:`latest_run` read them back (e.g. cohort
selection reads the kinship table of the latest good WGS QC run); :func:`write_catalogue` rebuilds
``PROJECT/runs/index.html`` — newest first, grouped by track, failed runs marked — atomically and under a lock.

Examples
--------
>>> rec = latest_run("demo", "wgs_qc")  # doctest: +SKIP
>>> rec.output("kinship.parquet").exists()  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pmo_workbench
from pmo_workbench.files import write_text_atomic
from pmo_workbench.project import Project, as_project

TEMPLATES_DIR = Path(pmo_workbench.__file__).resolve().parents[1] / "templates"
"""``templates/`` of the workbench source tree; ``templates/report/`` holds the report and catalogue templates."""
REPORT_TEMPLATE = "report"
REPORT_HTML = "report.html"
REPORT_NOTEBOOK = "report.ipynb"
RUN_FILE = "run.json"
CATALOGUE_FILE = "index.html"

Status = Literal["succeeded", "failed"]


@dataclass(frozen=True)
class RunError:
    """Why a run failed: exception name, one-line message and the cell (0-based index, ``In [n]``)."""

    type: str
    message: str
    cell_index: int | None = None
    execution_count: int | None = None

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """One line for people, e.g. ``cell 3 (In [2]): ZeroDivisionError: division by zero``."""
        where = ""
        if self.cell_index is not None:
            where = f"cell {self.cell_index}"
            if self.execution_count is not None:
                where += f" (In [{self.execution_count}])"
            where += ": "
        return f"{where}{self.type}: {self.message}" if self.message else f"{where}{self.type}"


@dataclass
class RunRecord:
    """One run of a track: what ``run.json`` holds, with paths resolved.

    Attributes
    ----------
    status
        ``"succeeded"`` or ``"failed"`` (the CLI maps them to exit codes 0 and 1).
    run_dir
        ``PROJECT/runs/<track>/<timestamp>/``.
    report_path, notebook_path
        ``report.html`` and the executed ``report.ipynb`` in ``run_dir`` (the latter may be absent after a
        privacy failure).
    error
        Why it failed, or ``None``.
    record
        The full content of ``run.json``.
    """

    track: str
    status: Status
    run_dir: Path
    mode: str
    started: datetime
    ended: datetime
    duration_s: float
    parameters: dict[str, Any]
    error: RunError | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def report_path(self) -> Path:
        return self.run_dir / REPORT_HTML

    @property
    def notebook_path(self) -> Path:
        return self.run_dir / REPORT_NOTEBOOK

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def output(self, name: str) -> Path:
        """Path of an output file of this run (e.g. a table written into ``output_dir``)."""
        return self.run_dir / name

    @classmethod
    def from_run_json(cls, path: str | Path) -> RunRecord:
        """Read a run folder's ``run.json`` (``path`` is the file or its folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / RUN_FILE
        rec = json.loads(path.read_text(encoding="utf-8"))
        err = rec.get("error")
        return cls(
            track=rec["track"],
            status=rec["status"],
            run_dir=path.parent.resolve(),
            mode=rec.get("mode", "internal"),
            started=datetime.fromisoformat(rec["started"]),
            ended=datetime.fromisoformat(rec["ended"]),
            duration_s=float(rec["duration_s"]),
            parameters=rec.get("parameters", {}),
            error=RunError(**{k: err.get(k) for k in ("type", "message", "cell_index", "execution_count")})
            if err else None,
            record=rec,
        )


def list_runs(project: str | Path | Project, track: str | None = None) -> list[RunRecord]:
    """All finished runs of a project (or of one track), newest first.

    Examples
    --------
    >>> [r.status for r in list_runs("demo", "overview")]  # doctest: +SKIP
    ['failed', 'succeeded']
    """
    proj = as_project(project)
    records = []
    for run_json in _iter_run_files(proj.runs_dir, track):
        try:
            records.append(RunRecord.from_run_json(run_json))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a foreign or damaged folder is not a run
    records.sort(key=lambda r: (r.started, r.run_dir.name), reverse=True)
    return records


def latest_run(
    project: str | Path | Project, track: str, status: Status | None = "succeeded"
) -> RunRecord | None:
    """The newest run of ``track`` with ``status`` (``None``: any status), or ``None`` if there is none.

    Examples
    --------
    >>> kin = latest_run("demo", "wgs_qc").output("kinship.parquet")  # doctest: +SKIP
    """
    for rec in list_runs(project, track):
        if status is None or rec.status == status:
            return rec
    return None


def write_catalogue(project: str | Path | Project) -> Path:
    """Rebuild ``PROJECT/runs/index.html`` from every ``run.json`` (atomic; newest first, grouped by track).

    Examples
    --------
    >>> write_catalogue("demo").name  # doctest: +SKIP
    'index.html'
    """
    proj = as_project(project)
    runs_dir = proj.runs_dir
    runs_dir.mkdir(parents=True, exist_ok=True)
    with _locked(runs_dir / ".catalogue.lock"):
        runs = list_runs(proj)
        text = _render_catalogue(proj, runs)
        target = runs_dir / CATALOGUE_FILE
        write_text_atomic(target, text)
    return target


def _render_catalogue(proj: Project, runs: list[RunRecord]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / REPORT_TEMPLATE)),
                             autoescape=True)
    tracks: dict[str, list[dict[str, Any]]] = {}
    for rec in runs:
        rel = rec.run_dir.relative_to(proj.runs_dir).as_posix()
        tracks.setdefault(rec.track, []).append({
            "time": rec.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "track": rec.track,
            "status": rec.status,
            "mode": rec.mode,
            "duration": _format_duration(rec.duration_s),
            "link": f"{rel}/{REPORT_HTML}",
            "folder": rel,
            "error": rec.error.describe() if rec.error else "",
        })
    # tracks ordered by their newest run
    groups = sorted(tracks.items(), key=lambda kv: kv[1][0]["time"], reverse=True)
    return env.get_template("catalogue.html.j2").render(
        project=proj.config.name, groups=groups, n_runs=len(runs),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


def _format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _iter_run_files(runs_dir: Path, track: str | None) -> Iterator[Path]:
    if not runs_dir.is_dir():
        return
    track_dirs = [runs_dir / track] if track else sorted(runs_dir.iterdir())
    for tdir in track_dirs:
        if not tdir.is_dir() or tdir.name.startswith("."):
            continue
        for rdir in sorted(tdir.iterdir()):
            if rdir.name.startswith(".") or not (rdir / RUN_FILE).is_file():
                continue
            yield rdir / RUN_FILE


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
