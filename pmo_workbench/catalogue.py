"""Finished runs of a project: their records (``run.json``), look-ups for later tracks, and the catalogue page.

A run folder is ``PROJECT/runs/<track>/<UTC timestamp>/`` holding ``run.json`` (written by
:func:`pmo_workbench.runner.run_track`). :func:`list_runs`, :func:`latest_run` and :func:`latest_run_dir` read them
back — the one place where run folders are looked up (e.g. cohort selection reads the kinship table of the latest
succeeded WGS QC run); :func:`write_catalogue` rebuilds ``PROJECT/runs/index.html`` — newest first, grouped by
track, a summary per track, statuses coloured by meaning — atomically and under a lock. A foreign or damaged
``run.json`` (invalid JSON, a naive timestamp, missing fields) is skipped with a :class:`RunFileWarning`.

Run statuses and the ``pmo run`` exit codes (:data:`EXIT_CODES`):

============== ==== ==================================================================================
status         exit meaning
============== ==== ==================================================================================
succeeded      0    every cell ran and every rule was applied
failed         1    a cell raised, the kernel died, the memory limit was exceeded, a CPR-like value was
                    found in an output, or the run folder could not be written
misconfigured  2    the notebook stopped on a :class:`~pmo_workbench.errors.ConfigError`/``InputError``
                    (fix the input named in the report and run again)
incomplete     3    the run finished but could not apply a rule (recorded by :func:`mark_incomplete`)
timeout        4    the wall-clock limit (``--timeout``) passed and the run was stopped
============== ==== ==================================================================================

A notebook or library signals *incomplete* through the run's extra record (``run_extra.json`` in
``output_dir``, merged into ``run.json`` by the runner):

>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> _ = mark_incomplete(out, "genome rules not applied: no WGS QC run")
>>> read_run_extra(out)["incomplete"]
['genome rules not applied: no WGS QC run']
>>> mark_incomplete(None, "nothing written without an output folder") is None
True

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
import warnings
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

EXTRA_FILE = "run_extra.json"
"""A notebook may write this JSON object into ``output_dir``; its keys are merged into ``run.json``."""
INCOMPLETE_KEY = "incomplete"
"""Key of :data:`EXTRA_FILE` (and ``run.json``): the reasons a finished run is incomplete (a list of sentences)."""

Status = Literal["succeeded", "incomplete", "misconfigured", "failed", "timeout"]
STATUSES: tuple[str, ...] = ("succeeded", "incomplete", "misconfigured", "failed", "timeout")
EXIT_CODES: dict[str, int] = {"succeeded": 0, "failed": 1, "misconfigured": 2, "incomplete": 3, "timeout": 4}
"""Exit code of ``pmo run`` per run status (2 is also every configuration error found before a run starts)."""
MAX_MESSAGE = 500
"""Error messages kept in ``run.json``, reports and the catalogue are cut to this many characters."""


class RunFileWarning(UserWarning):
    """A ``run.json`` that is not a workbench run record (invalid JSON, naive timestamp, ...) was skipped."""


def truncate_message(text: str, limit: int = MAX_MESSAGE) -> str:
    """One line of at most ``limit`` characters (an error may echo a whole input: keep reports readable).

    Examples
    --------
    >>> truncate_message("x" * 600)[-22:]
    'xxxx… (600 characters)'
    >>> truncate_message("two\\nlines")
    'two lines'
    """
    one = " ".join(str(text).split())
    return one if len(one) <= limit else f"{one[:limit]}… ({len(one)} characters)"


@dataclass(frozen=True)
class RunError:
    """Why a run failed: exception name, one-line message and the cell (0-based index, ``In [n]``)."""

    type: str
    message: str
    cell_index: int | None = None
    execution_count: int | None = None
    fix: str | None = None
    """What to do about it (misconfigured runs: from the exception's ``fix``, else a generic hint)."""

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
        One of :data:`STATUSES` (the CLI exits with :data:`EXIT_CODES` ``[status]``).
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

    @property
    def exit_code(self) -> int:
        """The exit code ``pmo run`` ends with for this run (:data:`EXIT_CODES`)."""
        return EXIT_CODES.get(self.status, 1)

    @property
    def incomplete_reasons(self) -> list[str]:
        """Why the run is incomplete (empty unless ``status == "incomplete"``)."""
        return [str(r) for r in self.record.get(INCOMPLETE_KEY) or []]

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
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        err = rec.get("error")
        started, ended = _aware(rec["started"], "started"), _aware(rec["ended"], "ended")
        if rec["status"] not in STATUSES:
            raise ValueError(f"unknown status {str(rec['status'])[:40]!r}")
        if not isinstance(rec["track"], str):
            raise ValueError("track is not a name")
        return cls(
            track=rec["track"],
            status=rec["status"],
            run_dir=path.parent.resolve(),
            mode=rec.get("mode", "internal"),
            started=started,
            ended=ended,
            duration_s=float(rec["duration_s"]),
            parameters=rec.get("parameters", {}),
            error=RunError(**{k: err.get(k) for k in ("type", "message", "cell_index", "execution_count", "fix")})
            if err else None,
            record=rec,
        )


def _aware(text: Any, name: str) -> datetime:
    value = datetime.fromisoformat(str(text))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} has no time zone")
    return value


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
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # a foreign or damaged folder is not a run: say so, never break every later run
            rel = run_json.relative_to(proj.runs_dir).as_posix() if run_json.is_relative_to(proj.runs_dir) \
                else str(run_json)
            warnings.warn(f"skipped runs/{rel}: not a workbench run record "
                          f"({truncate_message(f'{type(exc).__name__}: {exc}', 120)})", RunFileWarning, stacklevel=2)
            continue
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


