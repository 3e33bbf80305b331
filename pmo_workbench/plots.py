"""Seaborn figures of the workbench: each takes ``ax=None``, returns the Axes, and never calls ``plt.show()``.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"F": [10, 12], "M": [9, 14]}, index=["Region Hovedstaden", "Region Sjælland"])
>>> ax = plot_count_table(t, title="Persons")
>>> ax.get_title()
'Persons'
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

PALETTE = "crest"
SUPPRESSED_LABEL = "x suppressed"
"""How a chart marks a suppressed (export-mode) category: an ``x`` at zero and this legend entry."""


def _legend_outside(ax: plt.Axes, title: str = "") -> None:
    """The legend to the right of the data (never over it)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, title=title or None, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1),
                  borderaxespad=0, fontsize=8, title_fontsize=8)


def _integer_axis(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))


def _axes(ax: plt.Axes | None, size: tuple[float, float] = (7, 3.5)) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_count_table(table: pd.DataFrame | pd.Series, *, ax: plt.Axes | None = None, title: str = "",
                     xlabel: str = "", ylabel: str = "count", horizontal: bool = False) -> plt.Axes:
    """Grouped bars of a count table (rows on the axis, columns as hue), legend outside the data, integer count
    axis. Suppressed (NA) cells are **marked**, not dropped: an ``x`` at zero in the series' colour and an
    "x suppressed" legend entry.

    Examples
    --------
    >>> t = pd.DataFrame({"F": [pd.NA, 12], "M": [30, 14]}, index=["a", "b"]).astype("Int64")
    >>> ax = plot_count_table(t)
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())
    ['F', 'M', 'x suppressed']
    """
    ax = _axes(ax)
    frame = table.to_frame(table.name if table.name is not None else "count") if isinstance(table, pd.Series) \
        else table
    values = frame.to_numpy(dtype=float, na_value=float("nan"))
    groups = [str(g) for g in frame.index]
    series = [str(c) for c in frame.columns]
    colours = sns.color_palette(PALETTE, max(len(series), 2)) if len(series) > 1 else [sns.color_palette(PALETTE)[3]]
    width = 0.8 / len(series)
    pos = np.arange(len(groups))
    suppressed = False
    for j, name in enumerate(series):
        offs = pos - 0.4 + width * (j + 0.5)
        vals = values[:, j]
        bar = ax.barh if horizontal else ax.bar
        bar(offs, np.nan_to_num(vals), width * 0.95, color=colours[j], label=name if len(series) > 1 else None)
        hidden = np.isnan(vals)
        if hidden.any():
            suppressed = True
            xs, ys = (np.zeros(hidden.sum()), offs[hidden]) if horizontal else (offs[hidden], np.zeros(hidden.sum()))
            ax.scatter(xs, ys, marker="x", color=colours[j], s=40, zorder=4, clip_on=False)
    if suppressed:
        ax.plot([], [], marker="x", ls="", color="black", label=SUPPRESSED_LABEL)
    if horizontal:
        ax.set_yticks(pos, groups)
        ax.invert_yaxis()
        _integer_axis(ax.xaxis)
        ax.set(title=title, xlabel=ylabel, ylabel=xlabel)
    else:
        ax.set_xticks(pos, groups, rotation=20 if max((len(g) for g in groups), default=0) > 6 else 0,
                      ha="right" if max((len(g) for g in groups), default=0) > 6 else "center")
        _integer_axis(ax.yaxis)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1 or suppressed:
        _legend_outside(ax, frame.columns.name or "")
    return ax


