"""Risk models and their validation: penalised logistic regression, gradient boosting and a Cox model.

:func:`prepare_data` joins a :class:`~pmo_workbench.model.features.FeatureTable` with an
:class:`~pmo_workbench.model.outcomes.OutcomeTable` and says who was left out and why (prevalent outcome, not
under observation, censored before the horizon for binary models). :func:`check_problems` names what makes a
model unreliable or impossible -- no cases, one outcome value, constant covariates, too few events per feature,
perfect separation -- so reports state them instead of crashing; :class:`ModelDataError` is raised only when no
model can be fitted at all.

Models (:func:`make_model`; fixed seeds throughout):

- ``logistic``: median imputation with missing-indicators, standardisation, one-hot categories, L2-penalised
  logistic regression whose penalty is chosen by an inner stratified cross-validation (so the outer validation
  is nested).
- ``gboost``: scikit-learn's histogram gradient boosting (missing values handled natively) with conservative
  fixed settings.
- ``cox``: scikit-survival's Cox proportional-hazards model (small ridge penalty) on the same preprocessing, for
  time-to-event outcomes. With death as a competing risk, a second cause-specific Cox model for death is fitted
  and the absolute risk at the horizon is the cumulative incidence from both cause-specific hazards (Benichou &
  Gail), comparable with the Aalen-Johansen estimate used for calibration.

Validation (:func:`validate_model`): ``cv`` (repeated stratified k-fold; out-of-fold risks), ``region``
(internal-external: train on every region but one, validate on the one left out -- with two regions, train on
Region Hovedstaden and validate on Region Sjælland and the reverse), ``period`` (train on index dates before
year Y, validate on Y and later). The final model is fitted on all rows.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"age": rng.normal(60, 10, 400), "sex": rng.choice(["F", "M"], 400)})
>>> y = rng.binomial(1, 1 / (1 + np.exp(-(X["age"] - 60) / 8)))
>>> data = ModelData(X=X, y=y.astype(float), ids=pd.DataFrame({"person_id": range(400)}))
>>> res = validate_model(data, "logistic", scheme="cv", n_splits=5, n_repeats=1, seed=1)
>>> bool(res.metrics["auroc"].iloc[0] > 0.75)
True
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from pmo_workbench.errors import InputError
from pmo_workbench.model import evaluation as ev

ModelKind = Literal["logistic", "gboost", "cox"]
Scheme = Literal["cv", "region", "period"]
MODEL_KINDS: tuple[str, ...] = ("logistic", "gboost", "cox")
MIN_EVENTS_PER_FEATURE = 10
"""Below this many events per candidate predictor parameter the model is flagged (Peduzzi/Riley rule of thumb)."""


class ModelDataError(InputError):
    """No model can be fitted on these data (no cases, one outcome value, no usable feature)."""


@dataclass
class Problem:
    """A named problem of the modelling data: ``fatal`` ones stop the fit, the others are reported."""

    name: str
    detail: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass
class ModelData:
    """Rows ready for modelling: features ``X``, binary ``y`` (NaN allowed only for time-to-event), follow-up
    ``time`` (days) and ``status`` (0 censored, 1 event, 2 competing death), row ``ids`` (person_id,
    index_date) and grouping columns (``region``, ``period``) for internal-external validation."""

    X: pd.DataFrame
    y: np.ndarray | None = None
    time: np.ndarray | None = None
    status: np.ndarray | None = None
    ids: pd.DataFrame = field(default_factory=pd.DataFrame)
    horizon_days: float | None = None
    attrition: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.X)

    def subset(self, rows: np.ndarray) -> ModelData:
        """The rows selected by an index or boolean array."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.asarray(a)[rows]

        return ModelData(self.X.iloc[rows].reset_index(drop=True), take(self.y), take(self.time),
                         take(self.status), self.ids.iloc[rows].reset_index(drop=True) if len(self.ids) else
                         self.ids, self.horizon_days, self.attrition)

    def categorical(self) -> list[str]:
        """Feature columns holding categories (object, category or bool dtype)."""
        return [c for c in self.X.columns if self.X[c].dtype == object or str(self.X[c].dtype) in ("category",
                                                                                                    "string")]

    def numeric(self) -> list[str]:
        """Feature columns holding numbers."""
        cat = set(self.categorical())
        return [c for c in self.X.columns if c not in cat]


