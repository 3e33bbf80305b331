"""QC decisions: run every QC method, apply typed thresholds, and give each sample pass/fail with reasons.

Reasons (DESIGN.md §4.2; extend the list, never rename):

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

Example
-------
>>> from pmo_workbench.genotypes import open_genotypes  # doctest: +SKIP
>>> g = open_genotypes("cohort.vcf.gz")  # doctest: +SKIP
>>> result = run_qc(g, manifest="manifest.tsv", pedigree="families.ped")  # doctest: +SKIP
>>> result.decisions.query("~`pass`")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.genotypes.manifest import check_manifest
from pmo_workbench.qc.ancestry import ancestry as compute_ancestry
from pmo_workbench.qc.ancestry import select_unrelated
from pmo_workbench.qc.kinship import kinship as compute_kinship
from pmo_workbench.qc.outliers import flag_mad_outliers
from pmo_workbench.qc.pedigree import as_pedigree
from pmo_workbench.qc.sex import classify_sex, compute_x_het_ratio, impute_sex

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


class QcThresholds(BaseModel):
    """Thresholds of a QC run, with defaults from Hail, plink2 and gnomAD (the reviewed values live in
    ``params/wgs_qc.yaml``).

    Defaults that differ from Hail's plain methods, and why (checked on synthetic projects with injected
    problems: every problem caught, few clean samples failed):

    - ``female_threshold`` 0.5: gnomAD's XX/XY split of chrX F (``f_stat_cutoff``; the Broad's UK Biobank QC
      uses 0.5/0.75). Hail's 0.2 leaves many true females ambiguous when chrX has few independent sites
      (female F spreads widely, e.g. -1.3..0.9 with ~150-750 X sites). :func:`~pmo_workbench.qc.sex.impute_sex`
      itself keeps Hail's 0.2/0.8.
    - ``sex_male_max_het_ratio`` 0.1 / ``sex_female_min_het_ratio`` 0.3: a sample whose F falls between the
      thresholds is called by its chrX heterozygosity relative to its genome-wide heterozygosity
      (:func:`~pmo_workbench.qc.sex.classify_sex`), which the cohort's ancestry mix does not bias; only a ratio
      in between leaves it ``sex_ambiguous``.
    - ``regress_pcs`` 4: het rate and metrics are regressed on the first PCs before the MAD bounds (gnomAD's
      ``compute_qc_metrics_residuals``), so a minority ancestry is not an outlier for its ancestry.
    - ``het_min_maf`` 0.05: the heterozygosity check uses common sites, as plink ``--het`` QC does; rare
      variants add population-specific noise and little contamination signal.
    - ``outlier_metrics`` without ``n_singleton`` (gnomAD v2's list): singleton counts depend on how many
      same-ancestry peers a cohort holds, which a linear fit on PCs does not remove.
    - ``pedigree_degree`` "first": only duplicate/first-degree disagreements with the pedigree fail samples;
      KING's second/third-degree estimates between unrelated persons are noisy with few sites and are only
      reported (``unexpected`` in the kinship table).

    Example
    -------
    >>> QcThresholds(min_call_rate=0.98).mad_k
    4.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_call_rate: float = Field(0.95, ge=0, le=1, description="samples below fail low_call_rate")
    het_mad_k: float = Field(4.0, gt=0, description="MADs around the stratum median for het_outlier")
    het_min_maf: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="het_outlier uses autosomal QC sites with MAF >= this (plink --het practice: common sites)",
    )
    female_threshold: float = Field(
        0.5, description="chrX F below this is female (gnomAD's XX/XY split; Hail's default is 0.2)"
    )
    male_threshold: float = Field(0.8, description="chrX F above this is male (Hail's default)")
    sex_aaf_threshold: float = Field(
        0.0, ge=0, le=0.5, description="chrX sites need aaf_threshold < AAF < 1 - it"
    )
    sex_male_max_het_ratio: float = Field(
        0.1, ge=0, description="F in the grey zone: chrX/genome heterozygosity ratio at most this is male"
    )
    sex_female_min_het_ratio: float = Field(
        0.3, ge=0, description="F in the grey zone: chrX/genome heterozygosity ratio at least this is female"
    )
    min_sex_sites: int = Field(
        100, ge=0, description="fewer called chrX sites: F is too noisy for sex_ambiguous to be assigned"
    )
    pedigree_degree: Literal["duplicate/MZ", "first", "second", "third"] = Field(
        "first",
        description="pedigree disagreements fail samples at this degree or closer (more distant: reported only)",
    )
    duplicate_kinship: float = Field(0.354, description="KING kinship above this: duplicate/MZ (plink2)")
    related_kinship: float = Field(0.0884, description="pairs above this are related: one is left out of PCA")
    report_kinship: float = Field(
        0.0442, description="kinship table lists pairs above this (plus pedigree pairs)"
    )
    kinship_min_maf: float = Field(0.0, ge=0, le=0.5, description="sites below this MAF are left out of KING")
    min_variant_call_rate: float = Field(
        0.95, ge=0, le=1, description="sites for kinship/PCA need this call rate"
    )
    pass_filters_only: bool = Field(True, description="sites for kinship/PCA must have FILTER PASS or '.'")
    ancestry_k: int = Field(10, ge=1, description="principal components")
    ancestry_min_probability: float = Field(0.9, ge=0, le=1, description="below: population 'other' (gnomAD)")
    ancestry_mad_k: float = Field(
        4.0, gt=0, description="MADs above the median PC distance: ancestry_outlier"
    )
    min_samples_for_ancestry: int = Field(20, ge=3, description="fewer samples: no PCA, no ancestry flags")
    mad_k: float = Field(
        4.0, gt=0, description="MADs around the stratum median for metric_outlier (gnomAD: 4)"
    )
    outlier_metrics: list[str] = Field(
        default_factory=lambda: ["n_snp", "r_ti_tv", "r_het_hom_var", "r_insertion_deletion"],
        description="sample_qc columns tested for metric_outlier (gnomAD v2's; n_singleton depends on how many "
        "same-ancestry peers a cohort has, which PCs do not model, so it is left out by default)",
    )
    strata: list[str] = Field(
        default_factory=list,
        description="manifest columns (e.g. batch) and/or 'assigned_population' that group the MAD bounds",
    )
    regress_pcs: int = Field(
        4,
        ge=0,
        description="regress het rate and metrics on this many PCs first (0: no; gnomAD regresses on PCs)",
    )
    min_stratum_size: int = Field(10, ge=2, description="smaller strata use the bounds over all samples")


