"""The backend registry: names and errors, and a third backend added in one place.

The third backend here, ``dense-test``, holds the decoded calls of a store in memory and counts them with plain
numpy over the whole matrix, written from the definitions in :mod:`pmo_workbench.genotypes.counts` and not from
the embedded kernels. Every QC method run on it must give the embedded backend's table: this tests the
registry's contract (a backend is an opener plus its kernels; the methods build the tables) and checks the
embedded kernels (2-bit C counts, numba counters, chunked sums, popcount KING) against an independent count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import ConfigError
from pmo_workbench.genotypes import Genotypes, open_genotypes
from pmo_workbench.genotypes.alleles import (
    DELETION,
    INSERTION,
    TRANSITION,
    TRANSVERSION,
    classify_alt_alleles,
)
from pmo_workbench.genotypes.backends import (
    ANY,
    GenotypeSet,
    get_kernel,
    list_backends,
    list_kernels,
    register_backend,
    register_kernel,
)
from pmo_workbench.genotypes.counts import (
    HeterozygosityCounts,
    KingCounts,
    SampleCounts,
    SexCounts,
    VariantCounts,
)
from pmo_workbench.qc import ancestry, impute_sex, kinship, run_qc, sample_qc, variant_qc
from pmo_workbench.qc.sample_qc import compute_common_heterozygosity

DENSE = "dense-test"


class DenseGenotypes:
    """Every call of a store decoded into memory: ``gt`` int64 [variants, samples, ploidy]."""

    backend = DENSE

    def __init__(self, store: Genotypes) -> None:
        self.store = store
        self.path, self.reference_build, self.sample_id = store.path, store.reference_build, store.sample_id
        self.variants = store.variants
        self.gt = store.call_genotype[:].astype(np.int64)
        self.n_samples, self.n_variants = store.n_samples, store.n_variants

    def has_field(self, name: str) -> bool:
        return self.store.has_field(name)

    def contig_kind(self, contig: str) -> str:
        return self.store.contig_kind(contig)

    def is_par(self, contig: str, position: np.ndarray | int) -> np.ndarray:
        return self.store.is_par(contig, position)

    def dosage(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ALT allele count (-1 missing) and ploidy of the selected rows."""
        gt = self.gt[rows]
        present = gt >= 0
        missing = gt[:, :, 0] == -1
        dosage = np.where(missing, -1, ((gt > 0) & present).sum(axis=2))
        return dosage, np.where(missing, 0, present.sum(axis=2))


def open_dense(path: str | Path, cache_dir: str | Path | None = None, *, progress: bool = False,
               reference_build: str | None = None, format_fields: tuple[str, ...] = ()) -> DenseGenotypes:
    return DenseGenotypes(open_genotypes(path, cache_dir=cache_dir, reference_build=reference_build,
                                         format_fields=format_fields))


register_backend(DENSE, open_dense, description="in-memory calls counted with numpy (tests only)")


@register_kernel("sample_counts", backend=DENSE)
def _sample_counts(g: DenseGenotypes, *, chunk_size: int = 20_000) -> SampleCounts:
    gt, v = g.gt, g.variants
    called = gt[:, :, 0] >= 0
    present = gt >= 0
    second = gt[:, :, 1]
    het = called & (second >= 0) & (second != gt[:, :, 0])
    hom_ref = called & ((gt == 0) | (gt == -2)).all(axis=2)
    n_alleles = v["n_alleles"].to_numpy()
    atype = classify_alt_alleles(v["ref"].to_numpy(), v["alt"].to_numpy(), n_alleles)
    counts = {kind: np.zeros(g.n_samples, np.int64) for kind in (TRANSITION, TRANSVERSION, INSERTION, DELETION)}
    singleton = np.zeros(g.n_samples, np.int64)
    for allele in range(1, int(n_alleles.max())):
        copies = ((gt == allele) & present).sum(axis=2)  # [variants, samples]
        for kind, total in counts.items():
            total += (copies * (atype[:, allele - 1:allele] == kind)).sum(axis=0)
        once = copies.sum(axis=1) == 1
        singleton += copies[once].sum(axis=0)
    means = {}
    for field, array in (("DP", g.store.call_DP), ("GQ", g.store.call_GQ)):
        if array is not None:
            values = array[:].astype(np.int64)
            n = (values >= 0).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                means[f"{field.lower()}_mean"] = np.where(n > 0, np.where(values >= 0, values, 0).sum(axis=0) / n,
                                                          np.nan)
    return SampleCounts(n_called=called.sum(0), n_not_called=(~called).sum(0), n_hom_ref=hom_ref.sum(0),
                        n_het=het.sum(0), n_singleton=singleton, n_transition=counts[TRANSITION],
                        n_transversion=counts[TRANSVERSION], n_insertion=counts[INSERTION],
                        n_deletion=counts[DELETION], field_means=means)


