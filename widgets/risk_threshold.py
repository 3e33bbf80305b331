"""``RiskThreshold``: choose a risk threshold and see what it means — sensitivity, specificity, PPV, NPV, net
benefit and persons flagged per 1,000 — with the decision curve and the risk distribution of cases and non-cases.

The widget holds validated risks and outcomes (e.g. the cross-validated risks of the model-development run);
every threshold change recomputes the metrics in Python with
:func:`pmo_workbench.model.evaluation.compute_threshold_metrics` (the numbers the report and tests use), and
``risk_threshold.js`` draws them as plain SVG (no JavaScript libraries; works offline). With ``min_count`` (export
mode) the true/false positive and negative counts below it are not shown.

Examples
--------
>>> import numpy as np
>>> from pmo_widgets import RiskThreshold
>>> w = RiskThreshold(y=np.array([0, 0, 1, 1]), risk=np.array([0.1, 0.4, 0.35, 0.8]), threshold=0.3)
>>> w.metrics["sensitivity"], w.metrics["flagged_per_1000"]
(1.0, 750.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from pmo_workbench.model.evaluation import compute_net_benefit, compute_threshold_metrics

_CURVE = np.round(np.arange(0.01, 0.51, 0.01), 4)


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class RiskThreshold(anywidget.AnyWidget):
    """Interactive risk threshold over validated risks.

    Parameters
    ----------
    y
        Outcomes (0/1; NaN rows are left out).
    risk
        Predicted risks in [0, 1], one per outcome.
    threshold
        Initial threshold (default 0.1).
    min_count
        Counts below this are hidden (export mode); 0 shows all.
    """

    _esm = Path(__file__).with_name("risk_threshold.js")
    _css = Path(__file__).with_name("risk_threshold.css")

    threshold = t.Float(0.1).tag(sync=True)
    metrics = t.Dict().tag(sync=True)
    curve = t.List().tag(sync=True)
    histogram = t.Dict().tag(sync=True)
    title = t.Unicode("").tag(sync=True)

    def __init__(self, y: Sequence[float] | np.ndarray, risk: Sequence[float] | np.ndarray, *,
                 threshold: float = 0.1, min_count: int = 0, title: str = "", **kwargs: Any) -> None:
        yy = np.asarray(y, dtype=float)
        rr = np.asarray(risk, dtype=float)
        if yy.shape != rr.shape:
            raise ValueError(f"y and risk differ in length ({len(yy)} and {len(rr)})")
        keep = ~(np.isnan(yy) | np.isnan(rr))
        self._y, self._risk = yy[keep], np.clip(rr[keep], 0.0, 1.0)
        self._min_count = int(min_count)
        super().__init__(title=title, **kwargs)
        nb = compute_net_benefit(self._y, self._risk, _CURVE)
        self.curve = [{"threshold": float(r.threshold), "model": float(r.net_benefit_model),
                       "all": float(r.net_benefit_all)} for r in nb.itertuples()]
        edges = np.linspace(0, max(0.05, float(np.quantile(self._risk, 0.995)) if len(self._risk) else 1), 31)
        capped = np.minimum(self._risk, edges[-1])  # the last bin holds the few highest risks
        cases, _ = np.histogram(capped[self._y == 1], edges)
        controls, _ = np.histogram(capped[self._y == 0], edges)
        self.histogram = {"edges": edges.tolist(), "cases": cases.tolist(), "controls": controls.tolist()}
        self.set_threshold(threshold)

    @t.validate("threshold")
    def _valid_threshold(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0.0 < value < 1.0:
            raise t.TraitError(f"threshold {value} must lie strictly between 0 and 1")
        return value

    @t.observe("threshold")
    def _recompute(self, change: dict[str, Any]) -> None:
        m = compute_threshold_metrics(self._y, self._risk, self.threshold)
        out = {k: _clean(v) for k, v in m.items()}
        out["n"] = int(len(self._y))
        if self._min_count:
            for k in ("tp", "fp", "fn", "tn"):
                if out[k] is not None and 0 < out[k] < self._min_count:
                    out[k] = None
        self.metrics = out

    def set_threshold(self, value: float) -> dict[str, Any]:
        """Set the threshold from Python and return the metrics."""
        if value == self.threshold:
            self._recompute({})
        self.threshold = value
        return dict(self.metrics)
