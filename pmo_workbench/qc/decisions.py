"""QC decisions: run every QC method, apply typed thresholds, and give each sample pass/fail with reasons.

Reasons (DESIGN.md §4.2; extend the list, never rename):

- ``low_call_rate``: call rate below ``min_call_rate``;
- ``het_outlier``: heterozygosity rate (n_het / n_called) outside median ± ``het_mad_k``·MAD of its stratum;
- ``sex_mismatch``: genetic sex (chrX F) differs from the reported sex;
- ``sex_ambiguous``: F between the female and male thresholds (when enough X sites were called);
- ``duplicate``: kinship above ``duplicate_kinship`` with a sample of higher call rate (the better one
  passes);
- ``pedigree_mismatch``: blamed for pairs where the pedigree and the genomes disagree (the sample in the most
  such pairs first; both samples of an isolated bad pair);
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
from typing import Any

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
from pmo_workbench.qc.sex import impute_sex

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

    Example
    -------
    >>> QcThresholds(min_call_rate=0.98).mad_k
    4.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_call_rate: float = Field(0.95, ge=0, le=1, description="samples below fail low_call_rate")
    het_mad_k: float = Field(4.0, gt=0, description="MADs around the stratum median for het_outlier")
    female_threshold: float = Field(0.2, description="chrX F below this is female (Hail's default)")
    male_threshold: float = Field(0.8, description="chrX F above this is male (Hail's default)")
    sex_aaf_threshold: float = Field(
        0.0, ge=0, le=0.5, description="chrX sites need aaf_threshold < AAF < 1 - it"
    )
    min_sex_sites: int = Field(
        100, ge=0, description="fewer called chrX sites: F is too noisy for sex_ambiguous to be assigned"
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
        default_factory=lambda: ["n_snp", "r_ti_tv", "r_het_hom_var", "r_insertion_deletion", "n_singleton"],
        description="sample_qc columns tested for metric_outlier",
    )
    strata: list[str] = Field(
        default_factory=list,
        description="manifest columns (e.g. batch) and/or 'assigned_population' that group the MAD bounds",
    )
    regress_pcs: int = Field(0, ge=0, description="regress the metrics on this many PCs first (0: no)")
    min_stratum_size: int = Field(10, ge=2, description="smaller strata use the bounds over all samples")


@dataclass
class QcResult:
    """Every table of a QC run (DESIGN.md §4.2) and the thresholds used.

    Attributes
    ----------
    sample_qc, variant_qc, sex_check, kinship, ancestry : pandas.DataFrame
        The method tables (``ancestry`` has only ``sample_id`` and empty columns when there were too few
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


def select_pedigree_culprits(kinship: pd.DataFrame) -> set[str]:
    """Samples blamed for the ``unexpected`` kinship pairs: a greedy cover of those pairs.

    The sample in the most unexpected pairs is blamed first and its pairs are set aside, until none is left;
    samples tied for the most are all blamed (a single bad pair blames both, as either may be wrong).
    A sample swapped into a family thus takes the blame alone, not its would-be relatives.

    Example
    -------
    >>> k = pd.DataFrame({"sample_i": ["a", "b", "c"], "sample_j": ["x", "x", "d"], "unexpected": [True] * 3})
    >>> sorted(select_pedigree_culprits(k))
    ['c', 'd', 'x']
    """
    bad = kinship[kinship["unexpected"].astype(bool)]
    pairs = [(str(a), str(b)) for a, b in zip(bad["sample_i"], bad["sample_j"], strict=True)]
    blamed: set[str] = set()
    while pairs:
        count: dict[str, int] = {}
        for a, b in pairs:
            count[a] = count.get(a, 0) + 1
            count[b] = count.get(b, 0) + 1
        top = max(count.values())
        worst = {s for s, c in count.items() if c == top}
        blamed |= worst
        pairs = [(a, b) for a, b in pairs if a not in worst and b not in worst]
    return blamed


def select_qc_sites(variant_qc: pd.DataFrame, variants: pd.DataFrame, th: QcThresholds) -> np.ndarray:
    """Boolean mask of the variants used for kinship and PCA: call rate and (optionally) FILTER PASS or ``.``.

    ``variants`` is the store's variant table (its ``filters`` column is the VCF FILTER string).
    """
    mask = variant_qc["call_rate"].to_numpy(dtype=np.float64) >= th.min_variant_call_rate
    if th.pass_filters_only:
        mask &= variants["filters"].astype(str).isin(["PASS", ".", ""]).to_numpy()
    return mask


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
    with np.errstate(divide="ignore", invalid="ignore"):
        base["het_rate"] = base["n_het"] / base["n_called"].where(base["n_called"] > 0)
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
        base, ["het_rate"], k=th.het_mad_k, strata=strata or None, min_stratum_size=th.min_stratum_size
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
    ped_bad = select_pedigree_culprits(kinship)
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
        A genotype store (:class:`pmo_workbench.genotypes.store.Genotypes`).
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
    sex = impute_sex(
        g,
        sex_source,
        aaf_threshold=th.sex_aaf_threshold,
        female_threshold=th.female_threshold,
        male_threshold=th.male_threshold,
        chunk_size=chunk_size,
    )
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
