"""Figures of the model track: Manhattan and QQ plots, calibration, decision curves, ROC curves.

Each function takes ``ax=None``, returns the Axes and never calls ``plt.show()`` (as :mod:`pmo_workbench.plots`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> t = pd.DataFrame({"contig": ["chr1"] * 50 + ["chr2"] * 50, "position": list(range(50)) * 2,
...                   "p_value": np.random.default_rng(0).uniform(size=100)})
>>> plot_manhattan(t).get_ylabel()
'−log10 p'
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats


def _axes(ax: plt.Axes | None, size: tuple[float, float] = (9, 3.2)) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _contig_order(name: str) -> tuple[int, str]:
    c = str(name).removeprefix("chr")
    return (int(c), "") if c.isdigit() else (100 + ("X", "Y", "M", "MT").index(c) if c in ("X", "Y", "M", "MT")
                                              else 200, c)


def plot_manhattan(gwas: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "",
                   threshold: float = 5e-8, highlight: pd.DataFrame | None = None) -> plt.Axes:
    """−log10 p along the genome, contigs alternating in colour, the genome-wide line dashed; ``highlight``
    (contig, position) marks variants (e.g. known causal ones) with open circles."""
    ax = _axes(ax)
    t = gwas[["contig", "position", "p_value"]].dropna()
    contigs = sorted(t["contig"].unique(), key=_contig_order)
    offset, ticks, labels = 0, [], []
    for i, c in enumerate(contigs):
        part = t[t["contig"] == c]
        x = part["position"].to_numpy() - part["position"].min() + offset
        ax.scatter(x, -np.log10(part["p_value"].clip(lower=1e-300)), s=4,
                   color=("#2b6a8f" if i % 2 == 0 else "#8fb8cf"), rasterized=True)
        if highlight is not None:
            h = highlight[highlight["contig"] == c].merge(part, on=["contig", "position"])
            if len(h):
                ax.scatter(h["position"] - part["position"].min() + offset, -np.log10(h["p_value"]), s=40,
                           facecolors="none", edgecolors="#c0392b", linewidths=1.2)
        ticks.append(offset + (x.max() - offset) / 2 if len(x) else offset)
        labels.append(str(c).removeprefix("chr"))
        offset = (x.max() if len(x) else offset) + 1
    ax.axhline(-np.log10(threshold), color="#c0392b", linestyle="--", linewidth=0.8)
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_xlabel("chromosome")
    ax.set_ylabel("−log10 p")
    ax.set_title(title)
    return ax


def plot_qq(p_values: pd.Series | np.ndarray, *, ax: plt.Axes | None = None, title: str = "",
            lambda_gc: float | None = None) -> plt.Axes:
    """Observed against expected −log10 p under the null, with a 95 % band and λGC in the legend."""
    ax = _axes(ax, (3.6, 3.4))
    p = np.sort(np.asarray(p_values, dtype=float))
    p = p[np.isfinite(p) & (p > 0)]
    n = len(p)
    if n == 0:
        return ax
    k = np.arange(1, n + 1)
    expected = -np.log10(k / (n + 1))
    lo = -np.log10(stats.beta.ppf(0.975, k, n - k + 1))
    hi = -np.log10(stats.beta.ppf(0.025, k, n - k + 1))
    ax.fill_between(expected, lo, hi, color="#dddddd", step="mid")
    ax.scatter(expected, -np.log10(p), s=4, color="#2b6a8f", rasterized=True,
               label=f"λGC = {lambda_gc:.3f}" if lambda_gc is not None else None)
    top = max(expected.max(), -np.log10(p[0]))
    ax.plot([0, top], [0, top], color="#c0392b", linewidth=0.8)
    ax.set_xlabel("expected −log10 p")
    ax.set_ylabel("observed −log10 p")
    if lambda_gc is not None:
        ax.legend(loc="upper left", frameon=False)
    ax.set_title(title)
    return ax


def plot_calibration(curve: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "", label: str = "",
                     color: str = "#2b6a8f") -> plt.Axes:
    """Observed against predicted risk per risk group (with the interval where the table has one)."""
    ax = _axes(ax, (3.8, 3.6))
    top = float(max(curve["predicted"].max(), curve["observed"].max(), 0.05)) * 1.1
    ax.plot([0, top], [0, top], color="#999999", linewidth=0.8, linestyle="--")
    if {"lower", "upper"} <= set(curve.columns):
        ax.errorbar(curve["predicted"], curve["observed"],
                    yerr=[(curve["observed"] - curve["lower"]).clip(lower=0),
                          (curve["upper"] - curve["observed"]).clip(lower=0)], fmt="o",
                    color=color, markersize=4, linewidth=0.8, label=label or None)
    else:
        ax.plot(curve["predicted"], curve["observed"], "o-", color=color, markersize=4, label=label or None)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed risk")
    ax.set_title(title)
    if label:
        ax.legend(frameon=False)
    return ax


def plot_calibration_by(curves: dict[str, pd.DataFrame], *, ax: plt.Axes | None = None, title: str = "",
                        omitted: list[str] | None = None) -> plt.Axes:
    """One calibration curve per subgroup on shared axes, each in its own colour, with the subgroups left out
    (too few events, see :func:`pmo_workbench.model.evaluation.compute_calibration_curves_by`) named below.

    Examples
    --------
    >>> c = pd.DataFrame({"predicted": [0.1, 0.5], "observed": [0.12, 0.45]})
    >>> ax = plot_calibration_by({"F": c, "M": c * 0.9}, omitted=["X"])
    >>> legend = ax.get_legend()
    >>> [t.get_text() for t in legend.get_texts()], len({str(h.get_color()) for h in legend.legend_handles})
    (['F', 'M'], 2)
    """
    ax = _axes(ax, (3.8, 3.6))
    colours = plt.get_cmap("tab10").colors
    for i, (level, curve) in enumerate(curves.items()):
        plot_calibration(curve, ax=ax, title=title, label=level, color=colours[i % len(colours)])
    if curves:  # each curve set limits for itself: the axes hold them all
        top = max(float(max(c["predicted"].max(), c["observed"].max(), 0.05)) for c in curves.values()) * 1.1
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
    else:
        ax.set_title(title)
        ax.text(0.5, 0.5, "no subgroup with enough events", ha="center", va="center", transform=ax.transAxes)
    if omitted:
        ax.annotate("too few events, not shown: " + ", ".join(omitted), (0, 0), xytext=(0, -34),
                    xycoords="axes fraction", textcoords="offset points", fontsize=7, color="#555555")
    return ax


def plot_calibration_by_columns(risk: pd.DataFrame, titles: dict[str, str], *, groups: int = 5,
                                min_events: int = 5) -> plt.Figure | None:
    """Calibration curves per subgroup, one panel per grouping column of a validated-risk table (``y``, ``risk``
    and the columns of ``titles``, which maps each column to its name in the panel title). Columns missing from
    ``risk`` and columns with no subgroup of ``min_events`` events get no panel; ``None`` when no panel is left.

    Examples
    --------
    >>> r = pd.DataFrame({"y": [1, 0] * 20, "risk": np.linspace(0.1, 0.9, 40), "sex": ["F", "M"] * 20})
    >>> fig = plot_calibration_by_columns(r, {"sex": "sex", "ancestry": "ancestry"})
    >>> [ax.get_title() for ax in fig.axes]
    ['Calibration by sex']
    >>> plot_calibration_by_columns(r, {"sex": "sex"}, min_events=50) is None
    True
    """
    from pmo_workbench.model.evaluation import compute_calibration_curves_by

    panels = {col: compute_calibration_curves_by(risk, col, groups=groups, min_events=min_events)
              for col in titles if col in risk}
    panels = {col: cb for col, cb in panels.items() if cb[0]}
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.6), layout="constrained", squeeze=False)
    for ax, (col, (curves, omitted)) in zip(axes[0], panels.items(), strict=True):
        plot_calibration_by(curves, omitted=omitted, ax=ax, title=f"Calibration by {titles[col]}")
    return fig


def plot_decision_curve(nb: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "",
                        extra: dict[str, pd.DataFrame] | None = None) -> plt.Axes:
    """Net benefit of the model (and ``extra`` models) against treat-all and treat-none over thresholds."""
    ax = _axes(ax, (4.6, 3.4))
    ax.plot(nb["threshold"], nb["net_benefit_model"], color="#2b6a8f", label="model")
    for name, other in (extra or {}).items():
        ax.plot(other["threshold"], other["net_benefit_model"], label=name)
    ax.plot(nb["threshold"], nb["net_benefit_all"], color="#999999", linestyle="--", label="treat all")
    ax.axhline(0, color="#333333", linewidth=0.8, label="treat none")
    top = float(max(nb["net_benefit_model"].max(), nb["net_benefit_all"].max(), 0.01))
    ax.set_ylim(-top * 0.25, top * 1.2)
    ax.set_xlabel("risk threshold")
    ax.set_ylabel("net benefit")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title)
    return ax


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, ax: plt.Axes | None = None,
             title: str = "") -> plt.Axes:
    """ROC curves: name -> (outcomes, risks)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    ax = _axes(ax, (3.6, 3.4))
    for name, (y, p) in curves.items():
        ok = ~(np.isnan(y) | np.isnan(p))
        fpr, tpr, _ = roc_curve(y[ok], p[ok])
        ax.plot(fpr, tpr, label=f"{name} ({roc_auc_score(y[ok], p[ok]):.3f})")
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8)
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.set_title(title)
    return ax
