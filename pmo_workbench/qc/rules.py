"""QC decision rules: pure functions over the method tables, thresholds as typed keyword defaults (as gnomAD's
``gnomad.sample_qc.filtering``), and :func:`apply_thresholds`, the one place they are put together.

:func:`apply_thresholds` turns the method tables (:class:`QcTables`: sample QC, sex check, kinship, ancestry,
manifest) and a :class:`~pmo_workbench.qc.thresholds.QcThresholds` into each sample's pass/fail with reasons;
:func:`~pmo_workbench.qc.pipeline.run_qc` and the ``QcExplorer`` widget both call it, so a threshold moved in
the widget gives exactly what a run with that threshold gives. The keyword defaults of the rules equal the
defaults of :class:`~pmo_workbench.qc.thresholds.QcThresholds` (a test holds them equal).

Reasons a sample fails, in :data:`REASONS` order (extend the list, never rename: runs, reports and cohort
definitions read them):

- ``low_call_rate``: call rate below ``min_call_rate``;
- ``het_outlier``: heterozygosity rate on common autosomal sites (MAF >= ``het_min_maf``; ``n_het_common /
  n_called_common``, or n_het / n_called for tables without those columns), regressed on ``regress_pcs`` PCs,
  outside median ± ``het_mad_k``·MAD of its stratum;
- ``sex_mismatch``: genetic sex (chrX F) differs from the reported sex;
- ``sex_ambiguous``: F between the female and male thresholds and a chrX/genome heterozygosity ratio that does
  not settle it (when enough X sites were called);
- ``duplicate``: kinship above ``duplicate_kinship`` with a sample of higher call rate (the better one
  passes);
- ``pedigree_mismatch``: blamed for pairs where the pedigree and the genomes disagree at ``pedigree_degree``
  or closer (the sample in the most such pairs first, ties broken as :func:`select_pedigree_culprits` says;
  both samples of an isolated bad pair);
- ``ancestry_outlier``: distance from its population's centre in PC space above median +
  ``ancestry_mad_k``·MAD;
- ``metric_outlier``: any of ``outlier_metrics`` outside median ± ``mad_k``·MAD of its stratum (optionally on
  PC-regressed metrics).

Examples
--------
>>> tables = QcTables(
...     sample_qc=pd.DataFrame({"sample_id": ["a", "b", "c"], "call_rate": [0.99, 0.90, 0.99],
...                             "n_het": [300, 310, 290], "n_called": [1000, 1000, 1000]}),
...     sex_check=pd.DataFrame({"sample_id": ["a", "b", "c"], "genetic_sex": ["F", "M", "M"],
...                             "n_called_x": [500, 500, 500], "mismatch": pd.array([False, False, True])}),
...     kinship=pd.DataFrame({"sample_i": ["a"], "sample_j": ["c"], "kinship": [0.49], "unexpected": [False]}),
...     ancestry=pd.DataFrame({"sample_id": ["a", "b", "c"]}))
>>> apply_thresholds(tables, QcThresholds()).decisions["reasons"].tolist()
[[], ['low_call_rate'], ['sex_mismatch', 'duplicate']]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pmo_workbench.errors import ConfigError
from pmo_workbench.qc.outliers import flag_mad_outliers
from pmo_workbench.qc.sex import classify_sex
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds

REASONS = (
    "low_call_rate",
    "het_outlier",
    "sex_mismatch",
    "sex_ambiguous",
    "duplicate",
    "pedigree_mismatch",
    "ancestry_outlier",
    "metric_outlier",
)
"""Every reason a sample can fail, in the order they are listed in ``reasons``."""


Degree = Literal["duplicate/MZ", "first", "second", "third"]


@dataclass
class QcTables:
    """The method tables a decision is made from: what :func:`apply_thresholds` reads (and ``QcExplorer`` holds).

    ``sample_qc`` needs ``sample_id``, ``call_rate`` and the metrics the thresholds test (``n_het`` and
    ``n_called`` at least); ``sex_check`` needs ``sample_id``, ``genetic_sex``, ``n_called_x`` and ``mismatch``
    (``f_stat`` to be called at the thresholds), ``kinship`` the pair columns and ``kinship`` and ``unexpected``;
    ``ancestry`` may hold only ``sample_id`` (no PCA). A check with an empty table flags nothing. ``manifest``
    supplies the stratum columns named in the thresholds.
    """

    sample_qc: pd.DataFrame
    sex_check: pd.DataFrame
    kinship: pd.DataFrame
    ancestry: pd.DataFrame
    manifest: pd.DataFrame | None = None


@dataclass
class QcDecisions:
    """What :func:`apply_thresholds` gives: ``decisions`` (``sample_id``, ``pass``, ``reasons``), ``outliers``
    (values, bounds and flags of the MAD tests, see :func:`pmo_workbench.qc.outliers.flag_mad_outliers`) and the
    ``sex_check`` table with its genetic sex called at these thresholds."""

    decisions: pd.DataFrame
    outliers: pd.DataFrame
    sex_check: pd.DataFrame


def flag_low_call_rate(sample_qc: pd.DataFrame, *, min_call_rate: float = 0.95) -> np.ndarray:
    """``low_call_rate``: call rate below ``min_call_rate``.

    Examples
    --------
    >>> flag_low_call_rate(pd.DataFrame({"call_rate": [0.99, 0.9]})).tolist()
    [False, True]
    """
    return (sample_qc["call_rate"] < min_call_rate).to_numpy()


def flag_sex_problems(sex_check: pd.DataFrame, *, min_sex_sites: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """``(sex_mismatch, sex_ambiguous)``: genetic and reported sex differ; genetic sex ambiguous with at least
    ``min_sex_sites`` called chrX sites (with fewer, F is too noisy to fail anyone). Missing values flag nothing.

    Examples
    --------
    >>> sc = pd.DataFrame({"genetic_sex": ["M", "ambiguous", "ambiguous"], "n_called_x": [500, 500, 20],
    ...                    "mismatch": pd.array([True, False, pd.NA])})
    >>> [f.tolist() for f in flag_sex_problems(sc)]
    [[True, False, False], [False, True, False]]
    """
    mismatch = sex_check["mismatch"].fillna(False).astype(bool).to_numpy()
    ambiguous = ((sex_check["genetic_sex"] == "ambiguous") & (sex_check["n_called_x"] >= max(min_sex_sites, 1))
                 ).to_numpy()
    return mismatch, ambiguous


def select_duplicates_to_drop(pairs: pd.DataFrame, call_rate: pd.Series, cutoff: float = 0.354) -> set[str]:
    """Samples to fail as duplicates: in each group of samples linked by kinship > ``cutoff``, all but the one
    with the highest call rate (ties: the first in ``call_rate``'s order).

    Examples
    --------
    >>> pairs = pd.DataFrame({"sample_i": ["a"], "sample_j": ["b"], "kinship": [0.49]})
    >>> sorted(select_duplicates_to_drop(pairs, pd.Series({"a": 0.97, "b": 0.99}), 0.354))
    ['a']
    """
    dup = pairs[pairs["kinship"] > cutoff]
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(dup["sample_i"], dup["sample_j"], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    groups: dict[str, list[str]] = {}
    for s in parent:
        groups.setdefault(find(s), []).append(s)
    order = {s: i for i, s in enumerate(call_rate.index)}
    drop: set[str] = set()
    for members in groups.values():
        best = max(members, key=lambda s: (call_rate.get(s, -1.0), -order.get(s, len(order))))
        drop.update(m for m in members if m != best)
    return drop


_DEGREE_RANK = {"duplicate/MZ": 0, "first": 1, "second": 2, "third": 3, "unrelated": 4}


def select_pedigree_disagreements(kinship: pd.DataFrame, degree: Degree = "first") -> np.ndarray:
    """Boolean mask of the kinship pairs where the pedigree and the genomes disagree at ``degree`` or closer.

    Both relationships are coarsened to the classes duplicate/MZ, first, ... down to ``degree``, and "more
    distant": a pair disagrees when the coarsened classes differ. With ``"first"`` (the default of
    :class:`QcThresholds`) an expected parent-offspring or sibling pair that the genomes do not confirm, or an
    unexpected duplicate or first-degree pair, counts; an estimate of second or third degree between two
    persons the pedigree calls unrelated does not (KING estimates of distant relatives are noisy, more so
    with few sites; such pairs stay marked ``unexpected`` in the kinship table). With ``"third"`` every
    difference counts. A table without the ``relationship`` and ``expected_relationship`` columns is taken
    at its ``unexpected`` flag.

    Examples
    --------
    >>> k = pd.DataFrame({"relationship": ["second", "unrelated", "first"],
    ...                   "expected_relationship": ["unrelated", "first", "first"], "unexpected": [True, True, False]})
    >>> select_pedigree_disagreements(k).tolist(), select_pedigree_disagreements(k, "third").tolist()
    ([False, True, False], [True, True, False])
    """
    if degree not in _DEGREE_RANK or degree == "unrelated":
        raise ValueError(f"degree must be one of duplicate/MZ, first, second, third, not {degree!r}")
    if not {"relationship", "expected_relationship"} <= set(kinship.columns):
        return kinship["unexpected"].fillna(False).astype(bool).to_numpy()
    level = _DEGREE_RANK[degree]
    expected = kinship["expected_relationship"]
    obs = kinship["relationship"].map(_DEGREE_RANK).fillna(4).clip(upper=level + 1)
    exp = expected.map(_DEGREE_RANK).fillna(4).clip(upper=level + 1)
    return (expected.notna() & (obs != exp)).to_numpy()


def select_pedigree_culprits(
    kinship: pd.DataFrame, *, degree: Degree = "third", suspects: set[str] | frozenset[str] = frozenset()
) -> set[str]:
    """Samples blamed for the pairs where the pedigree and the genomes disagree: a greedy cover of those pairs.

    The pairs are those of :func:`select_pedigree_disagreements` at ``degree`` (``"third"``: every pair
    flagged ``unexpected`` by :func:`~pmo_workbench.qc.kinship.kinship`). The sample in the most such pairs is
    blamed first and its pairs are set aside, until none is left. Ties are broken, in order, by

    1. ``suspects``: samples already known to be mislabelled (e.g. a sex mismatch) explain the pairs best;
    2. the number of pedigree relatives the genomes deny (expected related, observed not): a trio child
       whose genome is not its labelled parents' is blamed rather than both parents, who share only the
       child as a denied relative;

    samples still tied are all blamed (a single bad pair blames both, as either may be wrong). A sample
    swapped into a family thus takes the blame alone, not its would-be relatives.

    Examples
    --------
    >>> k = pd.DataFrame({"sample_i": ["a", "b", "c"], "sample_j": ["x", "x", "d"], "unexpected": [True] * 3})
    >>> sorted(select_pedigree_culprits(k))
    ['c', 'd', 'x']
    >>> sorted(select_pedigree_culprits(k, suspects={"d"}))
    ['d', 'x']
    """
    bad = kinship[select_pedigree_disagreements(kinship, degree)]
    denied_mask = np.zeros(len(bad), dtype=bool)
    if {"relationship", "expected_relationship"} <= set(bad.columns):
        obs = bad["relationship"].map(_DEGREE_RANK).fillna(4).to_numpy()
        exp = bad["expected_relationship"].map(_DEGREE_RANK).fillna(4).to_numpy()
        denied_mask = obs > exp
    pairs = [
        (str(a), str(b), bool(d))
        for a, b, d in zip(bad["sample_i"], bad["sample_j"], denied_mask, strict=True)
    ]
    blamed: set[str] = set()
    while pairs:
        score: dict[str, list[int]] = {}
        for a, b, d in pairs:
            for x in (a, b):
                sc = score.setdefault(x, [0, int(x in suspects), 0])
                sc[0] += 1
                sc[2] += int(d)
        top = max(tuple(v) for v in score.values())
        worst = {x for x, v in score.items() if tuple(v) == top}
        blamed |= worst
        pairs = [(a, b, d) for a, b, d in pairs if a not in worst and b not in worst]
    return blamed


def select_qc_sites(variant_qc: pd.DataFrame, variants: pd.DataFrame, th: QcThresholds) -> np.ndarray:
    """Boolean mask of the variants used for kinship and PCA: call rate and (optionally) FILTER PASS or ``.``.

    ``variants`` is the store's variant table (its ``filters`` column is the VCF FILTER string).
    """
    mask = variant_qc["call_rate"].to_numpy(dtype=np.float64) >= th.min_variant_call_rate
    if th.pass_filters_only:
        mask &= variants["filters"].astype(str).isin(["PASS", ".", ""]).to_numpy()
    return mask


def build_metrics_table(sample_qc: pd.DataFrame, ancestry: pd.DataFrame, *, strata: Sequence[str] = (),
                        manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per sample of ``sample_qc`` (in its order): its metrics, ``het_rate``, the ancestry's PCs,
    ``assigned_population`` and ``pc_distance``, and the ``strata`` columns from the manifest (missing values
    ``"NA"``).

    ``het_rate`` is ``n_het_common / n_called_common`` (the heterozygosity check's common sites) where the table
    has them, else ``n_het / n_called``.

    Raises
    ------
    ConfigError
        A stratum column that is neither ``assigned_population`` nor in the manifest.
    """
    ids = sample_qc["sample_id"].astype(str).to_numpy()
    base = pd.DataFrame({"sample_id": ids})
    base = base.merge(
        sample_qc.assign(sample_id=sample_qc["sample_id"].astype(str)), on="sample_id", how="left"
    )
    het_cols = ("n_het_common", "n_called_common") if "n_het_common" in base else ("n_het", "n_called")
    with np.errstate(divide="ignore", invalid="ignore"):
        base["het_rate"] = base[het_cols[0]] / base[het_cols[1]].where(base[het_cols[1]] > 0)
    anc = ancestry.assign(sample_id=ancestry["sample_id"].astype(str)).set_index("sample_id").reindex(ids)
    for col in [c for c in anc.columns if c.startswith("PC")] + ["assigned_population", "pc_distance"]:
        base[col] = anc[col].to_numpy() if col in anc.columns else np.nan
    for col in strata:
        if col == "assigned_population":
            continue
        if manifest is None or col not in manifest.columns:
            raise ConfigError(f"stratum column {col!r} is not in the manifest", field="strata")
        base[col] = manifest.set_index("sample_id")[col].reindex(ids).fillna("NA").to_numpy()
    if "assigned_population" in strata:
        base["assigned_population"] = base["assigned_population"].fillna("NA").astype(str)
    return base


