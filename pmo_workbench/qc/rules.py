"""QC decision rules: pure functions over the method tables, thresholds as typed keyword defaults (as gnomAD's
``gnomad.sample_qc.filtering``), and :func:`apply_thresholds`, the one place they are put together.

:func:`apply_thresholds` turns the method tables (:class:`QcTables`: sample QC, sex check, kinship, ancestry,
manifest) and a :class:`~pmo_workbench.qc.thresholds.QcThresholds` into each sample's pass/fail with reasons;
:func:`~pmo_workbench.qc.pipeline.run_qc` and the ``QcExplorer`` widget both call it, so a threshold moved in
the widget gives exactly what a run with that threshold gives. The keyword defaults of the rules equal the
defaults of :class:`~pmo_workbench.qc.thresholds.QcThresholds` (a test holds them equal).

Each sample gets a **verdict**: ``fail`` (a failing reason; ``pass`` False), ``review`` (only review reasons:
``pass`` stays True, an analyst should look) or ``pass``; ``not_assessed`` lists the checks the data could not
support, and ``explanation`` one line per flag with its numbers (the ``flags`` table: metric, value, bound,
stratum, rule). Reasons, in :data:`REASONS` order (extend the list, never rename: runs, reports and cohort
definitions read them), with their tier:

- ``low_call_rate`` (fail): call rate below ``min_call_rate``;
- ``het_outlier`` (review beyond ``het_mad_k``, fail beyond ``het_mad_k_fail`` MADs): heterozygosity rate on
  common autosomal sites (MAF >= ``het_min_maf``; ``n_het_common / n_called_common``, or n_het / n_called for
  tables without those columns) against the median of its stratum;
- ``sex_mismatch`` (fail): the genetic sex of :func:`~pmo_workbench.qc.sex.call_sex` (called ploidy, chrX
  heterozygosity, chrY) differs from the reported sex;
- ``sex_ambiguous`` (review): the evidence does not settle the sex;
- ``duplicate`` (fail): kinship above ``duplicate_kinship`` with a sample of higher call rate (the better one
  passes);
- ``pedigree_mismatch`` (fail): blamed for pairs where the pedigree and the genomes disagree at
  ``pedigree_degree`` or closer (the sample in the most such pairs first, ties broken as
  :func:`select_pedigree_culprits` says; both samples of an isolated bad pair);
- ``ancestry_outlier`` (``ancestry_outlier_verdict``, review by default: ancestry and admixture are
  descriptions): distance from its population's centre in PC space above median + ``ancestry_mad_k``·MAD
  (never for ``other``, which has no centre);
- ``metric_outlier`` (review beyond ``mad_k``, fail beyond ``mad_k_fail`` MADs): any of ``outlier_metrics``
  (autosomal, where ``run_qc`` supplies ``sample_qc_autosomal``) against the median of its stratum;
- ``low_x_het`` (review): two X copies called but too little chrX heterozygosity (a possible X anomaly);
- ``sex_not_assessed`` (note, in ``not_assessed``): too few informative chrX sites for any sex call.

The MAD tests (:func:`flag_metric_outliers`, :func:`flag_het_outliers`) test a metric only when it is
informative (the median sample has ``min_informative_calls`` calls of each kind it counts), has
``min_outlier_samples`` values and a MAD above ``min_relative_mad`` of its median; otherwise the assessment
table says "not assessed: why". Strata are ``strata`` plus the assigned population (``stratify_by_ancestry``),
each at least ``min_stratum_size`` samples (else the coarser stratum); ``other``/unassigned samples are held to
the coarser stratum's raw spread. PC regression follows ``pc_regression`` (``auto``: per stratum, where it
lowers the winsorized SD by ``min_regression_gain``; see :mod:`pmo_workbench.qc.outliers`).

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
from pmo_workbench.qc.read_metrics import READ_REASONS, flag_read_metrics
from pmo_workbench.qc.read_metrics import _column as _read_column
from pmo_workbench.qc.sex import call_sex
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds

REASONS = [
    "low_call_rate",
    "het_outlier",
    "sex_mismatch",
    "sex_ambiguous",
    "duplicate",
    "pedigree_mismatch",
    "ancestry_outlier",
    "metric_outlier",
    "low_x_het",
    "sex_not_assessed",
    *READ_REASONS,
]
"""Every reason a sample can be flagged for, in the order they are listed in ``reasons``, ``review_reasons``
and ``not_assessed`` (append new ones; never rename or reorder; ``low_coverage`` and ``contamination`` come
from the read-level metrics, :mod:`pmo_workbench.qc.read_metrics`)."""


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
    read_metrics: pd.DataFrame | None = None
    """Read-level metrics (:func:`pmo_workbench.qc.sequencing_metrics`): ``low_coverage``, ``contamination``."""
    sample_qc_autosomal: pd.DataFrame | None = None


@dataclass
class QcDecisions:
    """What :func:`apply_thresholds` gives: ``decisions`` (``sample_id``, ``pass``, ``reasons``), ``outliers``
    (values, bounds and flags of the MAD tests, see :func:`pmo_workbench.qc.outliers.flag_mad_outliers`) and the
    ``sex_check`` table with its genetic sex called at these thresholds."""

    decisions: pd.DataFrame
    outliers: pd.DataFrame
    sex_check: pd.DataFrame
    assessment: pd.DataFrame | None = None
    flags: pd.DataFrame | None = None


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
    enough = (sex_check["n_called_x"] >= max(min_sex_sites, 1)).to_numpy()
    if "sex_evidence" in sex_check:  # called by call_sex, which already needs enough sites for any call
        enough = np.ones(len(sex_check), dtype=bool)
    ambiguous = (sex_check["genetic_sex"] == "ambiguous").to_numpy() & enough
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
                        manifest: pd.DataFrame | None = None,
                        sample_qc_autosomal: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per sample of ``sample_qc`` (in its order): its metrics, ``het_rate``, the ancestry's PCs,
    ``assigned_population`` and ``pc_distance``, and the ``strata`` columns from the manifest (missing values
    ``"NA"``).

    ``het_rate`` is ``n_het_common / n_called_common`` (the heterozygosity check's common sites) where the table
    has them, else ``n_het / n_called``. With ``sample_qc_autosomal``
    (:func:`~pmo_workbench.qc.sample_qc.autosomal_sample_qc`), its columns replace those of ``sample_qc``
    (the outlier metrics on autosomes only; ``call_rate`` and the rest stay genome-wide).

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
    if sample_qc_autosomal is not None:
        auto = sample_qc_autosomal.assign(sample_id=sample_qc_autosomal["sample_id"].astype(str))
        auto = auto.set_index("sample_id").reindex(ids)
        for col in auto.columns:
            base[col] = auto[col].to_numpy()
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


POOLED_GROUPS = ("other", "NA")
"""Ancestry groups that are no population (``other``: no population fits, e.g. admixed; ``NA``: none assigned):
their samples are held to the bounds of the coarser stratum (their batch, or all samples), not of each other."""


METRIC_COUNTS: dict[str, tuple[str, ...]] = {
    "n_snp": ("n_snp",),
    "r_ti_tv": ("n_transition", "n_transversion"),
    "r_het_hom_var": ("n_het", "n_hom_var"),
    "r_insertion_deletion": ("n_insertion", "n_deletion"),
    "n_singleton": ("n_singleton",),
    "n_het": ("n_het",),
    "n_hom_var": ("n_hom_var",),
    "het_rate": ("n_het_common", "n_called_common"),
}
"""The per-sample call counts each outlier metric is made of: a metric is informative only when the median
sample has at least ``min_informative_calls`` of each (:func:`find_uninformative_metrics`)."""


def find_uninformative_metrics(metrics: pd.DataFrame, names: Sequence[str], *, min_informative_calls: int = 50
                               ) -> dict[str, str]:
    """``metric -> why`` for the metrics whose counts are too few in the median sample to make a distribution
    (e.g. ``r_insertion_deletion`` on a set with two insertion alleles: the ratio is 0 for nearly everyone).

    Example
    -------
    >>> m = pd.DataFrame({"n_insertion": [0, 0, 1], "n_deletion": [3, 2, 4], "n_snp": [900, 950, 1000]})
    >>> find_uninformative_metrics(m, ["r_insertion_deletion", "n_snp"])
    {'r_insertion_deletion': 'median sample has 0 n_insertion calls (fewer than 50)'}
    """
    out: dict[str, str] = {}
    for name in names:
        for col in METRIC_COUNTS.get(name, ()):
            if col not in metrics.columns:
                continue
            med = float(np.nanmedian(metrics[col].to_numpy(dtype=np.float64))) if len(metrics) else 0.0
            if not med >= min_informative_calls:
                out[name] = f"median sample has {med:g} {col} calls (fewer than {min_informative_calls})"
                break
    return out


def _outlier_strata(base: pd.DataFrame, strata: Sequence[str], stratify_by_ancestry: bool) -> list[str]:
    cols = list(strata)
    if (stratify_by_ancestry and "assigned_population" not in cols and "assigned_population" in base.columns
            and base["assigned_population"].notna().any()):
        cols.append("assigned_population")
    return cols


def _pc_args(metrics: pd.DataFrame, regress_pcs: int, pc_regression: str) -> dict:
    pcs = None if pc_regression == "never" else _regression_pcs(metrics, regress_pcs)
    return {"pcs": pcs, "pc_rule": "auto" if pc_regression == "auto" else "always"}


def flag_metric_outliers(metrics: pd.DataFrame, *,
                         outlier_metrics: Sequence[str] = ("n_snp", "r_ti_tv", "r_het_hom_var",
                                                           "r_insertion_deletion"),
                         mad_k: float = 4.0, mad_k_fail: float = 5.0, strata: Sequence[str] = (),
                         regress_pcs: int = 4, pc_regression: Literal["auto", "always", "never"] = "auto",
                         min_stratum_size: int = 20, min_informative_calls: int = 50,
                         min_outlier_samples: int = 30, min_relative_mad: float = 0.001,
                         min_regression_gain: float = 0.1, log_ratios: bool = False) -> pd.DataFrame:
    """``metric_outlier``: any of ``outlier_metrics`` (those the table has) outside median ± ``mad_k``·MAD of
    its stratum (review), or ± ``mad_k_fail``·MAD (fail) (gnomAD's ``compute_stratified_metrics_filter``).

    A metric is tested only when it is informative (:func:`find_uninformative_metrics`), has at least
    ``min_outlier_samples`` values and a MAD above ``min_relative_mad`` of its median; metrics are regressed on
    ``regress_pcs`` PCs as ``pc_regression`` says (``"auto"``: where that lowers the MAD by at least
    ``min_regression_gain`` without going below the floor; see :mod:`pmo_workbench.qc.outliers`). Returns
    :func:`~pmo_workbench.qc.outliers.flag_mad_outliers`' table (``attrs["assessment"]`` says which metrics were
    assessed and why not)."""
    tested = [m for m in outlier_metrics if m in metrics.columns]
    skip = find_uninformative_metrics(metrics, tested, min_informative_calls=min_informative_calls)
    if log_ratios:  # a ratio of counts is tested on the log scale: x2 and x1/2 are equally far
        metrics = metrics.assign(**{m: np.log(metrics[m].where(metrics[m] > 0)) for m in tested
                                    if m.startswith("r_")})
    for m in tested:
        n_ok = int(np.isfinite(metrics[m].to_numpy(dtype=np.float64)).sum())
        if m not in skip and n_ok < min_outlier_samples:
            skip[m] = f"{n_ok} samples with a value (fewer than {min_outlier_samples})"
    return flag_mad_outliers(metrics, tested, k=mad_k, k_fail=mad_k_fail, strata=list(strata) or None,
                             **_pc_args(metrics, regress_pcs, pc_regression), min_stratum_size=min_stratum_size,
                             min_relative_mad=min_relative_mad, min_regression_gain=min_regression_gain,
                             not_assessed=skip, pooled_values=POOLED_GROUPS)


def flag_het_outliers(metrics: pd.DataFrame, *, het_mad_k: float = 4.0, het_mad_k_fail: float = 5.0,
                      strata: Sequence[str] = (), regress_pcs: int = 4,
                      pc_regression: Literal["auto", "always", "never"] = "auto", min_stratum_size: int = 20,
                      min_informative_calls: int = 50, min_outlier_samples: int = 30,
                      min_relative_mad: float = 0.001, min_regression_gain: float = 0.1) -> pd.DataFrame:
    """``het_outlier``: ``het_rate`` (of :func:`build_metrics_table`) outside median ± ``het_mad_k``·MAD of its
    stratum (review) or ± ``het_mad_k_fail``·MAD (fail), with the safeguards of :func:`flag_metric_outliers`
    (column ``het_rate_outlier``, ``het_rate_fail``)."""
    skip = find_uninformative_metrics(metrics, ["het_rate"], min_informative_calls=min_informative_calls)
    n_ok = int(np.isfinite(metrics["het_rate"].to_numpy(dtype=np.float64)).sum())
    if not skip and n_ok < min_outlier_samples:
        skip["het_rate"] = f"{n_ok} samples with a value (fewer than {min_outlier_samples})"
    return flag_mad_outliers(metrics, ["het_rate"], k=het_mad_k, k_fail=het_mad_k_fail,
                             strata=list(strata) or None, **_pc_args(metrics, regress_pcs, pc_regression),
                             min_stratum_size=min_stratum_size, min_relative_mad=min_relative_mad,
                             min_regression_gain=min_regression_gain, not_assessed=skip,
                             pooled_values=POOLED_GROUPS)


def flag_ancestry_outliers(metrics: pd.DataFrame, *, ancestry_mad_k: float = 4.0, min_stratum_size: int = 20
                           ) -> pd.DataFrame:
    """``ancestry_outlier``: ``pc_distance`` above median + ``ancestry_mad_k``·MAD of the sample's assigned
    population (of all samples when none was assigned) (column ``pc_distance_outlier``). Samples assigned
    ``other`` (no population fits them, e.g. admixed) are not measured against a centre: their group has none.
    """
    pop = metrics["assigned_population"]
    groups = ["assigned_population"] if pop.notna().any() else None
    base = metrics.assign(assigned_population=pop.fillna("NA").astype(str))
    out = flag_mad_outliers(base, ["pc_distance"], k=ancestry_mad_k, strata=groups, direction="upper",
                            min_stratum_size=min_stratum_size)
    other = (pop == "other").to_numpy()
    for col in ("pc_distance_outlier", "pc_distance_fail"):
        out.loc[other, col] = False
    out.loc[other, ["pc_distance_lower", "pc_distance_upper", "pc_distance_lower_fail",
                    "pc_distance_upper_fail"]] = np.nan
    return out


def _fmt(x: float) -> str:
    return "NA" if not np.isfinite(x) else f"{x:.4g}"


def explain_outlier(metric: str, reason: str, tier: str, value: float, lower: float, upper: float,
                    stratum: str, k: float, regressed: bool, log: bool = False) -> dict:
    """One row of the flags table for a MAD outlier: the metric, its value, the bound it crossed, the stratum
    and the rule (with the number of MADs and whether PC residuals were tested).

    Example
    -------
    >>> explain_outlier("r_ti_tv", "metric_outlier", "fail", 1.7, 1.9, 2.3, "EUR", 5.0, False)["rule"]
    'r_ti_tv outside median ± 5 MAD of stratum EUR'
    """
    below = value < lower
    bound = lower if below else upper
    what = "residual on PCs of " + metric if regressed else metric
    if log:
        what = f"log {what}"
    return {"reason": reason, "verdict": tier, "metric": metric, "value": float(value), "bound": float(bound),
            "stratum": stratum, "rule": f"{what} outside median ± {k:g} MAD of stratum {stratum}",
            "text": f"{reason} ({tier}): {what} = {_fmt(value)} {'<' if below else '>'} {_fmt(bound)} "
                    f"(median ± {k:g} MAD, stratum {stratum})"}


def decide_samples(
    sample_qc: pd.DataFrame,
    sex_check: pd.DataFrame,
    kinship: pd.DataFrame,
    ancestry: pd.DataFrame,
    th: QcThresholds,
    *,
    manifest: pd.DataFrame | None = None,
    read_metrics: pd.DataFrame | None = None,
    sample_qc_autosomal: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the thresholds to method tables whose sex is already called: ``(decisions, outliers)`` (see
    :class:`QcDecisions`; ``outliers.attrs`` holds ``assessment`` and ``flags``).

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
    read_metrics
        Read-level metrics by sample (``mean_coverage``, ``contamination``) for ``low_coverage`` and
        ``contamination``; None: those reasons flag nothing.
    sample_qc_autosomal
        :func:`~pmo_workbench.qc.sample_qc.autosomal_sample_qc`: where given, the outlier metrics are taken from
        it (autosomes only) instead of ``sample_qc``.
    """
    base = build_metrics_table(sample_qc, ancestry, strata=list(th.strata), manifest=manifest,
                               sample_qc_autosomal=sample_qc_autosomal)
    strata = _outlier_strata(base, th.strata, th.stratify_by_ancestry)
    if "assigned_population" in strata:
        base["assigned_population"] = base["assigned_population"].fillna("NA").astype(str)
    ids = base["sample_id"].to_numpy()
    common = {"strata": strata, "regress_pcs": th.regress_pcs, "pc_regression": th.pc_regression,
              "min_stratum_size": th.min_stratum_size, "min_informative_calls": th.min_informative_calls,
              "min_outlier_samples": th.min_outlier_samples, "min_relative_mad": th.min_relative_mad,
              "min_regression_gain": th.min_regression_gain}
    metric_flags = flag_metric_outliers(base, outlier_metrics=th.outlier_metrics, mad_k=th.mad_k,
                                        mad_k_fail=th.mad_k_fail, log_ratios=th.log_ratios, **common)
    het_flags = flag_het_outliers(base, het_mad_k=th.het_mad_k, het_mad_k_fail=th.het_mad_k_fail, **common)
    pop = base["assigned_population"].astype(object)
    anc_flags = flag_ancestry_outliers(base.assign(assigned_population=pop.where(pop.notna() & (pop != "NA"), None)),
                                       ancestry_mad_k=th.ancestry_mad_k, min_stratum_size=th.min_stratum_size)
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
    assessment = pd.concat([metric_flags.attrs["assessment"], het_flags.attrs["assessment"]], ignore_index=True)

    sex = sex_check.assign(sample_id=sex_check["sample_id"].astype(str)).set_index("sample_id").reindex(ids)
    mismatch, ambiguous = flag_sex_problems(sex, min_sex_sites=th.min_sex_sites)
    low_x = sex["low_x_het"].fillna(False).astype(bool).to_numpy() if "low_x_het" in sex else np.zeros(len(ids), bool)
    not_assessed = ((sex["genetic_sex"] == "not_assessed").to_numpy() if "genetic_sex" in sex
                    else np.zeros(len(ids), bool))
    call_rate = base.set_index("sample_id")["call_rate"]
    if "relationship" in kinship:  # pairs with too few jointly called sites have no degree
        kinship = kinship[kinship["relationship"] != "unknown"]
    dup_drop = select_duplicates_to_drop(kinship, call_rate, th.duplicate_kinship)
    ped_bad = select_pedigree_culprits(
        kinship, degree=th.pedigree_degree, suspects=set(ids[mismatch]) | dup_drop
    )
    metric_fail = np.zeros(len(ids), dtype=bool)
    for m in metric_flags.attrs["assessment"]["metric"]:
        metric_fail |= metric_flags[f"{m}_fail"].to_numpy(dtype=bool)
    metric_any = np.array([len(m) > 0 for m in metric_flags["outlier_metrics"]], dtype=bool)
    anc_any = anc_flags["pc_distance_outlier"].to_numpy(dtype=bool)
    anc_tier = th.ancestry_outlier_verdict
    tiers = {
        "low_call_rate": ("fail", flag_low_call_rate(base, min_call_rate=th.min_call_rate)),
        "het_outlier": (het_flags["het_rate_fail"].to_numpy(dtype=bool),
                        het_flags["het_rate_outlier"].to_numpy(dtype=bool)),
        "sex_mismatch": ("fail", mismatch),
        "sex_ambiguous": ("review", ambiguous),
        "duplicate": ("fail", np.isin(ids, list(dup_drop))),
        "pedigree_mismatch": ("fail", np.isin(ids, list(ped_bad))),
        "ancestry_outlier": (anc_tier, anc_any),
        "metric_outlier": (metric_fail, metric_any),
        "low_x_het": ("review", low_x),
        "sex_not_assessed": ("note", not_assessed),
        **{r: ("fail", hit) for r, hit in flag_read_metrics(ids, read_metrics, min_mean_coverage=th.min_mean_coverage,
                                                             max_contamination=th.max_contamination).items()},
    }
    fail_lists: list[list[str]] = [[] for _ in ids]
    review_lists: list[list[str]] = [[] for _ in ids]
    note_lists: list[list[str]] = [[] for _ in ids]
    for r in REASONS:
        if r not in tiers:
            continue
        tier, hit = tiers[r]
        for i in np.flatnonzero(hit):
            t = tier if isinstance(tier, str) else ("fail" if tier[i] else "review")
            {"fail": fail_lists, "review": review_lists, "note": note_lists}[t][i].append(r)
    outliers.attrs["assessment"] = assessment
    flags = _explain(ids, base, outliers, metric_flags, sex, kinship, th, fail_lists, review_lists, note_lists,
                     dup_drop, ped_bad, strata)
    for reason, col, bound, op in (("low_coverage", "mean_coverage", th.min_mean_coverage, "<"),
                                   ("contamination", "contamination", th.max_contamination, ">")):
        rows = (flags["reason"] == reason).to_numpy()
        if rows.any():  # the read-level reasons (qc.read_metrics), explained with their numbers
            values = _read_column(read_metrics, flags.loc[rows, "sample_id"].tolist(), col)
            flags.loc[rows, ["metric", "bound", "rule"]] = [col, bound, f"{col} {op} {bound:g}"]
            flags.loc[rows, "value"] = values
            flags.loc[rows, "text"] = [f"{reason} (fail): {col} = {_fmt(v)} {op} {bound:g}" for v in values]
    texts: dict[str, list[str]] = {}
    for sid, text in zip(flags["sample_id"], flags["text"], strict=True):
        texts.setdefault(sid, []).append(text)
    verdict = np.where([bool(f) for f in fail_lists], "fail",
                       np.where([bool(r) for r in review_lists], "review", "pass")).astype(object)
    decisions = pd.DataFrame({
        "sample_id": ids,
        "pass": [len(f) == 0 for f in fail_lists],
        "reasons": fail_lists,
        "verdict": verdict,
        "review_reasons": review_lists,
        "not_assessed": note_lists,
        "explanation": [texts.get(s, []) for s in ids],
    })
    outliers.attrs["assessment"] = assessment
    outliers.attrs["flags"] = flags
    return decisions, outliers


