"""Call-level kernel: ALT dosage of int8 calls (lazily compiled). The 2-bit copy's pack and unpack are C
(``ckernels/vcf_parse.c``, through :mod:`pmo_workbench.genotypes.packed_calls`).

Calls are int8 [variants, samples, ploidy] with -1 missing and -2 "no allele" (the padding of a haploid call).

Examples
--------
>>> import numpy as np
>>> gt = np.array([[[0, 1], [1, 1], [-1, -1], [1, -2]]], dtype=np.int8)  # het, hom-var, missing, haploid alt
>>> dosage, ploidy = np.empty((1, 4), np.int8), np.empty((1, 4), np.int8)
>>> fill_dosage(gt, dosage, ploidy)
>>> dosage.tolist(), ploidy.tolist()
([[1, 2, -1, 1]], [[2, 2, 0, 1]])
"""

from __future__ import annotations

from pmo_workbench.lazy_njit import njit


@njit(cache=True, nogil=True)
def fill_dosage(gt, dosage, ploidy):  # pragma: no cover - compiled
    """ALT allele count (-1 missing) and ploidy (0 when missing) of each call of ``gt`` into ``dosage`` and
    ``ploidy`` (int8 [variants, samples])."""
    nv, ns, pl = gt.shape
    for i in range(nv):
        for s in range(ns):
            d = 0
            p = 0
            missing = False
            for k in range(pl):
                a = gt[i, s, k]
                if a == -2:
                    break
                if a == -1:
                    missing = True
                    break
                p += 1
                if a > 0:
                    d += 1
            if missing:
                dosage[i, s] = -1
                ploidy[i, s] = 0
            else:
                dosage[i, s] = d
                ploidy[i, s] = p