@dataclass
class QcResult:
    """Every table of a QC run (DESIGN.md §4.2) and the thresholds used.

    Attributes
    ----------
    sample_qc, variant_qc, sex_check, kinship, ancestry : pandas.DataFrame
        The method tables (``sample_qc`` of :func:`run_qc` adds ``n_het_common`` and ``n_called_common`` of
        :func:`compute_common_heterozygosity`) (``ancestry`` has only ``sample_id`` and empty columns when there were too few
        samples for a PCA).
    outliers : pandas.DataFrame
        Per-sample values, bounds and flags of the MAD tests (``sample_id`` plus ``<metric>_...`` columns).
    decisions : pandas.DataFrame
        ``sample_id`` (str), ``pass`` (bool), ``reasons`` (list of str, in :data:`REASONS` order).
    thresholds : QcThresholds
    """

    sample_qc: pd.DataFrame
    variant_qc: pd.DataFrame
    sex_check: pd.DataFrame
    kinship: pd.DataFrame
    ancestry: pd.DataFrame
    outliers: pd.DataFrame
    decisions: pd.DataFrame
    thresholds: QcThresholds
    parameters: dict[str, Any] = field(default_factory=dict)

    def passing_samples(self) -> list[str]:
        """Sample IDs that pass, in store order."""
        return self.decisions.loc[self.decisions["pass"], "sample_id"].tolist()