def prepare_data(features: Any, outcomes: Any, *, kind: ModelKind = "logistic",
                 feature_names: list[str] | None = None) -> ModelData:
    """Join features and outcomes on (person_id, index_date) and drop rows that cannot be used, counting them.

    Rows with a prevalent outcome or not under observation at the index date are always dropped; for binary
    models (``logistic``, ``gboost``) rows censored before the horizon without the event are dropped too.

    Examples
    --------
    >>> data = prepare_data(feature_table, outcome_table, kind="logistic")  # doctest: +SKIP
    >>> data.attrition  # doctest: +SKIP
    """
    table = features.table.merge(outcomes.table, on=["person_id", "index_date"], how="inner")
    names = feature_names if feature_names is not None else features.features
    steps = [("joined features and outcomes", len(table))]
    table = table[~table["prevalent"]]
    steps.append(("outcome not before the index date", len(table)))
    table = table[table["under_observation"]]
    steps.append(("under observation at the index date", len(table)))
    if kind != "cox":
        table = table[table["event"].notna()]
        steps.append(("followed to the horizon, the outcome or death", len(table)))
    table = table.reset_index(drop=True)
    attrition = pd.DataFrame({"step": [s for s, _ in steps], "n": [n for _, n in steps]})
    attrition["removed"] = (-attrition["n"].diff()).fillna(0).astype(int)
    return ModelData(
        X=table[names].copy(), y=table["event"].to_numpy(dtype=float),
        time=table["time_days"].to_numpy(dtype=float), status=table["status"].to_numpy(dtype=np.int8),
        ids=table[["person_id", "index_date"]].copy(), horizon_days=float(outcomes.spec.horizon_days),
        attrition=attrition)


def _detect_separation(X: np.ndarray, y: np.ndarray) -> bool:
    """True when the classes are (quasi-)completely separated by a linear combination of the columns of ``X``
    (with intercept): the linear programme of Konis (2007) has a non-zero optimum."""
    n, k = X.shape
    A = np.column_stack([np.ones(n), X])
    sign = np.where(y == 1, 1.0, -1.0)
    M = A * sign[:, None]  # want M @ b >= 0 for all rows, with sum(M @ b) > 0
    res = optimize.linprog(-M.sum(axis=0), A_ub=-M, b_ub=np.zeros(n), bounds=[(-1, 1)] * (k + 1),
                           method="highs")
    return bool(res.status == 0 and -res.fun > 1e-7 * n)


def check_problems(data: ModelData, *, kind: ModelKind = "logistic") -> list[Problem]:
    """Named problems of ``data`` for a ``kind`` model (see the module docstring); fatal ones first."""
    problems: list[Problem] = []
    if data.n == 0:
        return [Problem("no rows", "no person is left to model", fatal=True)]
    events = int(np.nansum(data.status == 1)) if kind == "cox" and data.status is not None else \
        int(np.nansum(data.y)) if data.y is not None else 0
    non_events = data.n - events
    if events == 0:
        problems.append(Problem("no cases", "no row has the outcome", fatal=True))
    elif non_events == 0:
        problems.append(Problem("one outcome value", "every row has the outcome", fatal=True))
    constant = [c for c in data.X.columns if data.X[c].nunique(dropna=True) <= 1]
    if constant:
        problems.append(Problem("constant covariates", f"no variance in {', '.join(constant)}: left out",
                                fatal=len(constant) == data.X.shape[1]))
    usable = [c for c in data.X.columns if c not in constant]
    n_params = sum(max(1, data.X[c].nunique(dropna=True) - 1) if c in data.categorical() else 1 for c in usable)
    n_params += sum(1 for c in usable if c not in data.categorical() and data.X[c].isna().any())
    if events and n_params and min(events, non_events) / n_params < MIN_EVENTS_PER_FEATURE:
        problems.append(Problem(
            "too few events per feature",
            f"{min(events, non_events)} events for {n_params} parameters "
            f"({min(events, non_events) / n_params:.1f} per parameter; at least {MIN_EVENTS_PER_FEATURE} advised): "
            "expect optimism; the penalty and the validation below account for part of it"))
    if events and non_events and usable and kind != "cox":
        design = _design_matrix(data.X[usable])
        if design.shape[1] and _detect_separation(design, np.asarray(data.y)):
            problems.append(Problem("perfect separation", "a combination of features separates cases from "
                                    "non-cases completely; unpenalised estimates would be infinite (the penalised "
                                    "model stays finite, but its risks near 0 or 1 are not to be trusted)"))
    return sorted(problems, key=lambda p: not p.fatal)


