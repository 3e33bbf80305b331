"""KING-robust kinship and IBS0 between every pair of samples, with degree classes and a pedigree check.

The estimator is plink2's ``--make-king-table`` (KING-robust, between-family form, Manichaikul et al. 2010):

    kinship = 1/2 - (4·IBS0 + het_i·hom_j + hom_i·het_j) / (4 · (hethet + min(het_i·hom_j, hom_i·het_j)))

counted over the sites where both samples are called. Counts come from bit-packed genotype indicators
(64 sites per machine word) and hardware popcounts in a C kernel run on several threads
(:mod:`pmo_workbench.ckernels.king`), so all pairs of thousands of samples are counted in one pass over the
genotypes.

Example
-------
>>> import numpy as np
>>> d = np.array([[0, 1, 2], [1, 1, 0], [2, 1, 0], [0, 0, 1]], dtype=np.int8)  # 4 sites x 3 samples
>>> counts = compute_king_counts([d])
>>> round(float(compute_king_kinship(counts)[0, 1]), 4)
0.0
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmo_workbench import ckernels
from pmo_workbench.ckernels import king as king_kernels
from pmo_workbench.qc.pedigree import (
    DEGREE_CUTOFFS,
    as_pedigree,
    classify_kinship,
    compute_expected_relationships,
)

# Idle OpenMP workers of numba's parallel loops wait passively: spinning ones burnt ~0.4 s CPU per million
# variants on a 2-core machine, taken from the thread decompressing the next chunk (set only if unset, and only
# effective before numba first starts its threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

KINSHIP_COLUMNS = [
    "sample_i",
    "sample_j",
    "kinship",
    "ibs0",
    "relationship",
    "expected_relationship",
    "unexpected",
    "relationship_detail",
    "expected_detail",
    "n_snp",
    "hethet",
]
_PACK = 4096  # sites per packed block: 64 words per sample keeps all samples' words in cache


@dataclass
class KingCounts:
    """Pair counts over the sites where both samples are called (upper triangle ``i < j`` filled).

    Attributes
    ----------
    hethet : numpy.ndarray[int64] (n, n)
        Both heterozygous.
    het_hom : numpy.ndarray[int64] (n, n)
        ``[i, j]``: i heterozygous, j homozygous (full matrix; ``[j, i]`` is the reverse).
    homhom : numpy.ndarray[int64] (n, n)
        Both homozygous (same or opposite).
    ibs0 : numpy.ndarray[int64] (n, n)
        Opposite homozygotes (no allele shared).
    n_sites : int
        Sites that went into the counts.
    """

    hethet: np.ndarray
    het_hom: np.ndarray
    homhom: np.ndarray
    ibs0: np.ndarray
    n_sites: int

    @property
    def n_snp(self) -> np.ndarray:
        """Sites called in both samples (upper triangle)."""
        return self.hethet + self.het_hom + self.het_hom.T + self.homhom


def pack_genotype_indicators(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit-pack the het / hom-ref / hom-alt indicators of an int8 dosage block [sites, samples] (-1 missing).

    Returns three uint64 arrays [samples, ceil(sites / 64)]; padding bits are 0 (= not called).

    Example
    -------
    >>> h, r, a = pack_genotype_indicators(np.array([[0], [1], [2], [-1]], dtype=np.int8))
    >>> int(h[0, 0]), int(r[0, 0]), int(a[0, 0])
    (2, 1, 4)
    """
    return king_kernels.pack_planes(dosage)


def compute_king_counts(blocks: Iterable[np.ndarray], n_samples: int | None = None) -> KingCounts:
    """Accumulate KING pair counts over dosage blocks (int8 [sites, samples], 0/1/2 ALT copies, -1 missing).

    Parameters
    ----------
    blocks
        Iterable of dosage blocks, all with the same samples (columns).
    n_samples
        Number of samples, needed only when ``blocks`` may be empty.

    Returns
    -------
    KingCounts

    Example
    -------
    >>> c = compute_king_counts([np.array([[1, 1], [0, 2]], dtype=np.int8)])
    >>> int(c.hethet[0, 1]), int(c.ibs0[0, 1]), int(c.n_snp[0, 1])
    (1, 1, 2)
    """
    acc: dict[str, np.ndarray] | None = None
    n_sites = 0
    if n_samples is not None:
        acc = _zero_counts(n_samples)
    with ThreadPoolExecutor(max_workers=ckernels.n_threads()) as pool:
        for block in blocks:
            if block.shape[0] == 0:
                continue
            if acc is None:
                acc = _zero_counts(block.shape[1])
            for start in range(0, block.shape[0], _PACK):
                het, ref, alt = pack_genotype_indicators(block[start : start + _PACK])
                king_kernels.add_pair_counts(het, ref, alt, acc, pool=pool)
            n_sites += block.shape[0]
    if acc is None:
        raise ValueError("no genotype blocks and no sample count given")
    return KingCounts(**{k: v.view(np.int64) for k, v in acc.items()}, n_sites=n_sites)


