"""The WGS QC pipeline: :func:`run_qc` runs every QC method on a genotype set and decides which samples pass.

Steps: sample and variant QC; the QC sites (call rate, FILTER; :func:`~pmo_workbench.qc.rules.select_qc_sites`);
heterozygosity on the common QC sites; sex check; kinship on the QC sites; ancestry PCA (relatives projected);
then :func:`~pmo_workbench.qc.rules.apply_thresholds`. Every method asks the genotype set's backend for its
counts, so the run is the same on the embedded and the Hail backend.

Examples
--------
>>> result = run_qc(g, manifest=manifest, pedigree=pedigree)  # the doctests' simulated set, manifest, pedigree
>>> failed = result.decisions[~result.decisions["pass"]]
>>> dict(zip(failed["sample_id"], failed["reasons"]))
{'S05': ['low_call_rate'], 'S06': ['sex_mismatch'], 'S40': ['duplicate']}
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.genotypes.backends import GenotypeSet
from pmo_workbench.genotypes.manifest import check_manifest, load_manifest
from pmo_workbench.qc.ancestry import ancestry as compute_ancestry
from pmo_workbench.qc.ancestry import select_pca_samples
from pmo_workbench.qc.kinship import kinship as compute_kinship
from pmo_workbench.qc.pedigree import as_pedigree
from pmo_workbench.qc.rules import QcTables, apply_thresholds, select_qc_sites
from pmo_workbench.qc.sample_qc import autosomal_sample_qc, compute_common_heterozygosity, sample_qc
from pmo_workbench.qc.sex import compute_x_het_ratio, impute_sex
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds
from pmo_workbench.qc.variant_qc import compute_female_chrx_hwe, variant_qc


@dataclass
class QcResult:
    """Every table of a QC run (:mod:`pmo_workbench.qc.tables`) and the thresholds used.

    Attributes
    ----------
    sample_qc, variant_qc, sex_check, kinship, ancestry : pandas.DataFrame
        The method tables (``sample_qc`` of :func:`run_qc` adds ``n_het_common`` and ``n_called_common`` of
        :func:`~pmo_workbench.qc.sample_qc.compute_common_heterozygosity`, ``sex_check`` adds ``x_het_ratio``
        and calls the sex at the run's thresholds; ``ancestry`` has only ``sample_id`` and empty columns when
        there were too few samples for a PCA).
    outliers : pandas.DataFrame
        Per-sample values, bounds and flags of the MAD tests (``sample_id`` plus ``<metric>_...`` columns).
    decisions : pandas.DataFrame
        The ``qc_decisions`` table: ``sample_id``, ``pass``, ``reasons`` (failing), ``verdict``
        (pass/review/fail), ``review_reasons``, ``not_assessed``, ``explanation``.
    thresholds : QcThresholds
    sample_qc_autosomal : pandas.DataFrame or None
        The outlier metrics on autosomes only (:func:`~pmo_workbench.qc.sample_qc.autosomal_sample_qc`).
    assessment : pandas.DataFrame or None
        The ``qc_metric_assessment`` table: which outlier metrics were assessed, on PC residuals or not, why not.
    flags : pandas.DataFrame or None
        The ``qc_flags`` table: one row per flagged sample and reason, with metric, value, bound, stratum, rule.
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
    read_metrics: pd.DataFrame | None = None
    """The read-level metrics the run used (None when it had none)."""
    sample_qc_autosomal: pd.DataFrame | None = None
    assessment: pd.DataFrame | None = None
    flags: pd.DataFrame | None = None

    def passing_samples(self) -> list[str]:
        """Sample IDs that pass, in store order."""
        return self.decisions.loc[self.decisions["pass"], "sample_id"].tolist()


