"""RiskThreshold, Python side: metrics at a threshold are the hand-worked ones; export hides small counts."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets

from pmo_widgets import RiskThreshold

# 10 persons: risks and outcomes; at 0.3 the flagged are .9(1) .4(1) .35(0) .5(0) .3(0): tp 2, fp 3, fn 1, tn 4
Y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
RISK = np.array([.9, .4, .35, .1, .5, .2, .05, .3, .1, .15])


def test_metrics_follow_the_threshold() -> None:
    w = RiskThreshold(Y, RISK, threshold=0.3)
    m = w.metrics
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 3, 1, 4)
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(4 / 7)
    assert m["ppv"] == pytest.approx(0.4) and m["npv"] == pytest.approx(0.8)
    assert m["flagged_per_1000"] == pytest.approx(500) and m["n"] == 10
    assert m["net_benefit"] == pytest.approx(0.2 - 0.3 * 0.3 / 0.7)
    m = w.set_threshold(0.6)
    assert (m["tp"], m["fp"]) == (1, 0) and m["ppv"] == 1.0 and m["flagged_per_1000"] == 100


def test_curve_histogram_and_bad_values() -> None:
    w = RiskThreshold(np.r_[Y, np.nan], np.r_[RISK, 0.2])
    assert w.metrics["n"] == 10  # the row without an outcome is left out
    assert w.curve[0]["threshold"] == 0.01 and len(w.curve) == 50
    assert sum(w.histogram["cases"]) == 3 and sum(w.histogram["controls"]) == 7
    with pytest.raises(traitlets.TraitError, match="strictly between 0 and 1"):
        w.threshold = 1.5
    assert w.threshold == 0.1
    with pytest.raises(ValueError, match="differ in length"):
        RiskThreshold(Y, RISK[:3])


def test_export_mode_hides_small_counts() -> None:
    m = RiskThreshold(Y, RISK, threshold=0.3, min_count=3).metrics
    assert m["tp"] is None and m["fn"] is None and m["fp"] == 3 and m["tn"] == 4
    assert m["sensitivity"] == pytest.approx(2 / 3)
