"""KING-robust kinship and IBS0 between every pair of samples, with degree classes and a pedigree check.

The estimator is plink2's ``--make-king-table`` (KING-robust, between-family form, Manichaikul et al. 2010):

    kinship = 1/2 - (4·IBS0 + het_i·hom_j + hom_i·het_j) / (4 · (hethet + min(het_i·hom_j, hom_i·het_j)))

counted over the sites where both samples are called. The pair counts come from the genotype set's backend
(the ``king_counts`` kernel of :mod:`pmo_workbench.genotypes.backends`): on the embedded backend bit-packed
indicators and hardware popcounts in a C kernel on several threads (:mod:`pmo_workbench.ckernels.king`), on
Hail ``hl.king``'s block-matrix products. The kinship, classes and pedigree columns are made here, for every
backend alike.

Examples
--------
>>> kin = kinship(g)  # the doctests' set: S40 sequences S38 again, S03 is the son of S01 and S02
>>> kin[["sample_i", "sample_j", "relationship_detail"]].head(3).to_numpy().tolist()
[['S38', 'S40', 'duplicate/MZ'], ['S02', 'S03', 'parent-offspring'], ['S01', 'S03', 'parent-offspring']]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pmo_workbench.ckernels.king import compute_phi, pair_phi, select_pairs
from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.genotypes.counts import KingCounts
from pmo_workbench.qc.pedigree import DEGREE_CUTOFFS, as_pedigree, compute_expected_relationships
from pmo_workbench.qc.sites import select_autosomal_sites_of
from pmo_workbench.qc.tables import KINSHIP, KINSHIP_COLUMNS, returns_table

if TYPE_CHECKING:  # pandas is imported once the pair counts are reduced to the reported pairs (lower peak memory)
    import pandas as pd


def compute_kinship_counts(g: GenotypeSet, variant_mask: np.ndarray | None = None, *, min_maf: float = 0.0,
                           chunk_size: int = 20_000) -> KingCounts:
    """KING pair counts over the autosomal biallelic sites of ``g`` (within ``variant_mask``) whose minor allele
    frequency is at least ``min_maf``, from the backend's ``king_counts`` kernel.

    Examples
    --------
    >>> c = compute_kinship_counts(g)
    >>> c.n_sites, bool((c.n_snp[np.triu_indices(g.n_samples, 1)] <= c.n_sites).all())
    (599, True)
    """
    sites = select_autosomal_sites_of(g, variant_mask)
    return get_kernel("king_counts", g)(g, sites, min_maf=min_maf, chunk_size=chunk_size)


def compute_king_kinship(counts: KingCounts) -> np.ndarray:
    """KING-robust kinship of every pair (plink2 ``--make-king-table`` formula); NaN without informative
    sites.

    The matrix is symmetric with NaN on the diagonal.

    Examples
    --------
    >>> from pmo_workbench.ckernels.king import compute_king_counts
    >>> d = np.array([[0, 1, 2], [1, 1, 0], [2, 1, 0], [0, 0, 1]], dtype=np.int8)  # 4 sites x 3 samples
    >>> round(float(compute_king_kinship(compute_king_counts([d]))[0, 1]), 4)
    0.0
    """
    return compute_phi(counts.hethet, counts.het_hom, counts.ibs0)


@returns_table(KINSHIP)
def kinship(
    g: GenotypeSet,
    pedigree: str | Path | pd.DataFrame | None = None,
    *,
    min_maf: float = 0.0,
    min_kinship: float = 0.0442,
    variant_mask: np.ndarray | None = None,
    po_max_ibs0: float | None = None,
    min_sites: int = 100,
    tolerate_third_degree: bool = True,
    chunk_size: int = 20_000,
) -> pd.DataFrame:
    """KING-robust kinship between all pairs of samples; pairs above a floor, plus every pedigree pair.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
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
        (parent and child always share an allele, so IBS0 is ~0 up to genotyping error). None (default): data-
        driven, 1/8 of the median IBS0 of the unrelated pairs (:func:`compute_po_ibs0_cut`).
    min_sites
        Pairs with fewer jointly called sites get the relationship ``unknown`` (their kinship is still
        reported): too few sites for a degree, never a pedigree disagreement.
    tolerate_third_degree
        When True, "third" and "unrelated" count as agreeing (third-degree estimates are noisy).
    chunk_size
        Variants per chunk read from the store (embedded backend).

    Returns
    -------
    pandas.DataFrame
        One row per reported pair (``sample_i`` before ``sample_j`` in file order), by decreasing kinship;
        the columns of :data:`~pmo_workbench.qc.tables.KINSHIP` (listed below).
    """
    # the n x n counts live only inside _report_pairs, the unsorted pairs only until _pairs_table has ordered
    # them: each is freed before the next takes memory (and before pandas is imported)
    return _pairs_table(_report_pairs(compute_kinship_counts(g, variant_mask, min_maf=min_maf,
                                                             chunk_size=chunk_size),
                                      np.asarray(g.sample_id).astype(str), pedigree, min_kinship=min_kinship,
                                      po_max_ibs0=po_max_ibs0, min_sites=min_sites),
                        tolerate_third_degree=tolerate_third_degree)


PO_IBS0_FRACTION = 1 / 8
"""Parent-offspring pairs have IBS0 ~ 0 (IBD0 = 0), full siblings ~1/4 of unrelated pairs' IBS0 (IBD0 = 1/4):
the cut sits at half of the siblings' expectation."""


