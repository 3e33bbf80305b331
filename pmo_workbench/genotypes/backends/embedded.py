"""The embedded backend: a VCF Zarr store in the cache (:mod:`pmo_workbench.genotypes.store`), counted in process.

Its kernels read the store in chunks of variants (all samples) and count with numpy, the C kernels of
:mod:`pmo_workbench.ckernels` and the numba kernels of :mod:`pmo_workbench.numba_kernels`:

- ``sample_counts`` and ``variant_counts`` share one pass over the calls
  (:func:`pmo_workbench.genotypes.call_counts.compute_call_counts`, cached on the store object); FORMAT/DP and GQ
  means take a second pass where the input has them;
- ``sex_counts`` adds :func:`compute_x_inbreeding` over the chrX sites' dosages, chunk by chunk;
- ``king_counts`` packs each chunk's genotypes into bit indicators and counts all pairs
  (:func:`pmo_workbench.ckernels.king.compute_king_counts`, in C);
- ``heterozygosity_counts`` and ``dosage_blocks`` read the dosages of the selected sites
  (:func:`iter_dosage_blocks`).

Examples
--------
>>> from pmo_workbench.genotypes.backends import get_kernel
>>> sites = (g.variants["contig"] != "X").to_numpy()
>>> het = get_kernel("heterozygosity_counts", g)(g, sites, min_maf=0.05)
>>> bool((het.n_het <= het.n_called).all())
True
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmo_workbench.genotypes.backends import register_backend, register_kernel
from pmo_workbench.genotypes.counts import (
    HeterozygosityCounts,
    KingCounts,
    SampleCounts,
    SexCounts,
    VariantCounts,
)
from pmo_workbench.genotypes.store import Genotypes, compute_dosage, open_store

if TYPE_CHECKING:  # opening a store needs no pandas (kinship counts before it imports it)
    import pandas as pd


def open_embedded(path: str | Path, cache_dir: str | Path | None = None, **options: Any) -> Genotypes:
    """The embedded opener: a project folder (or cohort store folder) opens its gVCF cohort store densified
    (:func:`pmo_workbench.genotypes.gvcf_store.open_cohort`); a file is imported by :func:`open_store`."""
    if Path(path).is_dir():
        from pmo_workbench.genotypes.gvcf_store import open_cohort

        return open_cohort(path, cache_dir, **options)
    return open_store(path, cache_dir, **options)


register_backend("embedded", open_embedded,
                 description="VCF Zarr store in the cache (or a project's gVCF cohort store); numpy, C and numba "
                             "kernels")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def sum_field(values: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> None:
    """Add each sample's (column's) non-negative entries of ``values`` [variants, samples] to ``sums`` and their
    number to ``counts`` (negative = missing): the sums behind sample_qc's ``dp_mean``/``gq_mean``.

    Example
    -------
    >>> sums, counts = np.zeros(2, np.int64), np.zeros(2, np.int64)
    >>> sum_field(np.array([[10, -1], [20, 7]]), sums, counts)
    >>> sums.tolist(), counts.tolist()
    ([30, 7], [2, 1])
    """
    present = values >= 0
    sums += np.where(present, values, 0).sum(axis=0, dtype=np.int64)
    counts += present.sum(axis=0)


@register_kernel("sample_counts", backend="embedded")
def count_samples(g: Genotypes, *, chunk_size: int = 20_000) -> SampleCounts:
    """Per-sample counts from the store's call counts; DP/GQ means from a pass over those fields."""
    from pmo_workbench.genotypes import call_counts as cc  # not needed by kinship or ancestry alone

    ns = g.n_samples
    c = cc.compute_call_counts(g, chunk_size).sample
    fields = [f for f in ("DP", "GQ") if g.has_field(f)]
    sums = {f: np.zeros(ns, dtype=np.int64) for f in fields}
    nobs = {f: np.zeros(ns, dtype=np.int64) for f in fields}
    if fields:
        for chunk in g.iter_chunks(chunk_size):
            for f in fields:
                sum_field(chunk.dp if f == "DP" else chunk.gq, sums[f], nobs[f])
    return SampleCounts(
        n_called=c[:, cc.SAMPLE_CALLED], n_not_called=c[:, cc.SAMPLE_NOT_CALLED], n_hom_ref=c[:, cc.SAMPLE_HOM_REF],
        n_het=c[:, cc.SAMPLE_HET], n_singleton=c[:, cc.SAMPLE_SINGLETON], n_transition=c[:, cc.SAMPLE_TS],
        n_transversion=c[:, cc.SAMPLE_TV], n_insertion=c[:, cc.SAMPLE_INS], n_deletion=c[:, cc.SAMPLE_DEL],
        field_means={f"{f.lower()}_mean": _ratio(sums[f].astype(float), nobs[f]) for f in fields})