FLAG_COLUMNS = ["sample_id", "reason", "verdict", "metric", "value", "bound", "stratum", "rule", "text"]
"""Columns of the flags table (:data:`~pmo_workbench.qc.tables.QC_FLAGS`)."""


def _explain(ids: np.ndarray, base: pd.DataFrame, outliers: pd.DataFrame, metric_flags: pd.DataFrame,
             sex: pd.DataFrame, kinship: pd.DataFrame, th: QcThresholds, fails: list[list[str]],
             reviews: list[list[str]], notes: list[list[str]], dup_drop: set[str], ped_bad: set[str],
             strata: list[str]) -> pd.DataFrame:
    """One row per (sample, flag): what was measured, the bound crossed, the stratum and the rule."""
    rows: list[dict] = []
    assessed = outliers.attrs["assessment"].set_index("metric")

    def label(key: str) -> str:
        if key == "all" or not strata:
            return "all samples"
        return ", ".join(f"{c}={v}" for c, v in zip(strata, key.split("|"), strict=False))

    for i, sid in enumerate(ids):
        for tier, names in (("fail", fails[i]), ("review", reviews[i]), ("note", notes[i])):
            for r in names:
                row: dict = {"sample_id": sid, "reason": r, "verdict": tier, "metric": "", "value": np.nan,
                             "bound": np.nan, "stratum": "", "rule": "", "text": ""}
                if r == "low_call_rate":
                    v = float(base["call_rate"].iloc[i])
                    row.update(metric="call_rate", value=v, bound=th.min_call_rate, rule="call rate below minimum",
                               text=f"low_call_rate (fail): call_rate = {_fmt(v)} < {th.min_call_rate:g}")
                    rows.append(row)
                elif r in ("het_outlier", "metric_outlier", "ancestry_outlier"):
                    ms = (["het_rate"] if r == "het_outlier" else ["pc_distance"] if r == "ancestry_outlier"
                          else list(metric_flags["outlier_metrics"].iloc[i]))
                    k = {"het_outlier": (th.het_mad_k, th.het_mad_k_fail), "metric_outlier": (th.mad_k, th.mad_k_fail),
                         "ancestry_outlier": (th.ancestry_mad_k, th.ancestry_mad_k)}[r]
                    for m in ms:
                        is_fail = bool(outliers[f"{m}_fail"].iloc[i]) and tier == "fail"
                        if r == "metric_outlier" and tier == "fail" and not is_fail:
                            continue  # this metric is only at the review tier: listed once, under fail, it is not
                        suffix = "_fail" if is_fail else ""
                        lo = float(outliers[f"{m}_lower{suffix}"].iloc[i])
                        hi = float(outliers[f"{m}_upper{suffix}"].iloc[i])
                        st = (str(base["assigned_population"].iloc[i]) if r == "ancestry_outlier"
                              else str(metric_flags["stratum"].iloc[i]))
                        regressed = (m in assessed.index and st in
                                     str(assessed.loc[m, "pc_regressed_strata"]).split(","))
                        e = explain_outlier(m, r, tier, float(outliers[f"{m}_value"].iloc[i]), lo, hi,
                                            f"assigned_population={st}" if r == "ancestry_outlier" else label(st),
                                            k[1] if is_fail else k[0], regressed,
                                            log=r == "metric_outlier" and th.log_ratios and m.startswith("r_"))
                        rows.append({"sample_id": sid, **e})
                elif r in ("sex_mismatch", "sex_ambiguous", "low_x_het", "sex_not_assessed"):
                    ev = str(sex["sex_evidence"].iloc[i]) if "sex_evidence" in sex else ""
                    if not ev and "f_stat" in sex:
                        ev = f"chrX F {_fmt(float(sex['f_stat'].iloc[i]))}, {int(sex['n_called_x'].fillna(0).iloc[i])} sites"
                    gs, rs = sex["genetic_sex"].iloc[i], sex["reported_sex"].iloc[i] if "reported_sex" in sex else None
                    rule = {"sex_mismatch": f"genetic sex {gs} differs from reported {rs}",
                            "sex_ambiguous": "the chrX/chrY evidence does not settle the sex",
                            "low_x_het": "two X copies called but too little chrX heterozygosity (possible X "
                                         "anomaly, not a man)",
                            "sex_not_assessed": "too few informative chrX sites for a sex call"}[r]
                    f = float(sex["f_stat"].iloc[i]) if "f_stat" in sex else np.nan
                    row.update(metric="sex", value=f, rule=rule, text=f"{r} ({tier}): {rule}; {ev}")
                    rows.append(row)
                elif r in ("duplicate", "pedigree_mismatch"):
                    k = kinship[(kinship["sample_i"].astype(str) == sid) | (kinship["sample_j"].astype(str) == sid)]
                    if r == "duplicate":
                        k = k[k["kinship"] > th.duplicate_kinship]
                        rule = f"kinship > {th.duplicate_kinship:g} with a sample of higher call rate"
                    else:
                        k = k[k["unexpected"].astype(bool)] if "unexpected" in k else k.iloc[:0]
                        rule = f"pedigree and genomes disagree at {th.pedigree_degree} degree or closer"
                    pairs = "; ".join(list(
                        f"{b if a == sid else a}: kinship {_fmt(x)}" + (f" (pedigree: {e})" if isinstance(e, str) else "")
                        for a, b, x, e in zip(k["sample_i"].astype(str), k["sample_j"].astype(str), k["kinship"],
                                              k["expected_relationship"] if "expected_relationship" in k
                                              else [None] * len(k), strict=True))[:5])
                    v = float(k["kinship"].max()) if len(k) else np.nan
                    row.update(metric="kinship", value=v, bound=th.duplicate_kinship if r == "duplicate" else np.nan,
                               rule=rule, text=f"{r} ({tier}): {rule}; {pairs}")
                    rows.append(row)
                else:  # a reason another module adds, explained by its own table
                    row.update(text=f"{r} ({tier})")
                    rows.append(row)
    return pd.DataFrame(rows, columns=FLAG_COLUMNS).astype({"value": np.float64, "bound": np.float64})


