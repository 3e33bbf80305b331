"""Call-level kernels: ALT dosage of int8 calls, and the 2-bit copy's pack and unpack (lazily compiled).

Calls are int8 [variants, samples, ploidy] with -1 missing and -2 "no allele" (the padding of a haploid call);
the 2-bit code of :mod:`pmo_workbench.genotypes.packed_calls` is 0 hom-ref, 1 het, 2 hom-var, 3 missing, four
samples per byte.

Example
-------
>>> import numpy as np
>>> packed = np.array([[0b11100100, 0]], dtype=np.uint8)  # samples 0..3: hom-ref, het, hom-var, missing
>>> dosage, ploidy = np.empty((1, 4), np.int8), np.empty((1, 4), np.int8)
>>> unpack_rows(packed, 4, dosage, ploidy)
>>> dosage.tolist(), ploidy.tolist()
([[0, 1, 2, -1]], [[2, 2, 2, 0]])
"""

from __future__ import annotations

import numpy as np

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


@njit(cache=True, nogil=True)
def pack_rows(codes16, lut, out, ok):  # pragma: no cover - compiled
    """2-bit codes of diploid calls (``codes16``: the uint16 view [variants, samples] of ``[a0, a1]``, mapped by
    ``lut``) into ``out`` uint8 [variants, row bytes]; a row with a call outside the code gets zeros and
    ``ok`` False."""
    nv, ns = codes16.shape
    for i in range(nv):
        good = True
        for b in range(out.shape[1]):
            out[i, b] = 0
        for s in range(ns):
            c = lut[codes16[i, s]]
            if c < 0:
                good = False
                break
            out[i, s >> 2] |= np.uint8(c << ((s & 3) * 2))
        if not good:
            for b in range(out.shape[1]):
                out[i, b] = 0
        ok[i] = good


@njit(cache=True, nogil=True)
def unpack_rows(packed, ns, dosage, ploidy):  # pragma: no cover - compiled
    """ALT dosage (-1 missing) and ploidy (2, or 0 when missing) of the first ``ns`` samples of 2-bit rows."""
    for i in range(packed.shape[0]):
        for s in range(ns):
            c = (packed[i, s >> 2] >> ((s & 3) * 2)) & 3
            if c == 3:
                dosage[i, s] = -1
                ploidy[i, s] = 0
            else:
                dosage[i, s] = c
                ploidy[i, s] = 2
