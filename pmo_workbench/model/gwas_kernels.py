"""GWAS kernels per genotype backend: one pass over the genotypes giving each variant's regression.

Embedded backend (:func:`linear_embedded`, :func:`logistic_embedded`): rows in the store's 2-bit copy are read by
a numba kernel that skips all-hom-ref bytes and, for every ALT-carrying call of an analysed sample, adds
``d · [Q, y_r]`` to the variant's sums (and, for a missing call, ``v v'`` to its missing-sample sums), on two
threads; the sums become β, se and p in :func:`pmo_workbench.model.regression.linear_from_sums`. Other rows
(haploid chrX calls, stores without the 2-bit copy) are read from ``call_genotype`` in numpy. Haploid calls are
coded 0/2 (plink2's default chrX model). Logistic regression unpacks dosages per chunk and fits all variants of
the chunk at once (:func:`~pmo_workbench.model.regression.fit_logistic`).

Hail backend (:func:`linear_hail`, :func:`logistic_hail`): ``missing="mean"`` uses Hail's
``linear_regression_rows``/``logistic_regression_rows`` (which mean-impute); linear ``missing="drop"`` uses the
``hl.agg.linreg`` aggregator per row over the called samples.

The kernels are registered in the genotype backend registry as ``gwas_linear`` and ``gwas_logistic`` for the
``embedded`` and ``hail`` backends (a new backend registers its own); :func:`select_gwas_kernel` looks them up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pmo_workbench.genotypes.backends import get_kernel, register_kernel
from pmo_workbench.lazy_njit import njit
from pmo_workbench.model import regression as reg


@dataclass
class Design:
    """The analysis: store columns of the analysed samples (``cols``), ``y``, covariates ``C`` (intercept
    first), their orthonormal basis ``Q`` and the residualised phenotype ``y_r``."""

    cols: np.ndarray
    y: np.ndarray
    C: np.ndarray
    Q: np.ndarray
    y_r: np.ndarray

    @property
    def n(self) -> int:
        return len(self.cols)

    @property
    def k(self) -> int:
        return self.C.shape[1]


@njit(cache=True, nogil=True)
def _linear_packed(packed, lo, hi, col_row, V, S, sum_d, sum_d2, n_miss, M, Msum):  # pragma: no cover
    """Rows lo..hi of ``packed``: S[v] += d·V[r], sum_d, sum_d2; for a missing call M[v] += V[r]V[r]',
    Msum[v] += V[r], n_miss[v] += 1 (r = col_row[s] >= 0: analysed samples only)."""
    m = V.shape[1]
    nb = packed.shape[1]
    ns = col_row.shape[0]
    for v in range(lo, hi):
        for b in range(nb):
            code = packed[v, b]
            if code == 0:
                continue
            for j in range(4):
                c = (code >> (2 * j)) & 3
                if c == 0:
                    continue
                s = 4 * b + j
                if s >= ns:
                    break
                r = col_row[s]
                if r < 0:
                    continue
                if c == 3:
                    n_miss[v] += 1
                    for a in range(m):
                        Msum[v, a] += V[r, a]
                        for e in range(a, m):
                            M[v, a, e] += V[r, a] * V[r, e]
                else:
                    sum_d[v] += c
                    sum_d2[v] += c * c
                    for a in range(m):
                        S[v, a] += c * V[r, a]


def _symmetrise(M: np.ndarray) -> None:
    iu = np.triu_indices(M.shape[1], 1)
    M[:, iu[1], iu[0]] = M[:, iu[0], iu[1]]


@dataclass
class LinearSums:
    """Per-variant sums over the analysed samples (see :func:`pmo_workbench.model.regression.linear_from_sums`)."""

    index: np.ndarray
    sum_d: np.ndarray
    sum_d2: np.ndarray
    S: np.ndarray
    n_miss: np.ndarray
    M: np.ndarray
    Msum: np.ndarray
    ploidy_sum: np.ndarray


def _dense_sums(d: np.ndarray, ploidy: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sums from int8 dosages [v, n] and ploidy [v, n] (0: missing) of the analysed samples; haploid 0/1 -> 0/2."""
    called = ploidy > 0
    x = np.where(called, np.where(ploidy == 1, 2 * d, d), 0).astype(np.float64)
    miss = (~called).astype(np.float64)
    S = x @ V
    M = np.einsum("vn,na,nb->vab", miss, V, V) if miss.any() else np.zeros((len(x), V.shape[1], V.shape[1]))
    return (x.sum(axis=1), (x * x).sum(axis=1), S, miss.sum(axis=1).astype(np.int64), M, miss @ V,
            np.where(called, 2, 0).sum(axis=1).astype(np.int64))


