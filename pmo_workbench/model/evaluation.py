"""Performance of risk predictions: discrimination, calibration, clinical utility, subgroups, incremental value.

Every function takes observed outcomes and predicted risks (probabilities in [0, 1]) and returns plain numbers
or tables, so the same code serves cross-validated, internal-external and final predictions.

- Discrimination: :func:`compute_auroc` (with a stratified bootstrap CI), :func:`compute_auprc`,
  :func:`compute_c_index` (Harrell's C for time-to-event).
- Calibration: :func:`compute_calibration` (slope and intercept by logistic recalibration, as in Van Calster
  et al. 2019: the slope from ``logit(y) ~ a + b·logit(p)``, calibration-in-the-large ``a`` with ``b`` fixed at 1
  as an offset), :func:`compute_brier`, :func:`compute_calibration_curve` (groups of predicted risk against
  observed proportions, or, for time-to-event, against the Aalen-Johansen cumulative incidence at the horizon
  with death as a competing risk), per subgroup :func:`compute_calibration_curves_by`.
- Clinical utility: :func:`compute_net_benefit` (decision curves: the model, treat-all and treat-none) and
  :func:`compute_threshold_metrics` (sensitivity, specificity, PPV, NPV, persons flagged per 1,000).
- Subgroups: :func:`compute_subgroup_performance`.
- Incremental value of genetics: :func:`compare_models` (ΔAUROC with a paired bootstrap CI, categorical and
  continuous NRI, IDI).

Examples
--------
>>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
>>> compute_auroc(y, p, n_boot=0).estimate
0.75
>>> round(float(compute_net_benefit(y, p, [0.3]).loc[0, "net_benefit_model"]), 4)  # 2/4 - 1/4 * 0.3/0.7
0.3929
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

_EPS = 1e-12


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval (NaN bounds when no CI was computed)."""

    estimate: float
    lower: float = float("nan")
    upper: float = float("nan")

    def __str__(self) -> str:
        if np.isnan(self.lower):
            return f"{self.estimate:.3f}"
        return f"{self.estimate:.3f} ({self.lower:.3f} to {self.upper:.3f})"


