"""CPR numbers: parse and validate Danish personal identification numbers and replacement numbers.

Three kinds of identifier are recognised:

* CPR numbers ``DDMMYY-SSSS`` (century from the 7th digit, sex from the last; modulus 11 not required);
* the CPR office's replacement numbers (erstatningspersonnumre): the day raised by 60;
* the healthcare replacement numbers (eCPR) that LPR and the regions' systems carry for patients without a CPR
  number, ``DDMMYY-CAAG``: birth date, a century digit C, two letters A-Z (often the initials) and a sex digit G
  (odd for men, even for women). National X-eCPR (issued by the Danish Health Data Authority's eCPR service)
  has C = 1 for 1900-1999 and 7 for 2000-2099; decentral D-eCPR (the regions, general practice; specified in
  "Fællesindhold for basisregistrering af sygehuspatienter", LPR2) has C = 0 for 1900-1999, 5 before 1900 and
  6 from 2000. Sources: NSP "eCPR formater (X-eCPR og D-eCPR)", nspop.dk pageId 226757583 (examples
  ``0203291WQ3``, born 2 March 1929; ``1308781OS6``, 13 August 1978; ``3101057JC9``, 31 January 2005); MedCom,
  "Nu er erstatnings-CPR-numre via national e-CPR-service muligt" (9 November 2022); the HL7 Denmark FHIR DK Core
  invariants ``x-ecpr`` (``...[0-9]{2}(1|7)[A-Z]{2}[0-9]``) and ``d-ecpr`` (``...[0-9]{2}(0|5|6)[A-Z]{2}[0-9]``).

Examples
--------
>>> parse_cpr("010190-2000").birth_date
datetime.date(1990, 1, 1)
>>> c = parse_cpr("0203291WQ3")
>>> c.birth_date, c.sex, c.kind, c.ecpr
(datetime.date(1929, 3, 2), 'M', 'replacement', 'X')
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
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
        ``"cpr"`` or ``"replacement"`` (erstatningspersonnummer: birth day raised by 60; or an eCPR number).
    mod11_valid
        Whether the modulus-11 check holds; numbers issued since October 2007 may fail it and are still valid.
        Always False for eCPR numbers (they hold letters; modulus 11 does not apply).
    ecpr
        ``"X"`` (national X-eCPR), ``"D"`` (decentral D-eCPR) or None (a number of the CPR office).
    """

    birth_date: datetime.date
    sex: Literal["F", "M"]
    kind: Literal["cpr", "replacement"]
    mod11_valid: bool
    ecpr: Literal["D", "X"] | None = field(default=None, repr=False)


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


ECPR_CENTURY = {0: 1900, 5: 1800, 6: 2000, 1: 1900, 7: 2000}
"""eCPR century digit -> century: D-eCPR 0 (1900-1999), 5 (before 1900), 6 (from 2000); X-eCPR 1, 7."""

_ECPR_CENTURY_TABLE = np.full(10, -1, dtype=np.int64)
for _c, _century in ECPR_CENTURY.items():
    _ECPR_CENTURY_TABLE[_c] = _century


def compute_ecpr_validity(digits: np.ndarray) -> np.ndarray:
    """Which rows of an ``(n, 8)`` digit matrix (an eCPR's ``DDMMYYC`` and ``G``, letters left out) are eCPR
    numbers: a real birth date and a century digit C of 0, 1, 5, 6 or 7.

    Examples
    --------
    >>> compute_ecpr_validity(np.array([[0, 2, 0, 3, 2, 9, 1, 3], [3, 1, 0, 2, 2, 9, 1, 3],
    ...                                 [0, 2, 0, 3, 2, 9, 2, 3]])).tolist()
    [True, False, False]
    """
    d = np.asarray(digits, dtype=np.int64).reshape(-1, 8)
    dd = d[:, 0] * 10 + d[:, 1]
    mm = d[:, 2] * 10 + d[:, 3]
    century = _ECPR_CENTURY_TABLE[d[:, 6]]
    year = century + d[:, 4] * 10 + d[:, 5]
    return (century > 0) & (mm >= 1) & (mm <= 12) & (dd >= 1) & (dd <= _days_in_month(year, mm))


