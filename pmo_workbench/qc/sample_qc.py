"""Per-sample QC metrics with Hail's ``hl.sample_qc`` names and semantics, from the store's call counts.

Example
-------
>>> from pmo_workbench.genotypes import open_genotypes
>>> g = open_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz")  # doctest: +SKIP
>>> sample_qc(g)[["sample_id", "call_rate", "n_het", "r_ti_tv", "dp_mean"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmo_workbench.genotypes import call_counts as cc
from pmo_workbench.genotypes.store import Genotypes

SAMPLE_QC_COLUMNS = ["sample_id", "call_rate", "n_called", "n_not_called", "n_hom_ref", "n_het", "n_hom_var",
                     "n_non_ref", "n_singleton", "n_snp", "n_insertion", "n_deletion", "n_transition",
                     "n_transversion", "r_ti_tv", "r_het_hom_var", "r_insertion_deletion"]


def _sum_field(values: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> None:
    """Add each sample's (column's) non-negative entries of ``values`` [variants, samples] to ``sums`` and their
    number to ``counts`` (negative = missing)."""
    present = values >= 0
    sums += np.where(present, values, 0).sum(axis=0, dtype=np.int64)
    counts += present.sum(axis=0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def sample_qc(g: Genotypes, *, chunk_size: int = 20_000) -> pd.DataFrame:
    """Per-sample QC metrics over all variants, as Hail's ``hl.sample_qc``.

    Calls are counted as Hail does: a haploid call (``[a, -2]``, e.g. a male on non-PAR X) is called, with
    one allele; ``0`` is hom-ref and a non-reference haploid call counts as hom-var. Allele-type counts
    are over **alternate alleles in calls** (a het call adds one, a hom-var call two), so ``r_ti_tv`` is an
    allele ratio (plink2 and bcftools count genotypes instead). A singleton is an alternate allele whose
    count over all samples at that variant is 1.

    Parameters
    ----------
    g
        An opened genotype store.
    chunk_size
        Variants per chunk read from the store.

    Returns
    -------
    pandas.DataFrame
        One row per sample, in store order, with columns:

        - ``sample_id`` (str)
        - ``call_rate`` (float64) -- ``n_called / n_variants``.
        - ``n_called`` (int64) -- calls that are not missing.
        - ``n_not_called`` (int64) -- missing calls.
        - ``n_hom_ref`` (int64) -- calls with only reference alleles.
        - ``n_het`` (int64) -- calls with two different alleles.
        - ``n_hom_var`` (int64) -- other called genotypes (homozygous or haploid non-reference).
        - ``n_non_ref`` (int64) -- ``n_het + n_hom_var``.
        - ``n_singleton`` (int64) -- alternate alleles seen once in the whole data set.
        - ``n_snp`` (int64) -- SNP alternate alleles (``n_transition + n_transversion``).
        - ``n_insertion``, ``n_deletion`` (int64) -- insertion / deletion alternate alleles.
        - ``n_transition``, ``n_transversion`` (int64) -- transition / transversion alternate alleles.
        - ``r_ti_tv`` (float64) -- ``n_transition / n_transversion`` (NaN when 0/0 or x/0).
        - ``r_het_hom_var`` (float64) -- ``n_het / n_hom_var`` (NaN when the denominator is 0).
        - ``r_insertion_deletion`` (float64) -- ``n_insertion / n_deletion`` (NaN when it is 0).
        - ``dp_mean`` (float64) -- mean DP over entries with DP, only when the input has FORMAT/DP.
        - ``gq_mean`` (float64) -- mean GQ over entries with GQ, only when the input has FORMAT/GQ.

    Example
    -------
    >>> qc = sample_qc(g)  # doctest: +SKIP
    >>> qc.loc[qc.call_rate < 0.95, "sample_id"].tolist()  # doctest: +SKIP
    []
    """
    if getattr(g, "backend", "embedded") == "hail":
        from pmo_workbench.qc import hail_qc

        return hail_qc.sample_qc(g)
    ns = g.n_samples
    counts = cc.compute_call_counts(g, chunk_size)
    fields = [f for f in ("DP", "GQ") if g.has_field(f)]
    sums = {f: np.zeros(ns, dtype=np.int64) for f in fields}
    nobs = {f: np.zeros(ns, dtype=np.int64) for f in fields}
    if fields:
        for chunk in g.iter_chunks(chunk_size):
            for f in fields:
                _sum_field(chunk.dp if f == "DP" else chunk.gq, sums[f], nobs[f])
    c = counts.sample
    _CALLED, _NOT_CALLED, _HOM_REF, _HET = cc.SAMPLE_CALLED, cc.SAMPLE_NOT_CALLED, cc.SAMPLE_HOM_REF, cc.SAMPLE_HET
    _SINGLETON, _TS, _TV = cc.SAMPLE_SINGLETON, cc.SAMPLE_TS, cc.SAMPLE_TV
    _INS, _DEL = cc.SAMPLE_INS, cc.SAMPLE_DEL
    n_hom_var = c[:, _CALLED] - c[:, _HOM_REF] - c[:, _HET]
    out = pd.DataFrame({
        "sample_id": g.sample_id.astype(object),
        "call_rate": _ratio(c[:, _CALLED].astype(float), np.full(ns, g.n_variants, dtype=float)),
        "n_called": c[:, _CALLED],
        "n_not_called": c[:, _NOT_CALLED],
        "n_hom_ref": c[:, _HOM_REF],
        "n_het": c[:, _HET],
        "n_hom_var": n_hom_var,
        "n_non_ref": c[:, _HET] + n_hom_var,
        "n_singleton": c[:, _SINGLETON],
        "n_snp": c[:, _TS] + c[:, _TV],
        "n_insertion": c[:, _INS],
        "n_deletion": c[:, _DEL],
        "n_transition": c[:, _TS],
        "n_transversion": c[:, _TV],
        "r_ti_tv": _ratio(c[:, _TS].astype(float), c[:, _TV]),
        "r_het_hom_var": _ratio(c[:, _HET].astype(float), n_hom_var),
        "r_insertion_deletion": _ratio(c[:, _INS].astype(float), c[:, _DEL]),
    })
    for f in fields:
        out[f"{f.lower()}_mean"] = _ratio(sums[f].astype(float), nobs[f])
    return out
