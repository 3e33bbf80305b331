"""Batch trend: each WGS QC run's per-batch metric summaries against the batches of earlier runs.

Every run writes ``batch_metrics.parquet`` (one row per batch: sample count and the median of each metric). The
next run reads those files from the earlier succeeded runs in the catalogue and draws a control chart per metric:
the reference is one point per earlier batch (a batch seen in several runs counts once, with its latest value);
the limits are ``mean ± k·SD`` (``method="sd"``, Shewhart) or ``median ± k·1.4826·MAD`` (``method="mad"``) of
those points. A batch of this run outside the limits of any metric is *drifting*. Two guards keep the chart
honest: with fewer than ``min_batches`` reference batches there is no verdict, and the spread is never taken
below ``rel_floor`` times the centre, so near-identical earlier batches do not turn noise into alarms.

Examples
--------
>>> hist = pd.DataFrame({"batch": ["B1", "B2", "B3"], "run_started": pd.Timestamp("2026-01-01"),
...                      "call_rate": [0.991, 0.989, 0.990]})
>>> now = pd.DataFrame({"batch": ["B4", "B5"], "call_rate": [0.990, 0.90]})
>>> check_batch_trend(now, hist, metrics=["call_rate"]).drifting
['B5']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pmo_workbench.catalogue import list_runs
from pmo_workbench.files import replace_atomically
from pmo_workbench.project import Project

BATCH_METRICS_FILE = "batch_metrics.parquet"
TREND_METRICS = ("call_rate", "het_rate", "r_ti_tv", "r_het_hom_var", "n_singleton", "dp_mean", "gq_mean")
"""Per-sample metrics summarised per batch (median), where the sample QC table has them."""
TRACK = "wgs_qc"


def compute_batch_metrics(
    sample_qc: pd.DataFrame,
    batches: pd.DataFrame | pd.Series | None,
    decisions: pd.DataFrame | None = None,
    *,
    by: str = "batch",
    metrics: tuple[str, ...] | list[str] = TREND_METRICS,
) -> pd.DataFrame:
    """One row per batch: ``batch``, ``n_samples``, ``fail_rate`` (with ``decisions``) and each metric's median.

    Parameters
    ----------
    sample_qc
        Per-sample QC table (``sample_id``, ``call_rate``, ``n_het``, ``n_called``, ...); ``het_rate`` is
        derived as ``n_het / n_called``.
    batches
        Manifest (``sample_id`` and the ``by`` column) or a Series sample_id -> batch; None: one batch ``all``.
    decisions
        QC decisions (``sample_id``, ``pass``), for the share of failing samples per batch.

    Examples
    --------
    >>> sqc = pd.DataFrame({"sample_id": ["a", "b", "c"], "call_rate": [0.99, 0.97, 0.95],
    ...                     "n_het": [10, 12, 14], "n_called": [100, 100, 100]})
    >>> man = pd.DataFrame({"sample_id": ["a", "b", "c"], "batch": ["B1", "B1", "B2"]})
    >>> compute_batch_metrics(sqc, man)[["batch", "n_samples", "call_rate", "het_rate"]].to_dict("list")
    {'batch': ['B1', 'B2'], 'n_samples': [2, 1], 'call_rate': [0.98, 0.95], 'het_rate': [0.11, 0.14]}
    """
    df = sample_qc.assign(sample_id=sample_qc["sample_id"].astype(str)).copy()
    if "het_rate" not in df.columns and {"n_het", "n_called"} <= set(df.columns):
        with np.errstate(divide="ignore", invalid="ignore"):
            df["het_rate"] = df["n_het"] / df["n_called"].where(df["n_called"] > 0)
    if batches is None:
        df["batch"] = "all"
    else:
        if isinstance(batches, pd.DataFrame):
            batches = batches.assign(sample_id=batches["sample_id"].astype(str)).set_index("sample_id")[by]
        df["batch"] = batches.reindex(df["sample_id"]).fillna("NA").astype(str).to_numpy()
    if decisions is not None:
        fail = ~decisions.assign(sample_id=decisions["sample_id"].astype(str)).set_index("sample_id")["pass"]
        df["failed"] = fail.reindex(df["sample_id"]).astype(float).to_numpy()
    present = [m for m in metrics if m in df.columns and df[m].notna().any()]
    grouped = df.groupby("batch", sort=True)
    out = grouped.size().rename("n_samples").to_frame()
    if decisions is not None:
        out["fail_rate"] = grouped["failed"].mean()
    for m in present:
        out[m] = grouped[m].median()
    return out.reset_index()


def write_batch_metrics(table: pd.DataFrame, output_dir: str | Path) -> Path:
    """Write ``output_dir/batch_metrics.parquet`` atomically.

    Examples
    --------
    >>> import tempfile
    >>> write_batch_metrics(pd.DataFrame({"batch": ["B1"], "call_rate": [0.99]}), tempfile.mkdtemp()).name
    'batch_metrics.parquet'
    """
    target = Path(output_dir) / BATCH_METRICS_FILE
    with replace_atomically(target) as tmp:
        table.to_parquet(tmp, index=False)
    return target


def load_batch_history(project: str | Path | Project, *, exclude: str | Path | None = None) -> pd.DataFrame:
    """The ``batch_metrics.parquet`` of every earlier succeeded WGS QC run, with ``run_started`` and ``run_dir``.

    Runs without the file (older or failed runs) are skipped; ``exclude`` is this run's own folder.

    Examples
    --------
    >>> len(load_batch_history(project))  # project: an empty project folder, no earlier run
    0
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    parts = []
    for run in list_runs(project, TRACK):
        path = run.output(BATCH_METRICS_FILE)
        if not run.succeeded or not path.is_file() or (skip is not None and run.run_dir.resolve() == skip):
            continue
        df = pd.read_parquet(path)
        df["run_started"] = pd.Timestamp(run.started)
        df["run_dir"] = run.run_dir.name
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["batch", "run_started", "run_dir"])
    return pd.concat(parts, ignore_index=True)