def iter_linear_sums(g: Any, design: Design, variant_index: np.ndarray, *, chunk_size: int = 8192
                     ) -> Iterator[LinearSums]:
    """Yield the sums for runs of the selected biallelic variants (sorted rows of ``g.variants``)."""
    from pmo_workbench.genotypes.store import compute_dosage

    V = np.ascontiguousarray(np.column_stack([design.Q, design.y_r]))
    m = V.shape[1]
    col_row = np.full(g.n_samples, -1, dtype=np.int64)
    col_row[design.cols] = np.arange(design.n)
    want = np.zeros(g.n_variants, dtype=bool)
    want[variant_index] = True
    packable = g.packable() if g.has_packed() else np.zeros(g.n_variants, dtype=bool)
    packed_want = want & packable
    threads = 2
    if packed_want.any():
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for start, stop, packed in g.iter_packed(chunk_size, reuse=True):
                local = np.flatnonzero(packed_want[start:stop])
                if len(local) == 0:
                    continue
                rows = np.ascontiguousarray(packed[local])
                nv = len(local)
                S = np.zeros((nv, m))
                sum_d = np.zeros(nv)
                sum_d2 = np.zeros(nv)
                n_miss = np.zeros(nv, dtype=np.int64)
                M = np.zeros((nv, m, m))
                Msum = np.zeros((nv, m))
                bounds = np.linspace(0, nv, threads + 1).astype(int)
                jobs = [pool.submit(_linear_packed, rows, bounds[t], bounds[t + 1], col_row, V, S, sum_d, sum_d2,
                                    n_miss, M, Msum) for t in range(threads)]
                for job in jobs:
                    job.result()
                _symmetrise(M)
                yield LinearSums(local + start, sum_d, sum_d2, S, n_miss, M, Msum,
                                 2 * (design.n - n_miss).astype(np.int64))
    rest = np.flatnonzero(want & ~packable)
    for lo in range(0, len(rest), chunk_size):
        part = rest[lo:lo + chunk_size]
        gt = np.asarray(g.call_genotype.get_orthogonal_selection((part, design.cols, slice(None))))
        d, pl = compute_dosage(gt)
        sum_d, sum_d2, S, n_miss, M, Msum, psum = _dense_sums(d, pl, V)
        yield LinearSums(part, sum_d, sum_d2, S, n_miss, M, Msum, psum)