def _zero_counts(n: int) -> dict[str, np.ndarray]:
    return {k: np.zeros((n, n), dtype=np.uint64) for k in ("hethet", "het_hom", "homhom", "ibs0")}


def compute_king_kinship(counts: KingCounts) -> np.ndarray:
    """KING-robust kinship of every pair (plink2 ``--make-king-table`` formula); NaN without informative
    sites.

    The matrix is symmetric with NaN on the diagonal.
    """
    return king_kernels.compute_phi(counts.hethet, counts.het_hom, counts.ibs0)


def select_kinship_sites(variants: pd.DataFrame, contig_kind: Any) -> np.ndarray:
    """Boolean mask of autosomal biallelic sites (the sites plink2 uses for KING)."""
    contig = variants["contig"].astype(str)
    kinds = contig.map({c: contig_kind(c) for c in pd.unique(contig)}).to_numpy()
    return (kinds == "autosome") & (variants["n_alleles"].to_numpy() == 2)


def iter_dosage_blocks(
    g: Any, variant_mask: np.ndarray | None, *, min_maf: float = 0.0, chunk_size: int = 20_000
) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    """Dosage blocks of the selected sites of a genotype store, optionally dropping sites with MAF <
    ``min_maf``.

    Yields ``(variants, dosage, ploidy)`` with dosage int8 [sites, samples] (-1 missing). The minor allele
    frequency is computed from the called alleles of the block's samples (haploid calls count once).
    """
    for variants, dosage, ploidy in g.dosage_chunks(chunk_size=chunk_size, variant_mask=variant_mask):
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


def kinship(
    g: Any,
    pedigree: str | Path | pd.DataFrame | None = None,
    *,
    min_maf: float = 0.0,
    min_kinship: float = 0.0442,
    variant_mask: np.ndarray | None = None,
    po_max_ibs0: float = 0.005,
    tolerate_third_degree: bool = True,
    chunk_size: int = 20_000,
) -> pd.DataFrame:
    """KING-robust kinship between all pairs of samples; pairs above a floor, plus every pedigree pair.

    Parameters
    ----------
    g
        A genotype store (:class:`pmo_workbench.genotypes.store.Genotypes`), or a Hail one
        (:func:`pmo_workbench.qc.hail_qc.kinship` counts the pairs with Hail's block matrices).
    pedigree
        A PED file or the DataFrame of :func:`~pmo_workbench.qc.pedigree.read_pedigree`; adds the expected
        relationship of each pair of relatives and flags disagreements.
    min_maf
        Drop sites whose minor allele frequency (in these samples) is below this. The default 0 uses every
        autosomal biallelic site, as ``plink2 --make-king-table`` does.
    min_kinship
        Pairs with kinship above this are reported (plus every pair the pedigree names). The default is
        plink2's third-degree bound.
    variant_mask
        Boolean [n_variants] restricting the sites (e.g. QC-passing ones); combined with autosomal biallelic.
    po_max_ibs0
        First-degree pairs with an IBS0 proportion below this are parent-offspring, else full siblings
        (parent and child always share an allele, so IBS0 is ~0 up to genotyping error).
    tolerate_third_degree
        When True, "third" and "unrelated" count as agreeing (third-degree estimates are noisy).
    chunk_size
        Variants per chunk read from the store.

    Returns
    -------
    pandas.DataFrame
        One row per reported pair (``sample_i`` before ``sample_j`` in the store's sample order):

        - ``sample_i``, ``sample_j`` (str)
        - ``kinship`` (float64): KING-robust kinship (0.5 duplicate, 0.25 first degree, ...)
        - ``ibs0`` (float64): proportion of jointly called sites with opposite homozygotes
        - ``relationship`` (str): duplicate/MZ, first, second, third, unrelated (plink2's bounds)
        - ``expected_relationship`` (str or None): what the pedigree implies; "unrelated" for two pedigree
          samples the pedigree does not connect; None without a pedigree or for samples absent from it
        - ``unexpected`` (bool): the pedigree and the genomes disagree (either direction)
        - ``relationship_detail`` (str): relationship, with first degree split into parent-offspring and
          full-sibling by IBS0
        - ``expected_detail`` (str or None): the pedigree's name for the pair (parent-offspring, full-sibling,
          grandparent, ...)
        - ``n_snp`` (int64): sites called in both; ``hethet`` (float64): proportion both heterozygous

    Example
    -------
    >>> from pmo_workbench.genotypes import open_genotypes  # doctest: +SKIP
    >>> kinship(open_genotypes("trio.vcf.gz"), "trio.ped").query("unexpected")  # doctest: +SKIP
    """
    if getattr(g, "backend", "embedded") == "hail":
        from pmo_workbench.qc import hail_qc

        return hail_qc.kinship(g, pedigree, min_maf=min_maf, min_kinship=min_kinship, variant_mask=variant_mask,
                               po_max_ibs0=po_max_ibs0, tolerate_third_degree=tolerate_third_degree)
    sites = select_kinship_sites(g.variants, g.contig_kind)
    if variant_mask is not None:
        sites &= np.asarray(variant_mask, dtype=bool)
    blocks = (d for _, d, _ in iter_dosage_blocks(g, sites, min_maf=min_maf, chunk_size=chunk_size))
    counts = compute_king_counts(blocks, n_samples=g.n_samples)
    return tabulate_kinship(
        counts,
        np.asarray(g.sample_id).astype(str),
        pedigree,
        min_kinship=min_kinship,
        po_max_ibs0=po_max_ibs0,
        tolerate_third_degree=tolerate_third_degree,
    )