def latest_run_dir(
    project: str | Path | Project, track: str = "wgs_qc", needs: str | None = "qc_decisions.parquet"
) -> Path | None:
    """The newest ``runs/<track>/<UTC-timestamp>/`` folder holding ``needs``, or ``None``: the one look-up of
    "the latest good run" (cohort selection's WGS QC run, the model track's QC and cohort runs).

    A folder with a ``run.json`` counts only if its status is ``succeeded`` (failed, incomplete, misconfigured,
    timed-out and unreadable records are skipped); a folder without one (tables written from the Python API)
    counts if it holds ``needs``. Hidden folders (runs being assembled) never count. Folder names are UTC
    timestamps, so they sort as text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> proj = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (proj / "pmo.yaml").write_text("name: t\\n")
    >>> for name, status in (("20260101T000000Z", "succeeded"), ("20260102T000000Z", "incomplete")):
    ...     d = proj / "runs" / "wgs_qc" / name
    ...     d.mkdir(parents=True)
    ...     _ = (d / "qc_decisions.parquet").write_bytes(b"")
    ...     _ = (d / "run.json").write_text(json.dumps({"status": status}))
    >>> latest_run_dir(proj).name
    '20260101T000000Z'
    """
    proj = as_project(project)
    base = proj.runs_dir / track
    if not base.is_dir():
        return None
    for run in sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name, reverse=True):
        if needs is not None and not (run / needs).exists():
            continue
        meta = run / RUN_FILE
        if meta.exists():
            try:
                rec = json.loads(meta.read_text(encoding="utf-8"))
                if not isinstance(rec, dict) or rec.get("status") != "succeeded":
                    continue
            except (ValueError, OSError):
                continue
        elif needs is None:
            continue
        return run
    return None


def read_run_extra(output_dir: str | Path) -> dict[str, Any]:
    """The extra record of a run being built (``{}`` when there is none)."""
    path = Path(output_dir) / EXTRA_FILE
    if not path.exists():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def write_run_extra(extra: dict[str, Any], output_dir: str | Path | None) -> Path | None:
    """Merge ``extra`` into the run's extra record ``output_dir/run_extra.json`` (atomically), or write nothing
    when ``output_dir`` is ``None`` (an interactive run). Keys already there are kept unless ``extra`` sets them;
    :data:`INCOMPLETE_KEY` lists are joined. The runner merges the record into ``run.json`` after scanning it
    for CPR-like values.
    """
    if output_dir is None:
        return None
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        current = read_run_extra(out)
    except ValueError:
        current = {}
    reasons = [*current.get(INCOMPLETE_KEY, []), *extra.get(INCOMPLETE_KEY, [])]
    merged = {**current, **extra}
    if reasons:
        merged[INCOMPLETE_KEY] = list(dict.fromkeys(str(r) for r in reasons))
    target = out / EXTRA_FILE
    write_text_atomic(target, json.dumps(merged, indent=2, sort_keys=True, default=str) + "\n")
    return target


def mark_incomplete(output_dir: str | Path | None, reason: str) -> Path | None:
    """Record that the run could not apply a rule: its status becomes ``incomplete`` (exit code 3), never green.

    ``reason`` is one sentence for the report's banner and the catalogue (no personal data: it is scanned for
    CPR-like values like every output). With ``output_dir=None`` (interactive) nothing is written.
    """
    return write_run_extra({INCOMPLETE_KEY: [reason]}, output_dir)


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


STATUS_MEANING: dict[str, str] = {
    "succeeded": "every cell ran and every rule was applied",
    "incomplete": "finished, but a rule could not be applied (see the reason)",
    "misconfigured": "stopped on a configuration or input problem (see the fix)",
    "failed": "a cell failed, the kernel died or an output was refused",
    "timeout": "stopped at the time limit",
}
"""What each status means, for the catalogue's legend."""
_TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")
_MAX_TABLE_LINKS = 12


