"""KING-robust pair counts and kinship in C (``king.c``), split over threads: the embedded backend's
``king_counts`` kernel (:func:`compute_king_counts`) and :mod:`pmo_workbench.qc.kinship`'s kinship, without
numba's start-up (at 1,000 samples x 100k sites numba's compilation was two thirds of the run).

The het / hom-ref / hom-alt indicators of a block of sites are packed 64 sites per machine word
(:func:`pack_genotype_indicators`); the kernel adds, for every pair of samples, the popcounts of their words'
intersections (both het, het/hom, both hom, opposite homozygotes), so all pairs of thousands of samples are
counted in one pass over the genotypes.

Examples
--------
>>> het = np.array([[1], [1], [0]], np.uint64)  # 3 samples x 1 word: site 0 het in samples 0 and 1
>>> ref = np.array([[0], [0], [1]], np.uint64)
>>> alt = np.zeros((3, 1), np.uint64)
>>> counts = {k: np.zeros((3, 3), np.uint32) for k in ("hethet", "het_hom", "homhom", "ibs0")}
>>> add_pair_counts(het, ref, alt, counts)
>>> int(counts["hethet"][0, 1]), int(counts["het_hom"][0, 2]), int(counts["het_hom"][2, 0])
(1, 1, 0)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.genotypes.counts import KingCounts

PACK_SITES = 4096
"""Sites per packed block: 64 words per sample keeps all samples' words in cache."""


@functools.lru_cache(maxsize=8)
def split_rows(n: int, parts: int) -> list[np.ndarray]:
    """Rows ``0..n-1`` in ``parts`` shares of about equal pair-counting work (row ``i`` pairs with ``n - 1 - i``
    rows); each share ascending, rows taken in adjacent twos (the kernel counts two rows at once)."""
    units = [np.arange(a, min(a + 2, n)) for a in range(0, n, 2)]  # heaviest first
    shares: list[list[np.ndarray]] = [[] for _ in range(max(parts, 1))]
    for k, unit in enumerate(units):
        lap, pos = divmod(k, len(shares))
        shares[pos if lap % 2 == 0 else len(shares) - 1 - pos].append(unit)
    return [np.sort(np.concatenate(s)).astype(np.int64) if s else np.zeros(0, np.int64) for s in shares]


def add_pair_counts(het: np.ndarray, ref: np.ndarray, alt: np.ndarray, counts: dict[str, np.ndarray], *,
                    pool: ThreadPoolExecutor | None = None, shares: list[np.ndarray] | None = None) -> None:
    """Add one block's pair counts (bit planes uint64 [samples, words]) to ``counts`` (uint32 [n, n] each:
    ``hethet``, ``het_hom``, ``homhom``, ``ibs0``), on the threads of ``pool`` when given.

    ``hethet`` and ``ibs0`` fill the upper triangle (``[i, j]``, i < j), ``homhom`` the lower one (``[j, i]``:
    transposed, so that it may be the same matrix as ``hethet``), ``het_hom`` both."""
    het, ref, alt = (np.ascontiguousarray(x, dtype=np.uint64) for x in (het, ref, alt))
    n, w = het.shape
    lib = ckernels.library()
    shares = shares if shares is not None else split_rows(n, ckernels.n_threads() if pool else 1)

    def run(rows: np.ndarray) -> None:
        lib.pmo_king_counts(het, ref, alt, n, w, rows, len(rows), counts["hethet"], counts["het_hom"],
                            counts["homhom"], counts["ibs0"])

    if pool is None or len(shares) == 1:
        for rows in shares:
            run(rows)
    else:
        for job in [pool.submit(run, rows) for rows in shares]:
            job.result()


