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
import pandas as pd
import seaborn as sns

PALETTE = "crest"


def _axes(ax: plt.Axes | None, size: tuple[float, float] = (7, 3.5)) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_count_table(table: pd.DataFrame | pd.Series, *, ax: plt.Axes | None = None, title: str = "",
                     xlabel: str = "", ylabel: str = "count", horizontal: bool = False) -> plt.Axes:
    """Grouped bars of a count table (rows on the axis, columns as hue); suppressed (NA) cells are not drawn."""
    ax = _axes(ax)
    frame = table.to_frame(table.name if table.name is not None else "count") if isinstance(table, pd.Series) \
        else table
    values = frame.to_numpy(dtype=float, na_value=float("nan"))
    long = pd.DataFrame({
        "group": [str(g) for g in frame.index for _ in frame.columns],
        "series": [str(c) for _ in frame.index for c in frame.columns],
        "count": values.reshape(-1),
    }).dropna(subset=["count"])
    hue = "series" if frame.shape[1] > 1 else None
    if horizontal:
        sns.barplot(data=long, y="group", x="count", hue=hue, ax=ax, palette=PALETTE if hue else None, orient="h")
    else:
        sns.barplot(data=long, x="group", y="count", hue=hue, ax=ax, palette=PALETTE if hue else None)
        ax.tick_params(axis="x", labelrotation=20)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel if not horizontal else "")
    if hue:
        ax.legend(title=frame.columns.name or "", frameon=False)
    return ax


def plot_coverage_by_year(table: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "",
                          ylabel: str = "events", mark: str | None = "2019-03-01") -> plt.Axes:
    """Lines of events per calendar year (index: year, columns: source), with the LPR2→LPR3 change marked."""
    ax = _axes(ax)
    long = (table.rename_axis(index="year").reset_index()
            .melt(id_vars="year", var_name="source", value_name="events").dropna(subset=["events"]))
    long["events"] = long["events"].astype(float)
    sns.lineplot(data=long, x="year", y="events", hue="source", marker="o", ax=ax, palette="deep")
    if mark:
        year = pd.Timestamp(mark)
        ax.axvline(year.year + (year.dayofyear - 1) / 365.25, color="grey", ls="--", lw=1)
        ax.annotate("LPR3", (year.year + 0.2, ax.get_ylim()[1] * 0.95), color="grey", fontsize=8)
    ax.set(title=title, xlabel="year", ylabel=ylabel)
    return ax


def plot_age_distribution(ages: pd.DataFrame, *, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Persons per age band and sex (an aggregated table: index age band, columns F/M) as mirrored bars."""
    ax = _axes(ax, (6, 4))
    bands = [str(b) for b in ages.index]
    f = ages.get("F", pd.Series(0, index=ages.index)).astype(float).fillna(0)
    m = ages.get("M", pd.Series(0, index=ages.index)).astype(float).fillna(0)
    ax.barh(bands, -f.to_numpy(), color=sns.color_palette(PALETTE)[1], label="F")
    ax.barh(bands, m.to_numpy(), color=sns.color_palette(PALETTE)[4], label="M")
    ax.set(title=title, xlabel="persons (F left, M right)", ylabel="age band")
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, [f"{abs(int(t))}" for t in ticks])
    ax.legend(frameon=False)
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
    """Control chart of one metric: earlier batches (grey), this run's batches (blue; flagged ones red), the
    centre line and the control limits.

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
    labels = [f"{b} (earlier)" for b in ref["batch"]] + [str(b) for b in current["batch"]]
    values = list(ref[metric].astype(float)) + list(current[metric].astype(float))
    bad = set(flagged or [])
    colors = ["grey"] * len(ref) + ["firebrick" if str(b) in bad else sns.color_palette("deep")[0]
                                    for b in current["batch"]]
    ax.scatter(range(len(values)), values, c=colors, s=40, zorder=3)
    lim = dict(limits)
    if pd.notna(lim.get("center")):
        ax.axhline(lim["center"], color="black", lw=1)
        ax.axhspan(lim["lower"], lim["upper"], color=sns.color_palette(PALETTE)[0], alpha=0.25, lw=0)
    ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
    ax.set(title=metric, ylabel=metric)
    return ax


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
