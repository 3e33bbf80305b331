"""CPR numbers: parse and validate Danish personal identification numbers and replacement numbers.

Examples
--------
>>> parse_cpr("010190-2000").birth_date
datetime.date(1990, 1, 1)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

import numpy as np

MOD11_WEIGHTS = np.array([4, 3, 2, 7, 6, 5, 4, 3, 2, 1], dtype=np.int64)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@dataclass(frozen=True)
class Cpr:
    """What a CPR number says about its holder (the number itself is deliberately not kept).

    Attributes
    ----------
    birth_date
        The real birth date (for a replacement number the day with 60 taken off).
    sex
        ``"M"`` if the last digit is odd, ``"F"`` if it is even.
    kind
        ``"cpr"`` or ``"replacement"`` (erstatningspersonnummer: birth day raised by 60).
    mod11_valid
        Whether the modulus-11 check holds; numbers issued since October 2007 may fail it and are still valid.
    """

    birth_date: datetime.date
    sex: Literal["F", "M"]
    kind: Literal["cpr", "replacement"]
    mod11_valid: bool


def compute_cpr_years(yy: np.ndarray, digit7: np.ndarray) -> np.ndarray:
    """Birth years from the two-digit year and the 7th digit (CPR office rules), vectorised.

    Digit 7 of 0–3: 1900–1999; 4 or 9: 2000–2036 for YY 00–36, else 1937–1999; 5–8: 2000–2057 for YY 00–57,
    else 1858–1899.

    Examples
    --------
    >>> compute_cpr_years(np.array([90, 10, 90]), np.array([2, 4, 5])).tolist()
    [1990, 2010, 1890]
    """
    yy = np.asarray(yy, dtype=np.int64)
    d7 = np.asarray(digit7, dtype=np.int64)
    century = np.where(
        d7 <= 3, 1900,
        np.where((d7 == 4) | (d7 == 9), np.where(yy <= 36, 2000, 1900), np.where(yy <= 57, 2000, 1800)),
    )
    return century + yy


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)


def compute_cpr_validity(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of an ``(n, 10)`` digit matrix form a CPR-like number with a real birth date.

    Returns ``(valid, replacement)`` boolean arrays; replacement numbers (day 61–91) count as valid.

    Examples
    --------
    >>> d = np.array([[int(c) for c in s] for s in ("3112991234", "3102981234", "6101902000")])
    >>> [v.tolist() for v in compute_cpr_validity(d)]
    [[True, False, True], [False, False, True]]
    """
    d = np.asarray(digits, dtype=np.int64).reshape(-1, 10)
    dd = d[:, 0] * 10 + d[:, 1]
    mm = d[:, 2] * 10 + d[:, 3]
    yy = d[:, 4] * 10 + d[:, 5]
    replacement = dd > 60
    day = np.where(replacement, dd - 60, dd)
    year = compute_cpr_years(yy, d[:, 6])
    valid = (mm >= 1) & (mm <= 12) & (day >= 1) & (day <= _days_in_month(year, mm))
    return valid, valid & replacement


def parse_cpr(text: str) -> Cpr:
    """Parse a CPR number or replacement number, ``DDMMYY-SSSS`` or ``DDMMYYSSSS``.

    Parameters
    ----------
    text
        The number; surrounding whitespace is ignored.

    Returns
    -------
    Cpr
        Birth date, sex, kind and the modulus-11 flag. Failing modulus 11 does not make a number invalid.

    Raises
    ------
    ValueError
        Saying what is wrong (length, a non-digit, the day, the month, an impossible date) without the number.

    Examples
    --------
    >>> parse_cpr("070761-4285")
    Cpr(birth_date=datetime.date(1961, 7, 7), sex='M', kind='cpr', mod11_valid=True)
    >>> parse_cpr("6101905678").kind
    'replacement'
    """
    if not isinstance(text, str):
        raise ValueError(f"CPR number must be text, not {type(text).__name__}")
    s = text.strip()
    if len(s) == 11:
        if s[6] != "-":
            raise ValueError("CPR number of 11 characters must be DDMMYY-SSSS (hyphen as the 7th character)")
        s = s[:6] + s[7:]
    elif len(s) != 10:
        raise ValueError(f"CPR number must have 10 digits (DDMMYYSSSS or DDMMYY-SSSS), got {len(s)} characters")
    for i, ch in enumerate(s):
        if not ("0" <= ch <= "9"):
            raise ValueError(f"CPR number must contain only digits (and one hyphen); digit position {i + 1} is not")
    d = np.frombuffer(s.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    dd, mm, yy = d[0] * 10 + d[1], d[2] * 10 + d[3], d[4] * 10 + d[5]
    if not (1 <= dd <= 31 or 61 <= dd <= 91):
        raise ValueError(f"day {dd:02d} is not a birth day (01–31, or 61–91 for a replacement number)")
    if not 1 <= mm <= 12:
        raise ValueError(f"month {mm:02d} is not a month (01–12)")
    kind: Literal["cpr", "replacement"] = "replacement" if dd > 60 else "cpr"
    day = int(dd - 60 if dd > 60 else dd)
    year = int(compute_cpr_years(np.array([yy]), np.array([d[6]]))[0])
    if day > int(_days_in_month(np.array([year]), np.array([mm]))[0]):
        raise ValueError(f"day {day:02d} does not exist in month {mm:02d} of {year}")
    sex: Literal["F", "M"] = "M" if d[9] % 2 else "F"
    mod11 = bool(int(d @ MOD11_WEIGHTS) % 11 == 0)
    return Cpr(birth_date=datetime.date(year, int(mm), day), sex=sex, kind=kind, mod11_valid=mod11)
