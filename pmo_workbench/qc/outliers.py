"""Metric outliers: median ± k·MAD within strata, optionally after regressing the metrics on ancestry PCs, in two
tiers (review beyond ``k`` MADs, fail beyond ``k_fail``), with a record of which metrics could be assessed.

This is gnomAD's ``compute_stratified_metrics_filter`` (MAD scaled by 1.4826, so it estimates the SD of a
normal distribution) and its PC-regression variant ``compute_qc_metrics_residuals``: a metric may first be
replaced by its residual from an ordinary least-squares fit on the PCs (with intercept), which removes the
ancestry part of heterozygosity and the like before bounds are set.

Two safeguards keep an uninformative metric from becoming a detector of clean samples:

- **MAD floor**: a metric (or a stratum of it) whose MAD is below ``min_relative_mad`` times the absolute
  median of the raw metric (or is 0) is *not assessed*: its bounds would be set by rounding, not by spread.
- **PC regression only where it helps** (``pc_rule="auto"``): within each stratum with at least 5 samples per
  coefficient, the metric is fitted on the PCs; the residuals (shifted to the stratum's median) replace the
  metric in that stratum only when their standard deviation (winsorized at median ± 5 MAD, so one gross outlier
  does not decide) is at most ``1 - min_regression_gain`` of the raw one (the PCs explain spread the stratum
  leaves, e.g. a minority ancestry or an admixture gradient; the SD sees a displaced minority that the MAD of
  the majority does not), their MAD is not larger than the raw MAD, and it stays above the MAD floor (the fit did not collapse a near-constant metric onto a few values). Elsewhere the raw metric is tested; in
  particular samples that fell back to a coarser stratum (a small group, or ancestry ``other``) are held to the
  raw spread of that coarser stratum, which is wide where it mixes ancestries (no false failure of admixed
  samples from a fit that cannot describe them).
  ``pc_rule="always"`` is gnomAD's: one fit over all samples, residuals everywhere.

Examples
--------
>>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
>>> flag_mad_outliers(df, ["x"], k=4.0, min_stratum_size=5)["x_outlier"].tolist()
[False, False, False, False, True]
>>> flat = pd.DataFrame({"x": [0.0] * 30 + [1.0]})
>>> flag_mad_outliers(flat, ["x"]).attrs["assessment"]["note"].tolist()
['not assessed: MAD 0 (below the floor 0)']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

MAD_SCALE = 1.4826
"""Scale that makes the median absolute deviation estimate the standard deviation of a normal distribution."""

Direction = Literal["both", "lower", "upper"]

ASSESSMENT_COLUMNS = ["metric", "assessed", "pc_regressed", "pc_regressed_strata", "n_samples", "median", "mad",
                      "note"]
"""Columns of ``attrs["assessment"]`` of :func:`flag_mad_outliers` (one row per metric)."""


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


def _stratum_keys(df: pd.DataFrame, strata: Sequence[str] | None, min_stratum_size: int,
                  pooled_values: Sequence[str] = ()) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Each sample's stratum and, per stratum, the samples its bounds are computed from.

    A sample's stratum is the combination of all ``strata`` columns when that group has at least
    ``min_stratum_size`` samples, else the combination of the first columns only (dropping from the last), else
    ``"all"`` (gnomAD's strata with a size floor; a small batch x population cell uses its batch's bounds). A group
    whose value is one of ``pooled_values`` (e.g. ancestry ``other``: no population, so no centre of its own) is
    never a stratum: its samples use the coarser level. The bounds of a coarser stratum come from every sample
    in it (e.g. the whole batch), not only from the samples that fell back to it.
    """
    key = pd.Series("all", index=df.index, dtype=object)
    refs: dict[str, np.ndarray] = {"all": np.ones(len(df), dtype=bool)}
    if not strata:
        return key, refs
    cols = df[list(strata)].astype(str)
    settled = np.zeros(len(df), dtype=bool)
    for n in range(len(strata), 0, -1):
        k = cols.iloc[:, :n].agg("|".join, axis=1)
        sizes = k.map(k.value_counts())
        pooled = cols.iloc[:, :n].isin(list(pooled_values)).any(axis=1).to_numpy()
        take = (~settled) & (sizes >= min_stratum_size).to_numpy() & ~pooled
        key[take] = k[take]
        settled |= take
        for name in pd.unique(k[take]):
            refs[str(name)] = (k == name).to_numpy()
    return key, refs