def select_reference_batches(history: pd.DataFrame) -> pd.DataFrame:
    """One row per earlier batch: its latest observation (a batch re-run in many runs counts once).

    Examples
    --------
    >>> h = pd.DataFrame({"batch": ["B1", "B1"], "run_started": [1, 2], "call_rate": [0.9, 0.95]})
    >>> select_reference_batches(h)["call_rate"].tolist()
    [0.95]
    """
    if history.empty:
        return history
    return (history.sort_values("run_started", kind="stable")
            .drop_duplicates("batch", keep="last").reset_index(drop=True))


def compute_control_limits(
    reference: pd.DataFrame,
    metrics: list[str],
    *,
    method: Literal["sd", "mad"] = "sd",
    k: float = 3.0,
    min_batches: int = 3,
    rel_floor: float = 0.01,
) -> pd.DataFrame:
    """Control limits per metric from reference batches: ``metric``, ``n_reference``, ``center``, ``spread``,
    ``lower``, ``upper`` (NaN limits when fewer than ``min_batches`` batches have the metric).

    Examples
    --------
    >>> ref = pd.DataFrame({"call_rate": [0.98, 0.99, 1.0]})
    >>> lim = compute_control_limits(ref, ["call_rate"], rel_floor=0)
    >>> [round(float(lim.loc[0, c]), 3) for c in ("lower", "upper")]
    [0.96, 1.02]
    """
    if method not in ("sd", "mad"):
        raise ValueError(f"method must be 'sd' or 'mad', not {method!r}")
    rows = []
    for m in metrics:
        values = reference[m].dropna().astype(float).to_numpy() if m in reference.columns else np.array([])
        n = len(values)
        center = spread = np.nan
        if n >= max(min_batches, 2):
            if method == "sd":
                center, spread = float(values.mean()), float(values.std(ddof=1))
            else:
                center = float(np.median(values))
                spread = 1.4826 * float(np.median(np.abs(values - center)))
            spread = max(spread, rel_floor * abs(center))
        rows.append({"metric": m, "n_reference": n, "center": center, "spread": spread,
                     "lower": center - k * spread, "upper": center + k * spread})
    return pd.DataFrame(rows, columns=["metric", "n_reference", "center", "spread", "lower", "upper"])


