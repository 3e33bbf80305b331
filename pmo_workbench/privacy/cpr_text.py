"""Finding CPR-like values in raw text (bytes), with numpy alone: the finder behind
:func:`~pmo_workbench.privacy.scan.scan_for_cpr`, and a check of Arrow string arrays for writers that stream
tables without pandas (:func:`check_strings_no_cpr`).

Examples
--------
>>> starts, replacement = find_cprs(b"id 0101902000 and 2.0101902000")
>>> starts.tolist(), replacement.tolist()
([3], [False])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pmo_workbench.errors import PrivacyError
from pmo_workbench.privacy.cpr import compute_cpr_validity, compute_ecpr_validity

# Byte classes for the candidate finder (numpy over the whole buffer; a regex is 3-5x slower on digit-heavy text).
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0"): ord("9") + 1] = True
_LETTER = np.zeros(256, dtype=bool)
_LETTER[ord("A"): ord("Z") + 1] = True
_LETTER[ord("a"): ord("z") + 1] = True
_ALNUM = _DIGIT | _LETTER
_ESCAPE_LETTER = np.zeros(256, dtype=bool)
_ESCAPE_LETTER[list(b"nrtbf")] = True
_PLAIN_OFFSETS = np.arange(10)
_HYPHEN_OFFSETS = np.array([0, 1, 2, 3, 4, 5, 7, 8, 9, 10])


def _find_cprs(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and kinds (True = replacement) of CPR-like values in a byte buffer.

    A candidate is a run of exactly 10 digits, or 6 digits, ``-``, 4 digits -- or an eCPR number: 7 digits, two
    letters, one digit, or 6 digits, ``-``, 1 digit, two letters, 1 digit (:func:`_find_ecprs`); the byte before it
    must not be a letter (a JSON/C escape such as ``\\n`` counts as a separator) nor a decimal point after a digit;
    the byte after it must not be a letter nor a decimal point followed by a digit. Candidates must form a real
    date. eCPR numbers count as replacement numbers.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    n = len(a)
    if n < 10:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    dig = _DIGIT[a]
    edges = np.diff(dig.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    run_start = np.flatnonzero(edges == 1)
    run_end = np.flatnonzero(edges == -1)
    run_len = run_end - run_start
    plain = run_len == 10
    nxt_start = np.append(run_start[1:], -1)
    nxt_len = np.append(run_len[1:], 0)
    hyphen = (run_len == 6) & (nxt_start == run_end + 1) & (nxt_len == 4)
    hyphen[hyphen] &= a[run_end[hyphen]] == ord("-")
    starts = np.concatenate([run_start[plain], run_start[hyphen]])
    ends = np.concatenate([run_end[plain], run_end[hyphen] + 5])
    is_hyphen = np.concatenate([np.zeros(plain.sum(), bool), np.ones(hyphen.sum(), bool)])
    pad = np.concatenate([np.zeros(2, np.uint8), a, np.zeros(4, np.uint8)])  # pad[i + 2] == a[i]
    e_starts = _find_ecprs(a, pad, run_start, run_end, run_len)
    if len(starts) == 0 and len(e_starts) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    keep = _bounded(pad, starts, ends)
    starts, is_hyphen = starts[keep], is_hyphen[keep]
    offsets = np.where(is_hyphen[:, None], _HYPHEN_OFFSETS, _PLAIN_OFFSETS)
    digits = a[starts[:, None] + offsets].astype(np.int64) - 48
    valid, replacement = compute_cpr_validity(digits)
    all_starts = np.concatenate([starts[valid], e_starts])
    all_kinds = np.concatenate([replacement[valid], np.ones(len(e_starts), bool)])
    order = np.argsort(all_starts, kind="stable")
    return all_starts[order], all_kinds[order]


def _bounded(pad: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Candidates ``[start, end)`` standing alone: no letter or digit around them, no decimal point on a number."""
    p1, p2 = pad[starts + 1], pad[starts]  # bytes before the start
    before_ok = (~_ALNUM[p1] | (_ESCAPE_LETTER[p1] & (p2 == ord("\\")))) & ~((p1 == ord(".")) & _DIGIT[p2])
    n1, n2 = pad[ends + 2], pad[ends + 3]  # bytes after the end
    after_ok = ~_ALNUM[n1] & ~((n1 == ord(".")) & _DIGIT[n2])
    return before_ok & after_ok


_ECPR_DIGITS = np.array([0, 1, 2, 3, 4, 5, 6, 9])
_ECPR_HYPHEN_DIGITS = np.array([0, 1, 2, 3, 4, 5, 7, 10])