def as_thresholds(
    thresholds: QcThresholds | dict[str, Any] | None, *, source: str = "thresholds"
) -> QcThresholds:
    """A :class:`QcThresholds` from None (defaults), a dict (validated) or an instance.

    Raises
    ------
    ConfigError
        For an unknown name or a bad value, naming the key.
    """
    if thresholds is None:
        return QcThresholds()
    if isinstance(thresholds, QcThresholds):
        return thresholds
    try:
        return QcThresholds.model_validate(thresholds)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown threshold" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(msg, file=source, field=key) from None


def load_manifest(manifest: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A manifest as a DataFrame with a string ``sample_id`` column (TSV, or CSV by extension)."""
    if isinstance(manifest, pd.DataFrame):
        df = manifest.copy()
        name = "<manifest>"
    else:
        name = str(manifest)
        try:
            df = pd.read_csv(manifest, sep="," if name.endswith(".csv") else "\t", dtype=str)
        except OSError as exc:
            raise InputError(f"cannot read manifest: {exc.strerror}", file=name) from None
    if "sample_id" not in df.columns:
        raise InputError("manifest lacks column 'sample_id'", file=name, field="sample_id")
    df["sample_id"] = df["sample_id"].astype(str)
    return df


def select_duplicates_to_drop(pairs: pd.DataFrame, call_rate: pd.Series, cutoff: float) -> set[str]:
    """Samples to fail as duplicates: in each group of samples linked by kinship > ``cutoff``, all but the one
    with the highest call rate (ties: the first in ``call_rate``'s order).

    Example
    -------
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


def select_pedigree_disagreements(kinship: pd.DataFrame, degree: str = "first") -> np.ndarray:
    """Boolean mask of the kinship pairs where the pedigree and the genomes disagree at ``degree`` or closer.

    Both relationships are coarsened to the classes duplicate/MZ, first, ... down to ``degree``, and "more
    distant": a pair disagrees when the coarsened classes differ. With ``"first"`` (the default of
    :class:`QcThresholds`) an expected parent-offspring or sibling pair that the genomes do not confirm, or an
    unexpected duplicate or first-degree pair, counts; an estimate of second or third degree between two
    persons the pedigree calls unrelated does not (KING estimates of distant relatives are noisy, more so
    with few sites; such pairs stay marked ``unexpected`` in the kinship table). With ``"third"`` every
    difference counts. A table without the ``relationship`` and ``expected_relationship`` columns is taken
    at its ``unexpected`` flag.

    Example
    -------
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
    kinship: pd.DataFrame, *, degree: str = "third", suspects: set[str] | frozenset[str] = frozenset()
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

    Example
    -------
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


def compute_common_heterozygosity(
    g: Any, variant_mask: np.ndarray | None, min_maf: float, *, chunk_size: int = 20_000
) -> pd.DataFrame:
    """Heterozygous and called genotypes per sample over autosomal biallelic sites with MAF >= ``min_maf``.

    The heterozygosity check of plink (``--het``) is run on common sites: rare variants carry little of a
    contamination's excess heterozygosity but much population-specific noise (private variants of a minority).

    Returns
    -------
    pandas.DataFrame
        ``sample_id`` (str), ``n_het_common`` and ``n_called_common`` (int64), in store order.

    Example
    -------
    >>> from pmo_workbench.genotypes import open_genotypes  # doctest: +SKIP
    >>> compute_common_heterozygosity(open_genotypes("cohort.vcf.gz"), None, 0.05).head()  # doctest: +SKIP
    """
    if getattr(g, "backend", "embedded") == "hail":
        from pmo_workbench.qc import hail_qc

        return hail_qc.compute_common_heterozygosity(g, variant_mask, min_maf)
    from pmo_workbench.qc.kinship import iter_dosage_blocks, select_kinship_sites

    sites = select_kinship_sites(g.variants, g.contig_kind)
    if variant_mask is not None:
        sites &= np.asarray(variant_mask, dtype=bool)
    n_het = np.zeros(g.n_samples, dtype=np.int64)
    n_called = np.zeros(g.n_samples, dtype=np.int64)
    for _, dosage, _ in iter_dosage_blocks(g, sites, min_maf=min_maf, chunk_size=chunk_size):
        n_het += (dosage == 1).sum(axis=0)
        n_called += (dosage >= 0).sum(axis=0)
    return pd.DataFrame(
        {"sample_id": np.asarray(g.sample_id).astype(str), "n_het_common": n_het, "n_called_common": n_called}
    )


def decide_samples(
    sample_qc: pd.DataFrame,
    sex_check: pd.DataFrame,
    kinship: pd.DataFrame,
    ancestry: pd.DataFrame,
    th: QcThresholds,
    *,
    manifest: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the thresholds to the method tables: ``(decisions, outliers)`` (see :class:`QcResult`).

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
    for col in th.strata:
        if col == "assigned_population":
            continue
        if manifest is None or col not in manifest.columns:
            raise ConfigError(f"stratum column {col!r} is not in the manifest", field="strata")
        base[col] = manifest.set_index("sample_id")[col].reindex(ids).fillna("NA").to_numpy()
    strata = list(th.strata)
    if "assigned_population" in strata:
        base["assigned_population"] = base["assigned_population"].fillna("NA").astype(str)
    pcs = [f"PC{i + 1}" for i in range(th.regress_pcs)] if th.regress_pcs else None
    if pcs and not all(p in base.columns and base[p].notna().any() for p in pcs):
        pcs = None  # no PCA (too few samples): test the raw metrics
    metrics = [m for m in th.outlier_metrics if m in base.columns]
    metric_flags = flag_mad_outliers(
        base, metrics, k=th.mad_k, strata=strata or None, pcs=pcs, min_stratum_size=th.min_stratum_size
    )
    het_flags = flag_mad_outliers(
        base, ["het_rate"], k=th.het_mad_k, strata=strata or None, pcs=pcs, min_stratum_size=th.min_stratum_size
    )
    anc_groups = ["assigned_population"] if base["assigned_population"].notna().any() else None
    anc_base = base.assign(assigned_population=base["assigned_population"].fillna("NA").astype(str))
    anc_flags = flag_mad_outliers(
        anc_base,
        ["pc_distance"],
        k=th.ancestry_mad_k,
        strata=anc_groups,
        direction="upper",
        min_stratum_size=th.min_stratum_size,
    )
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
    mismatch = sex["mismatch"].fillna(False).astype(bool).to_numpy()
    ambiguous = (
        (sex["genetic_sex"] == "ambiguous") & (sex["n_called_x"] >= max(th.min_sex_sites, 1))
    ).to_numpy()
    call_rate = base.set_index("sample_id")["call_rate"]
    dup_drop = select_duplicates_to_drop(kinship, call_rate, th.duplicate_kinship)
    ped_bad = select_pedigree_culprits(
        kinship, degree=th.pedigree_degree, suspects=set(ids[mismatch]) | dup_drop
    )
    flags = {
        "low_call_rate": (base["call_rate"] < th.min_call_rate).to_numpy(),
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


def run_qc(
    g: Any,
    manifest: str | Path | pd.DataFrame | None = None,
    pedigree: str | Path | pd.DataFrame | None = None,
    thresholds: QcThresholds | dict[str, Any] | None = None,
    *,
    reference: pd.DataFrame | str | Path | None = None,
    strict_manifest: bool = False,
    chunk_size: int = 20_000,
) -> QcResult:
    """Run sample QC, variant QC, sex check, kinship and ancestry, then decide which samples pass.

    Parameters
    ----------
    g
        A genotype store (:class:`pmo_workbench.genotypes.store.Genotypes`), or a Hail one from
        ``open_genotypes(..., backend="hail")``: every method then runs through :mod:`pmo_workbench.qc.hail_qc`
        and the decisions are the same.
    manifest
        Genome manifest (DataFrame or TSV): ``sample_id``, ``reported_sex``, ``batch``, ... Reported sex and
        strata come from here.
    pedigree
        PED file or DataFrame; the source of expected relationships, and of reported sex when the manifest has
        none.
    thresholds
        :class:`QcThresholds`, a dict of its fields, or None for the defaults.
    reference
        Population labels (``sample_id``, ``population``) for ancestry assignment.
    strict_manifest
        Raise :class:`~pmo_workbench.errors.InputError` (naming the IDs) when the manifest and the genotypes
        list different samples; otherwise genotyped samples missing from the manifest only give a warning, and
        both lists are kept in ``parameters["manifest_check"]``.
    chunk_size
        Variants per chunk read from the store.

    Returns
    -------
    QcResult
        The tables of DESIGN.md §4.2 plus ``outliers``; ``decisions`` has ``sample_id``, ``pass``,
        ``reasons``.
    """
    from pmo_workbench.qc.sample_qc import sample_qc
    from pmo_workbench.qc.variant_qc import variant_qc

    th = as_thresholds(thresholds)
    ped = as_pedigree(pedigree) if pedigree is not None else None
    man = load_manifest(manifest) if manifest is not None else None
    manifest_check: dict[str, list[str]] = {}
    if man is not None:
        check = check_manifest(g, man)
        if strict_manifest:
            check.raise_if_mismatched(file=manifest if isinstance(manifest, str | Path) else None)
        elif check.missing_from_manifest:
            names = ", ".join(check.missing_from_manifest[:20])
            warnings.warn(
                f"{len(check.missing_from_manifest)} genotyped sample(s) not in the manifest: {names}",
                stacklevel=2,
            )
        manifest_check = {
            "missing_from_genotypes": check.missing_from_genotypes,
            "missing_from_manifest": check.missing_from_manifest,
        }
    sex_source: pd.DataFrame | None = None
    if man is not None and "reported_sex" in man.columns:
        sex_source = man[["sample_id", "reported_sex"]]
    elif ped is not None:
        sex_source = ped[["sample_id", "sex"]].rename(columns={"sex": "reported_sex"})
    sqc = sample_qc(g, chunk_size=chunk_size)
    vqc = variant_qc(g, chunk_size=chunk_size)
    sites = select_qc_sites(vqc, g.variants, th)
    sqc = sqc.merge(
        compute_common_heterozygosity(g, sites, th.het_min_maf, chunk_size=chunk_size)
        .set_index("sample_id")
        .reindex(sqc["sample_id"].astype(str))
        .reset_index(drop=True),
        left_index=True,
        right_index=True,
    )
    sex = impute_sex(
        g,
        sex_source,
        aaf_threshold=th.sex_aaf_threshold,
        female_threshold=th.female_threshold,
        male_threshold=th.male_threshold,
        chunk_size=chunk_size,
    )
    sex["x_het_ratio"] = compute_x_het_ratio(sex, sqc)
    sex = classify_sex(sex, female_threshold=th.female_threshold, male_threshold=th.male_threshold,
                       male_max_het_ratio=th.sex_male_max_het_ratio,
                       female_min_het_ratio=th.sex_female_min_het_ratio)
    kin = compute_kinship(
        g,
        ped,
        min_maf=th.kinship_min_maf,
        min_kinship=th.report_kinship,
        variant_mask=sites,
        chunk_size=chunk_size,
    )
    ids = np.asarray(g.sample_id).astype(str)
    if len(ids) >= th.min_samples_for_ancestry:
        unrelated = select_unrelated(ids, kin, max_kinship=th.related_kinship)
        anc = compute_ancestry(
            g,
            reference=reference,
            k=th.ancestry_k,
            related=ids[~unrelated],
            variant_mask=sites,
            min_probability=th.ancestry_min_probability,
            chunk_size=chunk_size,
        )
    else:
        anc = pd.DataFrame(
            {"sample_id": ids, "assigned_population": None, "probability": np.nan, "pc_distance": np.nan}
        )
    decisions, outliers = decide_samples(sqc, sex, kin, anc, th, manifest=man)
    params = {
        "thresholds": th.model_dump(),
        "n_qc_sites": int(sites.sum()),
        "source": str(getattr(g, "path", "")),
        "manifest_check": manifest_check,
    }
    return QcResult(
        sample_qc=sqc,
        variant_qc=vqc,
        sex_check=sex,
        kinship=kin,
        ancestry=anc,
        outliers=outliers,
        decisions=decisions,
        thresholds=th,
        parameters=params,
    )