def compute_po_ibs0_cut(counts: KingCounts, phi: np.ndarray | None = None, *, min_sites: int = 100,
                        max_pairs: int = 200_000, fallback: float = 0.005, seed: int = 0) -> tuple[float, float]:
    """``(cut, unrelated_ibs0)``: the IBS0 below which a first-degree pair is parent-offspring, as
    :data:`PO_IBS0_FRACTION` of the median IBS0 of the unrelated pairs (kinship <= 0.0442, at least
    ``min_sites`` jointly called sites; up to ``max_pairs`` pairs drawn at random). Data-driven: IBS0 depends on
    the sites (an exome's or an array's common sites give higher IBS0 than WGS rare ones). Without an
    unrelated pair, ``fallback`` (and NaN). ``phi``: the kinship matrix if already made; else the kinship of the
    drawn pairs alone is computed.

    Example
    -------
    >>> from pmo_workbench.ckernels.king import compute_king_counts
    >>> d = np.array([[0, 2, 0], [2, 0, 2], [1, 1, 0], [0, 2, 2]] * 40, dtype=np.int8)
    >>> c = compute_king_counts([d])
    >>> cut, ref = compute_po_ibs0_cut(c, compute_king_kinship(c))  # only pair 0-1 has a kinship (the others: NaN)
    >>> round(ref, 3), round(cut, 4)  # its IBS0 is 3 of every 4 sites; the cut is 1/8 of that
    (0.75, 0.0938)
    """
    n = counts.hethet.shape[0]
    n_pairs = n * (n - 1) // 2
    if n_pairs > max_pairs:
        # the drawn positions of np.triu_indices(n, 1) without making it (at 2,500 samples 50 MB)
        pick = np.random.default_rng(seed).choice(n_pairs, max_pairs, replace=False)
        iu, ju = triangle_pairs(pick, n)
    else:
        iu, ju = np.triu_indices(n, 1)
    tot = counts.hethet[iu, ju] + counts.het_hom[iu, ju] + counts.het_hom[ju, iu] + counts.homhom[iu, ju]
    k = phi[iu, ju] if phi is not None else pair_phi(counts, iu, ju)
    ok = (tot >= max(min_sites, 1)) & (np.nan_to_num(k, nan=1.0) <= 0.0442)
    if not ok.any():
        return fallback, float("nan")
    ref = float(np.median(counts.ibs0[iu, ju][ok] / tot[ok]))
    return (ref * PO_IBS0_FRACTION if ref > 0 else fallback), ref