def _find_ecprs(a: np.ndarray, pad: np.ndarray, run_start: np.ndarray, run_end: np.ndarray,
                run_len: np.ndarray) -> np.ndarray:
    """Start offsets of eCPR numbers (``DDMMYYCAAG`` / ``DDMMYY-CAAG``, letters in either case) in ``a``, given its
    digit runs. The two letters set them apart from what the CPR finder sees; the date and the century digit
    (0, 1, 5, 6, 7) are checked, and the number must stand alone like a CPR number."""
    found = []
    for hyphen, offsets in ((False, _ECPR_DIGITS), (True, _ECPR_HYPHEN_DIGITS)):
        # the digit run that ends with C: 7 digits DDMMYYC, or C alone after "DDMMYY-"
        idx = np.flatnonzero(run_len == (1 if hyphen else 7))
        if hyphen:
            idx = idx[idx >= 1]
            prev = idx - 1
            ok = (run_len[prev] == 6) & (run_end[prev] == run_start[idx] - 1) & (a[run_start[idx] - 1] == ord("-"))
            idx = idx[ok]
            start = run_start[idx] - 7
        else:
            start = run_start[idx]
        c_end = run_end[idx]
        # two letters, then exactly one digit (pad[i + 2] == a[i]; pad holds zeros past the end)
        ok = _LETTER[pad[c_end + 2]] & _LETTER[pad[c_end + 3]] & _DIGIT[pad[c_end + 4]] & ~_DIGIT[pad[c_end + 5]]
        start, c_end = start[ok], c_end[ok]
        start = start[_bounded(pad, start, c_end + 3)]
        if len(start):
            digits = a[start[:, None] + offsets].astype(np.int64) - 48
            found.append(start[compute_ecpr_validity(digits)])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


find_cprs = _find_cprs


def check_strings_no_cpr(values: Iterable[str], where: str) -> None:
    """Raise :class:`~pmo_workbench.errors.PrivacyError` naming ``where`` (never the value) when one of the strings
    ``values`` holds a CPR-like value (the rules of :func:`~pmo_workbench.privacy.scan.scan_for_cpr`; each string
    is scanned on its own).

    Examples
    --------
    >>> check_strings_no_cpr(["chr1", "PASS"], "variant_qc.parquet, column filters")
    >>> check_strings_no_cpr(["x", "010190-2000"], "t.parquet, column sample_id")
    Traceback (most recent call last):
    ...
    pmo_workbench.errors.PrivacyError: CPR-like value in t.parquet, column sample_id
    """
    text = "\n".join(values).encode("utf-8", "surrogatepass")
    if len(find_cprs(text)[0]):
        raise PrivacyError(f"CPR-like value in {where}")


def check_packed_strings_no_cpr(data: np.ndarray, offsets: np.ndarray, where: str) -> None:
    """:func:`check_strings_no_cpr` for strings packed as Arrow keeps them: string ``i`` is the bytes
    ``data[offsets[i]:offsets[i + 1]]`` (uint8, int64 offsets). Text without a run of six digits is passed at
    once (DNA alleles, filter names); otherwise the strings are scanned each on its own, as one buffer with a
    newline after each.

    Example
    -------
    >>> data = np.frombuffer(b"ACGT<CN2>0101902000", np.uint8)
    >>> check_packed_strings_no_cpr(data, np.array([0, 4, 9]), "alleles")
    >>> check_packed_strings_no_cpr(data, np.array([0, 4, 9, 19]), "variant_qc.parquet, column alleles")
    Traceback (most recent call last):
    ...
    pmo_workbench.errors.PrivacyError: CPR-like value in variant_qc.parquet, column alleles
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    if n < 1:
        return
    text = np.asarray(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
    digit = _DIGIT[text]
    if not digit.any():
        return
    edges = np.diff(digit.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    if int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max()) < 6:
        return  # no CPR (10 digits), hyphenated CPR or eCPR (6 digits, then more) can start here
    lengths = np.diff(offsets)
    joined = np.full(len(text) + n, ord("\n"), dtype=np.uint8)
    joined[np.arange(len(text)) + np.repeat(np.arange(n), lengths)] = text
    if len(find_cprs(joined.tobytes())[0]):
        raise PrivacyError(f"CPR-like value in {where}")


def check_ints_no_cpr(values: np.ndarray, where: str) -> None:
    """:func:`check_strings_no_cpr` for integers: a 10-digit value forming a CPR number is a hit (as the scan of
    an integer column).

    Example
    -------
    >>> check_ints_no_cpr(np.array([12345, 248_956_422]), "variant_qc.parquet, column locus")
    """
    v = np.asarray(values)
    ok = (v >= 1_000_000_000) & (v <= 9_999_999_999)
    if not ok.any():
        return
    digits = (v[ok].astype(np.int64)[:, None] // 10 ** np.arange(9, -1, -1)) % 10
    valid, _ = compute_cpr_validity(digits)
    if valid.any():
        raise PrivacyError(f"CPR-like value in {where}")