@dataclass
class BatchTrend:
    """Result of :func:`check_batch_trend`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (batch, metric) of this run: ``value``, ``previous`` (the same batch's latest earlier
        value, if any), ``center``, ``lower``, ``upper``, ``n_reference``, ``flagged``.
    limits : pandas.DataFrame
        :func:`compute_control_limits` output.
    reference : pandas.DataFrame
        The reference batches (one row per earlier batch).
    drifting : list of str
        Batches of this run flagged on at least one metric.
    """

    table: pd.DataFrame
    limits: pd.DataFrame
    reference: pd.DataFrame
    drifting: list[str]

    @property
    def has_history(self) -> bool:
        return bool((self.limits["n_reference"] > 0).any()) if not self.limits.empty else False

    def flagged(self) -> pd.DataFrame:
        """Rows of ``table`` outside the limits."""
        return self.table[self.table["flagged"]].reset_index(drop=True)


def check_batch_trend(
    current: pd.DataFrame,
    history: pd.DataFrame,
    *,
    metrics: list[str] | tuple[str, ...] | None = None,
    method: Literal["sd", "mad"] = "sd",
    k: float = 3.0,
    min_batches: int = 3,
    rel_floor: float = 0.01,
) -> BatchTrend:
    """Flag batches of this run whose metric medians leave the control limits of earlier batches.

    Parameters
    ----------
    current
        This run's :func:`compute_batch_metrics` table.
    history
        :func:`load_batch_history` (earlier runs); empty on the first run (nothing is flagged).
    metrics
        Metrics to chart (default: :data:`TREND_METRICS` present in both tables).
    method, k, min_batches, rel_floor
        See :func:`compute_control_limits`.

    Examples
    --------
    >>> hist = pd.DataFrame({"batch": ["B1", "B2", "B3"], "run_started": 1, "dp_mean": [30.0, 31.0, 29.0]})
    >>> check_batch_trend(pd.DataFrame({"batch": ["B4"], "dp_mean": [15.0]}), hist).drifting
    ['B4']
    """
    if metrics is None:
        metrics = [m for m in TREND_METRICS if m in current.columns and m in history.columns]
    metrics = [m for m in metrics if m in current.columns]
    reference = select_reference_batches(history)
    limits = compute_control_limits(reference, list(metrics), method=method, k=k, min_batches=min_batches,
                                    rel_floor=rel_floor)
    prev = reference.set_index("batch") if not reference.empty else pd.DataFrame()
    rows = []
    for _, lim in limits.iterrows():
        m = lim["metric"]
        for batch, value in zip(current["batch"].astype(str), current[m], strict=True):
            previous = prev[m].get(batch, np.nan) if m in prev.columns else np.nan
            flagged = bool(pd.notna(value) and pd.notna(lim["lower"])
                           and (value < lim["lower"] or value > lim["upper"]))
            rows.append({"batch": batch, "metric": m, "value": value, "previous": previous,
                         "center": lim["center"], "lower": lim["lower"], "upper": lim["upper"],
                         "n_reference": int(lim["n_reference"]), "flagged": flagged})
    table = pd.DataFrame(rows, columns=["batch", "metric", "value", "previous", "center", "lower", "upper",
                                        "n_reference", "flagged"])
    drifting = sorted(table.loc[table["flagged"], "batch"].unique().tolist())
    return BatchTrend(table, limits, reference, drifting)