def plot_coverage_by_year(table: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "",
                          ylabel: str = "events", mark: str | None = None) -> plt.Axes:
    """Lines of events per calendar year (index: year, columns: source), integer year axis, legend outside;
    ``mark`` (e.g. ``"2019-03-01"``, the LPR2→LPR3 change, only for projects with LPR data) draws a dashed line.
    Suppressed years (export mode) are marked ``x`` on the year axis, not dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"diagnosis OMOP": [10, 12, 15]}, index=[2001, 2002, 2003])
    >>> ax = plot_coverage_by_year(t)
    >>> all(float(x).is_integer() for x in ax.get_xticks())
    True
    """
    ax = _axes(ax)
    palette = sns.color_palette("deep", max(len(table.columns), 1))
    suppressed = False
    years = pd.Index(table.index).astype(int)
    for j, col in enumerate(table.columns):
        vals = pd.to_numeric(table[col].astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ax.plot(years, vals, marker="o", ms=3, color=palette[j], label=str(col))
        hidden = np.isnan(vals)
        if hidden.any():
            suppressed = True
            ax.scatter(years[hidden], np.zeros(hidden.sum()), marker="x", color=palette[j], zorder=4)
    if suppressed:
        ax.plot([], [], marker="x", ls="", color="black", label=SUPPRESSED_LABEL)
    if mark:
        when = pd.Timestamp(mark)
        x = when.year + (when.dayofyear - 1) / 365.25
        ax.axvline(x, color="grey", ls="--", lw=1)
        ax.annotate("LPR3", (x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", color="grey", fontsize=8)
    _integer_axis(ax.xaxis)
    _integer_axis(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set(title=title, xlabel="year", ylabel=ylabel)
    _legend_outside(ax, "source")
    return ax


def plot_age_distribution(ages: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Persons per age band and sex (an aggregated table: index age band, columns F/M) as mirrored bars."""
    ax = _axes(ax, (6, 4))
    bands = [str(b) for b in ages.index]
    f = ages.get("F", pd.Series(0, index=ages.index)).astype("Float64").fillna(0).astype(float)
    m = ages.get("M", pd.Series(0, index=ages.index)).astype("Float64").fillna(0).astype(float)
    ax.barh(bands, -f.to_numpy(), color=sns.color_palette(PALETTE)[1], label="F")
    ax.barh(bands, m.to_numpy(), color=sns.color_palette(PALETTE)[4], label="M")
    hidden = ages.reindex(columns=["F", "M"]).isna().any(axis=1).to_numpy()
    if hidden.any():
        ax.scatter(np.zeros(hidden.sum()), [b for b, h in zip(bands, hidden, strict=True) if h], marker="x",
                   color="black", zorder=4, label=SUPPRESSED_LABEL)
    ax.set(title=title, xlabel="persons (F left, M right)", ylabel="age band")
    _integer_axis(ax.xaxis)
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, [f"{abs(int(t))}" for t in ticks])
    _legend_outside(ax)
    return ax


# ------------------------------------------------------------------------------------------------ WGS QC


def plot_metric_by_batch(samples: pd.DataFrame, metric: str, *, ax: plt.Axes | None = None, title: str = "",
                         batch: str = "batch", bounds: tuple[float, float] | None = None) -> plt.Axes:
    """Per-sample values of ``metric`` per batch (box plot with the samples drawn over it); individual-level.

    ``bounds`` draws threshold lines (e.g. the call-rate minimum).

    Examples
    --------
    >>> d = pd.DataFrame({"batch": ["B1", "B1", "B2"], "call_rate": [0.99, 0.98, 0.95]})
    >>> plot_metric_by_batch(d, "call_rate", bounds=(0.97,)).get_title()
    'call_rate'
    """
    ax = _axes(ax, (5, 3.2))
    data = samples.dropna(subset=[metric]).sort_values(batch)
    sns.boxplot(data=data, x=batch, y=metric, ax=ax, color=sns.color_palette(PALETTE)[1], fliersize=0,
                width=0.55)
    sns.stripplot(data=data, x=batch, y=metric, ax=ax, color="black", size=2.5, alpha=0.6, jitter=0.2)
    for b in bounds or ():
        if b is not None and pd.notna(b):
            ax.axhline(b, color="firebrick", ls="--", lw=1)
    ax.set(title=title or metric, xlabel=batch, ylabel=metric)
    return ax


def plot_sex_check(sex_check: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "Sex check",
                   female_threshold: float | None = None, male_threshold: float | None = None) -> plt.Axes:
    """Histogram of the chrX F-statistic coloured by reported sex, with the female/male thresholds.

    Examples
    --------
    >>> s = pd.DataFrame({"f_stat": [0.02, 0.98, 1.0], "reported_sex": ["F", "M", "F"]})
    >>> plot_sex_check(s, female_threshold=0.2, male_threshold=0.8).get_xlabel()
    'chrX F-statistic'
    """
    ax = _axes(ax, (6, 3.2))
    data = sex_check.assign(reported_sex=sex_check.get("reported_sex", pd.Series("unknown", index=sex_check.index))
                            .fillna("unknown").astype(str))
    data = data.dropna(subset=["f_stat"])
    if data.empty:  # no chrX calls: nothing to draw
        ax.text(0.5, 0.5, "no chrX F-statistic (no non-PAR chrX sites)", ha="center", va="center",
                transform=ax.transAxes)
    else:
        sns.histplot(data=data, x="f_stat", hue="reported_sex", multiple="stack", bins=40, ax=ax, palette="deep")
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
        _integer_axis(ax.yaxis)
    for t in (female_threshold, male_threshold):
        if t is not None:
            ax.axvline(t, color="grey", ls="--", lw=1)
    ax.set(title=title, xlabel="chrX F-statistic", ylabel="samples")
    return ax


def plot_kinship(kinship: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "Relatedness",
                 cutoffs: tuple[float, ...] = (0.354, 0.177, 0.0884, 0.0442)) -> plt.Axes:
    """KING kinship against IBS0 for the reported pairs, coloured by relationship; unexpected pairs as crosses.

    Examples
    --------
    >>> k = pd.DataFrame({"kinship": [0.49, 0.25], "ibs0": [0.0, 0.001], "relationship": ["duplicate/MZ", "first"],
    ...                   "unexpected": [False, True]})
    >>> plot_kinship(k).get_ylabel()
    'kinship (KING-robust)'
    """
    ax = _axes(ax, (6, 4))
    data = kinship.assign(unexpected=kinship.get("unexpected", pd.Series(False, index=kinship.index))
                          .fillna(False).astype(bool).map({True: "unexpected", False: "as expected"}))
    sns.scatterplot(data=data, x="ibs0", y="kinship", hue="relationship", style="unexpected",
                    markers={"as expected": "o", "unexpected": "X"}, ax=ax, palette="deep", s=40)
    for c in cutoffs:
        ax.axhline(c, color="grey", ls=":", lw=0.8)
    _legend_outside(ax)
    ax.set(title=title, xlabel="IBS0 (share of sites with no allele shared)", ylabel="kinship (KING-robust)")
    return ax


def plot_pca(ancestry: pd.DataFrame, *, ax: plt.Axes | None = None, x: str = "PC1", y: str = "PC2",
             hue: str = "assigned_population", title: str = "Ancestry PCA") -> plt.Axes:
    """Samples on two principal components, coloured by ``hue`` (missing values shown as 'not assigned').

    Examples
    --------
    >>> a = pd.DataFrame({"PC1": [0.1, -0.2], "PC2": [0.3, 0.0], "assigned_population": ["EUR", None]})
    >>> plot_pca(a).get_xlabel()
    'PC1'
    """
    ax = _axes(ax, (6, 4))
    data = ancestry.copy()
    data[hue] = data[hue].fillna("not assigned").astype(str) if hue in data else "not assigned"
    sns.scatterplot(data=data, x=x, y=y, hue=hue, ax=ax, palette="deep", s=25)
    _legend_outside(ax, hue)
    ax.set(title=title, xlabel=x, ylabel=y)
    return ax


def plot_histogram(values: pd.Series, *, ax: plt.Axes | None = None, title: str = "", xlabel: str = "",
                   bins: int = 40, lines: tuple[float, ...] = (), log_y: bool = False) -> plt.Axes:
    """Histogram of one column (e.g. variant call rate, -log10 HWE p, allele frequency), with threshold lines.

    Examples
    --------
    >>> plot_histogram(pd.Series([0.9, 0.99, 1.0], name="call_rate"), lines=(0.95,)).get_xlabel()
    'call_rate'
    """
    ax = _axes(ax, (4.5, 3))
    sns.histplot(x=pd.Series(values).dropna().astype(float), bins=bins, ax=ax,
                 color=sns.color_palette(PALETTE)[3])
    for v in lines:
        ax.axvline(v, color="firebrick", ls="--", lw=1)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel or str(values.name or ""), ylabel="count")
    return ax


def plot_batch_trend(reference: pd.DataFrame, current: pd.DataFrame, limits: pd.Series | dict, metric: str, *,
                     ax: plt.Axes | None = None, flagged: list[str] | None = None) -> plt.Axes:
    """Control chart of one metric: earlier batches (grey, one unlabelled point each, under one "earlier" label),
    this run's batches (blue, labelled; flagged ones red), the centre line and the control limits.

    Examples
    --------
    >>> ref = pd.DataFrame({"batch": ["B1", "B2"], "dp_mean": [30.0, 31.0]})
    >>> now = pd.DataFrame({"batch": ["B3"], "dp_mean": [15.0]})
    >>> lim = {"center": 30.5, "lower": 28.4, "upper": 32.6}
    >>> plot_batch_trend(ref, now, lim, "dp_mean", flagged=["B3"]).get_title()
    'dp_mean'
    """
    ax = _axes(ax, (5, 3))
    ref = reference.dropna(subset=[metric]) if metric in reference else pd.DataFrame(columns=["batch", metric])
    n_ref = len(ref)
    values = list(ref[metric].astype(float)) + list(pd.to_numeric(current[metric], errors="coerce").astype(float))
    bad = set(flagged or [])
    colors = ["grey"] * n_ref + ["firebrick" if str(b) in bad else sns.color_palette("deep")[0]
                                 for b in current["batch"]]
    ax.scatter(range(len(values)), values, c=colors, s=30, zorder=3)
    hidden = [n_ref + i for i, v in enumerate(current[metric]) if pd.isna(v)]
    if hidden:  # export mode: batches under the minimum count keep no values
        ax.scatter(hidden, [ax.get_ylim()[0]] * len(hidden), marker="x", color="black", zorder=4,
                   label=SUPPRESSED_LABEL, clip_on=False)
    lim = dict(limits)
    if pd.notna(lim.get("center")):
        ax.axhline(lim["center"], color="black", lw=1)
        ax.axhspan(lim["lower"], lim["upper"], color=sns.color_palette(PALETTE)[0], alpha=0.25, lw=0)
    ticks = ([(n_ref - 1) / 2] if n_ref else []) + list(range(n_ref, len(values)))
    labels = ([f"{n_ref} earlier"] if n_ref else []) + [str(b) for b in current["batch"]]
    ax.set_xticks(ticks, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center",
                  fontsize=8)
    if n_ref:
        ax.axvline(n_ref - 0.5, color="grey", lw=0.6, ls=":")
    ax.set(title=metric, ylabel=metric)
    return ax


def plot_batch_trends(reference: pd.DataFrame, current: pd.DataFrame, limits: pd.DataFrame, *,
                      flagged: list[str] | None = None, ncol: int = 3) -> plt.Figure:
    """Small multiples of :func:`plot_batch_trend`, one per metric of ``limits`` (a ``metric`` column), at most
    ``ncol`` per row so that each panel stays legible on a report page.

    Examples
    --------
    >>> ref = pd.DataFrame({"batch": ["B1", "B2"], "a": [1.0, 1.1], "b": [2.0, 2.1]})
    >>> lim = pd.DataFrame({"metric": ["a", "b"], "center": [1.05, 2.05], "lower": [0.9, 1.9], "upper": [1.2, 2.2]})
    >>> fig = plot_batch_trends(ref, pd.DataFrame({"batch": ["B3"], "a": [1.0], "b": [3.0]}), lim, flagged=["B3"])
    >>> len([a for a in fig.axes if a.get_visible()])
    2
    """
    n = len(limits)
    cols = max(1, min(ncol, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.0 * rows), layout="constrained", squeeze=False)
    for ax, (_, lim) in zip(axes.flat, limits.iterrows(), strict=False):
        plot_batch_trend(reference, current, lim, str(lim["metric"]), ax=ax, flagged=flagged)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig


# ------------------------------------------------------------------------------------------ cohort selection


def plot_attrition_funnel(funnel: pd.DataFrame, *, ax: plt.Axes | None = None,
                          title: str = "Attrition") -> plt.Axes:
    """Horizontal bars of the persons left after each rule (``rule``, ``n_persons``; NA drawn as "suppressed").

    Examples
    --------
    >>> f = pd.DataFrame({"rule": ["entry", "sex"], "n_persons": [40, 30]})
    >>> [t.get_text() for t in plot_attrition_funnel(f).get_yticklabels()]
    ['entry', 'sex']
    """
    ax = _axes(ax, (7, 0.45 * len(funnel) + 1.2))
    counts = pd.to_numeric(funnel["n_persons"].astype("Float64"), errors="coerce").astype(float)
    _integer_axis(ax.xaxis)
    labels = funnel["rule"].astype(str).tolist()
    y = list(range(len(labels)))
    colours = sns.color_palette(PALETTE, max(len(labels), 2))
    ax.barh(y, counts.fillna(0).to_numpy(), color=colours[: len(labels)])
    top = float(counts.max()) if counts.notna().any() else 1.0
    for i, v in enumerate(counts):
        ax.annotate("suppressed" if pd.isna(v) else f"{int(v):,}", (0 if pd.isna(v) else v, i),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.15)
    ax.set(title=title, xlabel="persons left after the rule", ylabel="")
    return ax


def plot_standardised_differences(balance: pd.DataFrame, *, ax: plt.Axes | None = None,
                                  title: str = "Balance of cases and controls", limit: float = 0.1) -> plt.Axes:
    """Dots of the standardised difference per variable/level (``variable``, ``level``, ``smd``) with ±limit.

    Examples
    --------
    >>> b = pd.DataFrame({"variable": ["age at index", "sex"], "level": ["", "F"], "smd": [0.05, -0.2]})
    >>> len(plot_standardised_differences(b).collections) >= 1
    True
    """
    ax = _axes(ax, (6, 0.3 * len(balance) + 1.2))
    labels = [f"{v}: {lv}" if lv else str(v) for v, lv in zip(balance["variable"], balance["level"], strict=True)]
    smd = pd.to_numeric(balance["smd"], errors="coerce").astype(float)
    y = list(range(len(labels)))
    ok = smd.notna() & smd.abs().lt(float("inf"))
    ax.scatter(smd[ok], [y[i] for i in range(len(y)) if ok.iloc[i]],
               c=["tab:red" if abs(v) >= limit else "tab:blue" for v in smd[ok]], zorder=3)
    for lim in (-limit, limit):
        ax.axvline(lim, color="grey", ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set(title=title, xlabel="standardised difference (case − control)", ylabel="")
    return ax
