"""Batch-aware QC after an ingest: the newest delivery batch against the earlier ones, and the decisions it moved.

After ``pmo ingest`` the WGS QC run replays the reviewed thresholds on the whole store. This module gives the
report what changed with the new batch:

- :func:`compare_read_metrics_by_batch`: each batch's read-level metric medians, with control limits
  (:func:`pmo_workbench.qc.trend.compute_control_limits`) from the *earlier* batches, so the newest batch is
  judged against what came before (ingest order from the delivery ledger);
- :func:`explain_decision_changes`: samples of earlier batches whose verdict changed since the previous QC run
  although their own data did not: with unchanged thresholds, a flip in a population-relative reason
  (:data:`POPULATION_REASONS`: bounds from medians and MADs of the cohort) was caused by the new batch moving
  those bounds.

Example
-------
>>> rm = pd.DataFrame({"mean_coverage": [31.0, 32.0, 30.0, 29.0, 24.0], "contamination": [0.001] * 5},
...                   index=pd.Index(["a", "b", "c", "d", "e"], name="sample_id"))
>>> order = {"a": "B1", "b": "B2", "c": "B3", "d": "B4", "e": "B4"}
>>> t = compare_read_metrics_by_batch(rm, order, ["B1", "B2", "B3", "B4"], min_batches=3)
>>> t.loc[t["metric"] == "mean_coverage", ["batch", "value", "flagged"]].to_dict("list")
{'batch': ['B4'], 'value': [26.5], 'flagged': [True]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pmo_workbench.qc.trend import compute_control_limits

POPULATION_REASONS = ("het_outlier", "ancestry_outlier", "metric_outlier")
"""Reasons whose bounds come from the cohort itself (median ± k·MAD): adding samples moves them."""
COHORT_REASONS = ("sex_mismatch", "sex_ambiguous", "duplicate", "pedigree_mismatch")
"""Reasons that depend on the cohort in another way: chrX F uses the cohort's allele frequencies; a new batch may
bring a duplicate (the better one passes) or relatives of a sample."""
BATCH_READ_METRICS = ("mean_coverage", "pct_ge_20x", "pct_mapped", "pct_duplicates", "insert_size_median",
                      "contamination")


def summarise_read_metrics_by_batch(read_metrics: pd.DataFrame, batch_of: Mapping[str, str]) -> pd.DataFrame:
    """One row per batch: ``batch``, ``n_samples`` and the median of each read-level metric.

    Example
    -------
    >>> rm = pd.DataFrame({"mean_coverage": [30.0, 32.0, 12.0]}, index=pd.Index(["a", "b", "c"], name="sample_id"))
    >>> summarise_read_metrics_by_batch(rm, {"a": "B1", "b": "B1", "c": "B2"}).to_dict("list")
    {'batch': ['B1', 'B2'], 'n_samples': [2, 1], 'mean_coverage': [31.0, 12.0]}
    """
    table = read_metrics.copy()
    table["batch"] = [batch_of.get(str(s), "NA") for s in table.index]
    metrics = [m for m in BATCH_READ_METRICS if m in table.columns]
    for m in metrics:
        table[m] = pd.to_numeric(table[m], errors="coerce").astype("float64")
    grouped = table.groupby("batch", sort=True)
    out = grouped.size().rename("n_samples").to_frame()
    for m in metrics:
        if table[m].notna().any():
            out[m] = grouped[m].median()
    return out.reset_index()


def compare_read_metrics_by_batch(read_metrics: pd.DataFrame, batch_of: Mapping[str, str],
                                  batch_order: Sequence[str], *, k: float = 3.0, min_batches: int = 2,
                                  rel_floor: float = 0.01) -> pd.DataFrame:
    """The newest batch's read-level metric medians against control limits from the earlier batches.

    Parameters
    ----------
    read_metrics
        :func:`pmo_workbench.qc.sequencing_metrics` (indexed by sample_id).
    batch_of
        sample_id -> batch.
    batch_order
        Batches in ingest order; the last is the new one.
    k, min_batches, rel_floor
        See :func:`~pmo_workbench.qc.trend.compute_control_limits` (mean ± k·SD of the earlier batches' medians).

    Returns
    -------
    pandas.DataFrame
        ``batch``, ``metric``, ``value`` (the new batch's median), ``center``, ``lower``, ``upper``,
        ``n_reference``, ``flagged`` (outside the limits; never without enough reference batches).
    """
    per_batch = summarise_read_metrics_by_batch(read_metrics, batch_of).set_index("batch")
    cols = ["batch", "metric", "value", "center", "lower", "upper", "n_reference", "flagged"]
    if not batch_order or batch_order[-1] not in per_batch.index:
        return pd.DataFrame(columns=cols)
    new = batch_order[-1]
    earlier = per_batch.reindex([b for b in batch_order[:-1] if b in per_batch.index])
    metrics = [m for m in BATCH_READ_METRICS if m in per_batch.columns]
    limits = compute_control_limits(earlier, metrics, k=k, min_batches=min_batches, rel_floor=rel_floor)
    rows = []
    for lim in limits.itertuples(index=False):
        value = per_batch.loc[new, lim.metric]
        flagged = bool(pd.notna(value) and pd.notna(lim.lower) and (value < lim.lower or value > lim.upper))
        rows.append({"batch": new, "metric": lim.metric, "value": value, "center": lim.center, "lower": lim.lower,
                     "upper": lim.upper, "n_reference": int(lim.n_reference), "flagged": flagged})
    return pd.DataFrame(rows, columns=cols)


def select_new_batches(ledger: pd.DataFrame, since: object) -> list[str]:
    """Batches of the delivery ledger first ingested at or after ``since`` (e.g. the previous QC run's start), in
    ingest order.

    Example
    -------
    >>> ledger = pd.DataFrame({"batch_id": ["B1", "B2"], "ingested_at": ["2026-12-01T10:00:00Z",
    ...                                                                  "2026-12-03T09:00:00Z"]})
    >>> select_new_batches(ledger, "2026-12-02T00:00:00+00:00")
    ['B2']
    """
    when = pd.to_datetime(ledger["ingested_at"], utc=True)
    first = when.groupby(ledger["batch_id"].astype(str)).min().sort_values(kind="stable")
    start = pd.Timestamp(since)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    return [str(b) for b, t in first.items() if t >= start]


def _as_list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in list(value)]  # type: ignore[call-overload]


def explain_decision_changes(previous: pd.DataFrame, current: pd.DataFrame, batch_of: Mapping[str, str],
                             new_batches: Sequence[str], *, thresholds_changed: bool = False) -> pd.DataFrame:
    """Samples of earlier batches whose decision changed since the previous QC run, with the cause.

    Parameters
    ----------
    previous, current
        Decisions (``sample_id``, ``pass``, ``reasons``) of the previous run and of this one.
    batch_of
        sample_id -> batch.
    new_batches
        The batches ingested since the previous run (their samples are new, not changed).
    thresholds_changed
        The reviewed thresholds differ from the previous run's (then a change may be the review's doing).

    Returns
    -------
    pandas.DataFrame
        ``sample_id``, ``batch``, ``previous_pass``, ``pass``, ``previous_reasons``, ``reasons``, ``moved``
        (the reasons gained or lost), ``cause``: ``population bounds moved by the new batch`` when every
        moved reason is in :data:`POPULATION_REASONS` and the thresholds are unchanged, ``cohort allele
        frequencies or relatives changed by the new batch`` when they are also in :data:`COHORT_REASONS`, else
        ``thresholds changed`` or ``other`` (a sample's own data changed, e.g. a replaced delivery).

    Example
    -------
    >>> prev = pd.DataFrame({"sample_id": ["a", "b"], "pass": [True, True], "reasons": [[], []]})
    >>> cur = pd.DataFrame({"sample_id": ["a", "b", "c"], "pass": [False, True, False],
    ...                     "reasons": [["het_outlier"], [], ["low_coverage"]]})
    >>> t = explain_decision_changes(prev, cur, {"a": "B1", "b": "B1", "c": "B2"}, ["B2"])
    >>> t[["sample_id", "moved", "cause"]].to_dict("records")
    [{'sample_id': 'a', 'moved': '+het_outlier', 'cause': 'population bounds moved by the new batch'}]
    """
    cols = ["sample_id", "batch", "previous_pass", "pass", "previous_reasons", "reasons", "moved", "cause"]
    prev = previous.assign(sample_id=previous["sample_id"].astype(str)).set_index("sample_id")
    rows = []
    for sid, ok, reasons in zip(current["sample_id"].astype(str), current["pass"], current["reasons"], strict=True):
        batch = batch_of.get(sid, "NA")
        if sid not in prev.index or batch in set(new_batches):
            continue
        before, after = _as_list(prev.loc[sid, "reasons"]), _as_list(reasons)
        if set(before) == set(after) and bool(prev.loc[sid, "pass"]) == bool(ok):
            continue
        moved = [f"+{r}" for r in after if r not in before] + [f"-{r}" for r in before if r not in after]
        if thresholds_changed:
            cause = "thresholds changed"
        elif all(m[1:] in POPULATION_REASONS for m in moved):
            cause = "population bounds moved by the new batch"
        elif all(m[1:] in POPULATION_REASONS + COHORT_REASONS for m in moved):
            cause = "cohort allele frequencies or relatives changed by the new batch"
        else:
            cause = "other"
        rows.append({"sample_id": sid, "batch": batch, "previous_pass": bool(prev.loc[sid, "pass"]),
                     "pass": bool(ok), "previous_reasons": ", ".join(before), "reasons": ", ".join(after),
                     "moved": ", ".join(moved), "cause": cause})
    return pd.DataFrame(rows, columns=cols)


__all__ = ["COHORT_REASONS", "POPULATION_REASONS", "compare_read_metrics_by_batch", "explain_decision_changes",
           "select_new_batches", "summarise_read_metrics_by_batch"]
