"""Reviewed QC thresholds: the project's ``params/wgs_qc.yaml`` and what changed since the last WGS QC run.

The file records *who* chose the thresholds, *when* and *why*, next to the values::

    reviewer: Jane Researcher
    date: 2026-11-20
    note: call rate raised after the B4 re-sequencing
    thresholds:
      min_call_rate: 0.97
      strata: [batch]

Only the thresholds that differ from :class:`~pmo_workbench.qc.thresholds.QcThresholds`' defaults need to be
given. Each WGS QC run copies the thresholds it used into its run folder (``thresholds.yaml``); the next run
compares them with its own and lists the samples that newly fail or newly pass, from the earlier run's
``qc_decisions.parquet``.

Examples
--------
>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "wgs_qc.yaml"
>>> _ = save_reviewed_thresholds(path, QcThresholds(min_call_rate=0.97), reviewer="J. R.", note="stricter",
...                              date=datetime.date(2026, 11, 20))
>>> rt = load_reviewed_thresholds(path)
>>> rt.thresholds.min_call_rate, rt.reviewer, str(rt.date)
(0.97, 'J. R.', '2026-11-20')
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pmo_workbench.catalogue import RunRecord, list_runs
from pmo_workbench.errors import ConfigError
from pmo_workbench.files import write_text_atomic
from pmo_workbench.project import Project, as_project
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds

REVIEW_FILE = "wgs_qc.yaml"
"""Name of the reviewed thresholds file in the project's ``params/`` folder."""
RUN_THRESHOLDS_FILE = "thresholds.yaml"
"""Copy of the thresholds a run used, in its run folder."""
DECISIONS_FILE = "qc_decisions.parquet"
TRACK = "wgs_qc"
_TOP_KEYS = ("reviewer", "date", "note", "thresholds", "source", "run_started")


@dataclass(frozen=True)
class ReviewedThresholds:
    """QC thresholds with their review: reviewer, date and note (all None/empty for unreviewed defaults).

    Attributes
    ----------
    thresholds : QcThresholds
    reviewer : str or None
    date : datetime.date or None
    note : str
    source : Path or None
        The file they were read from (None: the built-in defaults).
    """

    thresholds: QcThresholds
    reviewer: str | None = None
    date: datetime.date | None = None
    note: str = ""
    source: Path | None = None

    @property
    def reviewed(self) -> bool:
        """True when the thresholds come from a reviewed file (not the built-in defaults)."""
        return self.source is not None

    def describe(self) -> str:
        """One line for the report, e.g. ``reviewed by J. R. on 2026-11-20: stricter``."""
        if not self.reviewed:
            return "built-in defaults (no reviewed thresholds file)"
        text = f"reviewed by {self.reviewer} on {self.date}"
        return f"{text}: {self.note}" if self.note else text

    def to_yaml_dict(self) -> dict[str, Any]:
        """The file content: review fields and every threshold (defaults included, so a run records all)."""
        return {
            "reviewer": self.reviewer,
            "date": self.date.isoformat() if self.date else None,
            "note": self.note,
            "thresholds": self.thresholds.model_dump(mode="json"),
        }


def default_review_path(project: str | Path | Project) -> Path:
    """``PROJECT/params/wgs_qc.yaml``.

    Examples
    --------
    >>> default_review_path(project).relative_to(project).as_posix()  # project: an empty project folder
    'params/wgs_qc.yaml'
    """
    return as_project(project).params_dir / REVIEW_FILE


