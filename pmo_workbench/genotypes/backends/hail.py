"""The Hail backend: a Hail MatrixTable in the cache (:mod:`pmo_workbench.genotypes.hail_backend`), counted by Hail.

Its kernels compute with Hail's own methods on Spark (local, or the cluster of ``pmo.yaml``) and hand the
counts over as numpy, in file order: ``hl.sample_qc`` (``sample_counts``), ``hl.variant_qc`` and
``hl.hardy_weinberg_test`` (``variant_counts``), ``hl.agg.call_stats`` and the sums of ``hl.agg.inbreeding``
(``sex_counts``), ``hl.king``'s block-matrix products (``king_counts``), and the calls of the selected sites as
one block matrix (``dosage_blocks``). A few conventions are pinned to the embedded backend's definitions (see
each kernel): the methods build the same tables from either backend's counts, and ``tests/hail`` holds the
tables of both equal.

Hail keeps rows sorted by locus and columns keyed by sample ID; every kernel selects rows with a file-order
mask (:meth:`~pmo_workbench.genotypes.hail_backend.HailGenotypes.select_variants`) and returns rows in file
order and samples in column order (:func:`~pmo_workbench.genotypes.hail_backend.collect_rows`,
:func:`~pmo_workbench.genotypes.hail_backend.collect_cols`).

Examples
--------
>>> from pmo_workbench.genotypes import open_genotypes
>>> h = open_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz", backend="hail")  # doctest: +SKIP
>>> count_samples(h).n_called[:3]  # doctest: +SKIP
array([335, 339, 340])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench.genotypes.backends import register_backend, register_kernel
from pmo_workbench.genotypes.counts import (
    HeterozygosityCounts,
    KingCounts,
    SampleCounts,
    SexCounts,
    VariantCounts,
)
from pmo_workbench.genotypes.hail_backend import (
    HailGenotypes,
    collect_cols,
    collect_rows,
    init_hail,
    open_hail_genotypes,
)


def open_hail(path: str | Path, cache_dir: str | Path | None = None, **options: Any) -> HailGenotypes:
    """The Hail opener: a project folder (or cohort store folder) opens its gVCF cohort store as a VDS,
    densified (:func:`pmo_workbench.genotypes.hail_combiner.open_hail_cohort`); a file is imported by
    :func:`open_hail_genotypes`."""
    if Path(path).is_dir():
        from pmo_workbench.genotypes.hail_combiner import open_hail_cohort

        options.pop("format_fields", None)  # a cohort store keeps its own DP, GQ and AD
        return open_hail_cohort(path, cache_dir, **options)
    return open_hail_genotypes(path, cache_dir, **options)


register_backend("hail", open_hail,
                 description="Hail MatrixTable in the cache (or a project's gVCF cohort store as a VDS); Hail's "
                             "methods on Spark")

_SAMPLE_COUNTS = ["n_called", "n_not_called", "n_hom_ref", "n_het", "n_singleton", "n_transition",
                  "n_transversion", "n_insertion", "n_deletion"]


def _float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _int(values: pd.Series) -> np.ndarray:
    return values.astype("int64").to_numpy()


def _collect_samples(g: HailGenotypes, mt: Any, **fields: Any) -> pd.DataFrame:
    """:func:`collect_cols`, checked to hold ``g``'s samples in ``g``'s order."""
    df = collect_cols(mt, **fields)
    if df["s"].astype(str).tolist() != [str(x) for x in g.sample_id]:
        raise RuntimeError(f"Hail returned other samples than those of {g.path.name}")
    return df


@register_kernel("sample_counts", backend="hail")
def count_samples(g: HailGenotypes, *, chunk_size: int = 20_000) -> SampleCounts:
    """``hl.sample_qc``'s counts; ``dp_mean``/``gq_mean`` are its ``dp_stats.mean``/``gq_stats.mean``.

    Hail counts a haploid call as called, ``0`` as hom-ref and a haploid ALT as hom-var; allele types count
    alternate alleles.
    """
    hl = init_hail()
    mt = hl.sample_qc(g.mt, name="qc")
    extra = [f"{f.lower()}_mean" for f in ("DP", "GQ") if g.has_field(f)]
    fields = {c: mt.qc[c] for c in _SAMPLE_COUNTS}
    fields.update({m: mt.qc[m.replace("_mean", "_stats")].mean for m in extra})
    df = _collect_samples(g, mt, **fields)
    return SampleCounts(**{c: _int(df[c]) for c in _SAMPLE_COUNTS}, field_means={m: _float(df[m]) for m in extra})


@register_kernel("variant_counts", backend="hail")
def count_variants(g: HailGenotypes, *, chunk_size: int = 20_000) -> VariantCounts:
    """``hl.variant_qc``'s ``AC`` and ``n_called``, diploid genotype counts, and ``hl.hardy_weinberg_test``.

    ``n_het`` and the Hardy-Weinberg counts use **diploid calls only** (``GT.is_het()``, diploid
    ``is_hom_ref``/``is_hom_var``), as the embedded backend and Hail's documentation define them;
    ``hl.variant_qc`` itself takes ``n_het`` as ``n_called`` minus the (diploid) homozygote counts and so counts
    every haploid call (a male on chrX) as a heterozygote, and feeds ``AC[1]``-based counts to its HWE test.
    The tests (two-sided and ``one_sided=True``, both mid-p) are NaN at multi-allelic sites and where no
    diploid call exists.
    """
    hl = init_hail()
    mt = hl.variant_qc(g.mt, name="vqc")
    gt = mt.GT
    diploid = hl.is_defined(gt) & (gt.ploidy == 2)
    mt = mt.annotate_rows(
        d_het=hl.int32(hl.agg.count_where(diploid & gt.is_het())),
        d_hom_ref=hl.int32(hl.agg.count_where(diploid & gt.is_hom_ref())),
        d_hom_var=hl.int32(hl.agg.count_where(diploid & gt.is_hom_var())))
    testable = (hl.len(mt.alleles) == 2) & (mt.d_het + mt.d_hom_ref + mt.d_hom_var > 0)
    mt = mt.annotate_rows(
        hwe=hl.or_missing(testable, hl.hardy_weinberg_test(mt.d_hom_ref, mt.d_het, mt.d_hom_var)),
        hwe_excess=hl.or_missing(testable, hl.hardy_weinberg_test(mt.d_hom_ref, mt.d_het, mt.d_hom_var,
                                                                  one_sided=True)))
    df = collect_rows(mt, AC=mt.vqc.AC, n_called=mt.vqc.n_called, n_het=mt.d_het, n_hom_ref=mt.d_hom_ref,
                      n_hom_var=mt.d_hom_var, p_value_hwe=mt.hwe.p_value, p_value_excess_het=mt.hwe_excess.p_value)
    n_alleles = g.variants["n_alleles"].to_numpy().astype(np.int64)
    ac = np.zeros((len(df), max(int(n_alleles.max(initial=1)), 2)), dtype=np.int32)
    for i, counts in enumerate(df["AC"]):
        ac[i, :len(counts)] = counts
    return VariantCounts(n_alleles=n_alleles, ac=ac, n_called=_int(df["n_called"]), n_het=_int(df["n_het"]),
                         n_hom_ref=_int(df["n_hom_ref"]), n_hom_var=_int(df["n_hom_var"]),
                         p_value_hwe=_float(df["p_value_hwe"]), p_value_excess_het=_float(df["p_value_excess_het"]))


@register_kernel("sex_counts", backend="hail")
def count_sex_sites(g: HailGenotypes, x_sites: np.ndarray, y_sites: np.ndarray, *, aaf_threshold: float = 0.0,
                    chunk_size: int = 20_000) -> SexCounts:
    """``hl.impute_sex``'s computation: alternate allele frequency from ``hl.agg.call_stats`` over the
    ``x_sites``, ``aaf_threshold < AAF < 1 - aaf_threshold``, then ``hl.agg.inbreeding``'s sums N, E and O
    written out as Hail aggregations, because ``hl.agg.inbreeding`` stops with an error on a haploid call (here a
    haploid call is homozygous, as in PLINK and the embedded backend); and the called genotypes over the
    ``y_sites``."""
    hl = init_hail()
    n = g.n_samples
    n_called = np.zeros(n, dtype=np.int64)
    e_homs = np.zeros(n)
    o_homs = np.zeros(n, dtype=np.int64)
    n_haploid = np.zeros(n, dtype=np.int64)
    if x_sites.any():
        x = g.select_variants(x_sites)
        x = x.annotate_rows(aaf=hl.agg.call_stats(x.GT, x.alleles).AF[1])
        x = x.filter_rows((x.aaf > aaf_threshold) & (x.aaf < 1.0 - aaf_threshold))
        x = x.annotate_cols(ib=hl.agg.filter(hl.is_defined(x.aaf) & hl.is_defined(x.GT), hl.struct(
            n_called=hl.agg.count(), expected_homs=hl.agg.sum(1.0 - 2.0 * x.aaf * (1.0 - x.aaf)),
            observed_homs=hl.agg.count_where(~x.GT.is_het()), n_haploid=hl.agg.count_where(x.GT.ploidy == 1))))
        ib = _collect_samples(g, x, ib=x.ib)
        n_called = _int(ib["ib.n_called"])
        e_homs = _float(ib["ib.expected_homs"])
        o_homs = _int(ib["ib.observed_homs"])
        n_haploid = _int(ib["ib.n_haploid"])
    y_called = np.zeros(n, dtype=np.int64)
    if y_sites.any():
        y = g.select_variants(y_sites)
        y_called = _int(_collect_samples(g, y, n=hl.agg.count_where(hl.is_defined(y.GT)))["n"])
    return SexCounts(n_called, e_homs, o_homs, y_called, int(y_sites.sum()), n_haploid)


def _filter_common(mt: Any, min_maf: float) -> Any:
    """Rows with minor allele frequency >= ``min_maf`` (none dropped when it is 0), the frequency computed as
    the embedded backend does: ALT alleles over called alleles (a haploid call counts once), 0 where nothing is
    called."""
    if min_maf <= 0:
        return mt
    hl = init_hail()
    gt = mt.GT
    mt = mt.annotate_rows(_pmo_an=hl.agg.filter(hl.is_defined(gt), hl.agg.sum(gt.ploidy)),
                          _pmo_ac=hl.agg.filter(hl.is_defined(gt), hl.agg.sum(gt.n_alt_alleles())))
    af = hl.if_else(mt._pmo_an > 0, mt._pmo_ac / mt._pmo_an, 0.0)
    return mt.filter_rows(hl.min(af, 1.0 - af) >= min_maf).drop("_pmo_an", "_pmo_ac")


@register_kernel("king_counts", backend="hail")
def count_king_pairs(g: HailGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                     ) -> KingCounts:
    """KING pair counts from Hail block-matrix products.

    The products are those of ``hl.king`` (``ref.T @ var``, ``het.T @ het``, ``het.T @ defined`` over 0/1
    indicator matrices [sites, samples]) plus ``defined.T @ defined`` for the jointly called sites: ``hl.king``
    returns only the kinship, while the table also needs IBS0 and the site counts; the kinship computed from
    these counts is ``hl.king``'s ``phi`` (the same between-family formula). The calls leave the MatrixTable
    once, as one block matrix of ALT allele counts ``c`` (-1 missing); the indicators are polynomials in ``c``
    that are 1 at one of the four values -1, 0, 1, 2 and 0 at the others (exact in floating point), evaluated
    block by block. This is ~5x faster than ``hl.king``, which builds each indicator matrix from the
    MatrixTable anew. A call's class is its ALT allele count (0 hom-ref, 1 het, 2 hom-alt), as in the embedded
    backend.
    """
    hl = init_hail()
    from hail.linalg import BlockMatrix

    n = g.n_samples
    mt = _filter_common(g.select_variants(sites), min_maf)
    n_sites = int(sites.sum()) if min_maf <= 0 else mt.count_rows()
    if n_sites == 0:
        zero = np.zeros((n, n), dtype=np.int64)
        return KingCounts(zero, zero.copy(), zero.copy(), zero.copy(), n_sites=0)
    c = BlockMatrix.from_entry_expr(hl.float64(hl.or_else(mt.GT.n_alt_alleles(), -1)))  # written once
    # Lagrange basis on the nodes -1, 0, 1, 2
    ref = (c + 1) * (c - 1) * (c - 2) / 2
    het = -(c + 1) * c * (c - 2) / 2
    var = (c + 1) * c * (c - 1) / 6
    defined = 1 + c * (c - 1) * (c - 2) / 6

    def product(a: Any, b: Any) -> np.ndarray:
        return np.rint((a.T @ b).to_numpy()).astype(np.int64)

    hethet = product(het, het)
    ref_var = product(ref, var)
    het_hom = product(het, defined) - hethet  # [i, j]: i het, j called and not het
    both_called = product(defined, defined)
    return KingCounts(hethet=hethet, het_hom=het_hom, homhom=both_called - hethet - het_hom - het_hom.T,
                      ibs0=ref_var + ref_var.T, n_sites=n_sites)


def collect_dosage(mt: Any) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele counts of a MatrixTable from :meth:`HailGenotypes.select_variants` as numpy:
    ``(variant_index int64 [sites], dosage int8 [sites, samples])``, sites in file order, -1 missing.

    The calls leave Hail as one block matrix (a binary file), not as Python objects.
    """
    hl = init_hail()
    from hail.linalg import BlockMatrix

    index = np.asarray(mt.variant_index.collect(), dtype=np.int64)  # key order, as the block matrix rows
    if len(index) == 0:
        return index, np.zeros((0, mt.count_cols()), dtype=np.int8)
    code = hl.float64(hl.or_else(mt.GT.n_alt_alleles(), -1))
    dosage = np.rint(BlockMatrix.from_entry_expr(code).to_numpy()).astype(np.int8)
    order = np.argsort(index, kind="stable")
    return index[order], dosage[order]


@register_kernel("dosage_blocks", backend="hail")
def read_dosage_blocks(g: HailGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                       ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The selected common sites' calls from Hail (:func:`collect_dosage`), grouped into the same runs of
    ``chunk_size`` records of the file as the embedded store reads them."""
    index, dosage = collect_dosage(_filter_common(g.select_variants(sites), min_maf))
    variants = g.variants
    return ((variants.iloc[index[sel]], dosage[sel])
            for run in np.unique(index // chunk_size) for sel in [index // chunk_size == run])


@register_kernel("heterozygosity_counts", backend="hail")
def count_heterozygosity(g: HailGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                         ) -> HeterozygosityCounts:
    """Heterozygous (one ALT allele) and called genotypes per sample over the selected common sites."""
    hl = init_hail()
    mt = _filter_common(g.select_variants(sites), min_maf)
    df = _collect_samples(g, mt, n_het=hl.agg.count_where(mt.GT.n_alt_alleles() == 1),
                          n_called=hl.agg.count_where(hl.is_defined(mt.GT)))
    return HeterozygosityCounts(_int(df["n_het"]), _int(df["n_called"]))