def _regression_pcs(metrics: pd.DataFrame, regress_pcs: int) -> list[str] | None:
    """The PC columns to regress on, or None (none asked, or no PCA: the raw metrics are tested)."""
    pcs = [f"PC{i + 1}" for i in range(regress_pcs)] if regress_pcs else None
    if pcs and not all(p in metrics.columns and metrics[p].notna().any() for p in pcs):
        return None
    return pcs


def flag_metric_outliers(metrics: pd.DataFrame, *,
                         outlier_metrics: Sequence[str] = ("n_snp", "r_ti_tv", "r_het_hom_var",
                                                           "r_insertion_deletion"),
                         mad_k: float = 4.0, strata: Sequence[str] = (), regress_pcs: int = 4,
                         min_stratum_size: int = 10) -> pd.DataFrame:
    """``metric_outlier``: any of ``outlier_metrics`` (those the table has) outside median ± ``mad_k``·MAD of
    its stratum, on the metrics regressed on ``regress_pcs`` PCs (gnomAD's ``compute_stratified_metrics_filter``
    on ``compute_qc_metrics_residuals``). Returns :func:`~pmo_workbench.qc.outliers.flag_mad_outliers`' table,
    whose ``outlier_metrics`` lists each sample's flagged metrics."""
    tested = [m for m in outlier_metrics if m in metrics.columns]
    return flag_mad_outliers(metrics, tested, k=mad_k, strata=list(strata) or None,
                             pcs=_regression_pcs(metrics, regress_pcs), min_stratum_size=min_stratum_size)


