"""Risk models: named problems instead of crashes, validation schemes, Cox with competing death vs lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.model.card import build_model_card
from pmo_workbench.model.prediction import (
    CompetingCox,
    ModelData,
    ModelDataError,
    check_problems,
    fit_model,
    validate_model,
)


def _data(n: int = 600, seed: int = 0, events: bool = True) -> ModelData:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.normal(60, 10, n), "ldl": np.where(rng.random(n) < 0.2, np.nan,
                                                                      rng.normal(3.2, 0.8, n)),
                      "sex": rng.choice(["F", "M"], n),
                      "region": rng.choice(["Region Hovedstaden", "Region Sjælland"], n, p=[0.7, 0.3])})
    lp = -2.5 + 0.07 * (X["age"] - 60) + 0.5 * X["ldl"].fillna(3.2).sub(3.2) + 0.5 * (X["sex"] == "M")
    y = rng.binomial(1, 1 / (1 + np.exp(-lp))).astype(float) if events else np.zeros(n)
    years = rng.integers(2004, 2016, n)
    ids = pd.DataFrame({"person_id": [f"p{i}" for i in range(n)],
                        "index_date": pd.to_datetime([f"{y}-06-01" for y in years])})
    return ModelData(X=X, y=y, ids=ids)


def test_no_cases_and_one_value_are_named_errors() -> None:
    data = _data(events=False)
    problems = check_problems(data)
    assert problems[0].name == "no cases" and problems[0].fatal
    with pytest.raises(ModelDataError, match="cannot fit a model: no cases"):
        fit_model(data)
    ones = ModelData(X=data.X, y=np.ones(data.n), ids=data.ids)
    with pytest.raises(ModelDataError, match="one outcome value"):
        validate_model(ones)


def test_constant_covariates_and_few_events_are_named_and_survived() -> None:
    data = _data(n=300)
    data.X["constant"] = 1.0
    data.y[:] = 0
    data.y[:12] = 1
    names = {p.name: p for p in check_problems(data)}
    assert "constant covariates" in names and "constant" in names["constant covariates"].detail
    assert "too few events per feature" in names and not names["too few events per feature"].fatal
    fitted = fit_model(data)
    assert fitted.dropped_features == ["constant"] and "constant" not in fitted.features
    assert np.isfinite(fitted.predict_risk(data.X)).all()


def test_perfect_separation_is_named_and_the_penalised_model_stays_finite() -> None:
    data = _data(n=200)
    data.y = (data.X["age"] > 62).astype(float).to_numpy()
    names = [p.name for p in check_problems(data)]
    assert "perfect separation" in names
    assert "perfect separation" not in [p.name for p in check_problems(_data(n=200))]
    fitted = fit_model(data)
    risk = fitted.predict_risk(data.X)
    assert np.isfinite(risk).all() and ((risk >= 0) & (risk <= 1)).all()
    assert np.isfinite(fitted.coefficients()["coefficient"]).all()


@pytest.mark.parametrize("kind", ["logistic", "gboost"])
def test_cross_validation_is_reproducible_and_discriminates(kind: str) -> None:
    data = _data()
    a = validate_model(data, kind, scheme="cv", n_splits=4, n_repeats=2, seed=7, n_boot=50)
    b = validate_model(data, kind, scheme="cv", n_splits=4, n_repeats=2, seed=7, n_boot=50)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    assert sorted(a.predictions["repeat"].unique()) == [1, 2]
    # every row is validated exactly once per repeat, never by a model that saw it
    assert (a.predictions.groupby("repeat")["row"].nunique() == data.n).all()
    pooled = a.metrics[a.metrics["split"].str.startswith("pooled")]
    assert (pooled["auroc"] > 0.65).all()


def test_internal_external_by_region_and_by_period() -> None:
    data = _data()
    res = validate_model(data, "logistic", scheme="region", n_boot=50)
    assert res.metrics["split"].tolist() == ["validate on Region Hovedstaden", "validate on Region Sjælland"]
    for split, rows in res.predictions.groupby("split"):
        region = split.removeprefix("validate on ")
        assert (data.X["region"].iloc[rows["row"]] == region).all()
    per = validate_model(data, "logistic", scheme="period", period_year=2010, n_boot=50)
    years = data.ids["index_date"].dt.year.to_numpy()
    assert (years[per.predictions["row"]] >= 2010).all()
    assert len(per.predictions) == (years >= 2010).sum()
    from pmo_workbench.errors import InputError

    with pytest.raises(InputError, match="period validation at 2030"):
        validate_model(data, "logistic", scheme="period", period_year=2030)


def test_competing_cox_equals_lifelines_cause_specific_hazards() -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(3)
    n = 500
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    t1 = rng.exponential(1 / (0.002 * np.exp(0.7 * X["a"])))
    t2 = rng.exponential(1 / (0.001 * np.exp(0.4 * X["b"])))
    c = rng.uniform(300, 1500, n)
    time = np.round(np.minimum(np.minimum(t1, t2), c)) + 1
    status = np.where(time - 1 == np.round(c), 0, np.where(t1 < t2, 1, 2))
    model = CompetingCox(["a", "b"], [], alpha=0.0).fit(X, time, status)
    horizon = 700.0
    risk = model.predict_risk(X.iloc[:20], horizon)
    frame = X.assign(time=time)
    cph1 = lifelines.CoxPHFitter(baseline_estimation_method="breslow").fit(
        frame.assign(e=(status == 1).astype(int)), "time", "e")
    cph2 = lifelines.CoxPHFitter(baseline_estimation_method="breslow").fit(
        frame.assign(e=(status == 2).astype(int)), "time", "e")
    sd = X.std(ddof=0).to_numpy()
    ours = model.outcome_.named_steps["model"].coef_ / sd
    assert ours == pytest.approx(cph1.params_.to_numpy(), rel=1e-4)
    grid = np.unique(np.concatenate([[0.0], time[time <= horizon], [horizon]]))

    def hazard(cph):  # lifelines' own predict_cumulative_hazard(times=) interpolates linearly: use the steps
        base = cph.baseline_cumulative_hazard_.iloc[:, 0]
        at = np.searchsorted(base.index.to_numpy(), grid, side="right") - 1
        h0 = np.where(at >= 0, base.to_numpy()[np.maximum(at, 0)], 0.0)
        return cph.predict_partial_hazard(X.iloc[:20]).to_numpy()[:, None] * h0[None, :]

    h1, h2 = hazard(cph1), hazard(cph2)
    cif = (np.exp(-(h1 + h2))[:, :-1] * np.diff(h1, axis=1)).sum(axis=1)
    assert risk == pytest.approx(cif, rel=1e-4)


def test_cox_validation_reports_c_index_and_aalen_johansen() -> None:
    data = _data(n=500)
    rng = np.random.default_rng(9)
    data.time = rng.uniform(100, 4000, data.n).round()
    data.status = np.where(data.y == 1, 1, rng.choice([0, 2], data.n, p=[0.8, 0.2])).astype(np.int8)
    data.horizon_days = 3000.0
    res = validate_model(data, "cox", scheme="cv", n_splits=3, n_repeats=1, n_boot=20)
    pooled = res.metrics.iloc[-1]
    assert 0.5 < pooled["c_index"] < 1 and 0 < pooled["observed_risk_aj"] < 1
    assert res.model.coefficients()["term"].tolist()[:2] == ["age", "ldl"]


def test_model_card_marks_what_the_author_must_write() -> None:
    card = build_model_card({
        "title": "10-year MI risk", "outcome": "MI (DI21*, DI22*) within 10 years",
        "performance": pd.DataFrame({"split": ["pooled"], "auroc": [0.71]}),
        "problems": ["too few events per feature: 40 events for 12 parameters"]})
    status = card.checklist.set_index("item")["status"]
    assert status["8a"] == "partial" and status["23a"] == "filled" and status["17"] == "author"
    text = card.to_markdown()
    assert "| 17 | Ethics committee approval and consent | author | to be written by the author |" in text
    assert "too few events per feature" in text and "0.71" in text
