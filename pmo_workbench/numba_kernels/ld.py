"""The LD-pruning scan of :func:`pmo_workbench.qc.ld.select_unlinked_sites` (plink's ``--indep-pairwise`` idea).

Examples
--------
>>> import numpy as np
>>> z = np.array([[-1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [0.0, 0.0]], dtype=np.float32)  # 3 copies 1, 4 flat
>>> keep = np.zeros(4, dtype=np.bool_)
>>> prune_linked_sites(z, np.sqrt((z.astype(np.float64) ** 2).sum(axis=1)), np.zeros(4, np.int64),
...                    np.array([1, 2, 3, 4]), 100, 10, 0.5, keep)
>>> keep.tolist()
[True, False, False, False]
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=True)
def prune_linked_sites(z, norm, contig, position, window_bp, max_window_sites, r2_threshold, keep):  # pragma: no cover
    """Set ``keep[j]`` for each site (row of the centred dosages ``z``, norms ``norm``) whose squared correlation
    with every kept site within ``window_bp`` upstream on its contig (at most ``max_window_sites`` of them, the
    nearest) is at most ``r2_threshold``; sites of norm 0 (monomorphic) are never kept."""
    n_sites, n = z.shape
    kept = np.empty(n_sites, dtype=np.int64)
    n_kept = 0
    for j in range(n_sites):
        if norm[j] == 0.0:
            continue  # monomorphic in the samples used: uninformative
        ok = True
        k = n_kept - 1
        compared = 0
        while k >= 0 and compared < max_window_sites:
            i = kept[k]
            if contig[i] != contig[j] or position[j] - position[i] > window_bp:
                break
            dot = np.float32(0.0)
            for s in range(n):
                dot += z[i, s] * z[j, s]
            r = dot / (norm[i] * norm[j])
            if r * r > r2_threshold:
                ok = False
                break
            compared += 1
            k -= 1
        if ok:
            kept[n_kept] = j
            n_kept += 1
            keep[j] = True