def find_valid_cprs(values: np.ndarray | list) -> np.ndarray:
    """Boolean mask of the values that are identifiers of a person: CPR numbers, replacement numbers and eCPR
    numbers (``DDMMYYSSSS``, ``DDMMYYCAAG``, each also with a hyphen after the date; surrounding whitespace
    ignored; eCPR letters in either case), vectorised.

    Examples
    --------
    >>> find_valid_cprs(["0101902000", "010190-2000", "3213901234", "020329-1WQ3", "0203292WQ3", "12"]).tolist()
    [True, True, False, True, False, False]
    """
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=object), dtype=object).astype(str).str.strip().str.upper()
    hyphen = (s.str.len() == 11) & (s.str[6:7] == "-")
    s = s.where(~hyphen, s.str[:6] + s.str[7:])
    ok = np.zeros(len(s), dtype=bool)
    plain = s.str.fullmatch(r"[0-9]{10}", na=False).to_numpy()
    if plain.any():
        digits = np.frombuffer("".join(s[plain]).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48
        ok[plain] = compute_cpr_validity(digits)[0]
    ecpr = s.str.fullmatch(r"[0-9]{7}[A-Z]{2}[0-9]", na=False).to_numpy()
    if ecpr.any():
        chars = np.frombuffer("".join(s[ecpr]).encode("ascii"), dtype=np.uint8).reshape(-1, 10)
        ok[ecpr] = compute_ecpr_validity(chars[:, [0, 1, 2, 3, 4, 5, 6, 9]].astype(np.int64) - 48)
    return ok


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
    """Parse a CPR number, replacement number or eCPR number, ``DDMMYY-SSSS``/``DDMMYYSSSS`` or
    ``DDMMYY-CAAG``/``DDMMYYCAAG`` (see the module docstring for the eCPR rules).

    Parameters
    ----------
    text
        The number; surrounding whitespace is ignored.

    Returns
    -------
    Cpr
        Birth date, sex, kind and the modulus-11 flag. Failing modulus 11 does not make a number invalid. An eCPR
        number is ``kind="replacement"`` with ``ecpr`` ``"X"`` or ``"D"``.

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
    >>> parse_cpr("130878-1OS6").sex, parse_cpr("150643-0SJ1").ecpr
    ('F', 'D')
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
    if s[7:9].isascii() and s[7:9].isalpha():
        return _parse_ecpr(s)
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


def _parse_ecpr(s: str) -> Cpr:
    """An eCPR number ``DDMMYYCAAG`` (hyphen already removed)."""
    for i, ch in enumerate(s):
        if i in (7, 8):
            continue
        if not ("0" <= ch <= "9"):
            raise ValueError(f"eCPR number must be DDMMYYCAAG (digits, two letters, a digit); position {i + 1} is "
                             "not a digit")
    dd, mm, yy, c, g = int(s[0:2]), int(s[2:4]), int(s[4:6]), int(s[6]), int(s[9])
    if c not in ECPR_CENTURY:
        raise ValueError(f"eCPR century digit {c} is not 0, 5, 6 (D-eCPR) or 1, 7 (X-eCPR)")
    if not 1 <= mm <= 12:
        raise ValueError(f"month {mm:02d} is not a month (01–12)")
    year = ECPR_CENTURY[c] + yy
    if not 1 <= dd <= int(_days_in_month(np.array([year]), np.array([mm]))[0]):
        raise ValueError(f"day {dd:02d} does not exist in month {mm:02d} of {year}")
    sex: Literal["F", "M"] = "M" if g % 2 else "F"
    return Cpr(birth_date=datetime.date(year, mm, dd), sex=sex, kind="replacement", mod11_valid=False,
               ecpr="X" if c in (1, 7) else "D")