def _winsorized_sd(v: np.ndarray, k: float = 5.0) -> float:
    """Standard deviation of the finite values clipped to median ± ``k`` MAD: a displaced minority still counts,
    a single gross outlier (a contaminated sample) no more than ``k`` MADs."""
    med, mad, lo, hi = compute_mad_bounds(v, k)
    x = v[np.isfinite(v)]
    return float(np.std(np.clip(x, lo, hi))) if len(x) else float("nan")


def _fit_within(part: pd.DataFrame, metric: str, pcs: Sequence[str]) -> np.ndarray | None:
    """PC residuals of ``metric`` fitted within one stratum on the PCs, shifted back to the stratum's median (so bounds and values stay on the metric's scale);
    None when the stratum has fewer than 5 complete rows per coefficient."""
    x = part[list(pcs)].to_numpy(dtype=np.float64)
    terms = {f"_t{i}": x[:, i] for i in range(x.shape[1])}
    design = pd.DataFrame(terms, index=part.index).assign(**{metric: part[metric].to_numpy(dtype=np.float64)})
    ok = np.isfinite(design.to_numpy(dtype=np.float64)).all(axis=1)
    if ok.sum() < 5 * (len(terms) + 1):
        return None
    res = regress_out_pcs(design, [metric], list(terms))[metric].to_numpy(dtype=np.float64)
    return res + float(np.nanmedian(part[metric].to_numpy(dtype=np.float64)[ok]))


