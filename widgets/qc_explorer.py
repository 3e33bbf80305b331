"""``QcExplorer``: set WGS QC thresholds interactively, see the flagged samples at once, save the reviewed values.

The widget holds the QC method tables of a run (sample QC, sex check, kinship, ancestry; no genotypes) and, on
every threshold change, re-applies :func:`pmo_workbench.qc.rules.apply_thresholds` to them: the decision step
of :func:`~pmo_workbench.qc.pipeline.run_qc` itself (sex called, samples decided), without re-reading genotypes
(~0.25 s for 2,500 samples on 2 busy cores). Histograms are binned here and drawn in the browser as SVG by
``qc_explorer.js`` (no JavaScript libraries, works offline); their labels and the empty tables come from the
table specs (:mod:`pmo_workbench.qc.tables`). "Save" writes the reviewed
thresholds with reviewer, date and note to ``PROJECT/params/wgs_qc.yaml`` through
:func:`pmo_workbench.qc.review.save_reviewed_thresholds` (atomic; read back by ``load_reviewed_thresholds``).

Threshold values are a synced dict trait (``thresholds``), so they can be set from Python as well as from the
page; invalid values (e.g. a female F threshold above the male one) are refused and the previous values kept.

Examples
--------
>>> from pmo_widgets import QcExplorer  # doctest: +SKIP
>>> w = QcExplorer(result, manifest="data/manifest.tsv", project="myproject")  # doctest: +SKIP
>>> w.set_thresholds(min_call_rate=0.98); w.n_flagged  # doctest: +SKIP
12
>>> w.save(reviewer="A. Reviewer", note="call rate raised for batch 7")  # doctest: +SKIP
PosixPath('myproject/params/wgs_qc.yaml')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import pandas as pd
import traitlets as t

from pmo_workbench.errors import ConfigError
from pmo_workbench.genotypes.manifest import load_manifest
from pmo_workbench.project import Project, load_project
from pmo_workbench.qc.review import REVIEW_FILE, save_reviewed_thresholds
from pmo_workbench.qc.rules import REASONS, QcTables, apply_thresholds
from pmo_workbench.qc.tables import ANCESTRY, KINSHIP, SAMPLE_QC, SEX_CHECK
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds

if TYPE_CHECKING:
    from pmo_workbench.qc.pipeline import QcResult

CONTROLS: tuple[dict[str, Any], ...] = (
    {"name": "min_call_rate", "label": "Minimum call rate", "min": 0.8, "max": 1.0, "step": 0.001},
    {"name": "het_mad_k", "label": "Heterozygosity outlier: k·MAD", "min": 0.5, "max": 12.0, "step": 0.1},
    {"name": "female_threshold", "label": "chrX F: female below", "min": -0.5, "max": 1.0, "step": 0.01},
    {"name": "male_threshold", "label": "chrX F: male above", "min": -0.5, "max": 1.0, "step": 0.01},
    {"name": "duplicate_kinship", "label": "Duplicate kinship above", "min": 0.0442, "max": 0.5, "step": 0.001},
    {"name": "ancestry_mad_k", "label": "Ancestry outlier: k·MAD", "min": 0.5, "max": 12.0, "step": 0.1},
    {"name": "mad_k", "label": "Metric outlier: k·MAD", "min": 0.5, "max": 12.0, "step": 0.1},
    {"name": "min_mean_coverage", "label": "Minimum mean coverage (x)", "min": 0.0, "max": 60.0, "step": 0.5},
    {"name": "max_contamination", "label": "Maximum contamination", "min": 0.0, "max": 0.2, "step": 0.001},
)
"""The thresholds the widget offers a control for (the rest of :class:`QcThresholds` is kept as given)."""



def compute_histogram(
    values: np.ndarray, edges: np.ndarray, hit: np.ndarray, failed: np.ndarray
) -> dict[str, list[int]]:
    """Counts per bin of ``values`` split into ``pass``, ``other`` (fail for another reason) and ``hit`` (flagged
    by this metric); values outside ``edges`` go to the first/last bin, NaN are left out.

    Examples
    --------
    >>> h = compute_histogram(np.array([0.1, 0.6, 0.9]), np.array([0.0, 0.5, 1.0]),
    ...                       np.array([False, False, True]), np.array([True, False, True]))
    >>> h["pass"], h["other"], h["hit"]
    ([0, 1], [1, 0], [0, 1])
    """
    ok = np.isfinite(values)
    idx = np.clip(np.searchsorted(edges, values[ok], side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    hit, failed = hit[ok], failed[ok]
    return {
        "pass": np.bincount(idx[~failed & ~hit], minlength=nb).tolist(),
        "other": np.bincount(idx[failed & ~hit], minlength=nb).tolist(),
        "hit": np.bincount(idx[hit], minlength=nb).tolist(),
    }


def _bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return np.array([0.0, 1.0])
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        pad = max(abs(lo) * 0.01, 0.5e-3)
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, bins + 1)


def _json_float(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _as_params_path(project: str | Path | Project | None, params_file: str | Path | None) -> Path | None:
    if params_file is not None:
        return Path(params_file)
    if project is None:
        return None
    proj = project if isinstance(project, Project) else load_project(project, check_files=False)
    return proj.params_dir / REVIEW_FILE


class QcExplorer(anywidget.AnyWidget):
    """Interactive review of WGS QC thresholds: controls, live histograms, flagged samples, save.

    Parameters
    ----------
    result
        A :class:`~pmo_workbench.qc.pipeline.QcResult`; its tables and thresholds are used, and its
        ``decisions`` are the baseline for "newly flagged / newly passing".
    sample_qc, sex_check, kinship, ancestry
        The method tables, when no ``result`` is given (only ``sample_qc`` is required).
    decisions
        Baseline decisions (``sample_id``, ``pass``, ``reasons``) when no ``result`` is given; default: the
        decisions at the starting thresholds. Reasons that need a missing table (sex, duplicate/pedigree,
        ancestry) are taken from here as they are, since they cannot be recomputed.
    manifest
        Genome manifest (DataFrame or TSV path): supplies ``batch`` and any other stratum columns.
    thresholds
        Starting thresholds (default: ``result.thresholds``, else the defaults).
    project, params_file
        Where "save" writes: ``params_file``, else ``PROJECT/params/wgs_qc.yaml``.
    reviewer, note
        Prefill of the reviewer and note fields.
    bins
        Histogram bins.
    max_rows
        Most flagged samples listed in the table (the count is always complete).

    Attributes
    ----------
    thresholds : dict
        The controlled threshold values (synced both ways; set from Python with :meth:`set_thresholds`).
    n_samples, n_flagged, n_flagged_view, n_review : int
        Samples, samples failing any check, failing samples in the current view, samples sent to review.
    decisions : pandas.DataFrame
        The current decisions (``sample_id``, ``pass``, ``reasons``, ``verdict``, ``review_reasons``,
        ``explanation``). The table of flagged samples lists failing and review samples, each with its verdict
        and the explanation of every flag (metric, value, bound, stratum, rule).

    Examples
    --------
    >>> w = QcExplorer(sample_qc=sqc, manifest=manifest)  # doctest: +SKIP
    >>> w.set_thresholds(min_call_rate=0.99)  # doctest: +SKIP
    """

    _esm = Path(__file__).with_name("qc_explorer.js")
    _css = Path(__file__).with_name("qc_explorer.css")

    thresholds = t.Dict().tag(sync=True)
    controls = t.List().tag(sync=True)
    histograms = t.List().tag(sync=True)
    flagged = t.List().tag(sync=True)
    reason_counts = t.Dict().tag(sync=True)
    n_samples = t.Int(0).tag(sync=True)
    n_flagged = t.Int(0).tag(sync=True)
    n_flagged_view = t.Int(0).tag(sync=True)
    n_review = t.Int(0).tag(sync=True)
    n_newly_flagged = t.Int(0).tag(sync=True)
    n_newly_passing = t.Int(0).tag(sync=True)
    strata_options = t.Dict().tag(sync=True)
    view_by = t.Unicode("").tag(sync=True)
    view_value = t.Unicode("").tag(sync=True)
    reviewer = t.Unicode("").tag(sync=True)
    note = t.Unicode("").tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    saved_path = t.Unicode("").tag(sync=True)
    can_save = t.Bool(False).tag(sync=True)

    def __init__(
        self,
        result: QcResult | None = None,
        *,
        sample_qc: pd.DataFrame | None = None,
        sex_check: pd.DataFrame | None = None,
        kinship: pd.DataFrame | None = None,
        ancestry: pd.DataFrame | None = None,
        decisions: pd.DataFrame | None = None,
        manifest: str | Path | pd.DataFrame | None = None,
        thresholds: QcThresholds | dict[str, Any] | None = None,
        project: str | Path | Project | None = None,
        params_file: str | Path | None = None,
        reviewer: str = "",
        note: str = "",
        bins: int = 30,
        max_rows: int = 500,
        read_metrics: pd.DataFrame | None = None,
        **kwargs: Any,
    ) -> None:
        self._auto: pd.DataFrame | None = None
        if result is not None and read_metrics is None:
            read_metrics = getattr(result, "read_metrics", None)
        if read_metrics is not None and "sample_id" in read_metrics.columns:
            read_metrics = read_metrics.set_index("sample_id")
        self._rm = read_metrics if read_metrics is not None and len(read_metrics) else None
        if result is not None:
            sample_qc, sex_check, kinship, ancestry = (
                result.sample_qc, result.sex_check, result.kinship, result.ancestry
            )
            self._auto = getattr(result, "sample_qc_autosomal", None)
            decisions = result.decisions if decisions is None else decisions
            thresholds = result.thresholds if thresholds is None else thresholds
        if sample_qc is None:
            raise ConfigError("QcExplorer needs a QcResult or a sample_qc table", field="sample_qc")
        self._th = as_thresholds(thresholds)
        self._sqc = sample_qc.assign(sample_id=sample_qc["sample_id"].astype(str)).reset_index(drop=True)
        self._ids = self._sqc["sample_id"].to_numpy()
        self._sex = (sex_check if sex_check is not None else SEX_CHECK.empty()).assign(
            sample_id=lambda d: d["sample_id"].astype(str)
        )
        self._kin = kinship if kinship is not None else KINSHIP.empty()
        if "unexpected" not in self._kin.columns:
            self._kin = self._kin.assign(unexpected=False)
        self._anc = (ancestry if ancestry is not None else pd.DataFrame({"sample_id": self._ids})).assign(
            sample_id=lambda d: d["sample_id"].astype(str)
        )
        self._manifest = load_manifest(manifest) if manifest is not None else None
        self._fixed = self._collect_fixed_reasons(decisions, sex_check is None, kinship is None, ancestry is None)
        self._params_path = _as_params_path(project, params_file)
        self._bins = bins
        self._max_rows = max_rows
        self._edges: dict[str, np.ndarray] = {}
        self._view = self._build_view_frame()
        self._stratum_labels = (
            self._view[self._view_columns].astype(str).agg(" · ".join, axis=1).tolist()
            if self._view_columns
            else [""] * len(self._ids)
        )
        super().__init__(
            reviewer=reviewer,
            note=note,
            controls=self._control_specs(),
            strata_options={c: sorted(self._view[c].unique().tolist()) for c in self._view_columns},
            can_save=self._params_path is not None,
            n_samples=len(self._ids),
            **kwargs,
        )
        self.decisions, self.outliers = self._decide(self._th)
        self._baseline = self._as_fail_set(decisions) if decisions is not None else self._as_fail_set(self.decisions)
        self.thresholds = self._controlled_values(self._th)  # the observer computes the first view
        self.on_msg(self._on_custom_msg)

    # ----------------------------------------------------------------------------------------------- public
    @property
    def qc_thresholds(self) -> QcThresholds:
        """The current thresholds as a validated :class:`QcThresholds` (all fields, not only the controlled)."""
        return self._th

    @property
    def params_path(self) -> Path | None:
        """Where :meth:`save` writes (None: no project given)."""
        return self._params_path

    def set_thresholds(self, **values: float) -> None:
        """Change controlled thresholds by name, e.g. ``set_thresholds(min_call_rate=0.98)``.

        Raises
        ------
        ConfigError
            For an unknown or invalid value (the previous values stay).
        """
        new = {**self.thresholds, **values}
        self._validate(new)  # raise here, before the trait observer would refuse it
        self.thresholds = new

    def flagged_samples(self) -> list[str]:
        """IDs of every sample that fails at the current thresholds, in table order."""
        return self.decisions.loc[~self.decisions["pass"], "sample_id"].tolist()

    def save(self, reviewer: str | None = None, note: str | None = None) -> Path:
        """Write the current thresholds with reviewer, date (today, UTC) and note to ``params/wgs_qc.yaml``
        (:func:`pmo_workbench.qc.review.save_reviewed_thresholds`: atomic, non-default values only).

        Raises
        ------
        ConfigError
            Without a project/params file, or without a reviewer.
        """
        if reviewer is not None:
            self.reviewer = reviewer
        if note is not None:
            self.note = note
        if self._params_path is None:
            raise ConfigError("no project given: cannot save reviewed thresholds", field="project")
        path = save_reviewed_thresholds(self._params_path, self._th, reviewer=self.reviewer, note=self.note)
        self.saved_path = str(path)
        self.status = f"Saved to {path}"
        return path

    # ---------------------------------------------------------------------------------------------- internal
    @property
    def _view_columns(self) -> list[str]:
        return [c for c in self._view.columns if c != "sample_id"]

    def _build_view_frame(self) -> pd.DataFrame:
        view = pd.DataFrame({"sample_id": self._ids})
        cols = list(dict.fromkeys([*self._th.strata, "batch", "sequencing_site"]))
        for col in cols:
            if col == "assigned_population":
                continue
            if self._manifest is not None and col in self._manifest.columns:
                m = self._manifest.set_index("sample_id")[col]
                view[col] = m.reindex(self._ids).fillna("NA").astype(str).to_numpy()
        if "assigned_population" in self._anc.columns and self._anc["assigned_population"].notna().any():
            a = self._anc.set_index("sample_id")["assigned_population"]
            view["assigned_population"] = a.reindex(self._ids).fillna("NA").astype(str).to_numpy()
        return view

    def _control_specs(self) -> list[dict[str, Any]]:
        has_sex = "f_stat" in self._sex.columns and self._sex["f_stat"].notna().any()
        has_kin = len(self._kin) > 0
        has_anc = "pc_distance" in self._anc.columns and self._anc["pc_distance"].notna().any()
        skip = set()
        if not has_sex:
            skip |= {"female_threshold", "male_threshold"}
        if not has_kin:
            skip.add("duplicate_kinship")
        if not has_anc:
            skip.add("ancestry_mad_k")
        if self._rm is None:  # no read-level metrics (no delivery ingested)
            skip |= {"min_mean_coverage", "max_contamination"}
        specs = []
        for spec in CONTROLS:
            if spec["name"] in skip:
                continue
            spec = dict(spec)
            if spec["name"] == "min_call_rate":
                lo = float(np.nanmin(self._sqc["call_rate"].to_numpy(dtype=np.float64), initial=1.0))
                spec["min"] = min(spec["min"], math.floor(lo * 100) / 100)
            if spec["name"] == "duplicate_kinship":
                spec["min"] = self._th.report_kinship  # the kinship table holds no pairs below this
            specs.append(spec)
        return specs

    def _controlled_values(self, th: QcThresholds) -> dict[str, float]:
        return {s["name"]: float(getattr(th, s["name"])) for s in self.controls}

    def _validate(self, values: dict[str, Any]) -> QcThresholds:
        unknown = set(values) - {s["name"] for s in self.controls}
        if unknown:
            raise ConfigError(f"no control for {sorted(unknown)}", field="thresholds")
        th = as_thresholds({**self._th.model_dump(), **values}, source="QcExplorer")
        if th.female_threshold > th.male_threshold:
            raise ConfigError("must not exceed male_threshold", file="QcExplorer", field="female_threshold")
        return th

    @t.observe("thresholds")
    def _on_thresholds(self, change: dict[str, Any]) -> None:
        try:
            th = self._validate(change["new"])
        except ConfigError as exc:
            self.thresholds = change["old"] or self._controlled_values(self._th)
            self.status = f"Not applied: {exc}"  # after the revert, whose refresh clears the status
            return
        if not hasattr(self, "_baseline"):
            return  # still constructing
        self._th = th
        self.decisions, self.outliers = self._decide(th)
        self.status = ""
        self._refresh()

    @t.observe("view_by", "view_value")
    def _on_view(self, change: dict[str, Any]) -> None:
        if self.view_by and self.view_by not in self.strata_options:
            self.view_by = ""
            return
        values = self.strata_options.get(self.view_by, [])
        if self.view_by and self.view_value not in values:
            self.view_value = values[0] if values else ""
            return
        if hasattr(self, "_baseline"):
            self._refresh()

    def _decide(self, th: QcThresholds) -> tuple[pd.DataFrame, pd.DataFrame]:
        outcome = apply_thresholds(QcTables(self._sqc, self._sex, self._kin, self._anc, self._manifest, self._rm,
                                            sample_qc_autosomal=self._auto), th)
        decisions, outliers = outcome.decisions, outcome.outliers
        if self._fixed:
            merged = [
                [r for r in REASONS if r in rs or r in self._fixed.get(sid, ())]
                for sid, rs in zip(decisions["sample_id"], decisions["reasons"], strict=True)
            ]
            decisions = decisions.assign(reasons=merged, **{"pass": [not rs for rs in merged]})
        return decisions, outliers

    @staticmethod
    def _collect_fixed_reasons(
        decisions: pd.DataFrame | None, no_sex: bool, no_kinship: bool, no_ancestry: bool
    ) -> dict[str, set[str]]:
        """Reasons of the given decisions whose method table is missing: kept as they are (not recomputable)."""
        keep = (
            ({"sex_mismatch", "sex_ambiguous"} if no_sex else set())
            | ({"duplicate", "pedigree_mismatch"} if no_kinship else set())
            | ({"ancestry_outlier"} if no_ancestry else set())
        )
        if decisions is None or not keep:
            return {}
        fixed = {
            str(sid): set(rs) & keep for sid, rs in zip(decisions["sample_id"], decisions["reasons"], strict=True)
        }
        return {sid: rs for sid, rs in fixed.items() if rs}

    @staticmethod
    def _as_fail_set(decisions: pd.DataFrame) -> set[str]:
        return set(decisions.loc[~decisions["pass"].astype(bool), "sample_id"].astype(str))

    def _view_mask(self) -> np.ndarray:
        if not self.view_by or self.view_by not in self._view.columns:
            return np.ones(len(self._ids), dtype=bool)
        return (self._view[self.view_by] == self.view_value).to_numpy()

    def _refresh(self) -> None:
        dec = self.decisions
        failed = ~dec["pass"].to_numpy(dtype=bool)
        reasons = dec["reasons"].tolist()
        review = (dec["review_reasons"].tolist() if "review_reasons" in dec else [[] for _ in reasons])
        verdict = dec["verdict"].tolist() if "verdict" in dec else ["fail" if f else "pass" for f in failed]
        why = dec["explanation"].tolist() if "explanation" in dec else [[] for _ in reasons]
        listed = failed | np.array([bool(r) for r in review], dtype=bool)
        mask = self._view_mask()
        fail_set = set(self._ids[failed])
        order = sorted(np.flatnonzero(listed & mask),
                       key=lambda i: (not failed[i], -len(reasons[i]) - len(review[i]), self._ids[i]))
        rows = [
            {
                "sample_id": str(self._ids[i]),
                "stratum": self._stratum_labels[i],
                "verdict": str(verdict[i]),
                "reasons": list(reasons[i]) + list(review[i]),
                "explanation": [str(x) for x in why[i]],
                "new": bool(failed[i]) and self._ids[i] not in self._baseline,
            }
            for i in order[: self._max_rows]
        ]
        counts = {r: 0 for r in REASONS}
        for rs in [*reasons, *review]:
            for r in rs:
                counts[r] = counts.get(r, 0) + 1
        with self.hold_sync():
            self.histograms = self._histograms(mask, failed)
            self.flagged = rows
            self.reason_counts = {r: c for r, c in counts.items() if c}
            self.n_flagged = int(failed.sum())
            self.n_review = int((listed & ~failed).sum())
            self.n_flagged_view = int((failed & mask).sum())
            self.n_newly_flagged = len(fail_set - self._baseline)
            self.n_newly_passing = len(self._baseline - fail_set)

    def _hist(
        self,
        key: str,
        label: str,
        values: np.ndarray,
        hit: np.ndarray,
        failed: np.ndarray,
        lines: Sequence[tuple[float, str]],
    ) -> dict[str, Any]:
        values = np.asarray(values, dtype=np.float64)
        if key not in self._edges:
            self._edges[key] = _bin_edges(values, self._bins)
        edges = self._edges[key]
        seen: dict[float, str] = {}
        for v, name in lines:
            f = _json_float(v)
            if f is not None and round(f, 9) not in seen and len(seen) < 8:
                seen[round(f, 9)] = name
        return {
            "key": key,
            "label": label,
            "edges": [float(e) for e in edges],
            "n": int(np.isfinite(values).sum()),
            **compute_histogram(values, edges, np.asarray(hit, dtype=bool), np.asarray(failed, dtype=bool)),
            "lines": [{"value": v, "label": name} for v, name in sorted(seen.items())],
        }

    def _bounds(self, metric: str, mask: np.ndarray) -> list[tuple[float, str]]:
        lo = self.outliers[f"{metric}_lower"].to_numpy(dtype=np.float64)[mask]
        hi = self.outliers[f"{metric}_upper"].to_numpy(dtype=np.float64)[mask]
        return [(v, "lower bound") for v in np.unique(lo[np.isfinite(lo)])] + [
            (v, "upper bound") for v in np.unique(hi[np.isfinite(hi)])
        ]

    def _histograms(self, mask: np.ndarray, failed: np.ndarray) -> list[dict[str, Any]]:
        th, dec, out = self._th, self.decisions, self.outliers
        reasons = dec["reasons"].tolist()

        def has(reason: str) -> np.ndarray:
            return np.fromiter((reason in r for r in reasons), dtype=bool, count=len(reasons))

        hs = [
            self._hist(
                "call_rate", SAMPLE_QC["call_rate"].title, self._sqc["call_rate"].to_numpy(dtype=np.float64)[mask],
                has("low_call_rate")[mask], failed[mask], [(th.min_call_rate, "minimum call rate")],
            ),
            self._hist(
                "het_rate", "Heterozygosity rate (n_het / n_called)", out["het_rate_value"].to_numpy()[mask],
                has("het_outlier")[mask], failed[mask], self._bounds("het_rate", mask),
            ),
        ]
        if self._rm is not None:  # read-level metrics of the deliveries
            for col, reason, title, line in (
                ("mean_coverage", "low_coverage", "Mean coverage (x)", (th.min_mean_coverage, "minimum")),
                ("contamination", "contamination", "Contamination (fraction)", (th.max_contamination, "maximum")),
            ):
                v = pd.to_numeric(self._rm[col], errors="coerce").astype("float64").reindex(self._ids) \
                    if col in self._rm.columns else pd.Series(np.nan, index=self._ids)
                if np.isfinite(v.to_numpy()).any():  # no empty histogram
                    hs.append(self._hist(col, title, v.to_numpy()[mask], has(reason)[mask], failed[mask], [line]))
        if "f_stat" in self._sex.columns and self._sex["f_stat"].notna().any():
            f = self._sex.set_index("sample_id")["f_stat"].reindex(self._ids).to_numpy(dtype=np.float64)
            sex_hit = has("sex_mismatch") | has("sex_ambiguous")
            hs.append(
                self._hist(
                    "f_stat", SEX_CHECK["f_stat"].title, f[mask], sex_hit[mask], failed[mask],
                    [(th.female_threshold, "female below"), (th.male_threshold, "male above")],
                )
            )
        if len(self._kin):
            k = self._kin["kinship"].to_numpy(dtype=np.float64)
            in_view = np.isin(self._kin["sample_i"].astype(str), self._ids[mask]) | np.isin(
                self._kin["sample_j"].astype(str), self._ids[mask]
            )
            above = k > th.duplicate_kinship
            hs.append(
                self._hist(
                    "kinship", f"{KINSHIP['kinship'].title} of listed pairs", k[in_view], above[in_view], above[in_view],
                    [(th.duplicate_kinship, "duplicate above")],
                )
            )
        if out["pc_distance_value"].notna().any():
            hs.append(
                self._hist(
                    "pc_distance", ANCESTRY["pc_distance"].title,
                    out["pc_distance_value"].to_numpy()[mask], has("ancestry_outlier")[mask], failed[mask],
                    self._bounds("pc_distance", mask),
                )
            )
        suffix = f" (residual on {th.regress_pcs} PCs)" if th.regress_pcs else ""
        for m in th.outlier_metrics:
            if f"{m}_value" not in out.columns:
                continue
            hit = out[f"{m}_outlier"].to_numpy(dtype=bool)
            hs.append(
                self._hist(
                    f"metric:{m}", f"{m}{suffix}", out[f"{m}_value"].to_numpy()[mask], hit[mask], failed[mask],
                    self._bounds(m, mask),
                )
            )
        # a metric without a single finite value in view (e.g. depth on a GT-only VCF) gets no empty plot
        return [h for h in hs if h["n"] > 0]

    def _on_custom_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "save":
            return
        shown = content.get("thresholds")
        if isinstance(shown, dict) and shown != self.thresholds:
            # the page's thresholds can reach the kernel after the save message (ipywidgets holds state
            # updates back while the kernel is busy): apply them first, so what is saved is what was shown
            self.thresholds = shown
            if self.thresholds != shown:  # refused and reverted by the observer, which said why
                why = self.status.removeprefix("Not applied: ") or "the thresholds shown were refused"
                self.status = f"Not saved: {why}"
                return
        try:
            self.save(reviewer=_text_or_none(content.get("reviewer")), note=_text_or_none(content.get("note")))
        except (ConfigError, OSError) as exc:
            self.status = f"Not saved: {exc}"


def _text_or_none(value: Any) -> str | None:
    """A text field of a page message, or ``None`` when the page did not send one."""
    return value if isinstance(value, str) else None