def triangle_pairs(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` of the positions ``k`` in the upper triangle of an n x n matrix read row by row: the same as
    ``np.triu_indices(n, 1)`` indexed by ``k``, without making it.

    Example
    -------
    >>> i, j = triangle_pairs(np.array([0, 3, 5, 2]), 4)
    >>> i.tolist(), j.tolist(), [x[[0, 3, 5, 2]].tolist() for x in np.triu_indices(4, 1)]
    ([0, 1, 2, 0], [1, 2, 3, 3], [[0, 1, 2, 0], [1, 2, 3, 3]])
    """
    rows = np.arange(n, dtype=np.int64)
    first = rows * (2 * n - rows - 1) // 2  # position of (i, i + 1)
    i = np.searchsorted(first, k, side="right") - 1
    return i, k - first[i] + i + 1


def tabulate_kinship(
    counts: KingCounts,
    sample_id: np.ndarray,
    pedigree: str | Path | pd.DataFrame | None = None,
    *,
    min_kinship: float = 0.0442,
    po_max_ibs0: float | None = None,
    min_sites: int = 100,
    tolerate_third_degree: bool = True,
) -> pd.DataFrame:
    """The kinship table of :func:`kinship` from already accumulated counts (see there for the columns);
    ``attrs["po_max_ibs0"]`` and ``attrs["unrelated_ibs0"]`` record the parent-offspring cut."""
    pairs = _report_pairs(counts, sample_id, pedigree, min_kinship=min_kinship, po_max_ibs0=po_max_ibs0,
                          min_sites=min_sites)
    return _pairs_table(pairs, tolerate_third_degree=tolerate_third_degree)


@dataclass
class _Pairs:
    """The reported pairs (i < j, in row order) and what the table needs of their counts."""

    sample_id: np.ndarray
    i: np.ndarray
    j: np.ndarray
    phi: np.ndarray
    n: np.ndarray
    ibs0: np.ndarray
    hethet: np.ndarray
    keys: np.ndarray
    min_sites: int
    po_max_ibs0: float
    unrelated_ibs0: float
    expected: dict[int, tuple[str, str]]
    ped_samples: set[str]


def _report_pairs(counts: KingCounts, sample_id: np.ndarray, pedigree: str | Path | pd.DataFrame | None, *,
                  min_kinship: float, po_max_ibs0: float | None, min_sites: int) -> _Pairs:
    """The pairs above ``min_kinship`` (chosen in C, no n x n kinship matrix) and every pedigree pair."""
    unrelated_ibs0 = float("nan")
    if po_max_ibs0 is None:
        po_max_ibs0, unrelated_ibs0 = compute_po_ibs0_cut(counts, min_sites=min_sites)
    index = {s: k for k, s in enumerate(sample_id)}
    n_samples = len(sample_id)
    # NaN (no informative site) counts as -1, as it always has
    si, sj, _ = select_pairs(counts, min_kinship, keep_nan=min_kinship < -1.0)
    keys = si * n_samples + sj  # pair (i, j), i < j, as i * n + j
    expected: dict[int, tuple[str, str]] = {}
    ped_samples: set[str] = set()
    if pedigree is not None:
        ped = as_pedigree(pedigree)
        ped_samples = set(ped["sample_id"]) | set(ped["father_id"].dropna()) | set(ped["mother_id"].dropna())
        rel = compute_expected_relationships(ped, samples=index.keys())
        for r in rel.itertuples(index=False):
            a, b = sorted((index[r.sample_i], index[r.sample_j]))
            expected[a * n_samples + b] = (r.expected_relationship, r.expected_detail)
        keys = np.concatenate([keys, np.fromiter(expected, dtype=np.int64, count=len(expected))])
    keys = np.unique(keys)  # sorted by (i, j), each pair once
    i, j = keys // max(n_samples, 1), keys % max(n_samples, 1)
    n = (counts.hethet[i, j].astype(np.int64) + counts.het_hom[i, j] + counts.het_hom[j, i]
         + counts.homhom[i, j])
    return _Pairs(sample_id=sample_id, i=i, j=j, phi=pair_phi(counts, i, j), n=n,
                  ibs0=counts.ibs0[i, j].astype(np.int64), hethet=counts.hethet[i, j].astype(np.int64), keys=keys,
                  min_sites=min_sites, po_max_ibs0=float(po_max_ibs0), unrelated_ibs0=unrelated_ibs0,
                  expected=expected, ped_samples=ped_samples)


_EMPTY = np.zeros(0, np.int64)


def _pairs_table(p: _Pairs, *, tolerate_third_degree: bool) -> pd.DataFrame:
    import pandas as pd

    sid = np.asarray(p.sample_id)
    exp_rel = np.full(len(p.keys), None, dtype=object)
    exp_detail = np.full(len(p.keys), None, dtype=object)
    if p.ped_samples:
        in_ped = np.isin(sid.astype(str), np.array(sorted(map(str, p.ped_samples)), dtype=str))
        both = in_ped[p.i] & in_ped[p.j]
        exp_rel[both] = "unrelated"
        exp_detail[both] = "unrelated"
        rows = np.searchsorted(p.keys, np.fromiter(p.expected, dtype=np.int64, count=len(p.expected)))
        for row, (e_rel, e_detail) in zip(rows.tolist(), p.expected.values(), strict=True):
            exp_rel[row], exp_detail[row] = e_rel, e_detail
    # by decreasing kinship (ties and NaN as pandas' stable sort_values puts them): the pairs are put in order
    # before the columns are made, so the frame needs no sorted copy (there may be hundreds of thousands)
    order = np.argsort(-p.phi, kind="stable")
    i, j, k, n = p.i[order], p.j[order], p.phi[order], p.n[order]
    exp_rel, exp_detail = exp_rel[order], exp_detail[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        ibs0 = np.where(n > 0, p.ibs0[order] / np.maximum(n, 1), np.nan)
        hethet = np.where(n > 0, p.hethet[order] / np.maximum(n, 1), np.nan)
    del order
    p.i = p.j = p.phi = p.n = p.ibs0 = p.hethet = p.keys = _EMPTY  # the unsorted copies (kinship() holds no p)
    rel_cls = _classify(k)
    rel_cls[n < max(p.min_sites, 1)] = "unknown"
    detail = rel_cls.copy()
    first = rel_cls == "first"
    detail[first] = np.where(ibs0[first] < p.po_max_ibs0, "parent-offspring", "full-sibling")
    unexpected = np.zeros(len(k), dtype=bool)
    for row in np.flatnonzero(exp_rel != None).tolist():  # noqa: E711 - elementwise on an object array
        o = rel_cls[row]
        unexpected[row] = o != "unknown" and not _agrees(o, exp_rel[row], tolerate_third_degree)
    ids = sid.astype(object)  # one string object per sample, referenced by its rows
    columns = {"sample_i": ids[i], "sample_j": ids[j], "kinship": k, "ibs0": ibs0, "relationship": rel_cls,
               "expected_relationship": exp_rel, "unexpected": unexpected, "relationship_detail": detail,
               "expected_detail": exp_detail, "n_snp": n.astype(np.int64, copy=False), "hethet": hethet}
    out = pd.DataFrame({c: columns[c] for c in KINSHIP_COLUMNS}, copy=False)
    out.attrs["po_max_ibs0"] = p.po_max_ibs0
    out.attrs["unrelated_ibs0"] = p.unrelated_ibs0
    return out


def _classify(phi: np.ndarray) -> np.ndarray:
    """:func:`~pmo_workbench.qc.pedigree.classify_kinship` of every value (NaN: unrelated), as an object array."""
    out = np.full(len(phi), "unrelated", dtype=object)
    todo = np.isfinite(phi)
    for cut, name in DEGREE_CUTOFFS:
        hit = todo & (phi > cut)
        out[hit] = name
        todo &= ~hit
    return out


def _agrees(observed: str, expected: str, tolerate_third_degree: bool) -> bool:
    if observed == expected:
        return True
    return tolerate_third_degree and {observed, expected} == {"third", "unrelated"}