def tabulate_kinship(
    counts: KingCounts,
    sample_id: np.ndarray,
    pedigree: str | Path | pd.DataFrame | None = None,
    *,
    min_kinship: float = 0.0442,
    po_max_ibs0: float = 0.005,
    tolerate_third_degree: bool = True,
) -> pd.DataFrame:
    """The kinship table of :func:`kinship` from already accumulated counts (see there for the columns)."""
    phi = compute_king_kinship(counts)
    index = {s: k for k, s in enumerate(sample_id)}
    iu, ju = np.nonzero(np.triu(np.nan_to_num(phi, nan=-1.0) > min_kinship, 1))
    pairs = set(zip(iu.tolist(), ju.tolist(), strict=True))
    expected: dict[tuple[int, int], tuple[str, str]] = {}
    ped_samples: set[str] = set()
    if pedigree is not None:
        ped = as_pedigree(pedigree)
        ped_samples = set(ped["sample_id"]) | set(ped["father_id"].dropna()) | set(ped["mother_id"].dropna())
        rel = compute_expected_relationships(ped, samples=index.keys())
        for r in rel.itertuples(index=False):
            a, b = sorted((index[r.sample_i], index[r.sample_j]))
            expected[(a, b)] = (r.expected_relationship, r.expected_detail)
            pairs.add((a, b))
    ii = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    i, j = ii[:, 0], ii[:, 1]
    k = phi[i, j]
    n = counts.hethet[i, j] + counts.het_hom[i, j] + counts.het_hom[j, i] + counts.homhom[i, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        ibs0 = np.where(n > 0, counts.ibs0[i, j] / np.maximum(n, 1), np.nan)
        hethet = np.where(n > 0, counts.hethet[i, j] / np.maximum(n, 1), np.nan)
    rel_cls = np.array([classify_kinship(x) if np.isfinite(x) else "unrelated" for x in k], dtype=object)
    detail = rel_cls.copy()
    first = rel_cls == "first"
    detail[first] = np.where(ibs0[first] < po_max_ibs0, "parent-offspring", "full-sibling")
    exp_rel = np.empty(len(i), dtype=object)
    exp_detail = np.empty(len(i), dtype=object)
    sid = np.asarray(sample_id)
    for row, (a, b) in enumerate(zip(i.tolist(), j.tolist(), strict=True)):
        if (a, b) in expected:
            exp_rel[row], exp_detail[row] = expected[(a, b)]
        elif sid[a] in ped_samples and sid[b] in ped_samples:
            exp_rel[row], exp_detail[row] = "unrelated", "unrelated"
    unexpected = np.array(
        [
            e is not None and not _agrees(o, e, tolerate_third_degree)
            for o, e in zip(rel_cls.tolist(), exp_rel.tolist(), strict=True)
        ],
        dtype=bool,
    )
    out = pd.DataFrame(
        {
            "sample_i": sid[i],
            "sample_j": sid[j],
            "kinship": k,
            "ibs0": ibs0,
            "relationship": rel_cls,
            "expected_relationship": exp_rel,
            "unexpected": unexpected,
            "relationship_detail": detail,
            "expected_detail": exp_detail,
            "n_snp": n.astype(np.int64),
            "hethet": hethet,
        },
        columns=KINSHIP_COLUMNS,
    )
    return out.sort_values("kinship", ascending=False, kind="stable").reset_index(drop=True)


def _agrees(observed: str, expected: str, tolerate_third_degree: bool) -> bool:
    if observed == expected:
        return True
    return tolerate_third_degree and {observed, expected} == {"third", "unrelated"}


__all__ = [
    "DEGREE_CUTOFFS",
    "KingCounts",
    "compute_king_counts",
    "compute_king_kinship",
    "iter_dosage_blocks",
    "kinship",
    "pack_genotype_indicators",
    "select_kinship_sites",
    "tabulate_kinship",
]