def apply_thresholds(tables: QcTables, thresholds: QcThresholds | dict | None = None) -> QcDecisions:
    """Call each sample's sex at the thresholds (:func:`~pmo_workbench.qc.sex.call_sex`, where the sex check
    has ``f_stat``) and decide which samples pass, go to review or fail (:func:`decide_samples`): the one
    decision step of :func:`~pmo_workbench.qc.pipeline.run_qc` and of the ``QcExplorer`` widget.

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
        sex = call_sex(sex, female_threshold=th.female_threshold, male_threshold=th.male_threshold,
                       male_max_het_ratio=th.sex_male_max_het_ratio,
                       female_min_het_ratio=th.sex_female_min_het_ratio, min_sex_sites=th.min_sex_sites,
                       min_ploidy_sites=th.min_ploidy_sites, male_min_haploid_rate=th.male_min_haploid_rate,
                       female_max_haploid_rate=th.female_max_haploid_rate, min_y_sites=th.min_y_sites,
                       y_male_min_call_rate=th.y_male_min_call_rate,
                       y_female_max_call_rate=th.y_female_max_call_rate, low_x_het_max_p=th.low_x_het_max_p)
    decisions, outliers = decide_samples(tables.sample_qc, sex, tables.kinship, tables.ancestry, th,
                                         manifest=tables.manifest, read_metrics=tables.read_metrics,
                                         sample_qc_autosomal=tables.sample_qc_autosomal)
    return QcDecisions(decisions=decisions, outliers=outliers, sex_check=sex,
                       assessment=outliers.attrs["assessment"], flags=outliers.attrs["flags"])