def _key_lines(text: str) -> dict[str, int]:
    """1-based line of each mapping key, as ``thresholds.min_call_rate`` paths (top two levels)."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        lines[str(key.value)] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for sub, _ in value.value:
                lines[f"{key.value}.{sub.value}"] = sub.start_mark.line + 1
    return lines


def parse_reviewed_thresholds(data: Any, *, source: str | Path = "thresholds", text: str | None = None
                              ) -> ReviewedThresholds:
    """Validate a mapping read from a thresholds file (see the module docstring for its shape).

    Raises
    ------
    ConfigError
        Not a mapping, an unknown key, a missing reviewer or date, a bad date or threshold (file, line and key
        named).

    Examples
    --------
    >>> parse_reviewed_thresholds({"reviewer": "A", "date": "2026-01-02", "thresholds": {"mad_k": 5}}).thresholds.mad_k
    5.0
    """
    lines = _key_lines(text) if text else {}
    src = str(source)
    if not isinstance(data, dict):
        raise ConfigError("must be a mapping with reviewer, date, note and thresholds", file=src)
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"unknown key (expected {', '.join(_TOP_KEYS[:4])})", file=src,
                              line=lines.get(str(key)), field=str(key))
    reviewer = data.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ConfigError("reviewed thresholds need the reviewer's name", file=src, line=lines.get("reviewer"),
                          field="reviewer")
    raw_date = data.get("date")
    if isinstance(raw_date, datetime.datetime):
        raw_date = raw_date.date()
    if isinstance(raw_date, str):
        try:
            raw_date = datetime.date.fromisoformat(raw_date.strip())
        except ValueError:
            raw_date = None
    if not isinstance(raw_date, datetime.date):
        raise ConfigError("needs the review date as YYYY-MM-DD", file=src, line=lines.get("date"), field="date")
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise ConfigError("must be text", file=src, line=lines.get("note"), field="note")
    values = data.get("thresholds") or {}
    if not isinstance(values, dict):
        raise ConfigError("must be a mapping of threshold names to values", file=src,
                          line=lines.get("thresholds"), field="thresholds")
    try:
        th = as_thresholds(values, source=src)
    except ConfigError as exc:
        key = exc.field or ""
        top = key.split(".")[0]
        raise ConfigError(exc.message, file=src, line=lines.get(f"thresholds.{top}"),
                          field=f"thresholds.{key}") from None
    return ReviewedThresholds(th, reviewer.strip(), raw_date, note.strip(), Path(source))


def load_reviewed_thresholds(path: str | Path) -> ReviewedThresholds:
    """Read and validate a reviewed thresholds file (``params/wgs_qc.yaml`` or a run's ``thresholds.yaml``).

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, or invalid content (file, line and key named).

    Examples
    --------
    >>> import tempfile
    >>> path = save_reviewed_thresholds(Path(tempfile.mkdtemp()) / REVIEW_FILE, QcThresholds(min_call_rate=0.97),
    ...                                 reviewer="A. Reviewer")
    >>> load_reviewed_thresholds(path).thresholds.min_call_rate
    0.97
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read thresholds file ({exc.strerror})", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=path,
                          line=mark.line + 1 if mark else None) from None
    return parse_reviewed_thresholds(data, source=path, text=text)


def resolve_reviewed_thresholds(project: str | Path | Project, thresholds_file: str | Path | None = None
                                ) -> ReviewedThresholds:
    """The thresholds a run uses: ``thresholds_file`` (relative to the project), else the project's
    ``params/wgs_qc.yaml`` if present, else the unreviewed defaults.

    Raises
    ------
    ConfigError
        A named file that does not exist or is invalid.

    Examples
    --------
    >>> resolve_reviewed_thresholds(project).describe()  # project: an empty project folder
    'built-in defaults (no reviewed thresholds file)'
    """
    proj = as_project(project)
    if thresholds_file is not None:
        path = proj.path(str(thresholds_file))
        assert path is not None
        if not path.is_file():
            raise ConfigError("thresholds file not found", file=path, field="thresholds_file")
        return load_reviewed_thresholds(path)
    default = default_review_path(proj)
    if default.is_file():
        return load_reviewed_thresholds(default)
    return ReviewedThresholds(QcThresholds())


def _write_yaml_atomic(path: Path, content: dict[str, Any], header: str = "") -> Path:
    return write_text_atomic(path, header + yaml.safe_dump(content, sort_keys=False, allow_unicode=True))


