"""Metric outliers: median ± k·MAD within strata, optionally after regressing the metrics on ancestry PCs.

This is gnomAD's ``compute_stratified_metrics_filter`` (MAD scaled by 1.4826, so it estimates the SD of a
normal
distribution) and its PC-regression variant ``compute_qc_metrics_residuals``: each metric is first replaced by
its residual from an ordinary least-squares fit on the PCs (with intercept), which removes the ancestry part
of
heterozygosity, singleton counts and the like before thresholds are applied.

Examples
--------
>>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
>>> flag_mad_outliers(df, ["x"], k=4.0, min_stratum_size=5)["x_outlier"].tolist()
[False, False, False, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

MAD_SCALE = 1.4826
"""Scale that makes the median absolute deviation estimate the standard deviation of a normal distribution."""

Direction = Literal["both", "lower", "upper"]


def compute_mad_bounds(values: np.ndarray, k: float) -> tuple[float, float, float, float]:
    """``(median, mad, lower, upper)`` of the finite values: bounds are median ∓ k · 1.4826 · MAD.

    Examples
    --------
    >>> compute_mad_bounds(np.array([1.0, 2.0, 3.0, 4.0, 100.0]), k=2.0)
    (3.0, 1.4826, 0.0348, 5.9652)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (np.nan, np.nan, np.nan, np.nan)
    med = float(np.median(v))
    mad = float(MAD_SCALE * np.median(np.abs(v - med)))
    return (med, round(mad, 12), round(med - k * mad, 12), round(med + k * mad, 12))


def regress_out_pcs(df: pd.DataFrame, metrics: Sequence[str], pcs: Sequence[str]) -> pd.DataFrame:
    """Residuals of each metric after an OLS fit on the PCs with an intercept (gnomAD's PC-regressed metrics).

    Rows with a missing metric or PC keep NaN; the fit uses the complete rows of each metric.

    Examples
    --------
    >>> d = pd.DataFrame({"m": [1.0, 2.0, 3.0, 4.0], "PC1": [0.0, 1.0, 2.0, 3.0]})
    >>> bool(regress_out_pcs(d, ["m"], ["PC1"])["m"].abs().max() < 1e-12)
    True
    """
    out = pd.DataFrame(index=df.index)
    x_all = np.column_stack([np.ones(len(df)), df[list(pcs)].to_numpy(dtype=np.float64)])
    for m in metrics:
        y = df[m].to_numpy(dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(x_all).all(axis=1)
        res = np.full(len(df), np.nan)
        if ok.sum() > x_all.shape[1]:
            beta, *_ = np.linalg.lstsq(x_all[ok], y[ok], rcond=None)
            res[ok] = y[ok] - x_all[ok] @ beta
        out[m] = res
    return out


def flag_mad_outliers(
    df: pd.DataFrame,
    metrics: Sequence[str],
    *,
    k: float = 4.0,
    strata: Sequence[str] | None = None,
    pcs: Sequence[str] | None = None,
    direction: Direction | dict[str, Direction] = "both",
    min_stratum_size: int = 10,
) -> pd.DataFrame:
    """Flag samples outside median ± k·MAD of each metric, within each stratum.

    Parameters
    ----------
    df
        One row per sample with the metric columns (and strata/PC columns).
    metrics
        Metric columns to test.
    k
        Number of (scaled) MADs from the median (gnomAD uses 4).
    strata
        Columns whose combinations define the groups (e.g. ``["batch", "assigned_population"]``); None: one
        group. A stratum with fewer than ``min_stratum_size`` values falls back to the bounds over all
        samples;
        with fewer than that in total, no bounds are set and nothing is flagged.
    pcs
        PC columns: when given, the metrics are first regressed on them and the residuals are tested.
    direction
        ``"both"``, ``"lower"`` or ``"upper"``, for all metrics or per metric.
    min_stratum_size
        Smallest stratum that gets bounds of its own.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``; for each metric ``m``: ``m_value`` (float64, the tested value: the metric or its
        residual), ``m_lower`` and ``m_upper`` (float64, the bounds of the sample's stratum) and ``m_outlier``
        (bool); plus ``stratum`` (str) and ``outlier_metrics`` (list of str: the metrics flagged).
    """
    values = regress_out_pcs(df, metrics, pcs) if pcs else df[list(metrics)].astype(np.float64)
    if strata:
        key = df[list(strata)].astype(str).agg("|".join, axis=1)
    else:
        key = pd.Series("all", index=df.index)
    out = pd.DataFrame(index=df.index)
    out["stratum"] = key
    counts = key.value_counts()
    for m in metrics:
        dirn = direction.get(m, "both") if isinstance(direction, dict) else direction
        v = values[m].to_numpy(dtype=np.float64)
        lower = np.full(len(df), np.nan)
        upper = np.full(len(df), np.nan)
        if np.isfinite(v).sum() >= min_stratum_size:
            _, _, lo_all, hi_all = compute_mad_bounds(v, k)
        else:  # too few samples for any bounds: nothing is flagged
            lo_all, hi_all = np.nan, np.nan
        for s in counts.index:
            sel = (key == s).to_numpy()
            if counts[s] >= min_stratum_size:
                _, _, lo, hi = compute_mad_bounds(v[sel], k)
            else:
                lo, hi = lo_all, hi_all
            lower[sel], upper[sel] = lo, hi
        flag = np.zeros(len(df), dtype=bool)
        finite = np.isfinite(v) & np.isfinite(lower) & np.isfinite(upper)
        if dirn in ("both", "lower"):
            flag |= finite & (v < lower)
        if dirn in ("both", "upper"):
            flag |= finite & (v > upper)
        out[f"{m}_value"] = v
        out[f"{m}_lower"] = lower
        out[f"{m}_upper"] = upper
        out[f"{m}_outlier"] = flag
    flags = out[[f"{m}_outlier" for m in metrics]].to_numpy(dtype=bool)
    names = np.array(list(metrics), dtype=object)
    out["outlier_metrics"] = [list(names[row]) for row in flags]
    return out
