"""Polygenic-score kernels per genotype backend: weighted allele sums over the matched variants.

Both kernels take the same plan -- for each matched variant (a row of the genotypes' variant table) and score:
``a`` (weight per ALT allele: the effect weight when the effect allele is ALT, its negative when it is REF) and
``c`` (weight per called allele that is independent of the genotype: the effect weight when the effect allele
is REF, else 0) -- so a call with ``d`` ALT alleles of ploidy ``p`` contributes ``a·d + c·p``. A missing call
contributes nothing (``missing="zero"``, plink2's ``no-mean-imputation``) or the mean contribution of the called
genotypes at that variant (``missing="mean"``, plink2's default), and is not counted in the sample's
``n_variants``.

- :func:`score_embedded` reads the store's 2-bit rows (:mod:`pmo_workbench.genotypes.packed_calls`) with a numba
  kernel that makes one pass per row (its allele sum and missing count, for the mean fill, then the scores while
  the row is in cache), skips all-hom-ref bytes (four samples at a time) and adds the other bytes' four
  contributions without branching, on two threads (each its own rows and accumulator); rows that are not in the
  2-bit copy (haploid chrX calls, ...) are read from ``call_genotype``.
- :func:`score_hail` computes the same sums with Hail aggregations over the MatrixTable's columns.

Both are registered in the genotype backend registry as ``pgs_score`` (``embedded``, ``hail``);
:func:`select_score_kernel` looks the kernel of ``g``'s backend up there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from pmo_workbench.genotypes.backends import get_kernel, register_kernel
from pmo_workbench.lazy_njit import njit

_BYTE_CODES = (np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3
_BYTE_ALT = np.where(_BYTE_CODES == 3, 0, _BYTE_CODES).sum(axis=1).astype(np.int64)
"""ALT alleles of the called genotypes of the four samples in a 2-bit byte (a lookup per byte)."""
_BYTE_MISSING = (_BYTE_CODES == 3).sum(axis=1).astype(np.int64)
"""Missing calls among the four samples of a 2-bit byte."""


@njit(cache=True, nogil=True)
def _score_packed_rows(packed, lo, hi, ns, a, c2, member, mean_fill, acc, miss_ct):  # pragma: no cover - compiled
    """Rows lo..hi, one pass per row (in cache): the row's ALT allele sum and missing count give the mean fill,
    then each non-zero byte adds, for its four samples, ``val[code]`` (0, a, 2a, fill - 2c) to ``acc`` [4·bytes,
    k] without branching; missing calls count in ``miss_ct`` where the row has any."""
    nk = a.shape[1]
    nb = packed.shape[1]
    val = np.zeros((4, nk))
    for v in range(lo, hi):
        sd = 0
        nm = 0
        for b in range(nb):
            code = packed[v, b]
            sd += _BYTE_ALT[code]
            nm += _BYTE_MISSING[code]
        called = ns - nm
        mean = sd / called if called > 0 else 0.0
        for k in range(nk):
            val[1, k] = a[v, k]
            val[2, k] = 2.0 * a[v, k]
            val[3, k] = (a[v, k] * mean + c2[v, k] if mean_fill else 0.0) - c2[v, k]
        for b in range(nb):
            code = packed[v, b]
            if code == 0:
                continue
            s = 4 * b
            for j in range(4):
                c = (code >> (2 * j)) & 3
                for k in range(nk):
                    acc[s + j, k] += val[c, k]
            if nm > 0:
                for j in range(4):
                    if (code >> (2 * j)) & 3 == 3:
                        for k in range(nk):
                            miss_ct[s + j, k] += member[v, k]


def _mean_fill(a: np.ndarray, c: np.ndarray, mean_d: np.ndarray, mean_p: np.ndarray, missing: str) -> np.ndarray:
    """The contribution of a missing call: the mean called contribution, or 0."""
    if missing == "zero":
        return np.zeros_like(a)
    return a * mean_d[:, None] + c * mean_p[:, None]


def score_embedded(g: Any, index: np.ndarray, a: np.ndarray, c: np.ndarray, member: np.ndarray, *,
                   missing: str = "mean", chunk_size: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Score sums [samples, scores] and non-missing variant counts [samples, scores] on an embedded store.

    ``index`` (sorted, unique) are rows of ``g.variants``; ``a``, ``c`` [len(index), scores] as in the module
    docstring; ``member`` [len(index), scores] marks the variants each score uses (a zero weight still counts).
    """
    from pmo_workbench.genotypes.store import compute_dosage

    ns = g.n_samples
    nk = a.shape[1]
    total = np.zeros((ns, nk))
    n_used = np.zeros((ns, nk), dtype=np.int64)
    member = np.asarray(member, dtype=bool)
    packable = g.packable() if g.has_packed() else np.zeros(g.n_variants, dtype=bool)
    is_packed = packable[index]
    pos_of = np.full(g.n_variants, -1, dtype=np.int64)
    pos_of[index] = np.arange(len(index))
    threads = 2
    padded = 4 * ((ns + 3) // 4)  # the last byte's unused slots add zeros to padding rows
    acc = np.zeros((threads, padded, nk))
    miss_ct = np.zeros((threads, padded, nk), dtype=np.int64)
    const = np.zeros(nk)
    members_packed = np.zeros(nk, dtype=np.int64)
    if is_packed.any():
        pool = ThreadPoolExecutor(max_workers=threads)
        want = np.zeros(g.n_variants, dtype=bool)
        want[index[is_packed]] = True
        for start, stop, packed in g.iter_packed(chunk_size):
            local = np.flatnonzero(want[start:stop])
            if len(local) == 0:
                continue
            rows = packed if len(local) == stop - start else np.ascontiguousarray(packed[local])
            p = pos_of[local + start]
            ai, c2, mi = np.ascontiguousarray(a[p]), np.ascontiguousarray(2 * c[p]), member[p]
            # a called genotype adds 2c whatever it is: add it to everyone, take it back for missing calls
            const += c2.sum(axis=0)
            members_packed += mi.sum(axis=0)
            mem = mi.astype(np.int64)
            bounds = np.linspace(0, len(local), threads + 1).astype(int)
            jobs = [pool.submit(_score_packed_rows, rows, bounds[t], bounds[t + 1], ns, ai, c2, mem,
                                missing == "mean", acc[t], miss_ct[t]) for t in range(threads)]
            for job in jobs:
                job.result()
        pool.shutdown()
        total += acc.sum(axis=0)[:ns] + const[None, :]
        n_used += members_packed[None, :] - miss_ct.sum(axis=0)[:ns]
    rest = index[~is_packed]
    for lo in range(0, len(rest), chunk_size):
        part = rest[lo:lo + chunk_size]
        gt = g.call_genotype.get_orthogonal_selection((part, slice(None), slice(None)))
        d, pl = compute_dosage(np.asarray(gt))
        p = pos_of[part]
        ai, ci, mi = a[p], c[p], member[p]
        ok = pl > 0
        dd = np.where(ok, d, 0).astype(np.float64)
        pp = pl.astype(np.float64)
        called = ok.sum(axis=1)
        mean_d = np.where(called > 0, dd.sum(axis=1) / np.maximum(called, 1), 0.0)
        mean_p = np.where(called > 0, pp.sum(axis=1) / np.maximum(called, 1), 0.0)
        fill = _mean_fill(ai, ci, mean_d, mean_p, missing)
        total += dd.T @ ai + pp.T @ ci + (~ok).astype(np.float64).T @ fill
        n_used += ok.astype(np.int64).T @ mi.astype(np.int64)
    return total, n_used


def score_hail(g: Any, index: np.ndarray, a: np.ndarray, c: np.ndarray, member: np.ndarray, *,
               missing: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """The same sums as :func:`score_embedded`, computed by Hail over the MatrixTable's columns."""
    from pmo_workbench.genotypes.hail_backend import collect_cols, init_hail

    hl = init_hail()
    nk = a.shape[1]
    mask = np.zeros(g.n_variants, dtype=bool)
    mask[index] = True
    mt = g.select_variants(mask)
    pos_of = np.full(g.n_variants, -1, dtype=np.int64)
    pos_of[index] = np.arange(len(index))
    lit_a = hl.literal(a.tolist(), dtype=hl.tarray(hl.tarray(hl.tfloat64)))
    lit_c = hl.literal(c.tolist(), dtype=hl.tarray(hl.tarray(hl.tfloat64)))
    lit_pos = hl.literal(pos_of.tolist(), dtype=hl.tarray(hl.tint64))
    lit_m = hl.literal(np.asarray(member, dtype=np.int64).tolist(), dtype=hl.tarray(hl.tarray(hl.tint64)))
    mt = mt.annotate_rows(_p=hl.int32(lit_pos[hl.int32(mt.variant_index)]))
    mt = mt.annotate_rows(_a=lit_a[mt._p], _c=lit_c[mt._p], _m=lit_m[mt._p])
    mt = mt.annotate_rows(_mean_d=hl.agg.mean(hl.float64(mt.GT.n_alt_alleles())),
                          _mean_p=hl.agg.mean(hl.float64(mt.GT.ploidy)))
    d = hl.float64(mt.GT.n_alt_alleles())
    p = hl.float64(mt.GT.ploidy)
    idx = hl.range(nk)
    contrib = idx.map(lambda k: mt._a[k] * d + mt._c[k] * p)
    if missing == "mean":
        fill = idx.map(lambda k: hl.or_else(mt._a[k] * mt._mean_d + mt._c[k] * mt._mean_p, 0.0))
    else:
        fill = idx.map(lambda k: hl.float64(0))
    member_k = idx.map(lambda k: mt._m[k])
    value = hl.if_else(hl.is_defined(mt.GT), contrib, fill)
    used = hl.if_else(hl.is_defined(mt.GT), member_k, idx.map(lambda k: hl.int64(0)))
    cols = collect_cols(mt, _sum=hl.agg.array_sum(value), _n=hl.agg.array_sum(used))
    total = np.array([np.asarray(v, dtype=float) if v is not None else np.zeros(nk) for v in cols["_sum"]])
    n_used = np.array([np.asarray(v, dtype=np.int64) if v is not None else np.zeros(nk, np.int64)
                       for v in cols["_n"]])
    return total.reshape(len(cols), nk), n_used.reshape(len(cols), nk)


def select_score_kernel(g: Any) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The scoring kernel ``pgs_score`` of ``g``'s backend, from the genotype backend registry.

    Examples
    --------
    >>> select_score_kernel(g) is score_embedded
    True
    """
    return get_kernel("pgs_score", g)


register_kernel("pgs_score", backend="embedded")(score_embedded)
register_kernel("pgs_score", backend="hail")(score_hail)
