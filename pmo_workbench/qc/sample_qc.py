"""Per-sample QC metrics with Hail's ``hl.sample_qc`` names and semantics, from the backend's sample counts.

The counts come from the genotype set's backend (the ``sample_counts`` kernel of
:mod:`pmo_workbench.genotypes.backends`); the table (rates, ratios, column order) is made here, for every
backend alike.

Examples
--------
>>> qc = sample_qc(g)  # g: the doctests' simulated set (40 samples, S05 with a low call rate)
>>> qc.loc[qc.call_rate < 0.95, "sample_id"].tolist()
['S05']
>>> qc[["sample_id", "n_called", "n_het", "dp_mean"]].head(2).round(2)
  sample_id  n_called  n_het  dp_mean
0       S01       677    226    29.81
1       S02       676    245    29.87
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.qc.qc_columns import sample_qc_columns, warn_fields_not_imported
from pmo_workbench.qc.sites import select_autosomal_sites
from pmo_workbench.qc.tables import SAMPLE_QC, returns_table


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


@returns_table(SAMPLE_QC)
def sample_qc(g: GenotypeSet, *, chunk_size: int = 20_000) -> pd.DataFrame:
    """Per-sample QC metrics over all variants, as Hail's ``hl.sample_qc``.

    Calls are counted as Hail does: a haploid call (``[a, -2]``, e.g. a male on non-PAR X) is called, with
    one allele; ``0`` is hom-ref and a non-reference haploid call counts as hom-var. Allele-type counts
    are over **alternate alleles in calls** (a het call adds one, a hom-var call two), so ``r_ti_tv`` is an
    allele ratio (plink2 and bcftools count genotypes instead). A singleton is an alternate allele whose
    count over all samples at that variant is 1.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
    chunk_size
        Variants per chunk read from the store (embedded backend).

    Returns
    -------
    pandas.DataFrame
        One row per sample, in file order; the columns of
        :data:`~pmo_workbench.qc.tables.SAMPLE_QC` (listed below).
    """
    c = get_kernel("sample_counts", g)(g, chunk_size=chunk_size)
    out = pd.DataFrame(sample_qc_columns(g.sample_id, g.n_variants, c))
    warn_fields_not_imported(g, stacklevel=4)
    return out


def compute_common_heterozygosity(g: GenotypeSet, variant_mask: np.ndarray | None, min_maf: float, *,
                                  chunk_size: int = 20_000) -> pd.DataFrame:
    """Heterozygous and called genotypes per sample over autosomal biallelic sites with MAF >= ``min_maf``.

    The heterozygosity check of plink (``--het``) is run on common sites: rare variants carry little of a
    contamination's excess heterozygosity but much population-specific noise (private variants of a minority).
    The counts come from the backend's ``heterozygosity_counts`` kernel.

    Returns
    -------
    pandas.DataFrame
        ``sample_id`` (str), ``n_het_common`` and ``n_called_common`` (int64), in file order.

    Examples
    --------
    >>> het = compute_common_heterozygosity(g, None, 0.05)
    >>> het.columns.tolist(), bool((het.n_het_common <= het.n_called_common).all())
    (['sample_id', 'n_het_common', 'n_called_common'], True)
    """
    sites = select_autosomal_sites(g.variants, g.contig_kind, variant_mask)
    c = get_kernel("heterozygosity_counts", g)(g, sites, min_maf=min_maf, chunk_size=chunk_size)
    return pd.DataFrame(
        {"sample_id": np.asarray(g.sample_id).astype(str), "n_het_common": c.n_het, "n_called_common": c.n_called}
    )


AUTOSOMAL_METRICS = ("n_het", "n_hom_var", "n_snp", "n_transition", "n_transversion", "n_insertion",
                     "n_deletion", "r_ti_tv", "r_het_hom_var", "r_insertion_deletion")
"""Columns of :func:`autosomal_sample_qc` after ``sample_id`` (the genome-wide ratios, on autosomes only)."""


def autosomal_sample_qc(g: GenotypeSet, variant_mask: np.ndarray | None = None, *, chunk_size: int = 20_000
                        ) -> pd.DataFrame:
    """The outlier metrics of :func:`sample_qc` over autosomal biallelic sites only (``run_qc``'s
    ``sample_qc_autosomal`` table).

    Genome-wide ratios that include chrX mix hemizygous and diploid calls: a man's non-PAR X calls are all
    homozygous, so ``r_het_hom_var`` sits lower and allele counts differ by sex. These counts use the same
    definitions as :func:`sample_qc` (allele types as Hail's; a het call adds one ALT allele, hom-var two) on
    the autosomal biallelic sites (within ``variant_mask``), read through the backend's ``dosage_blocks``
    kernel, so every backend gives the same table.

    Example
    -------
    >>> a = autosomal_sample_qc(g)
    >>> a.columns.tolist()[:4], bool((a["n_het"] <= sample_qc(g)["n_het"]).all())
    (['sample_id', 'n_het', 'n_hom_var', 'n_snp'], True)
    """
    from pmo_workbench.genotypes.alleles import (
        DELETION,
        INSERTION,
        TRANSITION,
        TRANSVERSION,
        classify_alt_alleles,
    )

    sites = select_autosomal_sites(g.variants, g.contig_kind, variant_mask)
    n = g.n_samples
    counts = {c: np.zeros(n, dtype=np.int64) for c in ("n_het", "n_hom_var", "n_transition", "n_transversion",
                                                      "n_insertion", "n_deletion")}
    for variants, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0, chunk_size=chunk_size):
        if len(variants) == 0:
            continue
        kind = classify_alt_alleles(variants["ref"].to_numpy(dtype=object), variants["alt"].to_numpy(dtype=object),
                                    variants["n_alleles"].to_numpy())[:, 0]
        alt = np.where(dosage > 0, dosage, 0).astype(np.int64)
        counts["n_het"] += (dosage == 1).sum(axis=0)
        counts["n_hom_var"] += (dosage == 2).sum(axis=0)
        for name, code in (("n_transition", TRANSITION), ("n_transversion", TRANSVERSION),
                           ("n_insertion", INSERTION), ("n_deletion", DELETION)):
            sel = kind == code
            if sel.any():
                counts[name] += alt[sel].sum(axis=0)
    out = pd.DataFrame({"sample_id": np.asarray(g.sample_id).astype(object), **counts})
    out["n_snp"] = out["n_transition"] + out["n_transversion"]
    out["r_ti_tv"] = _ratio(out["n_transition"].to_numpy(float), out["n_transversion"].to_numpy())
    out["r_het_hom_var"] = _ratio(out["n_het"].to_numpy(float), out["n_hom_var"].to_numpy())
    out["r_insertion_deletion"] = _ratio(out["n_insertion"].to_numpy(float), out["n_deletion"].to_numpy())
    return out[["sample_id", *AUTOSOMAL_METRICS]]
