"""Exact Hardy-Weinberg test with mid-p correction (Wigginton et al. 2005; Graffelman & Moreno 2013).

The same test as Hail's ``hl.hardy_weinberg_test`` and plink2 ``--hardy midp``: the Levene-Haldane
distribution of the heterozygote count given the allele counts; the two-sided p-value sums the probabilities
of all het counts less likely than the observed one plus half the probability of those exactly as likely
(the observed count and its ties; checked against Hail on a tie, 595/448/83 -> 0.940256).
The one-sided test of excess heterozygosity sums P(het > observed) plus half of P(het = observed).
A monomorphic site gives 0.5 (mid-p); no calls give NaN.

The sums start at the mode and run outward; each side stops once the rest of it is below 1e-17 of the
observed count's probability (as plink2 does), so a site costs O(standard deviations of the het count)
rather than O(minor allele count), with the same result to rounding. The sums run in C
(:mod:`pmo_workbench.ckernels`, ``hwe.c``), split over threads.

Examples
--------
>>> f"{hwe_midp_one(37, 200, 85)[0]:.10e}"  # Hail's docs: p_value=1.1337210383168987e-06
'1.1337210383e-06'
>>> p, excess = hardy_weinberg_p(np.array([10, 500]), np.array([80, 0]), np.array([10, 500]))
>>> bool(p[1] < 1e-100), bool(excess[0] < 1e-6)
(True, True)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pmo_workbench import ckernels

_MIN_SITES_PER_THREAD = 50_000


def hwe_midp_one(n_hom_ref: int, n_het: int, n_hom_var: int) -> tuple[float, float]:
    """Two-sided mid-p and one-sided (excess het) mid-p for one site (NaN, NaN without calls)."""
    two, excess = hardy_weinberg_p(np.array([n_hom_ref]), np.array([n_het]), np.array([n_hom_var]))
    return float(two[0]), float(excess[0])


def hardy_weinberg_p(n_hom_ref: np.ndarray, n_het: np.ndarray, n_hom_var: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`hwe_midp_one`: returns (two-sided mid-p, excess-het mid-p) arrays.

    A negative ``n_hom_ref`` marks a site to skip (NaN), e.g. a multi-allelic site.
    """
    hr = np.ascontiguousarray(n_hom_ref, dtype=np.int64)
    het = np.ascontiguousarray(n_het, dtype=np.int64)
    hv = np.ascontiguousarray(n_hom_var, dtype=np.int64)
    if not len(hr) == len(het) == len(hv):
        raise ValueError(f"count arrays differ in length: {len(hr)}, {len(het)}, {len(hv)}")
    if len(hr) and (het.min() < 0 or hv.min() < 0):
        raise ValueError("het and hom-var counts must not be negative")
    two = np.empty(len(hr))
    excess = np.empty(len(hr))
    run = ckernels.library().pmo_hwe_midp
    parts = min(ckernels.n_threads(), max(len(hr) // _MIN_SITES_PER_THREAD, 1))
    bounds = np.linspace(0, len(hr), parts + 1).astype(np.int64)
    if parts == 1:
        run(hr, het, hv, len(hr), two, excess)
        return two, excess
    with ThreadPoolExecutor(max_workers=parts) as pool:  # a ctypes call releases the GIL
        list(pool.map(lambda a, b: run(hr[a:b], het[a:b], hv[a:b], b - a, two[a:b], excess[a:b]),
                      bounds[:-1], bounds[1:]))
    return two, excess