def summarise_run(track: str, record: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The catalogue's summary of one run: label -> value (QC: samples passing; cohort: cases and controls;
    model: persons and AUROC). Values come from the run's extra record as disclosed by the track (``None`` =
    suppressed or not available); other tracks have no summary.

    Examples
    --------
    >>> summarise_run("cohort_selection", {"counts": {"cases": 40, "controls": 80}}, Path("."))
    {'cases': 40, 'controls': 80}
    >>> summarise_run("wgs_qc", {"qc_counts": {"samples": 500, "samples_passed": 470}}, Path("."))
    {'samples passing': '470 of 500'}
    """
    if track == "wgs_qc":
        counts = record.get("qc_counts") or {}
        if not counts:
            return {}
        passed, total = counts.get("samples_passed"), counts.get("samples")
        if passed is None:
            return {"samples passing": "suppressed" if total is not None else None}
        return {"samples passing": f"{passed} of {total}" if total is not None else passed}
    if track == "cohort_selection":
        counts = record.get("counts") or {}
        if not counts:
            return {}
        return {"cases": counts.get("cases"), "controls": counts.get("controls")}
    if track == "model_development":
        md = record.get("model_development") or {}
        if not md:
            return {}
        auroc = md.get("auroc_clinical")
        out: dict[str, Any] = {"persons": _model_persons(run_dir, record)}
        out["AUROC"] = round(float(auroc), 3) if isinstance(auroc, (int, float)) else None
        return out
    return {}


def _model_persons(run_dir: Path, record: dict[str, Any]) -> int | None:
    """Persons in the model's pooled validation (``performance.parquet``), suppressed below the minimum count in
    export mode."""
    perf = run_dir / "performance.parquet"
    if not perf.exists():
        return None
    try:
        import pandas as pd

        table = pd.read_parquet(perf)
        rows = table[table["split"].astype(str).str.startswith("pooled")] if "split" in table else table
        if "model" in rows and (rows["model"] == "clinical").any():
            rows = rows[rows["model"] == "clinical"]
        n = int(rows["n"].max()) if "n" in rows and len(rows) else None
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None
    if n is not None and record.get("mode") == "export":
        min_count = int((record.get("privacy") or {}).get("min_cell_count", 5))
        if 0 < n < min_count:
            return None
    return n


def _describe_summary(summary: dict[str, Any]) -> str:
    return " · ".join(f"{k} {'–' if v is None else v}" for k, v in summary.items())


def _render_catalogue(proj: Project, runs: list[RunRecord]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / REPORT_TEMPLATE)),
                             autoescape=True)
    tracks: dict[str, list[dict[str, Any]]] = {}
    for rec in runs:
        rel = rec.run_dir.relative_to(proj.runs_dir).as_posix()
        summary = rec.record.get("summary")
        if not isinstance(summary, dict):
            summary = summarise_run(rec.track, rec.record, rec.run_dir)
        outputs = [o.get("path", "") for o in rec.record.get("outputs", []) if isinstance(o, dict)]
        tables = [o for o in outputs if isinstance(o, str) and o.endswith(_TABLE_SUFFIXES)]
        message = ""
        if rec.error:
            message = truncate_message(rec.error.describe())
            if rec.error.fix and rec.status == "misconfigured":
                message += f" — fix: {truncate_message(rec.error.fix, 200)}"
        elif rec.incomplete_reasons:
            message = truncate_message("; ".join(rec.incomplete_reasons))
        tracks.setdefault(rec.track, []).append({
            "time": rec.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "track": rec.track,
            "status": rec.status,
            "meaning": STATUS_MEANING.get(rec.status, ""),
            "mode": rec.mode,
            "duration": _format_duration(rec.duration_s),
            "summary": _describe_summary(summary),
            "link": f"{rel}/{REPORT_HTML}",
            "record": f"{rel}/{RUN_FILE}",
            "tables": [(t.rsplit("/", 1)[-1].rsplit(".", 1)[0], f"{rel}/{t}") for t in tables[:_MAX_TABLE_LINKS]],
            "more_tables": max(0, len(tables) - _MAX_TABLE_LINKS),
            "folder": rel,
            "error": message,
        })
    # tracks ordered by their newest run
    groups = sorted(tracks.items(), key=lambda kv: kv[1][0]["time"], reverse=True)
    return env.get_template("catalogue.html.j2").render(
        project=proj.config.name, groups=groups, n_runs=len(runs), statuses=STATUS_MEANING,
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