def save_reviewed_thresholds(
    path: str | Path | Project,
    thresholds: QcThresholds | dict[str, Any],
    *,
    reviewer: str,
    note: str = "",
    date: datetime.date | None = None,
) -> Path:
    """Write reviewed thresholds atomically (a project, or its folder, means its ``params/wgs_qc.yaml``).

    Only thresholds that differ from the defaults are written. ``date`` defaults to today (UTC).

    Raises
    ------
    ConfigError
        No reviewer, or an invalid threshold.
    """
    is_project = isinstance(path, Project) or Path(path).is_dir()
    target = default_review_path(path) if is_project else Path(path)
    if not reviewer or not reviewer.strip():
        raise ConfigError("reviewed thresholds need the reviewer's name", file=target, field="reviewer")
    th = as_thresholds(thresholds, source=str(target))
    defaults = QcThresholds().model_dump(mode="json")
    changed = {k: v for k, v in th.model_dump(mode="json").items() if defaults.get(k) != v}
    day = date or datetime.datetime.now(datetime.UTC).date()
    content = {"reviewer": reviewer.strip(), "date": day.isoformat(), "note": note.strip(), "thresholds": changed}
    return _write_yaml_atomic(target, content, "# Reviewed WGS QC thresholds (read by notebooks/wgs_qc.ipynb)\n")


def write_run_thresholds(reviewed: ReviewedThresholds, output_dir: str | Path) -> Path:
    """Record the thresholds a run used (all of them, with the review) as ``output_dir/thresholds.yaml``.

    Examples
    --------
    >>> import tempfile
    >>> write_run_thresholds(ReviewedThresholds(QcThresholds()), tempfile.mkdtemp()).name
    'thresholds.yaml'
    """
    content = reviewed.to_yaml_dict()
    content["source"] = str(reviewed.source) if reviewed.source else None
    return _write_yaml_atomic(Path(output_dir) / RUN_THRESHOLDS_FILE, content,
                              "# Thresholds used by this WGS QC run\n")


def load_run_thresholds(run: RunRecord) -> ReviewedThresholds | None:
    """The thresholds an earlier run used: its ``thresholds.yaml``, else ``qc_thresholds`` in its run.json.

    Examples
    --------
    >>> load_run_thresholds(latest_run("demo", "wgs_qc")).thresholds.min_call_rate  # doctest: +SKIP
    0.95
    """
    path = run.output(RUN_THRESHOLDS_FILE)
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        th = as_thresholds(data.get("thresholds") or {}, source=str(path))
        raw_date = data.get("date")
        day = datetime.date.fromisoformat(str(raw_date)) if raw_date else None
        return ReviewedThresholds(th, data.get("reviewer"), day, data.get("note") or "",
                                  Path(data["source"]) if data.get("source") else None)
    values = run.record.get("qc_thresholds")
    if isinstance(values, dict):
        return ReviewedThresholds(as_thresholds(values, source=str(run.run_dir / "run.json")))
    return None


@dataclass
class ThresholdReview:
    """What changed since the latest earlier WGS QC run.

    Attributes
    ----------
    previous_run : RunRecord or None
        The latest earlier succeeded run (None: this is the first).
    changed : pandas.DataFrame
        ``threshold``, ``previous``, ``current`` for each threshold whose value differs (values as text).
    newly_failing, newly_passing : pandas.DataFrame
        ``sample_id``, ``previous_reasons``, ``reasons`` of samples in both runs whose verdict flipped.
    decisions_available : bool
        False when the earlier run left no ``qc_decisions.parquet`` (an export-mode run).
    new_samples, dropped_samples : int
        Samples in only this run / only the earlier one.
    """

    previous_run: RunRecord | None
    previous: ReviewedThresholds | None
    changed: pd.DataFrame
    newly_failing: pd.DataFrame
    newly_passing: pd.DataFrame
    decisions_available: bool = False
    new_samples: int = 0
    dropped_samples: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def thresholds_changed(self) -> bool:
        return not self.changed.empty


def _as_text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def compare_thresholds(previous: QcThresholds, current: QcThresholds) -> pd.DataFrame:
    """Thresholds whose values differ: ``threshold``, ``previous``, ``current`` (as text).

    Examples
    --------
    >>> compare_thresholds(QcThresholds(), QcThresholds(min_call_rate=0.9)).to_dict("records")
    [{'threshold': 'min_call_rate', 'previous': '0.95', 'current': '0.9'}]
    """
    a, b = previous.model_dump(mode="json"), current.model_dump(mode="json")
    rows = [{"threshold": k, "previous": _as_text(a.get(k)), "current": _as_text(b[k])}
            for k in b if a.get(k) != b[k]]
    return pd.DataFrame(rows, columns=["threshold", "previous", "current"])


