"""LD pruning: keep sites in approximate linkage equilibrium (the idea of plink's ``--indep-pairwise``).

Sites are visited in genomic order; a site is kept when its squared correlation with every site already kept
within ``window_bp`` upstream on the same contig is at most ``r2_threshold`` (gnomAD's defaults: 500 kb, 0.1).
Correlations are Pearson's r between dosage vectors with missing calls set to the site mean, computed in a
compiled loop; at most ``max_window_sites`` kept sites are compared (the nearest ones) and at most
``max_samples`` samples (evenly spaced) are used, which bounds the cost on large cohorts.

Examples
--------
>>> import numpy as np
>>> d = np.array([[0, 1, 2, 0], [0, 1, 2, 0], [2, 0, 1, 1]], dtype=np.int8)  # site 2 copies site 1
>>> select_unlinked_sites(d, np.array(["1"] * 3), np.array([100, 200, 300]), r2_threshold=0.5).tolist()
[True, False, True]
"""

from __future__ import annotations

import numpy as np

from pmo_workbench.numba_kernels.ld import prune_linked_sites


def select_unlinked_sites(
    dosage: np.ndarray,
    contig: np.ndarray,
    position: np.ndarray,
    *,
    window_bp: int = 500_000,
    r2_threshold: float = 0.1,
    max_window_sites: int = 100,
    max_samples: int = 1000,
) -> np.ndarray:
    """Boolean mask over the sites (rows) of ``dosage`` that survive LD pruning.

    Parameters
    ----------
    dosage
        int8 [sites, samples], ALT copies 0/1/2, -1 missing; sites sorted by position within each contig.
    contig, position
        Contig and 1-based position of each site ([sites]).
    window_bp
        Sites farther apart than this are never compared.
    r2_threshold
        Maximum r² between a new site and the kept sites in its window.
    max_window_sites
        Compare with at most this many (nearest) kept sites.
    max_samples
        Estimate r from at most this many samples (evenly spaced).

    Returns
    -------
    numpy.ndarray[bool]
        True for the sites kept (monomorphic sites are dropped).
    """
    n_sites = dosage.shape[0]
    if n_sites != len(contig) or n_sites != len(position):
        raise ValueError("dosage rows, contig and position differ in length")
    cols = np.arange(dosage.shape[1])
    if len(cols) > max_samples:
        cols = np.linspace(0, len(cols) - 1, max_samples).round().astype(np.int64)
    d = dosage[:, cols]
    called = d >= 0
    n_called = called.sum(axis=1)
    mean = np.divide(np.where(called, d, 0).sum(axis=1), n_called, out=np.zeros(n_sites), where=n_called > 0)
    z = np.where(called, d - mean[:, None], 0.0).astype(np.float32)
    norm = np.sqrt((z.astype(np.float64) ** 2).sum(axis=1))
    _, codes = np.unique(np.asarray(contig).astype(str), return_inverse=True)
    keep = np.zeros(n_sites, dtype=np.bool_)
    prune_linked_sites(
        np.ascontiguousarray(z),
        norm,
        codes.astype(np.int64),
        np.asarray(position, dtype=np.int64),
        np.int64(window_bp),
        np.int64(max_window_sites),
        float(r2_threshold),
        keep,
    )
    return keep