def pack_genotype_indicators(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Het / hom-ref / hom-alt bit planes uint64 [samples, ceil(sites / 64)] of an int8 dosage block [sites,
    samples] (0/1/2 ALT copies; anything else is not called); padding bits are 0.

    Examples
    --------
    >>> h, r, a = pack_genotype_indicators(np.array([[0], [1], [2], [-1]], dtype=np.int8))
    >>> int(h[0, 0]), int(r[0, 0]), int(a[0, 0])
    (2, 1, 4)
    """
    d = np.ascontiguousarray(dosage, dtype=np.int8)
    sites, n = d.shape
    w = -(-sites // 64)
    het, ref, alt = (np.empty((n, w), np.uint64) for _ in range(3))
    ckernels.library().pmo_king_planes(d, sites, n, w, het, ref, alt, np.empty(3 * max(n, 1), np.uint64))
    return het, ref, alt


def pack_packed_indicators(packed: np.ndarray, rows: np.ndarray, n_samples: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bit planes of :func:`pack_genotype_indicators` straight from 2-bit packed rows (uint8 [*, row bytes],
    :mod:`pmo_workbench.genotypes.packed_calls`), rows ``rows`` of ``packed`` in that order: no int8 dosage
    block (at 2,500 samples a 20,000-site chunk's dosage and ploidy take 100 MB).

    Examples
    --------
    >>> from pmo_workbench.genotypes.packed_calls import pack_calls
    >>> gt = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1]], [[1, 1], [0, 0], [0, 1], [0, 1]]], np.int8)
    >>> h, r, a = pack_packed_indicators(pack_calls(gt)[0], np.array([1, 0]), 4)
    >>> h[:, 0].tolist(), r[:, 0].tolist(), a[:, 0].tolist()  # bit 0: row 1, bit 1: row 0
    ([0, 2, 1, 1], [2, 1, 0, 0], [1, 0, 2, 0])
    """
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    sites = len(rows)
    w = -(-sites // 64)
    het, ref, alt = (np.empty((n_samples, w), np.uint64) for _ in range(3))
    ckernels.library().pmo_king_planes_packed(packed, packed.shape[1], rows, sites, n_samples, w, het, ref, alt,
                                              np.empty(3 * max(n_samples, 1), np.uint64))
    return het, ref, alt


def compute_king_counts_packed(chunks: Iterable[tuple[np.ndarray, np.ndarray] | np.ndarray], n_samples: int
                               ) -> KingCounts:
    """:func:`compute_king_counts` over chunks that are either ``(packed, rows)`` (2-bit rows and the indices of
    the selected ones, read by :func:`pack_packed_indicators`) or an int8 dosage block [sites, samples].

    Examples
    --------
    >>> from pmo_workbench.genotypes.packed_calls import pack_calls
    >>> d = np.array([[1, 1], [0, 2]], dtype=np.int8)
    >>> gt = np.array([[[0, 1], [0, 1]], [[0, 0], [1, 1]]], np.int8)
    >>> a = compute_king_counts([d])
    >>> b = compute_king_counts_packed([(pack_calls(gt)[0], np.array([0, 1]))], 2)
    >>> all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("hethet", "het_hom", "homhom", "ibs0"))
    True
    """
    acc = _zero_counts(n_samples)
    n_sites = 0
    with ThreadPoolExecutor(max_workers=ckernels.n_threads()) as pool:
        for chunk in chunks:
            if isinstance(chunk, tuple):
                packed, rows = chunk
                n_sites = _check_sites(n_sites + len(rows))
                for start in range(0, len(rows), PACK_SITES):
                    het, ref, alt = pack_packed_indicators(packed, rows[start : start + PACK_SITES], n_samples)
                    add_pair_counts(het, ref, alt, acc, pool=pool)
            else:
                n_sites = _check_sites(n_sites + chunk.shape[0])
                for start in range(0, chunk.shape[0], PACK_SITES):
                    het, ref, alt = pack_genotype_indicators(chunk[start : start + PACK_SITES])
                    add_pair_counts(het, ref, alt, acc, pool=pool)
    return _king_counts(acc, n_sites)


def compute_phi(hethet: np.ndarray, het_hom: np.ndarray, ibs0: np.ndarray) -> np.ndarray:
    """KING-robust kinship of every pair from the upper-triangle counts ([n, n]; plink2's formula):
    symmetric, NaN on the diagonal and where no informative site was counted."""
    n = hethet.shape[0]
    phi = np.empty((n, n), dtype=np.float64)
    ckernels.library().pmo_king_phi(*(_u32(x) for x in (hethet, het_hom, ibs0)), n, phi)
    return phi


def select_pairs(counts: KingCounts, above: float, *, keep_nan: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, phi)`` of the pairs i < j (in row order) whose kinship is above ``above`` (and NaN ones, with
    ``keep_nan``), chosen in C from the counts: no n x n kinship matrix (at 2,500 samples 50 MB).

    Example
    -------
    >>> c = compute_king_counts([np.array([[1, 1, 0], [0, 0, 2], [2, 2, 1]], dtype=np.int8)])
    >>> i, j, phi = select_pairs(c, 0.1)
    >>> i.tolist(), j.tolist(), phi.tolist()
    ([0], [1], [0.5])
    """
    hethet, het_hom, ibs0 = (_u32(x) for x in (counts.hethet, counts.het_hom, counts.ibs0))
    n = hethet.shape[0]
    lib = ckernels.library()
    cap = 4 * n + 16
    while True:
        i, j, phi = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.float64)
        found = lib.pmo_king_select(hethet, het_hom, ibs0, n, float(above), int(keep_nan), i, j, phi, cap)
        if found <= cap:
            return i[:found].copy(), j[:found].copy(), phi[:found].copy()
        cap = found


def pair_phi(counts: KingCounts, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The kinship of the pairs ``(i[k], j[k])``, i < j (as :func:`compute_phi`), for these pairs only.

    Example
    -------
    >>> c = compute_king_counts([np.array([[1, 1, 0], [0, 0, 2], [2, 2, 1]], dtype=np.int8)])
    >>> pair_phi(c, np.array([0, 0]), np.array([1, 2])).tolist() == compute_phi(c.hethet, c.het_hom, c.ibs0)[0, 1:].tolist()
    True
    """
    i = np.ascontiguousarray(i, dtype=np.int64)
    j = np.ascontiguousarray(j, dtype=np.int64)
    out = np.empty(len(i), np.float64)
    hethet, het_hom, ibs0 = (_u32(x) for x in (counts.hethet, counts.het_hom, counts.ibs0))
    ckernels.library().pmo_king_pair_phi(hethet, het_hom, ibs0, hethet.shape[0], i, j, len(i), out)
    return out


def _u32(x: np.ndarray) -> np.ndarray:
    """``x`` as C-contiguous uint32 (the kernels' counts; another backend's int64 counts are converted)."""
    return np.ascontiguousarray(x, dtype=np.uint32)


def _check_sites(n_sites: int) -> int:
    if n_sites >= 1 << 32:
        raise ValueError(f"{n_sites} sites: the KING counters are 32-bit (at most {(1 << 32) - 1} sites)")
    return n_sites


def _king_counts(acc: dict[str, np.ndarray], n_sites: int) -> KingCounts:
    # homhom lies transposed in hethet's lower triangle (see add_pair_counts): its view .T reads it as [i, j]
    return KingCounts(hethet=acc["hethet"], het_hom=acc["het_hom"], homhom=acc["homhom"].T, ibs0=acc["ibs0"],
                      n_sites=n_sites)


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
        Pair counts (upper triangle) and the number of sites counted.

    Examples
    --------
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
            n_sites = _check_sites(n_sites + block.shape[0])
            for start in range(0, block.shape[0], PACK_SITES):
                het, ref, alt = pack_genotype_indicators(block[start : start + PACK_SITES])
                add_pair_counts(het, ref, alt, acc, pool=pool)
    if acc is None:
        raise ValueError("no genotype blocks and no sample count given")
    return _king_counts(acc, n_sites)


def _zero_counts(n: int) -> dict[str, np.ndarray]:
    """Three uint32 [n, n] matrices: hethet (upper triangle) and homhom (lower) share one."""
    both = np.zeros((n, n), dtype=np.uint32)
    return {"hethet": both, "het_hom": np.zeros((n, n), dtype=np.uint32), "homhom": both,
            "ibs0": np.zeros((n, n), dtype=np.uint32)}
