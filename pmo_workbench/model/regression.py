"""Per-variant regression arithmetic of the GWAS: linear regression from sufficient statistics, and logistic
regression (Newton-Raphson, batched over variants) with Firth's penalised likelihood for the variants where it
fails.

Linear regression
-----------------
The covariates ``C`` (intercept included) are orthonormalised once (``Q``, from a QR decomposition) and the
phenotype is residualised on them (``y_r``). For a variant with dosage ``x`` the regression of ``y`` on
``[C, x]`` then needs only ``Q'x``, ``x'y_r``, ``x'x`` and, for the samples whose call is missing, the sums
``Σ v v'`` of ``v = [Q, y_r]`` over those samples:

- ``missing="drop"`` (plink2: the sample is left out for that variant): with ``A = I − Σ_miss q q'``,
  ``b = Q'x₀`` (missing calls as 0), ``c = −Σ_miss q y_r``: ``Sxx = x'x − b'A⁻¹b``, ``Sxy = x'y_r − b'A⁻¹c``,
  ``Syy = y_r'y_r − Σ_miss y_r² − c'A⁻¹c``, ``β = Sxy/Sxx``, ``σ² = (Syy − β·Sxy)/(n_called − k − 1)``,
  ``se = √(σ²/Sxx)``. Exact: it is the least-squares fit on the called samples (tests hold it equal to plink2
  and statsmodels).
- ``missing="mean"`` (Hail: the missing call is the mean dosage of the called samples): the same with ``A = I``.

The sums are computed by :mod:`.gwas_kernels` in one pass over the genotypes; here they become the table.

Logistic regression
-------------------
:func:`fit_logistic` runs Newton-Raphson on many variants at once (each its own design ``[C, x]`` and, with
``drop``, its own set of called samples as 0/1 weights). A variant whose fit does not converge within
:data:`MAX_ITER` iterations, whose Hessian is singular, or whose estimate runs away (quasi-complete separation)
is marked unconverged; :func:`fit_firth` then fits Firth's penalised likelihood (Heinze & Schemper 2002) with
step-halving, as plink2's ``firth-fallback`` does. Standard errors are the Wald ones from the (penalised)
information at the estimate.

Examples
--------
>>> rng = np.random.default_rng(0); n = 300
>>> C = np.column_stack([np.ones(n), rng.normal(size=n)]); x = rng.binomial(2, 0.3, size=(1, n)).astype(float)
>>> y = (rng.random(n) < 1 / (1 + np.exp(-(C[:, 1] + 0.5 * x[0])))).astype(float)
>>> fit = fit_logistic(C, y, x, np.ones((1, n)))
>>> bool(fit.converged[0]), round(float(fit.beta[0]), 3) == round(float(fit_firth(C, y, x[0], np.ones(n), firth=False).beta), 3)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

MAX_ITER = 25
"""Newton iterations before a logistic fit counts as not converged (plink2 also stops near here)."""
TOL = 1e-9
"""Convergence: largest parameter change below this times max(1, largest |parameter|)."""
FIRTH_TOL = 1e-8
"""Firth convergence (relative parameter change; reversing steps are halved, so the scoring iteration cannot
cycle around the optimum, as it otherwise does for a variant with a single carrier)."""
MAX_STEP = 5.0
"""Largest change of a parameter in one Firth iteration (logistf's ``maxstep``)."""
MAX_BETA = 1e3
"""An estimate beyond this (log-odds) is separation, not an effect."""


def orthonormal_covariates(C: np.ndarray) -> np.ndarray:
    """An orthonormal basis ``Q`` of the columns of ``C`` (n × k, full column rank)."""
    q, r = np.linalg.qr(C)
    return q


def linear_from_sums(*, n: int, k: int, sum_d: np.ndarray, sum_d2: np.ndarray, b: np.ndarray, xy: np.ndarray,
                     n_miss: np.ndarray, miss_outer: np.ndarray | None, miss_sum: np.ndarray | None, yy: float,
                     missing: str) -> dict[str, np.ndarray]:
    """β, se, t, p, n and the called-sample counts from a kernel's sums (see the module docstring).

    Parameters
    ----------
    n, k
        Samples analysed and covariate columns (intercept included).
    sum_d, sum_d2
        Σ x and Σ x² over called samples, per variant.
    b, xy
        ``Q'x₀`` [v, k] and ``x₀'y_r`` [v].
    n_miss
        Missing calls per variant.
    miss_outer, miss_sum
        ``Σ_miss v v'`` [v, k+1, k+1] and ``Σ_miss v`` [v, k+1] over the missing samples, ``v = [q, y_r]``.
    yy
        ``y_r'y_r``.
    """
    nv = len(sum_d)
    n_called = n - n_miss
    if missing == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.where(n_called > 0, sum_d / np.maximum(n_called, 1), 0.0)
        xx = sum_d2 + n_miss * mu**2
        if miss_sum is not None:
            b = b + mu[:, None] * miss_sum[:, :k]
            xy = xy + mu * miss_sum[:, k]
        sxx = xx - np.einsum("vi,vi->v", b, b)
        sxy = xy
        syy = np.full(nv, yy)
        n_used = np.full(nv, n)
    else:
        sxx = sum_d2 - np.einsum("vi,vi->v", b, b)
        sxy = xy.astype(float).copy()
        syy = np.full(nv, yy)
        n_used = n_called.astype(np.int64)
        rows = np.flatnonzero(n_miss > 0)
        if len(rows) and miss_outer is not None:
            M = miss_outer[rows]
            A = np.eye(k)[None, :, :] - M[:, :k, :k]
            c = -M[:, :k, k]
            rhs = np.stack([b[rows], c], axis=2)
            try:
                sol = np.linalg.solve(A, rhs)
            except np.linalg.LinAlgError:
                sol = np.stack([_pinv_solve(A[i], rhs[i]) for i in range(len(rows))])
            ab, ac = sol[:, :, 0], sol[:, :, 1]
            sxx[rows] = sum_d2[rows] - np.einsum("vi,vi->v", b[rows], ab)
            sxy[rows] = xy[rows] - np.einsum("vi,vi->v", b[rows], ac)
            syy[rows] = yy - M[:, k, k] - np.einsum("vi,vi->v", c, ac)
    df = n_used - k - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (sxx > 1e-9 * np.maximum(sum_d2, 1)) & (df > 0)
        beta = np.where(ok, sxy / sxx, np.nan)
        rss = syy - beta * sxy
        se = np.where(ok, np.sqrt(np.maximum(rss, 0) / df / sxx), np.nan)
        t = beta / se
        p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(t), np.maximum(df, 1)), np.nan)
    return {"beta": beta, "se": se, "t_stat": t, "p_value": p, "n": n_used}