def flag_het_outliers(metrics: pd.DataFrame, *, het_mad_k: float = 4.0, strata: Sequence[str] = (),
                      regress_pcs: int = 4, min_stratum_size: int = 10) -> pd.DataFrame:
    """``het_outlier``: ``het_rate`` (of :func:`build_metrics_table`) regressed on ``regress_pcs`` PCs, outside
    median ± ``het_mad_k``·MAD of its stratum (column ``het_rate_outlier``)."""
    return flag_mad_outliers(metrics, ["het_rate"], k=het_mad_k, strata=list(strata) or None,
                             pcs=_regression_pcs(metrics, regress_pcs), min_stratum_size=min_stratum_size)


def flag_ancestry_outliers(metrics: pd.DataFrame, *, ancestry_mad_k: float = 4.0, min_stratum_size: int = 10
                           ) -> pd.DataFrame:
    """``ancestry_outlier``: ``pc_distance`` above median + ``ancestry_mad_k``·MAD of the sample's assigned
    population (of all samples when none was assigned) (column ``pc_distance_outlier``)."""
    groups = ["assigned_population"] if metrics["assigned_population"].notna().any() else None
    base = metrics.assign(assigned_population=metrics["assigned_population"].fillna("NA").astype(str))
    return flag_mad_outliers(base, ["pc_distance"], k=ancestry_mad_k, strata=groups, direction="upper",
                             min_stratum_size=min_stratum_size)


