"""Metrics of the model track against hand-worked cases and independent implementations (dcurves, statsmodels,
scikit-survival, lifelines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.model import evaluation as ev


@pytest.fixture(scope="module")
def sim() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    x = rng.normal(size=3000)
    p_true = 1 / (1 + np.exp(-(-2 + 1.2 * x)))
    y = rng.binomial(1, p_true).astype(float)
    p = 1 / (1 + np.exp(-(-1.7 + 0.9 * x)))  # miscalibrated on purpose
    return y, p


def test_auroc_hand_worked() -> None:
    # pairs (case, control): (.35,.1) + (.35,.4) - (.8,.1) + (.8,.4) + -> 3 of 4; a tie counts one half
    assert ev.compute_auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], n_boot=0).estimate == 0.75
    assert ev.compute_auroc([0, 1], [0.3, 0.3], n_boot=0).estimate == 0.5
    assert np.isnan(ev.compute_auroc([1, 1, 1], [0.1, 0.2, 0.3]).estimate)


def test_auroc_bootstrap_interval_covers_and_is_reproducible(sim) -> None:
    y, p = sim
    a = ev.compute_auroc(y, p, n_boot=300, seed=3)
    b = ev.compute_auroc(y, p, n_boot=300, seed=3)
    assert a == b
    assert a.lower < a.estimate < a.upper and a.upper - a.lower < 0.06
    # DeLong's standard error (an independent route) gives about the same width
    from scipy import stats

    cases, controls = p[y == 1], p[y == 0]
    v10 = np.array([(c > controls).mean() + 0.5 * (c == controls).mean() for c in cases])
    v01 = np.array([(cases > c).mean() + 0.5 * (cases == c).mean() for c in controls])
    se = np.sqrt(v10.var(ddof=1) / len(cases) + v01.var(ddof=1) / len(controls))
    z = stats.norm.ppf(0.975)
    assert (a.upper - a.lower) == pytest.approx(2 * z * se, rel=0.2)


def test_brier_and_auprc_hand_worked() -> None:
    y, p = [0, 1, 1, 0], [0.2, 0.6, 0.9, 0.5]
    assert ev.compute_brier(y, p) == pytest.approx((0.04 + 0.16 + 0.01 + 0.25) / 4)
    # ranked: .9(1) .6(1) .5(0) .2(0): precision at each recall step is 1 -> AP 1
    assert ev.compute_auprc(y, p) == pytest.approx(1.0)
    assert ev.compute_auprc([0, 1, 0, 1], [0.9, 0.8, 0.1, 0.05]) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_calibration_slope_and_intercept_equal_statsmodels(sim) -> None:
    sm = pytest.importorskip("statsmodels.api")
    y, p = sim
    c = ev.compute_calibration(y, p)
    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl_fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    assert c.slope == pytest.approx(slope_fit.params[1], rel=1e-6)
    assert c.intercept == pytest.approx(citl_fit.params[0], rel=1e-6, abs=1e-9)
    assert c.slope > 1.1  # the predictions were made too flat on purpose
    assert c.observed == y.sum() and c.expected == pytest.approx(p.sum())


def test_net_benefit_equals_dcurves(sim) -> None:
    dcurves = pytest.importorskip("dcurves")
    y, p = sim
    thresholds = [0.05, 0.1, 0.2, 0.3, 0.5]
    ours = ev.compute_net_benefit(y, p, thresholds)
    ref = dcurves.dca(data=pd.DataFrame({"y": y.astype(int), "risk": p}), outcome="y", modelnames=["risk"],
                      thresholds=thresholds)
    ref_model = ref[ref["model"] == "risk"].set_index("threshold")["net_benefit"]
    ref_all = ref[ref["model"] == "all"].set_index("threshold")["net_benefit"]
    for t, row in ours.set_index("threshold").iterrows():
        assert row["net_benefit_model"] == pytest.approx(ref_model.loc[t], abs=1e-12)
        assert row["net_benefit_all"] == pytest.approx(ref_all.loc[t], abs=1e-12)
    assert (ours["net_benefit_none"] == 0).all()


def test_threshold_metrics_hand_worked() -> None:
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([.9, .4, .35, .1, .5, .2, .05, .3, .1, .15])
    m = ev.compute_threshold_metrics(y, p, 0.3)
    # flagged (>= .3): .9(1) .4(1) .35(0) .5(0) .3(0) -> tp 2 fp 3 fn 1 tn 4
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 3, 1, 4)
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(4 / 7)
    assert m["ppv"] == pytest.approx(2 / 5) and m["npv"] == pytest.approx(4 / 5)
    assert m["flagged_per_1000"] == pytest.approx(500)
    assert m["net_benefit"] == pytest.approx(2 / 10 - 3 / 10 * 0.3 / 0.7)


def test_nri_and_idi_hand_worked() -> None:
    y = np.array([0, 0, 0, 1, 1])
    a = np.array([.1, .2, .3, .2, .4])
    b = np.array([.1, .2, .2, .3, .5])
    cmp = ev.compare_models(y, a, b, thresholds=[0.25], n_boot=0)
    assert cmp.delta_auroc.estimate == pytest.approx(1.0 - 0.75)
    assert (cmp.nri_events, cmp.nri_nonevents) == pytest.approx((0.5, 1 / 3))
    # continuous: events up 2/2, non-events down 1/3 (none up)
    assert cmp.nri_continuous == pytest.approx(1 + 1 / 3)
    assert cmp.idi == pytest.approx((0.4 - 0.3) - (0.5 / 3 - 0.6 / 3))


def test_delta_auroc_paired_bootstrap(sim) -> None:
    y, p = sim
    rng = np.random.default_rng(1)
    noisy = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, 1.5, len(p)))))
    cmp = ev.compare_models(y, noisy, p, n_boot=300, seed=2)
    assert cmp.delta_auroc.estimate > 0 and cmp.delta_auroc.lower > 0
    same = ev.compare_models(y, p, p, n_boot=100)
    assert same.delta_auroc.estimate == 0 and same.delta_auroc.lower == 0 == same.delta_auroc.upper


def test_cumulative_incidence_equals_scikit_survival_and_lifelines() -> None:
    from sksurv.nonparametric import cumulative_incidence_competing_risks

    rng = np.random.default_rng(5)
    n = 400
    t = np.round(rng.exponential(10, n), 1)  # ties on purpose
    status = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3])
    for h in (2.0, 5.5, 12.0):
        ours = ev.compute_cumulative_incidence(t, status, h)
        times, cif = cumulative_incidence_competing_risks(status, t)
        ref = cif[1][np.searchsorted(times, h, side="right") - 1]
        assert ours == pytest.approx(ref, abs=1e-12)
    lifelines = pytest.importorskip("lifelines")
    tt = rng.permutation(np.arange(1, n + 1)).astype(float)  # no ties: lifelines does not jitter
    aj = lifelines.AalenJohansenFitter(calculate_variance=False).fit(tt, status, event_of_interest=1)
    assert ev.compute_cumulative_incidence(tt, status, 200.0) == pytest.approx(
        float(aj.cumulative_density_.loc[:200.0].iloc[-1, 0]), abs=1e-12)


def test_c_index_hand_worked() -> None:
    # comparable pairs: (t=1 event) with everyone later; (t=3 event) with t=4 -> 4 pairs, risk order all right but one
    t, s, r = [1, 2, 3, 4], [1, 0, 1, 0], [0.9, 0.5, 0.3, 0.4]
    assert ev.compute_c_index(t, s, r) == pytest.approx(3 / 4)


def test_calibration_curves_by_group_equal_per_group_curves_and_plot_apart(sim) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from pmo_workbench.model import figures

    y, p = sim
    sex = np.where(np.arange(len(y)) % 3 == 0, "F", "M").astype(object)
    sex[:40] = None  # unknown sex: in no curve
    risk = pd.DataFrame({"y": y, "risk": p, "sex": sex, "ancestry": "EUR"})
    risk.loc[risk.index[-30:], "ancestry"] = "AFR"
    risk.loc[risk.index[-30:], "y"] = [1, 1, 1, 1] + [0] * 26  # 4 events: below the minimum
    curves, omitted = ev.compute_calibration_curves_by(risk, "sex", groups=5)
    assert list(curves) == ["F", "M"] and omitted == []
    known = risk.dropna(subset=["sex"])
    for level, curve in curves.items():
        part = known[known["sex"] == level]
        pd.testing.assert_frame_equal(curve, ev.compute_calibration_curve(part["y"], part["risk"], groups=5))
    assert sum(int(c["n"].sum()) for c in curves.values()) == len(y) - 40
    by_anc, omitted = ev.compute_calibration_curves_by(risk, "ancestry", groups=5)
    assert list(by_anc) == ["EUR"] and omitted == ["AFR"]
    assert ev.compute_calibration_curves_by(risk, "ancestry", min_events=4)[1] == []

    ax = figures.plot_calibration_by(curves, omitted=["X"], title="Calibration by sex")
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["F", "M"]
    colours = {matplotlib.colors.to_hex(h[0].get_color() if isinstance(h, tuple) else h.get_color())
               for h in legend.legend_handles}
    assert len(colours) == 2  # each group in its own colour
    assert ax.get_xlim()[1] >= max(c["predicted"].max() for c in curves.values())  # no curve cut off
    assert ax.get_ylim()[1] >= max(c["observed"].max() for c in curves.values())
    assert any("too few events, not shown: X" in t.get_text() for t in ax.texts)


def test_subgroups_and_calibration_curve(sim) -> None:
    y, p = sim
    groups = np.where(np.arange(len(y)) % 3 == 0, "F", "M")
    sub = ev.compute_subgroup_performance(y, p, groups, n_boot=50)
    assert sub["group"].tolist() == ["F", "M"] and sub["n"].sum() == len(y)
    assert sub["events"].sum() == y.sum()
    curve = ev.compute_calibration_curve(y, p, groups=10)
    assert len(curve) == 10 and curve["n"].sum() == len(y)
    assert (curve["lower"] <= curve["observed"]).all() and (curve["observed"] <= curve["upper"]).all()
    assert curve["predicted"].is_monotonic_increasing