def linear_embedded(g: Any, design: Design, variant_index: np.ndarray, *, missing: str = "drop",
                    **_: Any) -> dict[str, np.ndarray]:
    """Linear regression of every selected variant on the embedded store."""
    k = design.k
    yy = float(design.y_r @ design.y_r)
    parts = []
    for sums in iter_linear_sums(g, design, variant_index):
        res = reg.linear_from_sums(n=design.n, k=k, sum_d=sums.sum_d, sum_d2=sums.sum_d2, b=sums.S[:, :k],
                                   xy=sums.S[:, k], n_miss=sums.n_miss, miss_outer=sums.M, miss_sum=sums.Msum,
                                   yy=yy, missing=missing)
        called_alleles = 2 * (design.n - sums.n_miss)
        with np.errstate(invalid="ignore", divide="ignore"):
            res["AF"] = np.where(called_alleles > 0, sums.sum_d / called_alleles, np.nan)
        res["variant_index"] = sums.index
        parts.append(res)
    return _concat(parts)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(out["variant_index"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def iter_dosages(g: Any, design: Design, variant_index: np.ndarray, chunk_size: int = 2048
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (variant rows, x [v, n] float with haploid calls as 0/2, called [v, n] bool) for the analysed samples."""
    mask = np.zeros(g.n_variants, dtype=bool)
    mask[variant_index] = True
    row_of = g.variants.index
    for variants, d, pl in g.dosage_chunks(chunk_size, variant_mask=mask):
        d = d[:, design.cols]
        pl = pl[:, design.cols]
        called = pl > 0
        x = np.where(called, np.where(pl == 1, 2 * d, d), 0).astype(np.float64)
        yield np.asarray(row_of.get_indexer(variants.index)), x, called


def logistic_embedded(g: Any, design: Design, variant_index: np.ndarray, *, missing: str = "drop",
                      firth: str = "fallback", **_: Any) -> dict[str, np.ndarray]:
    """Logistic regression (Wald) of every selected variant, Firth where it fails (or always)."""
    null = _null_logistic(design)
    parts = []
    for rows, x, called in iter_dosages(g, design, variant_index):
        n_called = called.sum(axis=1)
        sum_d = x.sum(axis=1)
        if missing == "mean":
            mu = np.where(n_called > 0, sum_d / np.maximum(n_called, 1), 0.0)
            x = np.where(called, x, mu[:, None])
            W = np.ones_like(x)
        else:
            W = called.astype(np.float64)
        if firth == "always":  # no ordinary fit needed
            fit = reg.LogisticFit(np.full(len(x), np.nan), np.full(len(x), np.nan), np.zeros(len(x), bool),
                                  np.zeros(len(x), np.int64))
        else:
            fit = reg.fit_logistic(design.C, design.y, x, W, beta0=null)
        used_firth = np.zeros(len(x), dtype=bool)
        beta, se = fit.beta.copy(), fit.se.copy()
        polymorphic = (x * W).std(axis=1) > 0
        if firth == "fallback":
            # plink2's firth-fallback: Firth where an allele-count cell (ALT or REF in cases or in controls) is
            # empty, and where the ordinary fit fails
            case = design.y[None, :] == 1
            alt_case = (x * W * case).sum(axis=1)
            alt_ctrl = (x * W * ~case).sum(axis=1)
            ref_case = (2 * W * case).sum(axis=1) - alt_case
            ref_ctrl = (2 * W * ~case).sum(axis=1) - alt_ctrl
            empty_cell = np.min(np.stack([alt_case, alt_ctrl, ref_case, ref_ctrl]), axis=0) == 0
            need = ~fit.converged | empty_cell
        else:
            need = np.full(len(x), firth == "always")
        todo = np.flatnonzero(need & polymorphic)
        if len(todo):
            ff = reg.fit_firth_batch(design.C, design.y, x[todo], W[todo])
            beta[todo], se[todo], used_firth[todo] = ff.beta, ff.se, ff.converged
            if firth == "fallback":  # a zero-cell variant whose Firth fit failed keeps no ordinary estimate
                lost = todo[~ff.converged]
                beta[lost], se[lost] = np.nan, np.nan
        z, p = reg.wald_p(beta, se)
        with np.errstate(invalid="ignore", divide="ignore"):
            af = np.where(n_called > 0, (x * called).sum(axis=1) / (2 * np.maximum(n_called, 1)), np.nan)
        parts.append({"beta": beta, "se": se, "z_stat": z, "p_value": p,
                      "n": (n_called if missing == "drop" else np.full(len(x), design.n)).astype(np.int64),
                      "AF": af, "firth": used_firth, "converged": fit.converged | used_firth,
                      "variant_index": rows})
    return _concat(parts)


def _null_logistic(design: Design) -> np.ndarray:
    """Covariate coefficients of the null model (starting values)."""
    theta = np.zeros(design.k)
    for _ in range(reg.MAX_ITER):
        p = 1 / (1 + np.exp(-(design.C @ theta)))
        w = p * (1 - p)
        step = np.linalg.solve(design.C.T @ (design.C * w[:, None]), design.C.T @ (design.y - p))
        theta += step
        if np.abs(step).max() < reg.TOL:
            break
    return theta


def _hail_prepare(g: Any, design: Design, variant_index: np.ndarray) -> tuple[Any, Any, list[Any]]:
    from pmo_workbench.genotypes.hail_backend import init_hail

    hl = init_hail()
    mask = np.zeros(g.n_variants, dtype=bool)
    mask[variant_index] = True
    mt = g.select_variants(mask)
    sample_ids = np.asarray(g.sample_id)[design.cols].tolist()
    y_map = hl.literal(dict(zip(sample_ids, design.y.tolist(), strict=True)))
    cov_map = hl.literal(dict(zip(sample_ids, design.C[:, 1:].tolist(), strict=True)))
    mt = mt.filter_cols(y_map.contains(mt.s))
    mt = mt.annotate_cols(_y=y_map[mt.s], _cov=cov_map[mt.s])
    x = hl.float64(mt.GT.n_alt_alleles()) * hl.if_else(mt.GT.ploidy == 1, 2.0, 1.0)
    mt = mt.annotate_entries(_x=x)
    covs = [1.0] + [mt._cov[i] for i in range(design.k - 1)]
    return hl, mt, covs


def _hail_rows(mt: Any, **fields: Any) -> Any:
    from pmo_workbench.genotypes.hail_backend import collect_rows

    return collect_rows(mt, variant_index=mt.variant_index, **fields)


def linear_hail(g: Any, design: Design, variant_index: np.ndarray, *, missing: str = "drop", **_: Any
                ) -> dict[str, np.ndarray]:
    """Linear regression with Hail (mean: ``linear_regression_rows``; drop: ``hl.agg.linreg``)."""
    hl, mt, covs = _hail_prepare(g, design, variant_index)
    af = hl.agg.sum(mt._x) / (2 * hl.agg.count_where(hl.is_defined(mt._x)))
    if missing == "mean":
        ht = hl.linear_regression_rows(y=mt._y, x=mt._x, covariates=covs, pass_through=["variant_index"])
        mt = mt.annotate_rows(_r=ht[mt.row_key], _af=af)
        df = _hail_rows(mt, beta=mt._r.beta, se=mt._r.standard_error, t_stat=mt._r.t_stat,
                        p_value=mt._r.p_value, n=mt._r.n, AF=mt._af)
    else:
        fit = hl.agg.filter(hl.is_defined(mt._x), hl.agg.linreg(mt._y, [covs[0], mt._x, *covs[1:]]))
        mt = mt.annotate_rows(_r=fit, _af=af)
        df = _hail_rows(mt, beta=mt._r.beta[1], se=mt._r.standard_error[1], t_stat=mt._r.t_stat[1],
                        p_value=mt._r.p_value[1], n=mt._r.n, AF=mt._af)
    return _from_hail(df, ["beta", "se", "t_stat", "p_value", "n", "AF"])


def logistic_hail(g: Any, design: Design, variant_index: np.ndarray, *, missing: str = "drop",
                  firth: str = "fallback", **_: Any) -> dict[str, np.ndarray]:
    """Logistic regression with Hail's ``logistic_regression_rows`` (Wald; Firth where Wald does not converge
    or always). Hail mean-imputes missing calls, so only ``missing="mean"`` is offered."""
    from pmo_workbench.errors import ConfigError

    if missing != "mean":
        raise ConfigError("the Hail backend's logistic regression mean-imputes missing calls: use missing='mean' "
                          "(or the embedded backend for plink2's drop policy)", field="missing")
    hl, mt, covs = _hail_prepare(g, design, variant_index)
    af = hl.agg.sum(mt._x) / (2 * hl.agg.count_where(hl.is_defined(mt._x)))
    wald = hl.logistic_regression_rows(test="wald", y=mt._y, x=mt._x, covariates=covs)
    mt = mt.annotate_rows(_w=wald[mt.row_key], _af=af, _n=hl.agg.count_where(hl.is_defined(mt._y)))
    fields = dict(beta=mt._w.beta, se=mt._w.standard_error, z_stat=mt._w.z_stat, p_value=mt._w.p_value,
                  converged=mt._w.fit.converged, n=mt._n, AF=mt._af)
    if firth != "never":
        fth = hl.logistic_regression_rows(test="firth", y=mt._y, x=mt._x, covariates=covs)
        mt = mt.annotate_rows(_f=fth[mt.row_key])
        fields.update(firth_beta=mt._f.beta, firth_p=mt._f.p_value)
    df = _hail_rows(mt, **fields)
    out = _from_hail(df, ["beta", "se", "z_stat", "p_value", "n", "AF"])
    converged = df["converged"].fillna(False).to_numpy(bool)
    use = np.zeros(len(df), dtype=bool)
    if firth != "never":
        use = ~converged if firth == "fallback" else np.ones(len(df), dtype=bool)
        out["beta"] = np.where(use, df["firth_beta"].to_numpy(float), out["beta"])
        out["p_value"] = np.where(use, df["firth_p"].to_numpy(float), out["p_value"])
        out["se"] = np.where(use, np.nan, out["se"])  # Hail's Firth test is a likelihood-ratio test: no SE
        out["z_stat"] = np.where(use, np.nan, out["z_stat"])
    out["firth"] = use
    out["converged"] = converged | use
    return out


def _from_hail(df: Any, cols: list[str]) -> dict[str, np.ndarray]:
    out = {c: df[c].to_numpy(dtype=float) for c in cols if c != "n"}
    out["n"] = df["n"].to_numpy(dtype=np.int64)
    out["variant_index"] = df["variant_index"].to_numpy(dtype=np.int64)
    order = np.argsort(out["variant_index"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def select_gwas_kernel(g: Any, model: str) -> Callable[..., dict[str, np.ndarray]]:
    """The GWAS kernel of ``g``'s backend for ``model``: ``gwas_linear`` or ``gwas_logistic`` from the backend
    registry (:func:`pmo_workbench.genotypes.backends.get_kernel`).

    Examples
    --------
    >>> select_gwas_kernel(g, "linear") is linear_embedded
    True
    """
    return get_kernel(f"gwas_{model}", g)


register_kernel("gwas_linear", backend="embedded")(linear_embedded)
register_kernel("gwas_logistic", backend="embedded")(logistic_embedded)
register_kernel("gwas_linear", backend="hail")(linear_hail)
register_kernel("gwas_logistic", backend="hail")(logistic_hail)