def _design_matrix(X: pd.DataFrame) -> np.ndarray:
    """Numeric design for the separation check: numbers (mean-imputed, scaled) and one-hot categories."""
    parts = []
    for c in X.columns:
        col = X[c]
        if col.dtype == object or str(col.dtype) in ("category", "string"):
            dummies = pd.get_dummies(col.astype(str), drop_first=True).to_numpy(dtype=float)
            parts.append(dummies)
        else:
            v = col.astype(float)
            v = v.fillna(v.mean())
            sd = v.std() or 1.0
            parts.append(((v - v.mean()) / sd).to_numpy()[:, None])
    return np.hstack(parts) if parts else np.zeros((len(X), 0))


def _preprocessor(numeric: list[str], categorical: list[str], *, scale: bool = True) -> ColumnTransformer:
    num_steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
    if scale:
        num_steps.append(StandardScaler())
    return ColumnTransformer([
        ("numeric", make_pipeline(*num_steps), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(drop="if_binary", handle_unknown="ignore",
                                                    sparse_output=False)), categorical),
    ], remainder="drop", verbose_feature_names_out=False)


def make_model(kind: ModelKind, numeric: list[str], categorical: list[str], *, seed: int = 1) -> BaseEstimator:
    """An unfitted scikit-learn pipeline (``cox``: :class:`CompetingCox`) for the named model kind."""
    if kind == "logistic":
        return Pipeline([("prepare", _preprocessor(numeric, categorical)),
                         ("model", LogisticRegressionCV(
                             Cs=np.logspace(-3, 2, 10), cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                             scoring="neg_log_loss", solver="newton-cholesky", max_iter=200, l1_ratios=(0.0,),
                             use_legacy_attributes=False))])
    if kind == "gboost":
        prep = ColumnTransformer([
            ("numeric", "passthrough", numeric),
            ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                           encoded_missing_value=np.nan), categorical),
        ], verbose_feature_names_out=False)
        cat_mask = [False] * len(numeric) + [True] * len(categorical)
        return Pipeline([("prepare", prep), ("model", HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=8, min_samples_leaf=40, l2_regularization=1.0,
            categorical_features=cat_mask if categorical else None, early_stopping=False, random_state=seed))])
    if kind == "cox":
        return CompetingCox(numeric, categorical)
    raise ValueError(f"unknown model kind {kind!r} (use one of {', '.join(MODEL_KINDS)})")