@register_kernel("variant_counts", backend=DENSE)
def _variant_counts(g: DenseGenotypes, *, chunk_size: int = 20_000) -> VariantCounts:
    gt = g.gt
    n_alleles = g.variants["n_alleles"].to_numpy().astype(np.int64)
    ac = np.stack([(gt == a).sum(axis=(1, 2)) for a in range(max(int(n_alleles.max()), 2))], axis=1)
    diploid = (gt[:, :, 0] >= 0) & (gt[:, :, 1] >= 0)
    a0, a1 = gt[:, :, 0], gt[:, :, 1]
    return VariantCounts(n_alleles=n_alleles, ac=ac.astype(np.int32), n_called=(a0 >= 0).sum(axis=1),
                         n_het=(diploid & (a0 != a1)).sum(axis=1), n_hom_ref=(diploid & (a0 == 0) & (a1 == 0)).sum(1),
                         n_hom_var=(diploid & (a0 == 1) & (a1 == 1)).sum(axis=1))


def _common(g: DenseGenotypes, sites: np.ndarray, min_maf: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows and dosages of the selected sites with minor allele frequency >= ``min_maf``."""
    rows = np.flatnonzero(sites)
    dosage, ploidy = g.dosage(rows)
    an = np.where(dosage >= 0, ploidy, 0).sum(axis=1)
    ac = np.where(dosage >= 0, dosage, 0).sum(axis=1)
    af = np.divide(ac, an, out=np.zeros(len(an)), where=an > 0)
    keep = np.minimum(af, 1 - af) >= min_maf
    return rows[keep], dosage[keep]


@register_kernel("sex_counts", backend=DENSE)
def _sex_counts(g: DenseGenotypes, x_sites: np.ndarray, y_sites: np.ndarray, *, aaf_threshold: float = 0.0,
                chunk_size: int = 20_000) -> SexCounts:
    dosage, ploidy = g.dosage(np.flatnonzero(x_sites))
    called = dosage >= 0
    aaf = np.divide(np.where(called, dosage, 0).sum(1), np.where(called, ploidy, 0).sum(1),
                    out=np.full(len(dosage), np.nan), where=called.any(1))
    keep = (aaf > aaf_threshold) & (aaf < 1 - aaf_threshold)
    called, dosage, ploidy, aaf = called[keep], dosage[keep], ploidy[keep], aaf[keep]
    hom = called & ((ploidy == 1) | (dosage != 1))
    y_called = (g.gt[y_sites][:, :, 0] >= 0).sum(axis=0)
    return SexCounts(called.sum(0), (called * (1 - 2 * aaf * (1 - aaf))[:, None]).sum(0), hom.sum(0), y_called,
                     int(y_sites.sum()), (called & (ploidy == 1)).sum(0))


@register_kernel("king_counts", backend=DENSE)
def _king_counts(g: DenseGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                 ) -> KingCounts:
    _, d = _common(g, sites, min_maf)
    het, ref, alt = (d == 1).astype(np.int64), (d == 0).astype(np.int64), (d == 2).astype(np.int64)
    hom = ref + alt
    ibs0 = ref.T @ alt
    return KingCounts(hethet=het.T @ het, het_hom=het.T @ hom, homhom=hom.T @ hom, ibs0=ibs0 + ibs0.T,
                      n_sites=len(d))


@register_kernel("heterozygosity_counts", backend=DENSE)
def _het_counts(g: DenseGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                ) -> HeterozygosityCounts:
    _, d = _common(g, sites, min_maf)
    return HeterozygosityCounts((d == 1).sum(axis=0), (d >= 0).sum(axis=0))


@register_kernel("dosage_blocks", backend=DENSE)
def _dosage_blocks(g: DenseGenotypes, sites: np.ndarray, *, min_maf: float = 0.0, chunk_size: int = 20_000
                   ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    rows, d = _common(g, sites, min_maf)
    for run in np.unique(rows // chunk_size):
        sel = rows // chunk_size == run
        yield g.variants.iloc[rows[sel]], d[sel]


@pytest.fixture(scope="module")
def pair(doctest_cohort: dict) -> tuple[GenotypeSet, GenotypeSet]:
    """The doctest cohort, opened with the embedded backend and with ``dense-test`` (from the same cache)."""
    g = doctest_cohort["g"]
    return g, open_genotypes(g.path, backend=DENSE, cache_dir=g.store_path.parent)


def test_registry_names_its_backends_and_kernels() -> None:
    assert {"embedded", "hail", DENSE} <= set(list_backends())
    embedded = list_kernels("embedded")
    assert {"sample_counts", "variant_counts", "sex_counts", "king_counts", "heterozygosity_counts",
            "dosage_blocks"} <= set(embedded)
    assert set(embedded) <= set(list_kernels("hail"))  # Hail provides every kernel the embedded backend does


def test_unknown_backend_and_kernel_are_named_in_the_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown genotype backend 'plink9' \(use .*'embedded'.*'hail'"):
        open_genotypes("x.vcf", backend="plink9")
    with pytest.raises(ConfigError, match=r"the embedded backend has no kernel 'gwas_nothing' \(it has: .*king_counts"):
        get_kernel("gwas_nothing", "embedded")


def test_a_kernel_for_any_backend_serves_those_without_their_own() -> None:
    @register_kernel("test_n_samples", backend=ANY)
    def _any(g: GenotypeSet) -> str:
        return "any"

    @register_kernel("test_n_samples", backend=DENSE)
    def _dense(g: GenotypeSet) -> str:
        return "dense"

    assert get_kernel("test_n_samples", "embedded")(None) == "any"
    assert get_kernel("test_n_samples", DENSE)(None) == "dense"


def test_every_method_gives_the_embedded_table_on_a_third_backend(pair) -> None:
    embedded, dense = pair
    assert dense.backend == DENSE and embedded.backend == "embedded"
    pd.testing.assert_frame_equal(sample_qc(dense), sample_qc(embedded))
    pd.testing.assert_frame_equal(variant_qc(dense), variant_qc(embedded))
    mask = np.arange(embedded.n_variants) % 4 != 0
    pd.testing.assert_frame_equal(compute_common_heterozygosity(dense, mask, 0.05),
                                  compute_common_heterozygosity(embedded, mask, 0.05))
    pd.testing.assert_frame_equal(impute_sex(dense), impute_sex(embedded), check_exact=False, rtol=1e-12)
    kin_d, kin_e = kinship(dense, min_kinship=-1.0), kinship(embedded, min_kinship=-1.0)
    assert len(kin_e) == 40 * 39 // 2
    pd.testing.assert_frame_equal(kin_d, kin_e)
    pd.testing.assert_frame_equal(ancestry(dense, k=3, chunk_size=100), ancestry(embedded, k=3, chunk_size=100),
                                  check_exact=False, rtol=0, atol=1e-9)


def test_run_qc_decides_the_same_on_a_third_backend(pair, doctest_cohort: dict) -> None:
    embedded, dense = pair
    kw = {"manifest": doctest_cohort["manifest"], "pedigree": doctest_cohort["pedigree"]}
    ours, theirs = run_qc(dense, **kw), run_qc(embedded, **kw)
    pd.testing.assert_frame_equal(ours.decisions, theirs.decisions)
    assert dict(zip(ours.decisions.sample_id, ours.decisions.reasons, strict=True))["S40"] == ["duplicate"]
