"""Allele types of ALT alleles, exactly as Hail's ``numeric_allele_type`` (for sample QC counts).

Codes: 0 unknown, 1 transition, 2 transversion (SNPs; Hail counts N and M bases as transversions),
3 MNP, 4 insertion, 5 deletion, 6 complex, 7 star (``*``), 8 symbolic (``<DEL>``, breakends). REF and ALT must
match ``^[ACGTNM]+$`` (upper case) to be typed, as in Hail.

Examples
--------
>>> classify_alt_alleles(np.array(["A", "AT", "C"], dtype=object), np.array(["G", "A,ATT", "A,*"], dtype=object),
...                      np.array([2, 3, 3])).tolist()
[[1, -1], [5, 4], [2, 7]]
"""

from __future__ import annotations

import re

import numpy as np

UNKNOWN, TRANSITION, TRANSVERSION, MNP, INSERTION, DELETION, COMPLEX, STAR, SYMBOLIC = range(9)
_BASES = re.compile(r"^[ACGTNM]+$")
_SYMBOLIC = re.compile(r"(^\.)|(\.$)|(^<)|(>$)|(\[)|(\])")
_TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}

_SNP_TABLE = np.full((256, 256), UNKNOWN, dtype=np.int8)
for _r in "ACGTNM":
    for _a in "ACGTNM":
        if _r != _a:
            _SNP_TABLE[ord(_r), ord(_a)] = TRANSITION if (_r, _a) in _TRANSITIONS else TRANSVERSION
_SNP_TABLE[[ord(c) for c in "ACGTNM"], ord("*")] = STAR


def classify_allele(ref: str, alt: str) -> int:
    """Type code of one ALT allele against REF (Hail's rules)."""
    if not _BASES.match(ref):
        return UNKNOWN
    if _BASES.match(alt):
        if len(ref) == len(alt):
            diffs = [(r, a) for r, a in zip(ref, alt, strict=True) if r != a]
            if len(ref) == 1:
                return UNKNOWN if not diffs else (TRANSITION if diffs[0] in _TRANSITIONS else TRANSVERSION)
            if len(diffs) == 1:
                return TRANSITION if diffs[0] in _TRANSITIONS else TRANSVERSION
            return MNP
        if len(ref) < len(alt) and ref[0] == alt[0] and alt.endswith(ref[1:]):
            return INSERTION
        if ref[0] == alt[0] and ref.endswith(alt[1:]):
            return DELETION
        return COMPLEX
    if alt == "*":
        return STAR
    if _SYMBOLIC.search(alt):
        return SYMBOLIC
    return UNKNOWN


def classify_alt_alleles(ref: np.ndarray, alt: np.ndarray, n_alleles: np.ndarray) -> np.ndarray:
    """Type codes int8 [variants, max ALT alleles] (-1 where a variant has fewer ALT alleles).

    Single-base biallelic sites (nearly all of a WGS call set) are typed with a lookup table; other sites
    one by one.
    """
    n_alleles = np.asarray(n_alleles, dtype=np.int64)
    n = len(n_alleles)
    width = max(int(n_alleles.max()) - 1 if n else 0, 1)
    out = np.full((n, width), -1, dtype=np.int8)
    ref_b = np.asarray(ref, dtype="S")
    alt_b = np.asarray(alt, dtype="S")
    ref_len = np.char.str_len(ref_b) if n else np.zeros(0, int)
    alt_len = np.char.str_len(alt_b) if n else np.zeros(0, int)
    fast = (n_alleles == 2) & (ref_len == 1) & (alt_len == 1)
    if fast.any():
        r = ref_b[fast].astype("S1").view(np.uint8)
        a = alt_b[fast].astype("S1").view(np.uint8)
        out[fast, 0] = _SNP_TABLE[r, a]
    for i in np.flatnonzero(~fast & (n_alleles > 1)):
        r = ref[i]
        for k, a in enumerate(str(alt[i]).split(",")):
            out[i, k] = classify_allele(r, a)
    return out