def select_earlier_run(project: str | Path | Project, *, exclude: str | Path | None = None) -> RunRecord | None:
    """The latest succeeded WGS QC run of the project, other than the run folder ``exclude``.

    Examples
    --------
    >>> select_earlier_run(project) is None  # project: an empty project folder, no run yet
    True
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    for run in list_runs(project, TRACK):
        if run.succeeded and (skip is None or run.run_dir.resolve() != skip):
            return run
    return None


def _reasons_text(values: Any) -> str:
    if values is None or (isinstance(values, float) and pd.isna(values)):
        return ""
    return ", ".join(str(v) for v in list(values))


def compare_decisions(previous: pd.DataFrame, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(newly_failing, newly_passing)``: samples in both tables whose ``pass`` flipped.

    Examples
    --------
    >>> old = pd.DataFrame({"sample_id": ["a", "b"], "pass": [True, False], "reasons": [[], ["duplicate"]]})
    >>> new = pd.DataFrame({"sample_id": ["a", "b"], "pass": [False, True], "reasons": [["low_call_rate"], []]})
    >>> [t["sample_id"].tolist() for t in compare_decisions(old, new)]
    [['a'], ['b']]
    """
    cols = ["sample_id", "previous_reasons", "reasons"]
    both = current[["sample_id", "pass", "reasons"]].merge(
        previous[["sample_id", "pass", "reasons"]].rename(columns={"pass": "previous_pass",
                                                                   "reasons": "previous_reasons"}),
        on="sample_id", how="inner")
    both["reasons"] = both["reasons"].map(_reasons_text)
    both["previous_reasons"] = both["previous_reasons"].map(_reasons_text)
    fail = both[both["previous_pass"].astype(bool) & ~both["pass"].astype(bool)][cols].reset_index(drop=True)
    passed = both[~both["previous_pass"].astype(bool) & both["pass"].astype(bool)][cols].reset_index(drop=True)
    return fail, passed


def review_thresholds(
    project: str | Path | Project,
    current: ReviewedThresholds | QcThresholds,
    decisions: pd.DataFrame,
    *,
    exclude_run: str | Path | None = None,
) -> ThresholdReview:
    """Compare this run's thresholds and decisions with the latest earlier succeeded WGS QC run.

    Parameters
    ----------
    project
        The project (its run catalogue is read).
    current
        This run's thresholds.
    decisions
        This run's decisions (``sample_id``, ``pass``, ``reasons``).
    exclude_run
        This run's own folder, if it is already in the catalogue.

    Examples
    --------
    >>> from pmo_workbench.qc.pipeline import run_qc
    >>> review = review_thresholds(project, QcThresholds(), run_qc(g).decisions)  # a first run: nothing to compare
    >>> review.previous_run is None, len(review.newly_failing)
    (True, 0)
    """
    th = current.thresholds if isinstance(current, ReviewedThresholds) else current
    empty = pd.DataFrame(columns=["sample_id", "previous_reasons", "reasons"])
    run = select_earlier_run(project, exclude=exclude_run)
    if run is None:
        return ThresholdReview(None, None, compare_thresholds(th, th), empty, empty.copy(),
                               notes=["no earlier WGS QC run in the catalogue"])
    notes: list[str] = []
    previous = load_run_thresholds(run)
    if previous is None:
        notes.append("the earlier run recorded no thresholds")
        changed = pd.DataFrame(columns=["threshold", "previous", "current"])
    else:
        changed = compare_thresholds(previous.thresholds, th)
    path = run.output(DECISIONS_FILE)
    if not path.is_file():
        notes.append("the earlier run wrote no per-sample decisions (export mode): flips cannot be listed")
        return ThresholdReview(run, previous, changed, empty, empty.copy(), notes=notes)
    prev = pd.read_parquet(path)
    prev["sample_id"] = prev["sample_id"].astype(str)
    cur = decisions.assign(sample_id=decisions["sample_id"].astype(str))
    fail, passed = compare_decisions(prev, cur)
    cur_ids, prev_ids = set(cur["sample_id"]), set(prev["sample_id"])
    return ThresholdReview(run, previous, changed, fail, passed, decisions_available=True,
                           new_samples=len(cur_ids - prev_ids), dropped_samples=len(prev_ids - cur_ids),
                           notes=notes)