def run_qc(
    g: GenotypeSet,
    manifest: str | Path | pd.DataFrame | None = None,
    pedigree: str | Path | pd.DataFrame | None = None,
    thresholds: QcThresholds | dict[str, Any] | None = None,
    *,
    reference: pd.DataFrame | str | Path | None = None,
    strict_manifest: bool = False,
    chunk_size: int = 20_000,
    read_metrics: pd.DataFrame | None = None,
) -> QcResult:
    """Run sample QC, variant QC, sex check, kinship and ancestry, then decide which samples pass.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend: every method
        asks the backend for its counts, so the decisions are the same.
    manifest
        Genome manifest (DataFrame or TSV): ``sample_id``, ``reported_sex``, ``batch``, ... Reported sex and
        strata come from here.
    pedigree
        PED file or DataFrame; the source of expected relationships, and of reported sex when the manifest has
        none.
    thresholds
        :class:`~pmo_workbench.qc.thresholds.QcThresholds`, a dict of its fields, or None for the defaults.
    reference
        Population labels (``sample_id``, ``population``) for ancestry assignment.
    strict_manifest
        Raise :class:`~pmo_workbench.errors.InputError` (naming the IDs) when the manifest and the genotypes
        list different samples; otherwise genotyped samples missing from the manifest only give a warning, and
        both lists are kept in ``parameters["manifest_check"]``.
    chunk_size
        Variants per chunk read from the store (embedded backend).
    read_metrics
        Read-level metrics by sample (:func:`pmo_workbench.qc.sequencing_metrics`): the reasons
        ``low_coverage`` and ``contamination``, and DRAGEN's ``ploidy_estimate`` beside the genetic sex in
        ``sex_check``.

    Returns
    -------
    QcResult
        The tables of :mod:`pmo_workbench.qc.tables` plus ``outliers``; ``decisions`` has ``sample_id``,
        ``pass``, ``reasons``.
    """
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
    auto = autosomal_sample_qc(g, sites, chunk_size=chunk_size)
    sex = impute_sex(
        g,
        sex_source,
        aaf_threshold=th.sex_aaf_threshold,
        female_threshold=th.female_threshold,
        male_threshold=th.male_threshold,
        chunk_size=chunk_size,
    )
    sex["x_het_ratio"] = compute_x_het_ratio(sex, sqc)
    kin = compute_kinship(
        g,
        ped,
        min_maf=th.kinship_min_maf,
        min_kinship=th.report_kinship,
        po_max_ibs0=th.po_max_ibs0,
        min_sites=th.kinship_min_sites,
        variant_mask=sites,
        chunk_size=chunk_size,
    )
    ids = np.asarray(g.sample_id).astype(str)
    if len(ids) >= th.min_samples_for_ancestry:
        unrelated = select_pca_samples(ids, kin, max_kinship=th.related_kinship)
        anc = compute_ancestry(
            g,
            reference=reference,
            k=th.ancestry_k,
            related=ids[~unrelated],
            variant_mask=sites,
            min_probability=th.ancestry_min_probability,
            cv_folds=th.ancestry_cv_folds,
            chunk_size=chunk_size,
        )
    else:
        anc = pd.DataFrame(
            {"sample_id": ids, "assigned_population": None, "probability": np.nan, "pc_distance": np.nan}
        )
    outcome = apply_thresholds(QcTables(sqc, sex, kin, anc, man, read_metrics, sample_qc_autosomal=auto), th)
    females = (outcome.sex_check.set_index(outcome.sex_check["sample_id"].astype(str))["genetic_sex"]
               .reindex(ids) == "F").to_numpy()
    x_sites, p_x, excess_x = compute_female_chrx_hwe(g, females, chunk_size=chunk_size)
    vqc.loc[x_sites, "p_value_hwe"] = p_x[x_sites]  # non-PAR X: the women only (plink2 --keep-females --hardy)
    vqc.loc[x_sites, "p_value_excess_het"] = excess_x[x_sites]
    if read_metrics is not None and "ploidy_estimate" in read_metrics.columns:
        rm = read_metrics.set_index("sample_id") if "sample_id" in read_metrics.columns else read_metrics
        outcome.sex_check["ploidy_estimate"] = rm["ploidy_estimate"].reindex(
            outcome.sex_check["sample_id"].astype(str)).to_numpy()
    params = {
        "thresholds": th.model_dump(),
        "n_qc_sites": int(sites.sum()),
        "source": str(getattr(g, "path", "")),
        "manifest_check": manifest_check,
        "ancestry_cv_accuracy": anc.attrs.get("cv_accuracy"),
        "po_max_ibs0": kin.attrs.get("po_max_ibs0"),
        "unrelated_ibs0": kin.attrs.get("unrelated_ibs0"),
    }
    return QcResult(
        sample_qc=sqc,
        variant_qc=vqc,
        sex_check=outcome.sex_check,
        kinship=kin,
        ancestry=anc,
        outliers=outcome.outliers,
        decisions=outcome.decisions,
        thresholds=th,
        parameters=params,
        read_metrics=read_metrics,
        sample_qc_autosomal=auto,
        assessment=outcome.assessment,
        flags=outcome.flags,
    )