class CompetingCox(BaseEstimator):
    """Cause-specific Cox models for the outcome (and, with competing deaths, for death), giving the absolute
    risk of the outcome by a horizon: ``CIF(h) = Σ_{t ≤ h} S(t−) · dΛ₁(t)`` with ``S = exp(−Λ₁ − Λ₂)``.

    ``fit(X, time, status)``; :meth:`predict_risk` ``(X, horizon)``. Without deaths (status 2) it is one Cox model
    and the risk is ``1 − S₁(h)``.
    """

    def __init__(self, numeric: list[str], categorical: list[str], alpha: float = 0.01) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.alpha = alpha

    def _cox(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> Pipeline:
        from sksurv.linear_model import CoxPHSurvivalAnalysis
        from sksurv.util import Surv

        model = Pipeline([("prepare", _preprocessor(self.numeric, self.categorical)),
                          ("model", CoxPHSurvivalAnalysis(alpha=self.alpha, ties="efron"))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            model.fit(X, Surv.from_arrays(event.astype(bool), np.maximum(time, 0.5)))
        return model

    def fit(self, X: pd.DataFrame, time: np.ndarray, status: np.ndarray) -> CompetingCox:
        """Fit the cause-specific models."""
        status = np.asarray(status)
        self.outcome_ = self._cox(X, np.asarray(time, dtype=float), status == 1)
        self.death_ = self._cox(X, np.asarray(time, dtype=float), status == 2) if (status == 2).any() else None
        return self

    @staticmethod
    def _cum_hazards(model: Pipeline, X: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
        cox = model.named_steps["model"]
        lp = cox.predict(model.named_steps["prepare"].transform(X))
        base = cox.cum_baseline_hazard_
        at = np.searchsorted(base.x, grid, side="right") - 1  # a right-continuous step function
        h0 = np.where(at >= 0, base.y[np.maximum(at, 0)], 0.0)
        return np.exp(lp)[:, None] * h0[None, :]

    def predict_risk(self, X: pd.DataFrame, horizon: float) -> np.ndarray:
        """Absolute risk of the outcome by ``horizon`` days."""
        base = self.outcome_.named_steps["model"].cum_baseline_hazard_
        times = base.x[base.x <= horizon]
        if self.death_ is not None:
            dbase = self.death_.named_steps["model"].cum_baseline_hazard_
            times = np.union1d(times, dbase.x[dbase.x <= horizon])
        grid = np.concatenate([[0.0], times, [horizon]])
        h1 = self._cum_hazards(self.outcome_, X, grid)
        h2 = self._cum_hazards(self.death_, X, grid) if self.death_ is not None else np.zeros_like(h1)
        surv_before = np.exp(-(h1 + h2))[:, :-1]
        return np.clip((surv_before * np.diff(h1, axis=1)).sum(axis=1), 0.0, 1.0)

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        """The outcome model's linear predictor (log relative hazard)."""
        return self.outcome_.named_steps["model"].predict(self.outcome_.named_steps["prepare"].transform(X))


@dataclass
class FittedModel:
    """A model fitted on all rows, with what is needed to use and describe it."""

    kind: ModelKind
    estimator: Any
    features: list[str]
    horizon_days: float | None
    dropped_features: list[str] = field(default_factory=list)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted risk of the outcome (by the horizon) for the rows of ``X``."""
        X = X[self.features]
        if self.kind == "cox":
            return self.estimator.predict_risk(X, float(self.horizon_days or 0))
        with threadpool_limits(limits=1, user_api="openmp"):
            return self.estimator.predict_proba(X)[:, 1]

    def coefficients(self) -> pd.DataFrame:
        """Standardised coefficients (log-odds or log-hazard per SD; categories vs reference), where defined."""
        if self.kind == "gboost":
            return pd.DataFrame(columns=["term", "coefficient"])
        pipe = self.estimator if self.kind == "logistic" else self.estimator.outcome_
        names = pipe.named_steps["prepare"].get_feature_names_out()
        coef = np.ravel(pipe.named_steps["model"].coef_)
        return pd.DataFrame({"term": names, "coefficient": coef})

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``model.joblib`` and ``model.json`` (kind, features, horizon, package versions)."""
        import joblib

        from pmo_workbench.files import replace_atomically, write_text_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with replace_atomically(folder / "model.joblib") as tmp:
            joblib.dump(self, tmp)
        meta = {"kind": self.kind, "features": self.features, "dropped_features": self.dropped_features,
                "horizon_days": self.horizon_days, "versions": package_versions()}
        return [folder / "model.joblib", write_text_atomic(folder / "model.json", json.dumps(meta, indent=2))]


def package_versions() -> dict[str, str]:
    """Versions of the packages a saved model depends on."""
    out = {}
    for name in ("pmo-workbench", "scikit-learn", "scikit-survival", "numpy", "pandas", "scipy", "joblib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _usable_features(data: ModelData) -> tuple[list[str], list[str]]:
    dropped = [c for c in data.X.columns if data.X[c].nunique(dropna=True) <= 1]
    return [c for c in data.X.columns if c not in dropped], dropped


def _raise_fatal(problems: list[Problem]) -> None:
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise ModelDataError(f"cannot fit a model: {fatal[0]}", field="outcome" if fatal[0].name in (
            "no cases", "one outcome value") else "features")


def fit_model(data: ModelData, kind: ModelKind = "logistic", *, seed: int = 1) -> FittedModel:
    """Fit ``kind`` on all rows of ``data`` (constant features left out).

    Raises
    ------
    ModelDataError
        A fatal problem of :func:`check_problems` (no cases, one outcome value, no usable feature).
    """
    _raise_fatal(check_problems(data, kind=kind))
    features, dropped = _usable_features(data)
    sub = ModelData(data.X[features], data.y, data.time, data.status, data.ids, data.horizon_days)
    model = make_model(kind, sub.numeric(), sub.categorical(), seed=seed)
    # one OpenMP thread: the data are small, and gradient boosting's threads stall on a busy machine
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore", category=UserWarning)
        if kind == "cox":
            model.fit(sub.X, sub.time, sub.status)
        else:
            model.fit(sub.X, np.asarray(sub.y, dtype=int))
    return FittedModel(kind, model, features, data.horizon_days, dropped)


@dataclass
class ValidationResult:
    """Validated predictions: ``predictions`` (row, split, repeat, risk, y, time, status) for every validation
    row, ``metrics`` (one row per split, then ``pooled``), the ``scheme`` and the final ``model``."""

    scheme: str
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    model: FittedModel
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)

    def pooled_risk(self) -> pd.DataFrame:
        """Per row: the mean validated risk over repeats (one value per row), with y, time, status."""
        g = self.predictions.groupby("row", sort=True)
        return g.agg(risk=("risk", "mean"), y=("y", "first"), time=("time", "first"),
                     status=("status", "first")).reset_index()


def _split_groups(data: ModelData, scheme: Scheme, *, n_splits: int, n_repeats: int, seed: int,
                  period_year: int | None, groups: pd.Series | None) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    rows = np.arange(data.n)
    if scheme == "cv":
        strata = (data.status == 1).astype(int) if data.y is None or np.isnan(data.y).any() else \
            np.asarray(data.y, dtype=int)
        events = int(strata.sum())
        k = max(2, min(n_splits, events, data.n - events))
        cv = RepeatedStratifiedKFold(n_splits=k, n_repeats=n_repeats, random_state=seed)
        return [(f"fold {i % k + 1}", i // k + 1, tr, te) for i, (tr, te) in enumerate(cv.split(rows, strata))]
    if scheme == "region":
        if groups is None:
            raise InputError("region validation needs a region per row (add 'region' to the demographics)",
                             field="validation")
        g = groups.astype(object).fillna("unknown").to_numpy()
        levels = sorted(pd.unique(g), key=str)
        if len(levels) < 2:
            raise InputError(f"region validation needs two regions or more, the data have {len(levels)}",
                             field="validation")
        return [(f"validate on {lv}", 1, np.flatnonzero(g != lv), np.flatnonzero(g == lv)) for lv in levels]
    if scheme == "period":
        years = pd.to_datetime(data.ids["index_date"]).dt.year.to_numpy()
        year = period_year or int(np.median(years)) + 1
        train, test = np.flatnonzero(years < year), np.flatnonzero(years >= year)
        if len(train) == 0 or len(test) == 0:
            raise InputError(f"period validation at {year}: every index date falls on one side of it (index "
                             f"dates {years.min()}-{years.max()}); give period_year inside that range",
                             field="period_year")
        return [(f"train < {year}, validate ≥ {year}", 1, train, test)]
    raise ValueError(f"unknown validation scheme {scheme!r} (cv, region, period)")


def validate_model(data: ModelData, kind: ModelKind = "logistic", *, scheme: Scheme = "cv", n_splits: int = 5,
                   n_repeats: int = 2, seed: int = 1, period_year: int | None = None,
                   groups: pd.Series | None = None, n_boot: int = 500) -> ValidationResult:
    """Validate ``kind`` on ``data`` by ``scheme`` and fit the final model on all rows.

    Parameters
    ----------
    groups
        Region per row for ``scheme="region"`` (default: the ``region`` feature).
    period_year
        First validation year for ``scheme="period"`` (default: the year after the median index year).
    n_boot
        Bootstrap resamples for the AUROC intervals.

    Raises
    ------
    ModelDataError
        A fatal problem (no cases, ...). Training splits without both outcome values are skipped with a note.
    """
    problems = check_problems(data, kind=kind)
    _raise_fatal(problems)
    features, _ = _usable_features(data)
    if groups is None and scheme == "region" and "region" in data.X:
        groups = data.X["region"]
    splits = _split_groups(data, scheme, n_splits=n_splits, n_repeats=n_repeats, seed=seed,
                           period_year=period_year, groups=groups)
    preds, notes, metric_rows = [], [], []
    for name, repeat, train, test in splits:
        tr, te = data.subset(train), data.subset(test)
        tr_events = int((tr.status == 1).sum()) if kind == "cox" else int(np.nansum(tr.y))
        if tr_events == 0 or tr_events == tr.n:
            notes.append(f"{name}: the training rows hold one outcome value only; split skipped")
            continue
        fitted = fit_model(ModelData(tr.X[features], tr.y, tr.time, tr.status, tr.ids, tr.horizon_days),
                           kind, seed=seed)
        risk = fitted.predict_risk(te.X)
        preds.append(pd.DataFrame({"row": test, "split": name, "repeat": repeat, "risk": risk, "y": te.y,
                                   "time": te.time, "status": te.status}))
        metric_rows.append({"split": name, "repeat": repeat, **_metrics(te, risk, kind, n_boot, seed)})
    if not preds:
        raise ModelDataError("no validation split could be fitted (each training set held one outcome value)",
                             field="validation")
    predictions = pd.concat(preds, ignore_index=True)
    metrics = pd.DataFrame(metric_rows)
    if scheme == "cv":
        pooled_rows = [{"split": f"pooled, repeat {r}", "repeat": r,
                        **_metrics(data.subset(p["row"].to_numpy()), p["risk"].to_numpy(), kind, n_boot, seed)}
                       for r, p in predictions.groupby("repeat")]
        metrics = pd.concat([metrics, pd.DataFrame(pooled_rows)], ignore_index=True)
    final = fit_model(data, kind, seed=seed)
    return ValidationResult(scheme, predictions, metrics, final, problems, notes)


def _metrics(data: ModelData, risk: np.ndarray, kind: ModelKind, n_boot: int, seed: int) -> dict[str, float]:
    if kind == "cox":
        h = float(data.horizon_days or 0)
        y = np.where((data.status == 1) & (data.time <= h), 1.0,
                     np.where((data.time >= h) | (data.status == 2), 0.0, np.nan))
        out = ev.summarise_performance(y[~np.isnan(y)], risk[~np.isnan(y)], n_boot=n_boot, seed=seed) \
            if (~np.isnan(y)).any() else {}
        out["c_index"] = ev.compute_c_index(data.time, data.status, risk)
        out["observed_risk_aj"] = ev.compute_cumulative_incidence(data.time, data.status, h)
        out["mean_predicted_risk"] = float(np.mean(risk))
        return out
    y = np.asarray(data.y, dtype=float)
    return ev.summarise_performance(y, risk, n_boot=n_boot, seed=seed)


def clone_model(model: BaseEstimator) -> BaseEstimator:
    """An unfitted copy (scikit-learn's ``clone``)."""
    return clone(model)
