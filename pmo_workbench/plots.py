"""Seaborn figures of the workbench: each takes ``ax=None``, returns the Axes, and never calls ``plt.show()``.

Example
-------
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
    frame = table.to_frame("count") if isinstance(table, pd.Series) else table
    long = (frame.rename_axis(index="group").reset_index()
            .melt(id_vars="group", var_name="series", value_name="count").dropna(subset=["count"]))
    long["count"] = long["count"].astype(float)
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