@register_kernel("variant_counts", backend="embedded")
def count_variants(g: Genotypes, *, chunk_size: int = 20_000) -> VariantCounts:
    """Per-variant counts from the store's call counts (the HWE tests are left to the method)."""
    from pmo_workbench.genotypes import call_counts as cc

    counts = cc.compute_call_counts(g, chunk_size)
    return VariantCounts(n_alleles=counts.n_alleles, ac=counts.ac, n_called=counts.n_called,
                         n_het=counts.n_het, n_hom_ref=counts.n_hom_ref, n_hom_var=counts.n_hom_var)


def compute_x_inbreeding(dosage: np.ndarray, ploidy: np.ndarray, aaf: np.ndarray) -> dict[str, np.ndarray]:
    """Hail's ``hl.agg.inbreeding`` per sample over a block of sites (a haploid call is homozygous).

    Parameters
    ----------
    dosage
        int8 [sites, samples], ALT copies, -1 missing.
    ploidy
        int8 [sites, samples], 1 for a haploid call, 2 for diploid.
    aaf
        float [sites], alternate allele frequency (the prior).

    Returns
    -------
    dict
        ``n_called`` (int64), ``expected_homs`` (float64), ``observed_homs`` (int64) and ``f_stat`` (float64)
        arrays [samples].

    Examples
    --------
    >>> d = np.array([[0, 1], [1, 1], [2, 0]], dtype=np.int8)
    >>> p = np.array([[2, 1], [2, 1], [2, 1]], dtype=np.int8)
    >>> stats = compute_x_inbreeding(d, p, aaf=np.array([0.5, 0.5, 0.5]))
    >>> [round(float(f), 3) for f in stats["f_stat"]]
    [0.333, 1.0]
    """
    called = dosage >= 0
    hom = called & ((ploidy == 1) | (dosage == 0) | (dosage == 2))
    exp_site = 1.0 - 2.0 * aaf * (1.0 - aaf)
    n = called.sum(axis=0, dtype=np.int64)
    e = (called * exp_site[:, None]).sum(axis=0)
    o = hom.sum(axis=0, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (o - e) / (n - e)
    return {"n_called": n, "expected_homs": e, "observed_homs": o, "f_stat": f}


@register_kernel("sex_counts", backend="embedded")
def count_sex_sites(g: Genotypes, x_sites: np.ndarray, y_sites: np.ndarray, *, aaf_threshold: float = 0.0,
                    chunk_size: int = 20_000) -> SexCounts:
    """chrX inbreeding sums over the ``x_sites`` with ``aaf_threshold < AAF < 1 - aaf_threshold``, and the
    called genotypes over the ``y_sites``."""
    n = g.n_samples
    n_called = np.zeros(n, dtype=np.int64)
    e_homs = np.zeros(n, dtype=np.float64)
    o_homs = np.zeros(n, dtype=np.int64)
    n_haploid = np.zeros(n, dtype=np.int64)
    if x_sites.any():
        for _, dosage, ploidy in g.dosage_chunks(chunk_size=chunk_size, variant_mask=x_sites):
            called = dosage >= 0
            an = np.where(called, ploidy, 0).sum(axis=1)
            ac = np.where(called, dosage, 0).sum(axis=1)
            aaf = np.divide(ac, an, out=np.full(len(an), np.nan), where=an > 0)
            keep = (aaf > aaf_threshold) & (aaf < 1.0 - aaf_threshold)
            if not keep.any():
                continue
            st = compute_x_inbreeding(dosage[keep], ploidy[keep], aaf[keep])
            n_called += st["n_called"]
            e_homs += st["expected_homs"]
            o_homs += st["observed_homs"]
            n_haploid += ((dosage[keep] >= 0) & (ploidy[keep] == 1)).sum(axis=0)
    y_called = np.zeros(n, dtype=np.int64)
    if y_sites.any():
        for chunk in g.iter_chunks(chunk_size=chunk_size, variant_mask=y_sites):
            y_called += (chunk.gt[:, :, 0] >= 0).sum(axis=0)
    return SexCounts(n_called, e_homs, o_homs, y_called, int(y_sites.sum()), n_haploid)


def iter_dosage_blocks(g: Genotypes, sites: np.ndarray | None, *, min_maf: float = 0.0, chunk_size: int = 20_000
                       ) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    """Dosage blocks of the selected sites of a store, optionally dropping sites with MAF < ``min_maf``.

    Yields ``(variants, dosage, ploidy)`` with dosage int8 [sites, samples] (-1 missing), one block per chunk
    of ``chunk_size`` records. The minor allele frequency is computed from the called alleles of the samples
    (haploid calls count once).
    """
    for variants, dosage, ploidy in g.dosage_chunks(chunk_size=chunk_size, variant_mask=sites):
        if min_maf > 0:
            called = dosage >= 0
            an = np.where(called, ploidy, 0).sum(axis=1)
            ac = np.where(called, dosage, 0).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                af = np.where(an > 0, ac / np.maximum(an, 1), 0.0)
            keep = np.minimum(af, 1 - af) >= min_maf
            if not keep.all():
                variants, dosage, ploidy = variants[keep], dosage[keep], ploidy[keep]
        yield variants, dosage, ploidy


@register_kernel("dosage_blocks", backend="embedded")
def read_dosage_blocks(g: Genotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                       ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """``(variants, dosage)`` of the selected common sites, one block per chunk of the store."""
    return ((v, d) for v, d, _ in iter_dosage_blocks(g, sites, min_maf=min_maf, chunk_size=chunk_size))


@register_kernel("heterozygosity_counts", backend="embedded")
def count_heterozygosity(g: Genotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                         ) -> HeterozygosityCounts:
    """Heterozygous and called genotypes per sample over the selected common sites."""
    n_het = np.zeros(g.n_samples, dtype=np.int64)
    n_called = np.zeros(g.n_samples, dtype=np.int64)
    for _, dosage, _ in iter_dosage_blocks(g, sites, min_maf=min_maf, chunk_size=chunk_size):
        n_het += (dosage == 1).sum(axis=0)
        n_called += (dosage >= 0).sum(axis=0)
    return HeterozygosityCounts(n_het, n_called)


@register_kernel("king_counts", backend="embedded")
def count_king_pairs(g: Genotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                     ) -> KingCounts:
    """KING pair counts over the selected common sites, chunk by chunk (C popcount kernel)."""
    from pmo_workbench.ckernels.king import (  # when kinship runs
        compute_king_counts,
        compute_king_counts_packed,
    )

    if min_maf > 0 or not g.has_packed():
        blocks = (d for _, d, _ in iter_dosage_blocks(g, sites, min_maf=min_maf, chunk_size=chunk_size))
        return compute_king_counts(blocks, n_samples=g.n_samples)
    return compute_king_counts_packed(_packed_king_chunks(g, sites, chunk_size), g.n_samples)


def _packed_king_chunks(g: Genotypes, sites: np.ndarray, chunk_size: int
                        ) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
    """The selected biallelic sites' calls, chunk by chunk: ``(packed rows, selected row indices)`` where all
    are in the 2-bit copy (the kernel reads them without an int8 dosage block), else their dosage block."""
    mask = np.asarray(sites, dtype=bool) & (g._array("variant_n_alleles")[:] == 2)  # not the variant table
    packable = g.packable()
    # no read-ahead: counting a chunk's pairs takes ~100x its decompression, and a chunk at 2,500 samples is 12.5 MB
    for start, stop, packed in g.iter_packed(chunk_size, prefetch=False):
        local = np.flatnonzero(mask[start:stop])
        if len(local) == 0:
            continue
        if packable[start:stop][local].all():
            yield packed, local
        else:
            yield compute_dosage(g.call_genotype[start:stop][local])[0]
