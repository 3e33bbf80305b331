"""KING-robust kernels: pair counts from bit-packed genotype indicators, and the kinship of the counts.

The het / hom-ref / hom-alt indicators of a block of sites are packed 64 sites per machine word
(:func:`pack_genotype_indicators`); a parallel kernel adds, for every pair of samples, the popcounts of their
words' intersections (both het, het/hom, both hom, opposite homozygotes), so all pairs of thousands of samples
are counted in one pass over the genotypes. :func:`compute_king_counts` is the embedded backend's
``king_counts`` kernel over dosage blocks; :func:`fill_king_phi` turns counts into plink2's KING-robust
between-family kinship.

Example
-------
>>> import numpy as np
>>> c = compute_king_counts([np.array([[1, 1], [0, 2]], dtype=np.int8)])
>>> int(c.hethet[0, 1]), int(c.ibs0[0, 1]), int(c.n_snp[0, 1])
(1, 1, 2)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from pmo_workbench.genotypes.counts import KingCounts

# Idle OpenMP workers of numba's parallel loops wait passively: spinning ones burnt ~0.4 s CPU per million
# variants on a 2-core machine, taken from the thread decompressing the next chunk (set only if unset, and only
# effective before numba first starts its threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PACK_SITES = 4096
"""Sites per packed block: 64 words per sample keeps all samples' words in cache."""


@intrinsic
def _popcount(typingctx: Any, x: Any) -> Any:
    """LLVM ``ctpop`` on a uint64 (a single POPCNT instruction on x86-64)."""
    sig = types.uint64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(parallel=True, cache=True, nogil=True)
def count_king_pairs(het, ref, alt, hethet, het_hom, homhom, ibs0):  # pragma: no cover - compiled
    """Add the pair counts of one packed block; ``het_hom[i, j]`` counts sites het in i and hom in j."""
    n = het.shape[0]
    w = het.shape[1]
    half = (n + 1) // 2
    for k in numba.prange(half):
        kk = np.int64(k)
        for rep in range(2):  # rows k and n-1-k: balanced work per iteration of the triangular loop
            i = kk + rep * (np.int64(n) - 1 - 2 * kk)
            if rep == 1 and i == kk:
                break
            for j in range(i + 1, n):
                hh = np.uint64(0)
                hm_ij = np.uint64(0)
                hm_ji = np.uint64(0)
                mm = np.uint64(0)
                z = np.uint64(0)
                for t in range(w):
                    hi = het[i, t]
                    hj = het[j, t]
                    ri = ref[i, t]
                    rj = ref[j, t]
                    ai = alt[i, t]
                    aj = alt[j, t]
                    mi = ri | ai
                    mj = rj | aj
                    hh += _popcount(hi & hj)
                    hm_ij += _popcount(hi & mj)
                    hm_ji += _popcount(hj & mi)
                    mm += _popcount(mi & mj)
                    z += _popcount((ri & aj) | (ai & rj))
                hethet[i, j] += hh
                het_hom[i, j] += hm_ij
                het_hom[j, i] += hm_ji
                homhom[i, j] += mm
                ibs0[i, j] += z


@numba.njit(parallel=True, cache=True)
def fill_king_phi(hethet, het_hom, ibs0, phi):  # pragma: no cover - compiled
    """KING-robust kinship of every pair into ``phi`` (symmetric, NaN on the diagonal and without informative
    sites): ``1/2 - (4·IBS0 + het_i·hom_j + hom_i·het_j) / (4 · (hethet + min(het_i·hom_j, hom_i·het_j)))``."""
    n = hethet.shape[0]
    for i in numba.prange(n):
        phi[i, i] = np.nan
        for j in range(i + 1, n):
            a = het_hom[i, j]
            b = het_hom[j, i]
            denom = 4.0 * (hethet[i, j] + min(a, b))
            val = np.nan
            if denom > 0:
                val = 0.5 - (4.0 * ibs0[i, j] + a + b) / denom
            phi[i, j] = val
            phi[j, i] = val


def pack_genotype_indicators(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit-pack the het / hom-ref / hom-alt indicators of an int8 dosage block [sites, samples] (-1 missing).

    Returns three uint64 arrays [samples, ceil(sites / 64)]; padding bits are 0 (= not called).

    Example
    -------
    >>> h, r, a = pack_genotype_indicators(np.array([[0], [1], [2], [-1]], dtype=np.int8))
    >>> int(h[0, 0]), int(r[0, 0]), int(a[0, 0])
    (2, 1, 4)
    """
    d = np.ascontiguousarray(dosage.T)
    n_words = -(-d.shape[1] // 64)
    pad = n_words * 64 - d.shape[1]
    out = []
    for code in (1, 0, 2):
        bits = d == code
        if pad:
            bits = np.pad(bits, ((0, 0), (0, pad)))
        out.append(np.packbits(bits, axis=1, bitorder="little").view(np.uint64))
    return out[0], out[1], out[2]


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
    >>> c = compute_king_counts([np.array([[0, 2, 1], [1, 1, -1]], dtype=np.int8)])
    >>> int(c.ibs0[0, 1]), int(c.n_snp[0, 2]), c.n_sites
    (1, 1, 2)
    """
    acc: dict[str, np.ndarray] | None = None
    n_sites = 0
    if n_samples is not None:
        acc = _zero_counts(n_samples)
    for block in blocks:
        if block.shape[0] == 0:
            continue
        if acc is None:
            acc = _zero_counts(block.shape[1])
        for start in range(0, block.shape[0], PACK_SITES):
            het, ref, alt = pack_genotype_indicators(block[start : start + PACK_SITES])
            count_king_pairs(het, ref, alt, acc["hethet"], acc["het_hom"], acc["homhom"], acc["ibs0"])
        n_sites += block.shape[0]
    if acc is None:
        raise ValueError("no genotype blocks and no sample count given")
    return KingCounts(**{k: v.view(np.int64) for k, v in acc.items()}, n_sites=n_sites)


def _zero_counts(n: int) -> dict[str, np.ndarray]:
    return {k: np.zeros((n, n), dtype=np.uint64) for k in ("hethet", "het_hom", "homhom", "ibs0")}
