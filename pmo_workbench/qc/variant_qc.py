"""Per-variant QC metrics with Hail's ``hl.variant_qc`` names, from the backend's variant counts.

The counts come from the genotype set's backend (the ``variant_counts`` kernel of
:mod:`pmo_workbench.genotypes.backends`); the table (locus, alleles, frequencies, HWE tests, filters) is made
of :func:`~pmo_workbench.qc.qc_columns.variant_qc_columns`, for every backend alike. List-valued columns
(``alleles``, ``AC``, ``AF``, ``filters``) are Arrow list columns (``pd.ArrowDtype``): built without a Python
loop, written to Parquet as lists, and each element reads as a Python list.

Examples
--------
>>> row = variant_qc(g).iloc[0]  # g: the doctests' simulated set
>>> row["locus"], row["alleles"], row["AC"], int(row["AN"]), row["filters"]
('1:10000', ['A', 'G'], [64, 16], 80, [])
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.qc.hwe import hardy_weinberg_p
from pmo_workbench.qc.qc_columns import variant_qc_columns
from pmo_workbench.qc.tables import VARIANT_QC, returns_table


@returns_table(VARIANT_QC)
def variant_qc(g: GenotypeSet, *, chunk_size: int = 20_000) -> pd.DataFrame:
    """Per-variant QC metrics, as Hail's ``hl.variant_qc`` (one row per variant, in file order).

    A haploid call adds one allele to ``AN``. ``n_het`` and the Hardy-Weinberg tests use diploid calls only
    (as Hail's documentation states; Hail's implementation derives the het count from ``AC[1]``, which
    would count haploid ALT calls on chrX as heterozygotes). The tests are for biallelic sites; they are
    NaN at multi-allelic sites and where no diploid call exists. Where the backend does not compute them
    itself (the embedded backend), they are :func:`pmo_workbench.qc.hwe.hardy_weinberg_p` of the diploid
    counts, run while the text columns are built.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
    chunk_size
        Variants per chunk read from the store (embedded backend).

    Returns
    -------
    pandas.DataFrame
        One row per variant, in file order; the columns of :data:`~pmo_workbench.qc.tables.VARIANT_QC`
        (listed below).
    """
    counts = get_kernel("variant_counts", g)(g, chunk_size=chunk_size)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the compiled HWE tests run while the text columns are built
        columns = variant_qc_columns(g, counts, pool=pool)
    for name, col in columns.items():
        if name == "locus":
            columns[name] = col.to_numpy(zero_copy_only=False).astype(object, copy=False)
        elif isinstance(col, pa.Array):
            columns[name] = pd.Series(col, dtype=pd.ArrowDtype(col.type))
    return pd.DataFrame(columns, copy=False)  # fresh arrays: no copy into 2-D blocks (0.15 s at 1 M variants)


def compute_female_chrx_hwe(g: GenotypeSet, females: np.ndarray, *, chunk_size: int = 20_000
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hardy-Weinberg mid-p tests of the biallelic non-PAR chrX sites over the female samples only:
    ``(sites, p_value_hwe, p_value_excess_het)`` (a boolean mask of the sites tested and the two tests at them).

    Men carry one X: counted as diploid (a set that writes them ``0/0``/``1/1``), they are homozygotes that
    no HWE model of two alleles expects, and they make every chrX site look deficient in heterozygotes. Over the
    women alone, the test is plink2's ``--keep-females --hardy midp`` (its ``.hardy.x`` file; plink2's
    default chrX test, Graffelman-Weir, adds the men's allele counts instead). Genotypes come from the backend's
    ``dosage_blocks`` kernel, so every backend gives the same.

    Example
    -------
    >>> sites, p, _ = compute_female_chrx_hwe(g, np.arange(g.n_samples) >= 20)  # the last 20 samples as women
    >>> int(sites.sum()), bool(np.isfinite(p[sites]).all())
    (80, True)
    """
    from pmo_workbench.qc.sites import select_sex_sites

    sites, _ = select_sex_sites(g)
    p = np.full(g.n_variants, np.nan)
    excess = np.full(g.n_variants, np.nan)
    females = np.asarray(females, dtype=bool)
    if not sites.any() or not females.any():
        return sites, p, excess
    counts = []
    for _, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0, chunk_size=chunk_size):
        d = dosage[:, females]
        counts.append(np.stack([(d == 0).sum(axis=1), (d == 1).sum(axis=1), (d == 2).sum(axis=1)], axis=1))
    c = np.concatenate(counts) if counts else np.zeros((0, 3), dtype=np.int64)
    p[sites], excess[sites] = hardy_weinberg_p(c[:, 0], c[:, 1], c[:, 2])
    return sites, p, excess


def compute_hwe_by_group(g: GenotypeSet, groups: pd.Series | np.ndarray, *, variant_mask: np.ndarray | None = None,
                         min_group_size: int = 20, chunk_size: int = 20_000) -> pd.DataFrame:
    """Hardy-Weinberg mid-p test of each autosomal biallelic site within each group of samples (e.g. the
    ``assigned_population`` of :func:`~pmo_workbench.qc.ancestry.ancestry`): pooling ancestries makes a
    heterozygote deficit of every site whose frequency differs between them (a Wahlund effect), so a site
    filter on the pooled test removes ancestry-informative sites rather than bad ones.

    Parameters
    ----------
    g
        An opened genotype set, of any backend (genotypes from its ``dosage_blocks`` kernel).
    groups
        One label per sample, in file order (None/NaN: in no group).
    variant_mask
        Boolean [n_variants] restricting the sites.
    min_group_size
        Smaller groups get no column.

    Returns
    -------
    pandas.DataFrame
        One row per tested site (``variant_index``: its row in the variant table), one column
        ``p_value_hwe_<group>`` per group, in the order the groups first appear.

    Example
    -------
    >>> by = compute_hwe_by_group(g, np.where(np.arange(g.n_samples) < 20, "A", "B"))
    >>> by.columns.tolist()
    ['variant_index', 'p_value_hwe_A', 'p_value_hwe_B']
    """
    from pmo_workbench.qc.sites import select_autosomal_sites

    labels = pd.Series(np.asarray(groups, dtype=object)).where(pd.notna(groups), None)
    names = [x for x in pd.unique(labels.dropna()) if (labels == x).sum() >= min_group_size]
    sites = select_autosomal_sites(g.variants, g.contig_kind, variant_mask)
    masks = {x: (labels == x).to_numpy() for x in names}
    counts: dict[str, list[np.ndarray]] = {x: [] for x in names}
    for _, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0, chunk_size=chunk_size):
        for x, m in masks.items():
            d = dosage[:, m]
            counts[x].append(np.stack([(d == 0).sum(axis=1), (d == 1).sum(axis=1), (d == 2).sum(axis=1)], axis=1))
    out = pd.DataFrame({"variant_index": np.flatnonzero(sites)})
    for x in names:
        c = np.concatenate(counts[x]) if counts[x] else np.zeros((0, 3), dtype=np.int64)
        out[f"p_value_hwe_{x}"] = hardy_weinberg_p(c[:, 0], c[:, 1], c[:, 2])[0]
    return out