def decide_samples(
    sample_qc: pd.DataFrame,
    sex_check: pd.DataFrame,
    kinship: pd.DataFrame,
    ancestry: pd.DataFrame,
    th: QcThresholds,
    *,
    manifest: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the thresholds to method tables whose sex is already called: ``(decisions, outliers)`` (see
    :class:`QcDecisions`).

    Parameters
    ----------
    sample_qc, sex_check, kinship, ancestry
        Tables of :func:`~pmo_workbench.qc.sample_qc.sample_qc`, :func:`~pmo_workbench.qc.sex.impute_sex`,
        :func:`~pmo_workbench.qc.kinship.kinship` and :func:`~pmo_workbench.qc.ancestry.ancestry` (the last
        may lack PCs and populations).
    th
        Thresholds.
    manifest
        Supplies the strata columns named in ``th.strata`` (other than ``assigned_population``).
    """
    strata = list(th.strata)
    base = build_metrics_table(sample_qc, ancestry, strata=strata, manifest=manifest)
    ids = base["sample_id"].to_numpy()
    metric_flags = flag_metric_outliers(base, outlier_metrics=th.outlier_metrics, mad_k=th.mad_k, strata=strata,
                                        regress_pcs=th.regress_pcs, min_stratum_size=th.min_stratum_size)
    het_flags = flag_het_outliers(base, het_mad_k=th.het_mad_k, strata=strata, regress_pcs=th.regress_pcs,
                                  min_stratum_size=th.min_stratum_size)
    anc_flags = flag_ancestry_outliers(base, ancestry_mad_k=th.ancestry_mad_k, min_stratum_size=th.min_stratum_size)
    outliers = pd.concat(
        [
            base[["sample_id"]],
            metric_flags.drop(columns=["outlier_metrics"]),
            het_flags.drop(columns=["stratum", "outlier_metrics"]),
            anc_flags.drop(columns=["stratum", "outlier_metrics"]),
        ],
        axis=1,
    )
    outliers["outlier_metrics"] = metric_flags["outlier_metrics"]

    sex = sex_check.assign(sample_id=sex_check["sample_id"].astype(str)).set_index("sample_id").reindex(ids)
    mismatch, ambiguous = flag_sex_problems(sex, min_sex_sites=th.min_sex_sites)
    call_rate = base.set_index("sample_id")["call_rate"]
    dup_drop = select_duplicates_to_drop(kinship, call_rate, th.duplicate_kinship)
    ped_bad = select_pedigree_culprits(
        kinship, degree=th.pedigree_degree, suspects=set(ids[mismatch]) | dup_drop
    )
    flags = {
        "low_call_rate": flag_low_call_rate(base, min_call_rate=th.min_call_rate),
        "het_outlier": het_flags["het_rate_outlier"].to_numpy(),
        "sex_mismatch": mismatch,
        "sex_ambiguous": ambiguous,
        "duplicate": np.isin(ids, list(dup_drop)),
        "pedigree_mismatch": np.isin(ids, list(ped_bad)),
        "ancestry_outlier": anc_flags["pc_distance_outlier"].to_numpy(),
        "metric_outlier": np.array([len(m) > 0 for m in metric_flags["outlier_metrics"]], dtype=bool),
    }
    reasons = [[r for r in REASONS if flags[r][i]] for i in range(len(ids))]
    decisions = pd.DataFrame({"sample_id": ids, "pass": [len(r) == 0 for r in reasons], "reasons": reasons})
    return decisions, outliers


def apply_thresholds(tables: QcTables, thresholds: QcThresholds | dict | None = None) -> QcDecisions:
    """Call each sample's sex at the thresholds (:func:`~pmo_workbench.qc.sex.classify_sex`, where the sex
    check has ``f_stat``) and decide which samples pass (:func:`decide_samples`): the one decision step of
    :func:`~pmo_workbench.qc.pipeline.run_qc` and of the ``QcExplorer`` widget.

    Parameters
    ----------
    tables
        The method tables (:class:`QcTables`).
    thresholds
        :class:`~pmo_workbench.qc.thresholds.QcThresholds`, a dict of its fields, or None for the defaults.
    """
    th = as_thresholds(thresholds)
    sex = tables.sex_check
    if len(sex) and "f_stat" in sex.columns:
        sex = classify_sex(sex, female_threshold=th.female_threshold, male_threshold=th.male_threshold,
                           male_max_het_ratio=th.sex_male_max_het_ratio,
                           female_min_het_ratio=th.sex_female_min_het_ratio)
    decisions, outliers = decide_samples(tables.sample_qc, sex, tables.kinship, tables.ancestry, th,
                                         manifest=tables.manifest)
    return QcDecisions(decisions=decisions, outliers=outliers, sex_check=sex)