def _pinv_solve(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return np.linalg.pinv(A) @ rhs


@dataclass
class LogisticFit:
    """Per variant: ``beta``, ``se`` of the genotype term, ``converged``, ``iterations``."""

    beta: np.ndarray
    se: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def fit_logistic(C: np.ndarray, y: np.ndarray, X: np.ndarray, W: np.ndarray, *, beta0: np.ndarray | None = None
                 ) -> LogisticFit:
    """Newton-Raphson logistic regression of ``y`` on ``[C, x_v]`` for every row ``x_v`` of ``X`` [v, n] with
    sample weights ``W`` [v, n] (0/1: which samples a variant uses; missing calls have weight 0 and any x).

    ``beta0``: starting covariate coefficients (the null model's), default 0.
    """
    nv, n = X.shape
    k = C.shape[1]
    X = np.where(W > 0, X, 0.0)
    theta = np.zeros((nv, k + 1))
    if beta0 is not None:
        theta[:, :k] = beta0
    CC = np.einsum("ni,nj->nij", C, C).reshape(n, k * k)
    active = np.ones(nv, dtype=bool)
    converged = np.zeros(nv, dtype=bool)
    iters = np.zeros(nv, dtype=np.int64)
    se = np.full(nv, np.nan)
    for it in range(1, MAX_ITER + 1):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        th, x, w = theta[rows], X[rows], W[rows]
        _, p, v, H = _information(C, CC, th, x, w)
        r = w * (y[None, :] - p)
        g = np.empty((len(rows), k + 1))
        g[:, :k] = r @ C
        g[:, k] = (r * x).sum(axis=1)
        step, ok = _batched_solve(H, g)
        theta[rows] = th + np.where(ok[:, None], step, 0.0)
        iters[rows] = it
        done = ok & (np.abs(step).max(axis=1) < TOL * np.maximum(1, np.abs(theta[rows]).max(axis=1)))
        bad = ~ok | ~np.isfinite(theta[rows]).all(axis=1) | (np.abs(theta[rows, k]) > MAX_BETA)
        if done.any():
            inv_ok, inv = _batched_inverse(H[done])
            se[rows[done]] = np.where(inv_ok, np.sqrt(np.abs(inv[:, k, k])), np.nan)
            converged[rows[done]] = inv_ok
        active[rows[done | bad]] = False
    beta = np.where(converged, theta[:, k], np.nan)
    return LogisticFit(beta, np.where(converged, se, np.nan), converged, iters)


def _information(C: np.ndarray, CC: np.ndarray, th: np.ndarray, x: np.ndarray, w: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear predictor, fitted probabilities, weights ``w·p(1−p)`` and the information ``D'VD`` of ``[C, x_v]``
    for every variant (``CC``: the per-sample outer products of ``C``, flattened)."""
    k = C.shape[1]
    eta = th[:, :k] @ C.T + th[:, k:k + 1] * x
    p = special.expit(eta)
    v = w * p * (1 - p)
    H = np.empty((len(th), k + 1, k + 1))
    H[:, :k, :k] = (v @ CC).reshape(len(th), k, k)
    vx = v * x
    H[:, :k, k] = H[:, k, :k] = vx @ C
    H[:, k, k] = (vx * x).sum(axis=1)
    return eta, p, v, H


def _batched_solve(H: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.ones(len(H), dtype=bool)
    try:
        step = np.linalg.solve(H, g[:, :, None])[:, :, 0]
        return step, np.isfinite(step).all(axis=1)
    except np.linalg.LinAlgError:
        out = np.zeros_like(g)
        for i in range(len(H)):
            try:
                out[i] = np.linalg.solve(H[i], g[i])
            except np.linalg.LinAlgError:
                ok[i] = False
        return out, ok


def _batched_inverse(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.ones(len(H), dtype=bool), np.linalg.inv(H)
    except np.linalg.LinAlgError:
        out = np.full_like(H, np.nan)
        ok = np.zeros(len(H), dtype=bool)
        for i in range(len(H)):
            try:
                out[i] = np.linalg.inv(H[i])
                ok[i] = True
            except np.linalg.LinAlgError:
                continue
        return ok, out


def fit_firth_batch(C: np.ndarray, y: np.ndarray, X: np.ndarray, W: np.ndarray, *, max_iter: int = 100,
                    max_halving: int = 25) -> LogisticFit:
    """Firth-penalised logistic regression of ``y`` on ``[C, x_v]`` for every row of ``X`` at once (weights
    ``W`` as in :func:`fit_logistic`): Newton steps on the modified score ``D'(y − p + h(½ − p))``, each halved
    while the penalised log-likelihood ``ℓ + ½ log|I|`` falls; the Wald SE comes from ``I⁻¹`` at the estimate.
    Equal to :func:`fit_firth` variant by variant (tests)."""
    nv, n = X.shape
    k = C.shape[1]
    X = np.where(W > 0, X, 0.0)
    CC = np.einsum("ni,nj->nij", C, C).reshape(n, k * k)
    theta = np.zeros((nv, k + 1))

    def state(th: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(invalid="ignore", over="ignore"):  # a diverging variant: its value is -inf
            eta, p, v, H = _information(C, CC, th, x, w)
            sign, logdet = np.linalg.slogdet(H)
            ll = (w * (y[None, :] * eta - np.logaddexp(0, eta))).sum(axis=1)
        return p, v, H, np.where(sign > 0, ll + 0.5 * logdet, -np.inf)

    active = np.ones(nv, dtype=bool)
    converged = np.zeros(nv, dtype=bool)
    iters = np.zeros(nv, dtype=np.int64)
    se = np.full(nv, np.nan)
    p, v, H, value = state(theta, X, W)
    prev = np.zeros_like(theta)
    for it in range(1, max_iter + 1):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        x, w = X[rows], W[rows]
        ok_inv, Hinv = _batched_inverse(H[rows])
        A, b, c = Hinv[:, :k, :k], Hinv[:, :k, k], Hinv[:, k, k]
        h = v[rows] * ((A.reshape(len(rows), k * k) @ CC.T) + 2 * x * (b @ C.T) + x * x * c[:, None])
        r = w * (y[None, :] - p[rows]) + h * (0.5 - p[rows])
        g = np.empty((len(rows), k + 1))
        g[:, :k] = r @ C
        g[:, k] = (r * x).sum(axis=1)
        step = np.einsum("vij,vj->vi", Hinv, g)
        big = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, MAX_STEP / np.maximum(big, 1e-300))[:, None]
        # Fisher scoring on Firth's score can oscillate around the optimum (a single carrier): damp reversals
        step *= np.where(np.einsum("vi,vi->v", step, prev[rows]) < 0, 0.5, 1.0)[:, None]
        new_theta = theta[rows] + step
        new_p, new_v, new_H, new_value = state(new_theta, x, w)
        for _ in range(max_halving):
            worse = new_value < value[rows] - 1e-12
            if not worse.any():
                break
            step[worse] /= 2
            sub = np.flatnonzero(worse)
            nt = theta[rows[sub]] + step[sub]
            sp, sv, sH, sval = state(nt, x[sub], w[sub])
            new_theta[sub], new_p[sub], new_v[sub], new_H[sub], new_value[sub] = nt, sp, sv, sH, sval
        theta[rows], p[rows], v[rows], H[rows], value[rows] = new_theta, new_p, new_v, new_H, new_value
        prev[rows] = step
        iters[rows] = it
        done = ok_inv & (np.abs(step).max(axis=1) < FIRTH_TOL * np.maximum(1, np.abs(new_theta).max(axis=1)))
        bad = ~ok_inv | ~np.isfinite(new_theta).all(axis=1)
        if done.any():
            inv_ok, inv = _batched_inverse(new_H[done])
            se[rows[done]] = np.where(inv_ok, np.sqrt(np.abs(inv[:, k, k])), np.nan)
            converged[rows[done]] = inv_ok
        active[rows[done | bad]] = False
    return LogisticFit(np.where(converged, theta[:, k], np.nan), np.where(converged, se, np.nan), converged,
                       iters)


@dataclass
class FirthFit:
    """One variant's Firth (or plain) logistic fit: ``beta``, ``se`` of the genotype term, ``converged``."""

    beta: float
    se: float
    converged: bool
    iterations: int


def fit_firth(C: np.ndarray, y: np.ndarray, x: np.ndarray, w: np.ndarray, *, firth: bool = True,
              max_iter: int = 100, max_halving: int = 25) -> FirthFit:
    """Firth-penalised logistic regression of ``y`` on ``[C, x]`` over the samples with weight 1.

    Newton steps on the modified score ``D'(y − p + h(½ − p))`` (``h`` the hat values), halved while the penalised
    log-likelihood ``ℓ + ½ log|I|`` does not increase (steps capped at :data:`MAX_STEP`); converged when the
    largest step is below :data:`FIRTH_TOL` (relative).
    """
    keep = w > 0
    D = np.column_stack([C[keep], x[keep]])
    yy = y[keep]
    theta = np.zeros(D.shape[1])

    def penalised(th: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = D @ th
        p = special.expit(eta)
        v = p * (1 - p)
        info = D.T @ (D * v[:, None])
        sign, logdet = np.linalg.slogdet(info)
        ll = float(np.sum(yy * eta - np.logaddexp(0, eta)))
        return ll + (0.5 * logdet if firth and sign > 0 else (-np.inf if firth else 0.0)), p, info

    value, p, info = penalised(theta)
    prev = np.zeros_like(theta)
    for it in range(1, max_iter + 1):
        try:
            inv = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return FirthFit(np.nan, np.nan, False, it)
        v = p * (1 - p)
        if firth:
            h = np.einsum("ij,jk,ik->i", D * np.sqrt(v)[:, None], inv, D * np.sqrt(v)[:, None])
            score = D.T @ (yy - p + h * (0.5 - p))
        else:
            score = D.T @ (yy - p)
        step = inv @ score
        step *= min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-300))
        if step @ prev < 0:  # damp an oscillation around the optimum
            step = step / 2
        for _ in range(max_halving):
            new = theta + step
            new_value, new_p, new_info = penalised(new)
            if new_value >= value - 1e-12:
                break
            step = step / 2
        theta, value, p, info = new, new_value, new_p, new_info
        prev = step
        if np.max(np.abs(step)) < FIRTH_TOL * max(1.0, float(np.abs(theta).max())):
            try:
                se = float(np.sqrt(np.linalg.inv(info)[-1, -1]))
            except np.linalg.LinAlgError:
                se = np.nan
            return FirthFit(float(theta[-1]), se, True, it)
    return FirthFit(np.nan, np.nan, False, max_iter)


def wald_p(beta: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z statistic and two-sided normal p-value."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta / se
    return z, np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan)
