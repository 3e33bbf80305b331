"""Synthetic CPR numbers that follow the CPR office's rules (for the raw layer of a synthetic project).

Each number is consistent with the birth date (the 7th digit is one the CPR office uses for that year) and the
sex (last digit odd for men, even for women). Kinds: ``"valid"`` passes modulus 11, ``"nonmod11"`` is a number
of the kind issued since 2007 that fails modulus 11, ``"replacement"`` is an erstatningspersonnummer (birth day
raised by 60). :func:`pmo_workbench.privacy.parse_cpr` reads every number back.

Examples
--------
>>> import numpy as np
>>> from pmo_workbench.privacy import parse_cpr
>>> cprs = generate_cprs(np.array(["1961-07-07"], dtype="datetime64[D]"), ["M"], ["valid"],
...                      np.random.default_rng(1))
>>> c = parse_cpr(cprs[0])
>>> (str(c.birth_date), c.sex, c.kind, c.mod11_valid)
('1961-07-07', 'M', 'cpr', True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pmo_workbench.privacy import MOD11_WEIGHTS

FIRST_YEAR = 1858
LAST_YEAR = 2057
KINDS = ("valid", "nonmod11", "replacement")
MAX_ROUNDS = 200

# 7th digits the CPR office uses for each range of birth years (first digit of the serial number).
_CENTURY_DIGITS = (
    (1858, 1899, (5, 6, 7, 8)),
    (1900, 1936, (0, 1, 2, 3)),
    (1937, 1999, (0, 1, 2, 3, 4, 9)),
    (2000, 2036, (4, 5, 6, 7, 8, 9)),
    (2037, 2057, (5, 6, 7, 8)),
)


def _century_choices(year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element: the allowed 7th digits (padded to 6 with -1) and how many there are."""
    table = np.full((len(_CENTURY_DIGITS), 6), -1, dtype=np.int64)
    counts = np.zeros(len(_CENTURY_DIGITS), dtype=np.int64)
    cat = np.full(year.shape, -1, dtype=np.int64)
    for i, (lo, hi, digits) in enumerate(_CENTURY_DIGITS):
        table[i, : len(digits)] = digits
        counts[i] = len(digits)
        cat[(year >= lo) & (year <= hi)] = i
    return table[cat], counts[cat]


def generate_cprs(
    birth_dates: Sequence | np.ndarray | pd.Series,
    sexes: Sequence[str] | np.ndarray | pd.Series,
    kinds: Sequence[str] | np.ndarray | pd.Series,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unique synthetic CPR numbers (10 digits, no hyphen) for the given birth dates, sexes and kinds.

    Parameters
    ----------
    birth_dates
        Dates between 1858-01-01 and 2057-12-31 (datetime64, dates or ISO strings).
    sexes
        ``"F"`` or ``"M"`` per person.
    kinds
        ``"valid"``, ``"nonmod11"`` or ``"replacement"`` per person.
    rng
        The random generator; the same state gives the same numbers.

    Returns
    -------
    numpy.ndarray
        ``<U10`` strings, unique within the call.

    Raises
    ------
    ValueError
        Lengths differ, a date outside 1858–2057, an unknown sex or kind, or too many persons born on one day
        to give each a unique number.

    Examples
    --------
    >>> import numpy as np
    >>> generate_cprs(np.array(["2001-02-03"], dtype="datetime64[D]"), ["F"], ["replacement"],
    ...               np.random.default_rng(0))[0][:6]
    '630201'
    """
    dates = pd.DatetimeIndex(pd.to_datetime(np.asarray(birth_dates)))
    sex = np.asarray(sexes).astype(str)
    kind = np.asarray(kinds).astype(str)
    n = len(dates)
    if not (len(sex) == n and len(kind) == n):
        raise ValueError(f"birth_dates, sexes and kinds differ in length ({n}, {len(sex)}, {len(kind)})")
    if n == 0:
        return np.zeros(0, dtype="<U10")
    if dates.hasnans:
        raise ValueError("birth_dates has missing dates")
    year = dates.year.to_numpy(dtype=np.int64)
    if year.min() < FIRST_YEAR or year.max() > LAST_YEAR:
        raise ValueError(f"birth dates must lie in {FIRST_YEAR}–{LAST_YEAR} (CPR century rules)")
    bad_sex = ~np.isin(sex, ["F", "M"])
    if bad_sex.any():
        raise ValueError(f"sexes must be 'F' or 'M' (element {int(np.argmax(bad_sex))} is not)")
    bad_kind = ~np.isin(kind, KINDS)
    if bad_kind.any():
        raise ValueError(f"kinds must be one of {KINDS} (element {int(np.argmax(bad_kind))} is not)")

    day = dates.day.to_numpy(dtype=np.int64) + np.where(kind == "replacement", 60, 0)
    month = dates.month.to_numpy(dtype=np.int64)
    yy = year % 100
    digits = np.zeros((n, 10), dtype=np.int64)
    digits[:, 0], digits[:, 1] = day // 10, day % 10
    digits[:, 2], digits[:, 3] = month // 10, month % 10
    digits[:, 4], digits[:, 5] = yy // 10, yy % 10
    choices, n_choices = _century_choices(year)
    parity = (sex == "M").astype(np.int64)
    is_valid, is_nonmod = kind == "valid", kind == "nonmod11"

    pending = np.arange(n)
    codes = np.full(n, -1, dtype=np.int64)
    for _ in range(MAX_ROUNDS):
        m = len(pending)
        d7 = choices[pending, (rng.random(m) * n_choices[pending]).astype(np.int64)]
        d89 = rng.integers(0, 10, size=(m, 2))
        d10 = 2 * rng.integers(0, 5, size=m) + parity[pending]
        digits[pending, 6] = d7
        digits[pending, 7:9] = d89
        partial = digits[pending, :9] @ MOD11_WEIGHTS[:9]
        check = (-partial) % 11  # the last digit that makes the weighted sum divisible by 11
        v = is_valid[pending]
        d10 = np.where(v, check, d10)
        ok = np.where(v, (check < 10) & (check % 2 == parity[pending]), True)
        ok &= ~(is_nonmod[pending] & (d10 == check))
        digits[pending, 9] = d10
        codes[pending] = np.where(ok, digits[pending] @ (10 ** np.arange(9, -1, -1)), -1)
        taken = pd.Series(codes).duplicated(keep="first").to_numpy() | (codes < 0)
        pending = np.flatnonzero(taken)
        if len(pending) == 0:
            out = (digits + 48).astype(np.uint8)
            return out.view("S10").ravel().astype("<U10")
    raise ValueError(f"could not give {len(pending)} persons a unique number: too many persons with the same "
                     "birth date, sex and kind")