def flag_mad_outliers(
    df: pd.DataFrame,
    metrics: Sequence[str],
    *,
    k: float = 4.0,
    k_fail: float | None = None,
    strata: Sequence[str] | None = None,
    pcs: Sequence[str] | None = None,
    pc_rule: Literal["always", "auto"] = "always",
    direction: Direction | dict[str, Direction] = "both",
    min_stratum_size: int = 10,
    min_relative_mad: float = 0.0,
    min_regression_gain: float = 0.1,
    not_assessed: dict[str, str] | None = None,
    pooled_values: Sequence[str] = (),
) -> pd.DataFrame:
    """Flag samples outside median ± k·MAD of each metric, within each stratum.

    Parameters
    ----------
    df
        One row per sample with the metric columns (and strata/PC columns).
    metrics
        Metric columns to test.
    k
        Number of (scaled) MADs from the median for a flag (gnomAD uses 4); with ``k_fail``, the review tier.
    k_fail
        MADs for the fail tier (default: ``k``, one tier; never less than ``k``).
    strata
        Columns whose combinations define the groups (e.g. ``["batch", "assigned_population"]``); None: one
        group. A group smaller than ``min_stratum_size`` uses the group of its first columns, then all samples
        (:func:`_stratum_keys`); with fewer than that many values in total, nothing is flagged.
    pcs
        PC columns: the metrics are regressed on them (``pc_rule="always"``), or where the rule of the module
        docstring says (``"auto"``).
    direction
        ``"both"``, ``"lower"`` or ``"upper"``, for all metrics or per metric.
    min_stratum_size
        Smallest stratum that gets bounds of its own.
    min_relative_mad
        MAD floor, relative to the absolute median of the raw metric (0: only a MAD of 0 is refused).
    min_regression_gain
        ``"auto"``: the share by which the PC residuals must lower the MAD to be used.
    not_assessed
        Metrics known beforehand to be uninformative, with why: nothing is flagged for them.
    pooled_values
        Stratum values that never form a stratum of their own (see :func:`_stratum_keys`).

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``; for each metric ``m``: ``m_value`` (float64, the tested value: the metric or its
        residual), ``m_lower``/``m_upper`` (review-tier bounds of the sample's stratum), ``m_lower_fail``/
        ``m_upper_fail`` (fail-tier bounds), ``m_outlier`` (bool, beyond the review bounds) and ``m_fail``
        (bool, beyond the fail bounds); plus ``stratum`` (str) and ``outlier_metrics`` (list of str: the metrics
        flagged). ``attrs["assessment"]`` has one row per metric (:data:`ASSESSMENT_COLUMNS`): whether it was
        assessed, on PC residuals or not, and why not.
    """
    k_fail = k if k_fail is None else max(k, k_fail)  # the fail bounds are never inside the review bounds
    not_assessed = dict(not_assessed or {})
    raw = df[list(metrics)].astype(np.float64)
    resid = regress_out_pcs(df, metrics, pcs) if pcs else None
    key, refs = _stratum_keys(df, strata, min_stratum_size, pooled_values)
    out = pd.DataFrame(index=df.index)
    out["stratum"] = key.astype(str)
    groups = {str(s): ((key == s).to_numpy(), refs[str(s)]) for s in pd.unique(key)}
    rows = []
    for m in metrics:
        dirn = direction.get(m, "both") if isinstance(direction, dict) else direction
        r = raw[m].to_numpy(dtype=np.float64)
        n_ok = int(np.isfinite(r).sum())
        med_raw, mad_raw, _, _ = compute_mad_bounds(r, k)
        floor = min_relative_mad * abs(med_raw) if np.isfinite(med_raw) else np.nan
        note = not_assessed.get(m, "")
        if not note and n_ok < min_stratum_size:
            note = f"{n_ok} samples with a value (fewer than {min_stratum_size})"
        if not note and not (mad_raw > floor):
            note = f"MAD {mad_raw:.3g} (below the floor {floor:.3g})"
        v = r.copy()
        regressed: list[str] = []
        ref_values: dict[str, np.ndarray] = {}
        if not note and pcs and pc_rule == "always":
            v = resid[m].to_numpy(dtype=np.float64)
            regressed = ["all"]
            mad_v = compute_mad_bounds(v, k)[1]
            if not (mad_v > floor):
                note = f"MAD {mad_v:.3g} of the PC residuals (below the floor {floor:.3g})"
        elif not note and pcs:  # "auto": per stratum, where the residuals of a fit within it are tighter
            for s_name, (sel, ref) in groups.items():
                if strata and s_name.count("|") != len(strata) - 1 or (strata and s_name == "all"):
                    continue  # a fallback group (too small, or no population): raw bounds of the coarser level
                fit = _fit_within(df.loc[ref], m, pcs)
                if fit is None:
                    continue
                sd_in, sd_res = _winsorized_sd(r[ref]), _winsorized_sd(fit)
                mad_in, mad_res = compute_mad_bounds(r[ref], k)[1], compute_mad_bounds(fit, k)[1]
                if sd_res <= (1 - min_regression_gain) * sd_in and mad_res <= mad_in and mad_res > floor:
                    full = np.full(len(df), np.nan)
                    full[ref] = fit
                    v[sel] = full[sel]
                    ref_values[s_name] = fit
                    regressed.append(s_name)
        lo, hi = np.full(len(df), np.nan), np.full(len(df), np.nan)
        lo_f, hi_f = np.full(len(df), np.nan), np.full(len(df), np.nan)
        if not note:
            for s_name, (sel, ref) in groups.items():
                values = (ref_values[s_name] if s_name in ref_values
                          else v[ref] if pc_rule == "always" and regressed else r[ref])
                med, mad, _, _ = compute_mad_bounds(values, k)
                if np.isfinite(values).sum() < min_stratum_size or not (mad > floor):
                    continue  # this stratum's values are too few or too flat for bounds: nothing flagged in it
                lo[sel], hi[sel] = med - k * mad, med + k * mad
                lo_f[sel], hi_f[sel] = med - k_fail * mad, med + k_fail * mad
        flag = np.zeros(len(df), dtype=bool)
        fail = np.zeros(len(df), dtype=bool)
        fin = np.isfinite(v) & np.isfinite(lo)
        if dirn in ("both", "lower"):
            flag |= fin & (v < lo)
            fail |= fin & (v < lo_f)
        if dirn in ("both", "upper"):
            flag |= fin & (v > hi)
            fail |= fin & (v > hi_f)
        out[f"{m}_value"] = v
        out[f"{m}_lower"] = lo
        out[f"{m}_upper"] = hi
        out[f"{m}_lower_fail"] = lo_f
        out[f"{m}_upper_fail"] = hi_f
        out[f"{m}_outlier"] = flag
        out[f"{m}_fail"] = fail
        rows.append({"metric": m, "assessed": not note, "pc_regressed": bool(regressed),
                     "pc_regressed_strata": ",".join(regressed), "n_samples": n_ok, "median": med_raw,
                     "mad": mad_raw, "note": f"not assessed: {note}" if note else ""})
    flags = out[[f"{m}_outlier" for m in metrics]].to_numpy(dtype=bool).reshape(len(df), len(metrics))
    names = np.array(list(metrics), dtype=object)
    out["outlier_metrics"] = [list(names[row]) for row in flags]
    out.attrs["assessment"] = pd.DataFrame(rows, columns=ASSESSMENT_COLUMNS)
    return out