def _arrays(y: Sequence | np.ndarray, p: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"outcomes and risks must be 1-d of the same length, not {y.shape} and {p.shape}")
    keep = ~(np.isnan(y) | np.isnan(p))
    y, p = y[keep], p[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("binary outcomes must be 0 or 1")
    return y, p


def _both_classes(y: np.ndarray) -> bool:
    return bool(len(y)) and 0 < y.sum() < len(y)


def _stratified_resamples(y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Indices [n_boot, n] of bootstrap resamples drawn within cases and within controls (so each has both)."""
    rng = np.random.default_rng(seed)
    cases, controls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    a = cases[rng.integers(0, len(cases), size=(n_boot, len(cases)))]
    b = controls[rng.integers(0, len(controls), size=(n_boot, len(controls)))]
    return np.concatenate([a, b], axis=1)


def compute_auroc(y: Sequence, p: Sequence, *, n_boot: int = 1000, seed: int = 1, level: float = 0.95) -> Estimate:
    """Area under the ROC curve (the probability a random case ranks above a random control; ties count ½),
    with a percentile CI from a bootstrap stratified by outcome. NaN when only one class is present.

    Examples
    --------
    >>> compute_auroc([0, 1, 0, 1], [0.2, 0.9, 0.2, 0.2], n_boot=0).estimate
    0.75
    """
    y, p = _arrays(y, p)
    if not _both_classes(y):
        return Estimate(float("nan"))
    est = float(roc_auc_score(y, p))
    if n_boot <= 0:
        return Estimate(est)
    boots = np.array([_fast_auc(y[i], p[i]) for i in _stratified_resamples(y, n_boot, seed)])
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(est, float(lo), float(hi))


def _fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """AUROC by mid-ranks (Mann-Whitney), equal to roc_auc_score."""
    ranks = stats.rankdata(p)
    n1 = y.sum()
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def compute_auprc(y: Sequence, p: Sequence) -> float:
    """Area under the precision-recall curve (average precision, scikit-learn's step-wise definition)."""
    y, p = _arrays(y, p)
    return float(average_precision_score(y, p)) if _both_classes(y) else float("nan")


def compute_brier(y: Sequence, p: Sequence) -> float:
    """Brier score: mean squared difference between outcome and predicted risk (lower is better)."""
    y, p = _arrays(y, p)
    return float(brier_score_loss(y, p)) if len(y) else float("nan")


def _logit(p: np.ndarray) -> np.ndarray:
    return special.logit(np.clip(p, 1e-10, 1 - 1e-10))


def _fit_logistic(X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression by Newton's method (small designs): coefficients."""
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = offset + X @ beta
        mu = special.expit(eta)
        w = mu * (1 - mu)
        grad = X.T @ (y - mu)
        hess = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(X.shape[1], np.nan)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


@dataclass(frozen=True)
class Calibration:
    """Logistic recalibration: ``slope`` (1 ideal; <1 means predictions too extreme) and ``intercept``
    (calibration-in-the-large, 0 ideal; >0 means risks too low), with ``observed``/``expected`` event counts."""

    slope: float
    intercept: float
    observed: float
    expected: float

    @property
    def oe_ratio(self) -> float:
        """Observed over expected events."""
        return self.observed / self.expected if self.expected > 0 else float("nan")


def compute_calibration(y: Sequence, p: Sequence) -> Calibration:
    """Calibration slope and intercept of predicted risks ``p`` for binary outcomes ``y``.

    Examples
    --------
    >>> rng = np.random.default_rng(0); p = rng.uniform(0.05, 0.6, 4000); y = rng.binomial(1, p)
    >>> c = compute_calibration(y, p); bool(abs(c.slope - 1) < 0.15 and abs(c.intercept) < 0.1)
    True
    """
    y, p = _arrays(y, p)
    if not _both_classes(y):
        return Calibration(float("nan"), float("nan"), float(y.sum()), float(p.sum()))
    lp = _logit(p)
    slope = _fit_logistic(np.column_stack([np.ones_like(lp), lp]), y, np.zeros_like(lp))[1]
    intercept = _fit_logistic(np.ones((len(y), 1)), y, lp)[0]
    return Calibration(float(slope), float(intercept), float(y.sum()), float(p.sum()))


def compute_calibration_curve(y: Sequence, p: Sequence, *, groups: int = 10) -> pd.DataFrame:
    """Observed proportion against mean predicted risk in ``groups`` quantile groups of predicted risk, with a
    Wilson 95 % interval: columns group, n, events, predicted, observed, lower, upper."""
    y, p = _arrays(y, p)
    if len(y) == 0:
        return pd.DataFrame(columns=["group", "n", "events", "predicted", "observed", "lower", "upper"])
    k = max(1, min(groups, len(np.unique(p))))
    bins = pd.qcut(pd.Series(p).rank(method="first"), k, labels=False)
    frame = pd.DataFrame({"group": bins.to_numpy() + 1, "y": y, "p": p})
    g = frame.groupby("group").agg(n=("y", "size"), events=("y", "sum"), predicted=("p", "mean")).reset_index()
    g["observed"] = g["events"] / g["n"]
    z = stats.norm.ppf(0.975)
    denom = 1 + z**2 / g["n"]
    centre = (g["observed"] + z**2 / (2 * g["n"])) / denom
    half = z * np.sqrt(g["observed"] * (1 - g["observed"]) / g["n"] + z**2 / (4 * g["n"] ** 2)) / denom
    # the Wilson interval always holds the observed share (clipped against rounding at 0 and 1)
    g["lower"] = np.minimum(np.maximum(centre - half, 0.0), g["observed"])
    g["upper"] = np.maximum(np.minimum(centre + half, 1.0), g["observed"])
    g["events"] = g["events"].astype(int)
    return g


def compute_calibration_curves_by(risk: pd.DataFrame, column: str, *, groups: int = 5,
                                  min_events: int = 5) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Calibration curves (:func:`compute_calibration_curve`) per level of ``column`` of a validated-risk table.

    Parameters
    ----------
    risk : DataFrame
        One row per person with the observed outcome ``y`` (0/1), the predicted ``risk`` and ``column``.
    column : str
        The grouping column (e.g. ``sex`` or ``ancestry``); rows where it is missing are left out.
    groups : int
        Quantile groups of predicted risk per curve.
    min_events : int
        A level with fewer events gets no curve: a handful of events gives groups of one or two persons,
        whose observed proportions say nothing (and would point at individuals).

    Returns
    -------
    (curves, omitted)
        ``curves`` maps each level with at least ``min_events`` events to its curve table, in sorted level
        order; ``omitted`` lists the levels left out for too few events.

    Examples
    --------
    >>> r = pd.DataFrame({"y": [1, 0] * 10 + [1, 0, 0, 0], "risk": np.linspace(0.1, 0.9, 24),
    ...                   "sex": ["F"] * 20 + ["M"] * 4})
    >>> curves, omitted = compute_calibration_curves_by(r, "sex", groups=2)
    >>> list(curves), omitted, int(curves["F"]["n"].sum())
    (['F'], ['M'], 20)
    """
    curves: dict[str, pd.DataFrame] = {}
    omitted: list[str] = []
    known = risk.dropna(subset=[column, "y", "risk"])
    for level, part in sorted(known.groupby(column, observed=True), key=lambda kv: str(kv[0])):
        if int(part["y"].sum()) >= min_events:
            curves[str(level)] = compute_calibration_curve(part["y"], part["risk"], groups=groups)
        else:
            omitted.append(str(level))
    return curves, omitted


def compute_cumulative_incidence(time: Sequence, status: Sequence, horizon: float, *, cause: int = 1) -> float:
    """Aalen-Johansen cumulative incidence of ``cause`` at ``horizon`` (status 0 censored, 1.. causes; other
    causes compete). Equals 1 − Kaplan-Meier when there is one cause.

    Examples
    --------
    >>> compute_cumulative_incidence([1, 2, 3, 4], [1, 2, 0, 1], horizon=5)  # 1/4 + (3/4 · 2/3) · 1/1
    0.75
    """
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=int)
    if len(t) == 0:
        return float("nan")
    order = np.argsort(t, kind="stable")
    t, s = t[order], s[order]
    surv, cif = 1.0, 0.0
    at_risk = len(t)
    for u in np.unique(t):
        if u > horizon:
            break
        here = t == u
        d_all = int(np.sum(here & (s > 0)))
        d_cause = int(np.sum(here & (s == cause)))
        if at_risk > 0 and d_all:
            cif += surv * d_cause / at_risk
            surv *= 1 - d_all / at_risk
        at_risk -= int(here.sum())
    return float(cif)


def compute_survival_calibration_curve(time: Sequence, status: Sequence, p: Sequence, horizon: float, *,
                                       groups: int = 10) -> pd.DataFrame:
    """Observed cumulative incidence at ``horizon`` (Aalen-Johansen, death competing) against mean predicted
    risk per quantile group: columns group, n, events, predicted, observed."""
    t = np.asarray(time, dtype=float)
    s = np.asarray(status, dtype=int)
    p = np.asarray(p, dtype=float)
    k = max(1, min(groups, len(np.unique(p))))
    bins = pd.qcut(pd.Series(p).rank(method="first"), k, labels=False).to_numpy()
    rows = []
    for g in range(k):
        m = bins == g
        rows.append({"group": g + 1, "n": int(m.sum()), "events": int(((s == 1) & (t <= horizon) & m).sum()),
                     "predicted": float(p[m].mean()),
                     "observed": compute_cumulative_incidence(t[m], s[m], horizon)})
    return pd.DataFrame(rows)


def compute_c_index(time: Sequence, status: Sequence, risk: Sequence) -> float:
    """Harrell's concordance for time-to-event (status 1 = event; other statuses count as censored)."""
    from sksurv.metrics import concordance_index_censored

    t = np.asarray(time, dtype=float)
    e = np.asarray(status) == 1
    if e.sum() == 0:
        return float("nan")
    return float(concordance_index_censored(e, t, np.asarray(risk, dtype=float))[0])


def compute_net_benefit(y: Sequence, p: Sequence, thresholds: Sequence[float]) -> pd.DataFrame:
    """Decision curve: net benefit of treating those with risk ≥ threshold, against treat-all and treat-none.

    ``NB = TP/n − FP/n · t/(1 − t)``; treat-all uses every person as positive; treat-none is 0.
    """
    y, p = _arrays(y, p)
    n = len(y)
    rows = []
    prev = y.mean() if n else float("nan")
    for t in thresholds:
        if not 0 < t < 1:
            raise ValueError(f"threshold {t} must lie strictly between 0 and 1")
        w = t / (1 - t)
        flag = p >= t
        tp = float(np.sum(flag & (y == 1)))
        fp = float(np.sum(flag & (y == 0)))
        rows.append({"threshold": t, "net_benefit_model": tp / n - fp / n * w,
                     "net_benefit_all": prev - (1 - prev) * w, "net_benefit_none": 0.0})
    return pd.DataFrame(rows)


def compute_threshold_metrics(y: Sequence, p: Sequence, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV, NPV, net benefit and persons flagged per 1,000 at a risk threshold."""
    y, p = _arrays(y, p)
    flag = p >= threshold
    tp = float(np.sum(flag & (y == 1)))
    fp = float(np.sum(flag & (y == 0)))
    fn = float(np.sum(~flag & (y == 1)))
    tn = float(np.sum(~flag & (y == 0)))
    n = len(y)

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    return {"threshold": float(threshold), "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp),
            "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
            "net_benefit": ratio(tp, n) - ratio(fp, n) * threshold / (1 - threshold) if 0 < threshold < 1
            else float("nan"),
            "flagged_per_1000": 1000 * ratio(tp + fp, n), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def compute_subgroup_performance(y: Sequence, p: Sequence, groups: pd.Series | Sequence, *,
                                 n_boot: int = 200, seed: int = 1) -> pd.DataFrame:
    """Per subgroup: discrimination and calibration of the same predictions.

    Columns: group, n, events, auroc with its bootstrap CI (auroc_lower, auroc_upper), calibration_slope,
    calibration_intercept (calibration-in-the-large), observed and expected events, oe_ratio and brier. A
    subgroup with one outcome value only has NaN AUROC and slope (they are not defined); missing group labels
    form the group ``unknown``.

    Examples
    --------
    >>> y = [0, 1, 0, 1, 0, 0, 1, 0]; p = [.1, .8, .3, .6, .2, .4, .4, .1]
    >>> t = compute_subgroup_performance(y, p, ["F", "F", "F", "F", "M", "M", "M", "M"], n_boot=0)
    >>> t[["group", "n", "events", "auroc", "expected"]].round(2).values.tolist()
    [['F', 4, 2, 1.0, 1.8], ['M', 4, 1, 0.83, 1.1]]
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    g = pd.Series(groups).astype(object).fillna("unknown").to_numpy()
    rows = []
    for level in sorted(pd.unique(g), key=str):
        m = g == level
        yy, pp = y[m], p[m]
        auc = compute_auroc(yy, pp, n_boot=n_boot, seed=seed)
        cal = compute_calibration(yy, pp)
        rows.append({"group": str(level), "n": int(m.sum()), "events": int(np.nansum(yy)),
                     "auroc": auc.estimate, "auroc_lower": auc.lower, "auroc_upper": auc.upper,
                     "calibration_slope": cal.slope, "calibration_intercept": cal.intercept,
                     "observed": cal.observed, "expected": cal.expected, "oe_ratio": cal.oe_ratio,
                     "brier": compute_brier(yy, pp)})
    return pd.DataFrame(rows, columns=["group", "n", "events", "auroc", "auroc_lower", "auroc_upper",
                                       "calibration_slope", "calibration_intercept", "observed", "expected",
                                       "oe_ratio", "brier"])


@dataclass(frozen=True)
class ModelComparison:
    """Incremental value of a new model over a reference (same persons)."""

    auroc_reference: Estimate
    auroc_new: Estimate
    delta_auroc: Estimate
    nri_categorical: float
    nri_events: float
    nri_nonevents: float
    nri_continuous: float
    idi: float
    thresholds: tuple[float, ...]

    def table(self) -> pd.DataFrame:
        """One row per measure with estimate and CI bounds."""
        rows = [("AUROC, reference", self.auroc_reference), ("AUROC, with genetics", self.auroc_new),
                ("ΔAUROC", self.delta_auroc)]
        out = [{"measure": m, "estimate": e.estimate, "lower": e.lower, "upper": e.upper} for m, e in rows]
        cats = ", ".join(f"{t:g}" for t in self.thresholds)
        out += [{"measure": f"NRI (categories at {cats})", "estimate": self.nri_categorical},
                {"measure": "  of which events", "estimate": self.nri_events},
                {"measure": "  of which non-events", "estimate": self.nri_nonevents},
                {"measure": "NRI (continuous)", "estimate": self.nri_continuous},
                {"measure": "IDI", "estimate": self.idi}]
        return pd.DataFrame(out, columns=["measure", "estimate", "lower", "upper"])


def compute_nri(y: Sequence, p_ref: Sequence, p_new: Sequence, thresholds: Sequence[float] | None = None
                ) -> tuple[float, float, float]:
    """Net reclassification improvement ``(total, events, non-events)``: with ``thresholds``, over risk
    categories; without, the continuous (category-free) NRI. Events moving up and non-events moving down count.
    """
    y = np.asarray(y, dtype=float)
    a = np.asarray(p_ref, dtype=float)
    b = np.asarray(p_new, dtype=float)
    if thresholds:
        edges = np.asarray(sorted(thresholds))
        ca, cb = np.searchsorted(edges, a, side="right"), np.searchsorted(edges, b, side="right")
        up, down = cb > ca, cb < ca
    else:
        up, down = b > a, b < a
    ev, ne = y == 1, y == 0
    nri_e = (np.sum(up & ev) - np.sum(down & ev)) / max(ev.sum(), 1)
    nri_n = (np.sum(down & ne) - np.sum(up & ne)) / max(ne.sum(), 1)
    return float(nri_e + nri_n), float(nri_e), float(nri_n)


def compare_models(y: Sequence, p_ref: Sequence, p_new: Sequence, *, thresholds: Sequence[float] = (0.05, 0.1, 0.2),
                   n_boot: int = 1000, seed: int = 1, level: float = 0.95) -> ModelComparison:
    """ΔAUROC (paired stratified bootstrap CI: both models on the same resamples), NRI and IDI of ``p_new`` over
    ``p_ref`` for the same persons.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 1, 1]); a = np.array([.1, .2, .3, .2, .4]); b = np.array([.1, .2, .2, .3, .5])
    >>> cmp = compare_models(y, a, b, thresholds=[0.25], n_boot=0)
    >>> round(cmp.delta_auroc.estimate, 4), cmp.nri_categorical
    (0.25, 0.8333333333333333)
    """
    y = np.asarray(y, dtype=float)
    a = np.asarray(p_ref, dtype=float)
    b = np.asarray(p_new, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(a) | np.isnan(b))
    y, a, b = y[keep], a[keep], b[keep]
    ra, rb = compute_auroc(y, a, n_boot=0), compute_auroc(y, b, n_boot=0)
    delta = Estimate(rb.estimate - ra.estimate)
    ci_a, ci_b = ra, rb
    if n_boot > 0 and _both_classes(y):
        idx = _stratified_resamples(y, n_boot, seed)
        da = np.array([_fast_auc(y[i], a[i]) for i in idx])
        db = np.array([_fast_auc(y[i], b[i]) for i in idx])
        q = [(1 - level) / 2, (1 + level) / 2]
        lo, hi = np.quantile(db - da, q)
        delta = Estimate(delta.estimate, float(lo), float(hi))
        ci_a = Estimate(ra.estimate, *map(float, np.quantile(da, q)))
        ci_b = Estimate(rb.estimate, *map(float, np.quantile(db, q)))
    nri, nri_e, nri_n = compute_nri(y, a, b, thresholds)
    nri_c = compute_nri(y, a, b, None)[0]
    ev, ne = y == 1, y == 0
    idi = float((b[ev].mean() - a[ev].mean()) - (b[ne].mean() - a[ne].mean())) if ev.any() and ne.any() \
        else float("nan")
    return ModelComparison(ci_a, ci_b, delta, nri, nri_e, nri_n, nri_c, idi, tuple(float(t) for t in thresholds))


def summarise_performance(y: Sequence, p: Sequence, *, n_boot: int = 1000, seed: int = 1) -> dict[str, float]:
    """The standard table row: n, events, AUROC (CI), AUPRC, Brier, calibration slope and intercept, O/E."""
    y, p = _arrays(y, p)
    auc = compute_auroc(y, p, n_boot=n_boot, seed=seed)
    cal = compute_calibration(y, p)
    return {"n": int(len(y)), "events": int(y.sum()), "auroc": auc.estimate, "auroc_lower": auc.lower,
            "auroc_upper": auc.upper, "auprc": compute_auprc(y, p), "brier": compute_brier(y, p),
            "calibration_slope": cal.slope, "calibration_intercept": cal.intercept, "oe_ratio": cal.oe_ratio}
