"""The typed thresholds of a WGS QC run (:class:`QcThresholds`), with their defaults and why they were chosen.

A project's reviewed values live in ``params/wgs_qc.yaml`` (:mod:`pmo_workbench.qc.review`); the rules that
apply them are in :mod:`pmo_workbench.qc.rules`, whose keyword defaults equal these.

Examples
--------
>>> th = as_thresholds({"min_call_rate": 0.98, "strata": ["batch"]})
>>> th.min_call_rate, th.mad_k, th.strata
(0.98, 4.0, ['batch'])
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pmo_workbench.errors import ConfigError


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
    - ``regress_pcs`` 4 with ``pc_regression`` "auto": metrics are regressed on the first PCs (gnomAD's
      ``compute_qc_metrics_residuals``) only within a stratum where that lowers the spread, never on a
      near-constant metric; ``stratify_by_ancestry`` adds the assigned population to the strata (gnomAD).
    - Two tiers: ``mad_k``/``het_mad_k`` 4 send a sample to review, ``mad_k_fail``/``het_mad_k_fail`` 5 fail
      it; ``ancestry_outlier_verdict`` "review": distance from a population centre is a description. On the
      1000 Genomes sets in ``../shared/data`` (3,202 and 1,126 clean genomes) these defaults fail 1 (plus the
      true sex discordance HG03511) and 0 samples, where gnomAD's single 4-MAD tier on PC residuals failed 811
      and 14.
    - Sex: ``min_ploidy_sites`` 20 for calls from the called ploidy, ``min_sex_sites`` 100 for calls from
      heterozygosity alone; fewer: ``sex_not_assessed``. ``low_x_het_max_p`` 0.001: a diploid chrX with a
      Poisson tail of its het count below it is ``low_x_het`` (review), not a man.
    - ``het_min_maf`` 0.05: the heterozygosity check uses common sites, as plink ``--het`` QC does; rare
      variants add population-specific noise and little contamination signal.
    - ``outlier_metrics`` without ``n_singleton`` (gnomAD v2's list): singleton counts depend on how many
      same-ancestry peers a cohort holds, which a linear fit on PCs does not remove.
    - ``pedigree_degree`` "first": only duplicate/first-degree disagreements with the pedigree fail samples;
      KING's second/third-degree estimates between unrelated persons are noisy with few sites and are only
      reported (``unexpected`` in the kinship table).

    Examples
    --------
    >>> QcThresholds(min_call_rate=0.98).mad_k
    4.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_call_rate: float = Field(0.95, ge=0, le=1, description="samples below fail low_call_rate")
    min_mean_coverage: float = Field(
        20.0, ge=0, description="read-level mean coverage (x) below this fails low_coverage (30x WGS practice)"
    )
    max_contamination: float = Field(
        0.03, ge=0, le=1, description="contamination (fraction: VerifyBamID FREEMIX or DRAGEN's estimate) above "
        "this fails contamination (TOPMed/CCDG: 3%)"
    )
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
        100, ge=0, description="fewer called chrX sites and no usable ploidy: sex_not_assessed (F from few sites "
        "is too noisy to assert a mismatch)"
    )
    min_ploidy_sites: int = Field(
        20, ge=1, description="called chrX sites needed for a call from the called ploidy (a set writing men "
        "haploid): fewer gives sex_not_assessed"
    )
    male_min_haploid_rate: float = Field(0.9, ge=0, le=1, description="haploid share of chrX calls: one X at or above")
    female_max_haploid_rate: float = Field(0.1, ge=0, le=1, description="haploid share of chrX calls: two X at or below")
    min_y_sites: int = Field(10, ge=1, description="chrY sites needed before the chrY call rate is evidence")
    y_male_min_call_rate: float = Field(0.5, ge=0, le=1, description="chrY call rate of a Y carrier, at least")
    y_female_max_call_rate: float = Field(0.1, ge=0, le=1, description="chrY call rate without a Y, at most")
    low_x_het_max_p: float = Field(
        0.001, gt=0, le=1, description="two X but F above male_threshold and a Poisson lower tail of the chrX het "
        "count below this: low_x_het (review: a possible X anomaly, not a man)"
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
    kinship_min_sites: int = Field(
        100, ge=1, description="pairs with fewer jointly called sites get relationship 'unknown' (no degree, no "
        "pedigree disagreement, no duplicate)"
    )
    po_max_ibs0: float | None = Field(
        None, ge=0, le=1, description="first-degree pairs below this IBS0 are parent-offspring; None: 1/8 of the "
        "median IBS0 of the unrelated pairs (data-driven; full siblings sit near 1/4 of it)"
    )
    kinship_min_maf: float = Field(0.0, ge=0, le=0.5, description="sites below this MAF are left out of KING")
    min_variant_call_rate: float = Field(
        0.95, ge=0, le=1, description="sites for kinship/PCA need this call rate"
    )
    pass_filters_only: bool = Field(True, description="sites for kinship/PCA must have FILTER PASS or '.'")
    ancestry_k: int = Field(10, ge=1, description="principal components")
    ancestry_min_probability: float = Field(0.9, ge=0, le=1, description="below: population 'other' (gnomAD)")
    ancestry_mad_k: float = Field(
        4.0, gt=0, description="MADs above the median PC distance of its population: ancestry_outlier"
    )
    ancestry_outlier_verdict: Literal["review", "fail"] = Field(
        "review", description="ancestry_outlier sends a sample to review (default: ancestry and admixture are "
        "descriptions, not failures) or fails it"
    )
    ancestry_cv_folds: int = Field(
        5, ge=2, description="reference samples get out-of-fold ancestry probabilities (k-fold cross-validation)"
    )
    min_samples_for_ancestry: int = Field(20, ge=3, description="fewer samples: no PCA, no ancestry flags")
    mad_k: float = Field(
        4.0, gt=0, description="MADs around the stratum median for metric_outlier: review (gnomAD: 4)"
    )
    mad_k_fail: float = Field(5.0, gt=0, description="MADs around the stratum median for metric_outlier: fail")
    het_mad_k_fail: float = Field(5.0, gt=0, description="MADs around the stratum median for het_outlier: fail")
    min_informative_calls: int = Field(
        50, ge=0, description="a metric is assessed only when the median sample has at least this many calls of "
        "each kind it counts (e.g. insertion and deletion alleles for r_insertion_deletion); else 'not assessed'"
    )
    min_outlier_samples: int = Field(
        30, ge=3, description="a metric is assessed only with this many samples with a value"
    )
    min_relative_mad: float = Field(
        0.001, ge=0, description="a metric (or stratum) whose MAD is below this share of its median is not "
        "assessed: a near-constant metric must not become a detector"
    )
    pc_regression: Literal["auto", "always", "never"] = Field(
        "auto", description="regress metrics on PCs: 'auto' only where the residual MAD is at most "
        "1 - min_regression_gain of the raw MAD and above the MAD floor"
    )
    min_regression_gain: float = Field(
        0.1, ge=0, lt=1, description="'auto' PC regression: least reduction of the SD within a stratum"
    )
    log_ratios: bool = Field(
        False, description="test ratio metrics (r_*) on the log scale (a ratio of counts is skewed: x2 and x1/2 "
        "are equally far; milder on the upper tail, where contamination raises r_het_hom_var)"
    )
    stratify_by_ancestry: bool = Field(
        True, description="add assigned_population to the outlier strata when ancestry was assigned (gnomAD)"
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
    min_stratum_size: int = Field(
        20, ge=2, description="smaller strata use the bounds of their coarser stratum (then of all samples)"
    )


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
