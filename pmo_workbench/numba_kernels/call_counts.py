"""Genotype counters of the rows outside the 2-bit copy (lazily compiled): the kernels of
:func:`pmo_workbench.genotypes.call_counts.compute_call_counts`.

Per-sample counters are the columns ``SAMPLE_*`` of an int64 [samples, N_SAMPLE] array. The fast path reads the
two int8 alleles of a diploid or haploid biallelic call as one little-endian uint16 and maps it through
:func:`build_class_table` to a class (``HOM_REF``, ``HET``, ``HOM_VAR``, ``HAP_REF``, ``HAP_ALT``, ``MISSING``,
``OTHER``); a row with a call of class ``OTHER`` goes to the general kernel, which follows Hail's rules for any
ploidy and number of alleles. Allele types are the codes of :mod:`pmo_workbench.genotypes.alleles`.

Example
-------
>>> lut = build_class_table()
>>> call = np.array([[0, 1]], dtype=np.int8).view(np.uint16)[0, 0]
>>> int(lut[call]) == HET
True
"""

from __future__ import annotations

import numpy as np

from pmo_workbench.genotypes.alleles import DELETION, INSERTION, TRANSITION, TRANSVERSION
from pmo_workbench.lazy_njit import njit

# per-sample counters
(SAMPLE_CALLED, SAMPLE_NOT_CALLED, SAMPLE_HOM_REF, SAMPLE_HET, SAMPLE_SINGLETON, SAMPLE_TS, SAMPLE_TV,
 SAMPLE_INS, SAMPLE_DEL) = range(9)
N_SAMPLE = 9
# call classes of the fast path
HOM_REF, HET, HOM_VAR, HAP_REF, HAP_ALT, MISSING, OTHER = range(7)
N_CLASS = 6
N_SLOTS = 7  # counter slots per allele type: the six classes and "other"
N_TYPES = 9  # allele type codes 0..8 of .alleles


def build_class_table() -> np.ndarray:
    """Lookup from the little-endian uint16 view of a call ``[a0, a1]`` to its class (int8; ``OTHER`` for any
    call the fast path does not count)."""
    lut = np.full(1 << 16, OTHER, dtype=np.int8)

    def code(a0: int, a1: int) -> int:
        return (a0 & 0xFF) | ((a1 & 0xFF) << 8)  # little-endian uint16 view of [a0, a1]

    lut[code(0, 0)] = HOM_REF
    lut[code(0, 1)] = lut[code(1, 0)] = HET
    lut[code(1, 1)] = HOM_VAR
    lut[code(0, -2)] = HAP_REF
    lut[code(1, -2)] = HAP_ALT
    lut[code(-1, -1)] = lut[code(-1, -2)] = MISSING
    return lut


if np.little_endian is False:  # pragma: no cover - the uint16 view assumes little-endian
    raise ImportError("the call-class table assumes a little-endian machine")


@njit(cache=True, nogil=True)
def count_fast_rows(codes, rows, atype, lut, hist, flagged, scounts, singles):  # pragma: no cover - compiled
    """One pass per listed row: histogram its calls and add them to one thread's per-sample counters
    ``scounts`` [samples, types * slots] and ``singles`` [samples].

    Rows holding a call outside the table's classes are undone and flagged for the general kernel; for a
    row whose ALT allele count is 1 the carrier gets a singleton.
    """
    ns = codes.shape[1]
    h = np.zeros(8, dtype=np.int64)
    for j in range(len(rows)):
        v = rows[j]
        h[:] = 0
        base = atype[v] * N_SLOTS
        for s in range(ns):
            c = lut[codes[v, s]]
            h[c] += 1
            scounts[s, base + c] += 1
        for c in range(N_CLASS):
            hist[j, c] = h[c]
        if h[OTHER] > 0:
            flagged[j] = True
            for s in range(ns):
                scounts[s, base + lut[codes[v, s]]] -= 1
            continue
        if h[HET] + 2 * h[HOM_VAR] + h[HAP_ALT] == 1:
            for s in range(ns):
                c = lut[codes[v, s]]
                if c == HET or c == HAP_ALT:
                    singles[s] += 1
                    break


@njit(cache=True, nogil=True)
def count_general_rows(gt, rows, n_alleles, atype, ac, n_called, n_het, hom_ref, hom_var, sample):  # pragma: no cover
    """Any ploidy, any number of alleles (Hail's rules); ``ac`` etc. are indexed like ``rows``."""
    ns = gt.shape[1]
    pl = gt.shape[2]
    width = ac.shape[1]
    for j in range(len(rows)):
        v = rows[j]
        for s in range(ns):
            for k in range(pl):
                a = gt[v, s, k]
                if a < 0:
                    break
                ac[j, a] += 1
        for s in range(ns):
            a0 = gt[v, s, 0]
            if a0 == -1:
                sample[s, SAMPLE_NOT_CALLED] += 1
                continue
            sample[s, SAMPLE_CALLED] += 1
            n_called[j] += 1
            ploidy = 0
            hom = True
            allref = True
            for k in range(pl):
                a = gt[v, s, k]
                if a == -2:
                    break
                ploidy += 1
                if a != a0:
                    hom = False
                if a > 0:
                    allref = False
                    t = atype[v, a - 1]
                    if t == TRANSITION:
                        sample[s, SAMPLE_TS] += 1
                    elif t == TRANSVERSION:
                        sample[s, SAMPLE_TV] += 1
                    elif t == INSERTION:
                        sample[s, SAMPLE_INS] += 1
                    elif t == DELETION:
                        sample[s, SAMPLE_DEL] += 1
                    if a < width and a < n_alleles[v] and ac[j, a] == 1:
                        sample[s, SAMPLE_SINGLETON] += 1
            if allref:
                sample[s, SAMPLE_HOM_REF] += 1
            elif not hom:
                sample[s, SAMPLE_HET] += 1
            if ploidy == 2:
                if not hom:
                    n_het[j] += 1
                elif a0 == 0:
                    hom_ref[j] += 1
                elif a0 == 1:
                    hom_var[j] += 1
