"""Polygenic-score kernels per genotype backend: weighted allele sums over the matched variants.

Both kernels take the same plan -- for each matched variant (a row of the genotypes' variant table) and score:
``a`` (weight per ALT allele: the effect weight when the effect allele is ALT, its negative when it is REF) and
``c`` (weight per called allele that is independent of the genotype: the effect weight when the effect allele
is REF, else 0) -- so a call with ``d`` ALT alleles of ploidy ``p`` contributes ``a·d + c·p``. A missing call
contributes nothing (``missing="zero"``, plink2's ``no-mean-imputation``) or the mean contribution of the called
genotypes at that variant (``missing="mean"``, plink2's default), and is not counted in the sample's
``n_variants``.

- :func:`score_embedded` reads the store's 2-bit rows (:mod:`pmo_workbench.genotypes.packed_calls`) with a C
  kernel (``ckernels/pgs_score.c``: compiled, so a scoring process starts no compiler) that makes one pass per
  row (popcounts give its allele sum and missing count, for the mean fill, then the scores while the row is in
  cache), skipping all-hom-ref words (32 samples at a time) and walking the other calls one by one, on one thread
  per CPU (each its own rows and accumulator); rows that are not in the 2-bit copy (haploid chrX calls, ...) are
  read from ``call_genotype``.
- :func:`score_hail` computes the same sums with Hail aggregations over the MatrixTable's columns.

Both are registered in the genotype backend registry as ``pgs_score`` (``embedded``, ``hail``);
:func:`select_score_kernel` looks the kernel of ``g``'s backend up there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.genotypes.backends import get_kernel, register_kernel


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
    threads = ckernels.n_threads()
    acc = np.zeros((threads, ns, nk))
    miss_ct = np.zeros((threads, ns, nk), dtype=np.int64)
    if is_packed.any():
        score_rows = ckernels.library().pmo_pgs_score_rows
        want = np.zeros(g.n_variants, dtype=bool)
        want[index[is_packed]] = True
        const = np.zeros(nk)
        members_packed = np.zeros(nk, dtype=np.int64)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start, stop, packed in g.iter_packed(chunk_size, reuse=True):
                local = np.flatnonzero(want[start:stop])
                if len(local) == 0:
                    continue
                packed = np.ascontiguousarray(packed)
                p = pos_of[local + start]
                ai, c2, mi = np.ascontiguousarray(a[p]), np.ascontiguousarray(2 * c[p]), member[p]
                # a called genotype adds 2c whatever it is: add it to everyone, take it back for missing calls
                const += c2.sum(axis=0)
                members_packed += mi.sum(axis=0)
                mem = mi.astype(np.int64)
                bounds = np.linspace(0, len(local), threads + 1).astype(int)
                jobs = [pool.submit(score_rows, packed, packed.shape[1], local[lo:hi], hi - lo, ns, ai[lo:hi],
                                    c2[lo:hi], mem[lo:hi], nk, int(missing == "mean"), acc[t], miss_ct[t])
                        for t, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
                if any(job.result() != 0 for job in jobs):
                    raise MemoryError("polygenic-score kernel: out of memory")
        total += acc.sum(axis=0) + const[None, :]
        n_used += members_packed[None, :] - miss_ct.sum(axis=0)
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
