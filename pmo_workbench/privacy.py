"""Privacy core (DESIGN.md §4.5): CPR numbers, pseudonyms, disclosure control and the output scan.

* :func:`parse_cpr` — parse and validate a Danish CPR number or replacement number (erstatningspersonnummer).
* :func:`pseudonymise` — keyed HMAC-SHA256 pseudonyms; the key comes from :func:`load_pseudonym_key`.
* :func:`suppress_small_counts` — primary and complementary suppression of small counts in count tables, with
  :func:`format_suppressed` for display and :func:`assert_no_small_counts` for report code.
* :func:`scan_for_cpr` / :func:`check_no_cpr` — find CPR-like values in frames and output files, naming the file and
  the column or line, never the value.

No function here ever puts a CPR number into an error message or a hit.

Example
-------
>>> parse_cpr("010190-2000").birth_date
datetime.date(1990, 1, 1)
>>> pseudonymise("0101902000", DEMO_KEY) == pseudonymise("010190-2000", DEMO_KEY)
True
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.errors import PrivacyError

if TYPE_CHECKING:  # pragma: no cover
    from pmo_workbench.project import Project

__all__ = [
    "DEMO_KEY",
    "Cpr",
    "CprHit",
    "assert_no_small_counts",
    "check_no_cpr",
    "format_suppressed",
    "load_pseudonym_key",
    "parse_cpr",
    "pseudonymise",
    "scan_for_cpr",
    "suppress_small_counts",
]

# ----------------------------------------------------------------------------------------------------------------
# CPR numbers
# ----------------------------------------------------------------------------------------------------------------

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

    Example
    -------
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

    Example
    -------
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

    Example
    -------
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


# ----------------------------------------------------------------------------------------------------------------
# Pseudonyms
# ----------------------------------------------------------------------------------------------------------------

DEMO_KEY: bytes = b"PMO-WORKBENCH-PUBLIC-DEMO-KEY::synthetic-projects-only::NOT-SECRET"
"""The public key of synthetic/demo projects. It is in the source code, so it protects nothing: never use it on
real data (:func:`load_pseudonym_key` only returns it with ``allow_demo`` or ``privacy.synthetic: true``)."""

MIN_KEY_BYTES = 16


def load_pseudonym_key(
    project: Project | None = None,
    *,
    env: str = "PMO_PSEUDONYM_KEY",
    file: str | Path | None = None,
    allow_demo: bool = False,
) -> bytes:
    """The pseudonymisation key: from an environment variable, else a key file outside the project, else demo.

    Parameters
    ----------
    project
        A loaded project; its ``privacy.pseudonym_key.env``/``.file`` are used where ``env`` is left at its default
        and ``file`` is None, and ``privacy.synthetic: true`` allows the demo key.
    env
        Name of the environment variable holding the key (UTF-8 text; an empty value counts as unset).
    file
        Key file (bytes; surrounding whitespace stripped). Relative paths are resolved against the project folder.
        A key file inside the project folder is refused (projects get copied and shared).
    allow_demo
        Return :data:`DEMO_KEY` when no key is configured (synthetic data only).

    Raises
    ------
    PrivacyError
        No key (and demo not allowed), a missing key file, a key file inside the project, or a key shorter than
        16 bytes.

    Example
    -------
    >>> load_pseudonym_key(env="PMO_NO_SUCH_VARIABLE", allow_demo=True) == DEMO_KEY
    True
    """
    root: Path | None = None
    if project is not None:
        root = project.root
        cfg = project.config.privacy
        if env == "PMO_PSEUDONYM_KEY":
            env = cfg.pseudonym_key.env
        if file is None:
            file = cfg.pseudonym_key.file
        allow_demo = allow_demo or cfg.synthetic
    value = os.environ.get(env, "")
    if value:
        return _checked_key(value.encode("utf-8"), f"environment variable {env}")
    if file is not None:
        path = Path(file).expanduser()
        if root is not None and not path.is_absolute():
            path = root / path
        path = path.resolve()
        if root is not None and path.is_relative_to(root.resolve()):
            raise PrivacyError(
                f"pseudonym key file {path} is inside the project folder {root}; move it outside the project "
                "(projects are copied and shared) and point privacy.pseudonym_key.file at it"
            )
        if not path.is_file():
            raise PrivacyError(f"pseudonym key file {path} does not exist (set by privacy.pseudonym_key.file)")
        return _checked_key(path.read_bytes().strip(), f"key file {path}")
    if allow_demo:
        return DEMO_KEY
    raise PrivacyError(
        f"no pseudonym key: set the environment variable {env} (at least {MIN_KEY_BYTES} bytes, e.g. "
        "`export PMO_PSEUDONYM_KEY=$(openssl rand -hex 32)`) or set privacy.pseudonym_key.file in pmo.yaml to a "
        "key file outside the project folder; the public demo key is only for synthetic projects"
    )


def _checked_key(key: bytes | str, where: str = "key") -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray):
        raise PrivacyError(f"pseudonym key must be bytes, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise PrivacyError(f"pseudonym key from {where} is too short: {len(key)} bytes, need at least {MIN_KEY_BYTES}")
    return bytes(key)


class _Hmac:
    """HMAC-SHA256 with the inner and outer pads hashed once (3x faster than ``hmac.digest`` per value)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def pseudonym(self, value: str) -> str:
        h = self.inner.copy()
        h.update(value.encode("utf-8"))
        o = self.outer.copy()
        o.update(h.digest())
        return "P" + o.digest()[:8].hex()


_STRIP = str.maketrans("", "", "- ")


def _normalise(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        raise TypeError("a boolean is not an identifier")
    if isinstance(value, int | np.integer):
        return f"{int(value):010d}"
    if isinstance(value, str):
        return value.strip().translate(_STRIP)
    raise TypeError(f"cannot pseudonymise a value of type {type(value).__name__}")


def pseudonymise(values: str | Sequence | np.ndarray | pd.Series, key: bytes) -> str | list | pd.Series:
    """Keyed pseudonyms ``"P" + 16 hex digits`` (HMAC-SHA256 of the normalised identifier).

    The identifier is normalised first: surrounding whitespace, hyphens and spaces are removed (integers are
    zero-padded to 10 digits), so ``"010190-2000"`` and ``"0101902000"`` give the same pseudonym.

    Parameters
    ----------
    values
        One identifier (returns a str), a list/array (returns a list) or a pandas Series (returns a Series with the
        same index; NA stays NA).
    key
        At least 16 bytes, from :func:`load_pseudonym_key`.

    Example
    -------
    >>> p = pseudonymise("010190-2000", DEMO_KEY)
    >>> p[0], len(p)
    ('P', 17)
    """
    mac = _Hmac(_checked_key(key))
    if isinstance(values, str | int | np.integer):
        return mac.pseudonym(_normalise(values))
    if isinstance(values, pd.Series):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        pseudo = np.array(_pseudonyms(mac, uniques), dtype=object)
        out = np.empty(len(values), dtype=object)
        known = codes >= 0
        out[known] = pseudo[codes[known]]
        out[~known] = pd.NA
        return pd.Series(out, index=values.index, name=values.name, dtype=object)
    if isinstance(values, Iterable):
        items = list(values)
        na = [_is_na(v) for v in items]
        done = iter(_pseudonyms(mac, [v for v, m in zip(items, na, strict=True) if not m]))
        return [None if m else next(done) for m in na]
    raise TypeError(f"pseudonymise expects a str, a list/array or a pandas Series, not {type(values).__name__}")


def _pseudonyms(mac: _Hmac, values: Sequence | np.ndarray | pd.Index) -> list[str]:
    """Pseudonyms of non-missing values; all-text input is normalised in one vectorised pass."""
    if len(values) and all(isinstance(v, str) for v in values):
        normal = pd.Series(values, dtype=object).str.strip().str.replace(r"[- ]", "", regex=True).tolist()
    else:
        normal = [_normalise(v) for v in values]
    inner, outer = mac.inner, mac.outer
    out = []
    for v in normal:
        h = inner.copy()
        h.update(v.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        out.append(o.digest()[:8].hex())
    return ["P" + x for x in out]


def _is_na(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


# ----------------------------------------------------------------------------------------------------------------
# Disclosure control
# ----------------------------------------------------------------------------------------------------------------

TOTAL_LABELS = frozenset({"all", "total", "totals", "totalt", "i alt", "ialt", "sum", "samlet"})


def suppress_small_counts(
    table: pd.Series | pd.DataFrame,
    min_count: int = 5,
    *,
    margins: str | None = "auto",
) -> pd.Series | pd.DataFrame:
    """Suppress small counts, and enough other counts that none can be derived from totals.

    Rules (Danish practice, Danmarks Statistik / Sundhedsdatastyrelsen):

    * **primary**: every count 1 … ``min_count``-1 is suppressed, in cells and in margins. Zeros are shown (a
      zero is not a small group of persons); they are never used as complementary cells.
    * **complementary**: more cells, smallest values first, are suppressed until (a) no suppressed cell can be
      pinned down from the published cells, the row/column/grand totals and non-negativity — every suppressed
      cell lies on a cycle of suppressed, positive cells, so it can move by at least ±1 — and (b) in every row and
      column the suppressed cells add up to 0 or at least ``min_count`` (checked with an interval LP where the
      line's own total is small and suppressed).

    The totals are always treated as published, whether or not the table holds them, so the pattern stays safe
    when the totals appear elsewhere (they usually do).

    Parameters
    ----------
    table
        Non-negative integer counts: a Series (one line) or a 2-D DataFrame.
    min_count
        Smallest count that may be shown (pmo.yaml ``privacy.min_cell_count``).
    margins
        ``"auto"``: a last row and/or last column labelled Total/All/I alt/Sum (case-insensitive; e.g. from
        ``pd.crosstab(..., margins=True)``) holds totals; ``None``: the table has no totals; any other string: the
        label of the total row and/or column. Declared totals must equal the sums (else ValueError).

    Returns
    -------
    Series or DataFrame
        Same shape, labels and margins, dtype ``Int64``, suppressed cells ``pd.NA``.

    Example
    -------
    >>> t = pd.DataFrame({"a": [3, 20, 30], "b": [40, 50, 60]}, index=["x", "y", "z"])
    >>> int(suppress_small_counts(t).isna().sum().sum())
    4
    """
    if not isinstance(min_count, int | np.integer) or min_count < 1:
        raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
    is_series = isinstance(table, pd.Series)
    frame = table.to_frame().T if is_series else table
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas Series or DataFrame, not {type(table).__name__}")
    values = _counts_array(frame)
    has_row_total, has_col_total = _detect_margins(frame, values, margins, is_series)
    inner = values[: values.shape[0] - has_row_total, : values.shape[1] - has_col_total]
    ext = _extend(inner)
    hidden = _protect(ext, int(min_count))
    keep_rows = list(range(inner.shape[0])) + ([inner.shape[0]] if has_row_total else [])
    keep_cols = list(range(inner.shape[1])) + ([inner.shape[1]] if has_col_total else [])
    out_vals = ext[np.ix_(keep_rows, keep_cols)]
    out_hidden = hidden[np.ix_(keep_rows, keep_cols)]
    data = pd.array(out_vals.ravel(), dtype="Int64")
    data[out_hidden.ravel()] = pd.NA
    result = pd.DataFrame(np.asarray(data).reshape(out_vals.shape), index=frame.index, columns=frame.columns)
    result = result.astype("Int64")
    if is_series:
        return pd.Series(result.iloc[0].to_numpy(), index=table.index, name=table.name, dtype="Int64")
    return result


def _counts_array(frame: pd.DataFrame) -> np.ndarray:
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError("count table is empty")
    try:
        arr = frame.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError("count table must hold numbers only") from None
    if np.isnan(arr).any():
        raise ValueError("count table has missing values; counts must be complete before suppression")
    if (arr < 0).any() or (arr != np.round(arr)).any():
        raise ValueError("count table must hold non-negative whole numbers")
    return arr.astype(np.int64)


def _is_total_label(label: object, margins: str) -> bool:
    if isinstance(label, tuple):
        return any(_is_total_label(x, margins) for x in label)
    if margins == "auto":
        return isinstance(label, str) and label.strip().casefold() in TOTAL_LABELS
    return label == margins


def _detect_margins(frame: pd.DataFrame, values: np.ndarray, margins: str | None,
                    is_series: bool) -> tuple[bool, bool]:
    if margins is None:
        return False, False
    if not isinstance(margins, str):
        raise TypeError("margins must be 'auto', a total label, or None")
    row = (not is_series) and frame.shape[0] >= 2 and _is_total_label(frame.index[-1], margins)
    col = frame.shape[1] >= 2 and _is_total_label(frame.columns[-1], margins)
    if margins != "auto":
        in_rows = (not is_series) and margins in list(frame.index)
        in_cols = margins in list(frame.columns)
        if (in_rows and not row) or (in_cols and not col):
            raise ValueError(f"the total {margins!r} must be the last row/column of the table")
        if not (row or col):
            raise ValueError(f"no row or column labelled {margins!r} in the table")
    r, c = values.shape
    if row and not np.array_equal(values[-1, : c - col], values[:-1, : c - col].sum(axis=0)):
        raise ValueError(f"the last row ({frame.index[-1]!r}) is not the sum of the rows above it; "
                         "pass margins=None if it is an ordinary row")
    if col and not np.array_equal(values[: r - row, -1], values[: r - row, :-1].sum(axis=1)):
        raise ValueError(f"the last column ({frame.columns[-1]!r}) is not the sum of the columns before it; "
                         "pass margins=None if it is an ordinary column")
    if row and col and values[-1, -1] != values[:-1, :-1].sum():
        raise ValueError("the grand total (last row, last column) is not the sum of the table")
    return bool(row), bool(col)


def _extend(inner: np.ndarray) -> np.ndarray:
    r, c = inner.shape
    ext = np.zeros((r + 1, c + 1), dtype=np.int64)
    ext[:r, :c] = inner
    ext[:r, c] = inner.sum(axis=1)
    ext[r, :c] = inner.sum(axis=0)
    ext[r, c] = inner.sum()
    return ext


def _protect(ext: np.ndarray, k: int) -> np.ndarray:
    """Suppression pattern of an extended table (last row and column are totals)."""
    hidden = (ext >= 1) & (ext < k)
    for _ in range(ext.size + 1):
        if _fix_line_sums(ext, hidden, k):
            continue
        bridge = _find_bridge(hidden)
        if bridge is not None:
            _close_cycle(ext, hidden, bridge)
            continue
        if _fix_small_suppressed_totals(ext, hidden, k):
            continue
        return hidden
    raise AssertionError("suppression did not converge")  # pragma: no cover - each round hides >= 1 more cell


def _lines(ext: np.ndarray, hidden: np.ndarray):
    """Each line of the extended table: (is_row, interior values, interior hidden, cell index of interior j)."""
    r, c = ext.shape[0] - 1, ext.shape[1] - 1
    for a in range(r + 1):
        yield True, ext[a, :c], hidden[a, :c], (lambda j, a=a: (a, j))
    for b in range(c + 1):
        yield False, ext[:r, b], hidden[:r, b], (lambda i, b=b: (i, b))


def _fix_line_sums(ext: np.ndarray, hidden: np.ndarray, k: int) -> bool:
    """Hide one more cell in a line whose hidden cells add up to 1..k-1 (if a published positive cell is left)."""
    for _is_row, vals, hid, cell in _lines(ext, hidden):
        s = int(vals[hid].sum())
        if 0 < s < k:
            cand = np.flatnonzero(~hid & (vals > 0))
            if len(cand):
                j = cand[np.argmin(vals[cand])]
                hidden[cell(int(j))] = True
                return True
    return False


def _find_bridge(hidden: np.ndarray) -> tuple[int, int] | None:
    """A hidden cell that is a bridge of the row/column graph of hidden cells (so it is derivable), or None."""
    nr, nc = hidden.shape
    adj: list[list[tuple[int, tuple[int, int]]]] = [[] for _ in range(nr + nc)]
    for a, b in zip(*np.nonzero(hidden), strict=True):
        e = (int(a), int(b))
        adj[a].append((nr + int(b), e))
        adj[nr + int(b)].append((int(a), e))
    disc = [-1] * (nr + nc)
    low = [0] * (nr + nc)
    t = 0
    for root in range(nr + nc):
        if disc[root] != -1 or not adj[root]:
            continue
        disc[root] = low[root] = t
        t += 1
        stack = [(root, None, iter(adj[root]))]
        while stack:
            u, parent_edge, it = stack[-1]
            for v, e in it:
                if e == parent_edge:
                    continue
                if disc[v] == -1:
                    disc[v] = low[v] = t
                    t += 1
                    stack.append((v, e, iter(adj[v])))
                    break
                low[u] = min(low[u], disc[v])
            else:
                stack.pop()
                if stack:
                    p = stack[-1][0]
                    low[p] = min(low[p], low[u])
                    if low[u] > disc[p]:
                        return parent_edge
    return None


def _close_cycle(ext: np.ndarray, hidden: np.ndarray, bridge: tuple[int, int]) -> None:
    """Hide the cheapest path of positive cells that closes a cycle through ``bridge`` (Dijkstra, cost = value)."""
    nr, nc = ext.shape
    weight = np.where(hidden, 0.0, np.where(ext > 0, ext.astype(float) + 1e-6, np.inf))
    weight[bridge] = np.inf
    n = nr + nc
    dist = np.full(n, np.inf)
    prev = np.full(n, -1)
    done = np.zeros(n, dtype=bool)
    src, dst = bridge[0], nr + bridge[1]
    dist[src] = 0.0
    while True:
        cand = np.where(done, np.inf, dist)
        u = int(np.argmin(cand))
        if not np.isfinite(cand[u]) or u == dst:
            break
        done[u] = True
        if u < nr:
            alt = dist[u] + weight[u, :]
            idx = nr + np.arange(nc)
        else:
            alt = dist[u] + weight[:, u - nr]
            idx = np.arange(nr)
        better = alt < dist[idx]
        dist[idx[better]] = alt[better]
        prev[idx[better]] = u
    if not np.isfinite(dist[dst]):  # pragma: no cover - a path always exists through the totals
        hidden |= ext > 0
        return
    v = dst
    while v != src:
        u = int(prev[v])
        a, b = (u, v - nr) if u < nr else (v, u - nr)
        hidden[a, b] = True
        v = u


def _fix_small_suppressed_totals(ext: np.ndarray, hidden: np.ndarray, k: int) -> bool:
    """Where a line's hidden cells add up to < k because its whole total is small, make sure the LP upper bound
    of their sum reaches k; otherwise hide the smallest published cell crossing the line's hidden cells."""
    for is_row, vals, hid, cell in _lines(ext, hidden):
        s = int(vals[hid].sum())
        members = [cell(int(j)) for j in np.flatnonzero(hid)]
        if 0 < s < k and _max_hidden_sum(ext, hidden, members) < k - 1e-6:
            crossing = np.zeros_like(hidden)
            for a, b in members:
                if is_row:
                    crossing[:, b] = True
                else:
                    crossing[a, :] = True
            choices = crossing & ~hidden & (ext > 0)
            if not choices.any():
                choices = ~hidden & (ext > 0)
            if not choices.any():  # pragma: no cover - everything positive is hidden already
                return False
            masked = np.where(choices, ext, np.iinfo(np.int64).max)
            hidden[np.unravel_index(int(np.argmin(masked)), ext.shape)] = True
            return True
    return False


def _max_hidden_sum(ext: np.ndarray, hidden: np.ndarray, cells: list[tuple[int, int]]) -> float:
    from scipy.optimize import linprog

    r, c = ext.shape[0] - 1, ext.shape[1] - 1
    pos = {cell: i for i, cell in enumerate(zip(*np.nonzero(hidden), strict=True))}
    n = len(pos)
    rows_a, rhs = [], []
    for a in range(r + 1):
        coef = np.zeros(n)
        known = 0.0
        for b in range(c + 1):
            sign = -1.0 if b == c else 1.0
            if (a, b) in pos:
                coef[pos[(a, b)]] += sign
            else:
                known += sign * ext[a, b]
        rows_a.append(coef)
        rhs.append(-known)
    for b in range(c + 1):
        coef = np.zeros(n)
        known = 0.0
        for a in range(r + 1):
            sign = -1.0 if a == r else 1.0
            if (a, b) in pos:
                coef[pos[(a, b)]] += sign
            else:
                known += sign * ext[a, b]
        rows_a.append(coef)
        rhs.append(-known)
    obj = np.zeros(n)
    for cell in cells:
        obj[pos[cell]] = -1.0
    res = linprog(obj, A_eq=np.array(rows_a), b_eq=np.array(rhs), bounds=(0, None), method="highs")
    if res.status == 3:
        return np.inf
    return float(-res.fun)


def assert_no_small_counts(table: pd.Series | pd.DataFrame, min_count: int = 5) -> None:
    """Raise :class:`PrivacyError` if a published (non-NA) count in the table is 1 … ``min_count``-1.

    Also checks, where the table has a total row/column (detected as in :func:`suppress_small_counts`), that no
    line has exactly one suppressed cell (which its total would give away).

    Example
    -------
    >>> assert_no_small_counts(pd.Series([0, 7, pd.NA, pd.NA], dtype="Int64"))
    """
    frame = table.to_frame().T if isinstance(table, pd.Series) else table
    arr = frame.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    small = ~np.isnan(arr) & (arr >= 1) & (arr < min_count)
    if small.any():
        i, j = np.argwhere(small)[0]
        where = (f"entry {frame.columns[j]!r}" if isinstance(table, pd.Series)
                 else f"row {frame.index[i]!r}, column {frame.columns[j]!r}")
        raise PrivacyError(f"count below {min_count} published at {where} ({int(small.sum())} such cells)")
    na = np.isnan(arr)
    row_total = frame.shape[0] >= 2 and _is_total_label(frame.index[-1], "auto")
    col_total = frame.shape[1] >= 2 and _is_total_label(frame.columns[-1], "auto")
    if col_total:
        lone = na.sum(axis=1) == 1
        if lone.any():
            raise PrivacyError(f"row {frame.index[int(np.argmax(lone))]!r} has one suppressed cell, which its "
                               "total gives away")
    if row_total:
        lone = na.sum(axis=0) == 1
        if lone.any():
            raise PrivacyError(f"column {frame.columns[int(np.argmax(lone))]!r} has one suppressed cell, which its "
                               "total gives away")


def format_suppressed(
    table: pd.Series | pd.DataFrame, min_count: int = 5, *, marker: str = "x"
) -> pd.Series | pd.DataFrame:
    """Render a suppressed count table as text: counts with thousands separators, suppressed cells as ``marker``.

    All suppressed cells get the same marker (showing small ones as ``<5`` and complementary ones differently
    would tell a reader which are small). Refuses a table that still shows a count below ``min_count``.
    Footnote for reports: ``x = fewer than 5, or hidden so that a count below 5 cannot be derived``.

    Example
    -------
    >>> format_suppressed(pd.Series([12000, pd.NA, pd.NA, 0], dtype="Int64")).tolist()
    ['12,000', 'x', 'x', '0']
    """
    assert_no_small_counts(table, min_count)

    def render(v: object) -> str:
        return marker if v is pd.NA or _is_na(v) else f"{int(v):,}"

    if isinstance(table, pd.Series):
        return table.astype(object).map(render)
    return table.astype(object).map(render)


# ----------------------------------------------------------------------------------------------------------------
# Scanning outputs for CPR numbers
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CprHit:
    """Where CPR-like values were found — never the values.

    Attributes
    ----------
    file
        The file (None for an in-memory frame).
    column
        Table column (``"<index>"`` for the index, ``"<column names>"`` for the labels); None for text.
    line
        1-based line of a text file (JSON, notebooks and HTML are scanned as text); None for tables.
    kind
        ``"cpr"`` or ``"replacement"``.
    count
        How many CPR-like values of this kind are at this place.
    first_row
        0-based row of the first one in a table (None for text).
    """

    file: str | None
    column: str | None
    line: int | None
    kind: Literal["cpr", "replacement"]
    count: int
    first_row: int | None = None

    def where(self) -> str:
        """``<file>, column <c>`` / ``<file>, line <n>`` for messages."""
        parts = [self.file or "<data frame>"]
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


# Byte classes for the candidate finder (numpy over the whole buffer; a regex is 3-5x slower on digit-heavy text).
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0"): ord("9") + 1] = True
_ALNUM = _DIGIT.copy()
_ALNUM[ord("A"): ord("Z") + 1] = True
_ALNUM[ord("a"): ord("z") + 1] = True
_ESCAPE_LETTER = np.zeros(256, dtype=bool)
_ESCAPE_LETTER[list(b"nrtbf")] = True
_PLAIN_OFFSETS = np.arange(10)
_HYPHEN_OFFSETS = np.array([0, 1, 2, 3, 4, 5, 7, 8, 9, 10])

TEXT_SUFFIXES = frozenset({".txt", ".md", ".html", ".htm", ".json", ".ipynb", ".log", ".yaml", ".yml", ".xml",
                           ".svg", ".tex", ".rst", ".js", ".css", ".geojson", ".jsonl", ".ndjson"})
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".parquet", ".pq"})


def _find_cprs(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and kinds (True = replacement) of CPR-like values in a byte buffer.

    A candidate is a run of exactly 10 digits, or 6 digits, ``-``, 4 digits; the byte before it must not be a
    letter (a JSON/C escape such as ``\\n`` counts as a separator) nor a decimal point after a digit; the byte
    after it must not be a letter nor a decimal point followed by a digit. Candidates must form a real date.
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
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    pad = np.concatenate([np.zeros(2, np.uint8), a, np.zeros(2, np.uint8)])  # pad[i + 2] == a[i]
    p1, p2 = pad[starts + 1], pad[starts]  # bytes before the start
    before_ok = (~_ALNUM[p1] | (_ESCAPE_LETTER[p1] & (p2 == ord("\\")))) & ~((p1 == ord(".")) & _DIGIT[p2])
    n1, n2 = pad[ends + 2], pad[ends + 3]  # bytes after the end
    after_ok = ~_ALNUM[n1] & ~((n1 == ord(".")) & _DIGIT[n2])
    keep = before_ok & after_ok
    starts, is_hyphen = starts[keep], is_hyphen[keep]
    offsets = np.where(is_hyphen[:, None], _HYPHEN_OFFSETS, _PLAIN_OFFSETS)
    digits = a[starts[:, None] + offsets].astype(np.int64) - 48
    valid, replacement = compute_cpr_validity(digits)
    order = np.argsort(starts[valid], kind="stable")
    return starts[valid][order], replacement[valid][order]


def _scan_bytes(data: bytes, file: str | None) -> list[CprHit]:
    starts, replacement = _find_cprs(data)
    if len(starts) == 0:
        return []
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    lines = np.searchsorted(newlines, starts) + 1
    hits: dict[tuple[int, str], int] = {}
    for ln, repl in zip(lines.tolist(), replacement.tolist(), strict=True):
        key = (ln, "replacement" if repl else "cpr")
        hits[key] = hits.get(key, 0) + 1
    return [CprHit(file=file, column=None, line=ln, kind=kd, count=n) for (ln, kd), n in sorted(hits.items())]


def _scan_strings(values: pd.Series, file: str | None, column: str) -> list[CprHit]:
    """All cells joined by newlines into one buffer; cell byte offsets map hits back to rows."""
    s = values.astype(object)
    present = s.map(lambda x: isinstance(x, str)).to_numpy(dtype=bool) if s.hasnans else np.ones(len(s), bool)
    cells = [x.encode("utf-8", "surrogatepass") for x in s[present].tolist()]
    if not cells:
        return []
    starts, replacement = _find_cprs(b"\n".join(cells))
    if len(starts) == 0:
        return []
    cell_start = np.concatenate([[0], np.cumsum(np.fromiter(map(len, cells), np.int64, len(cells)) + 1)])
    rows = np.flatnonzero(present)[np.searchsorted(cell_start, starts, side="right") - 1]
    return _hits_from_flags(rows, np.ones(len(rows), bool), replacement, file, column)


def _scan_ints(values: np.ndarray, file: str | None, column: str) -> list[CprHit]:
    v = np.asarray(values)
    ok = (v >= 1_000_000_000) & (v <= 9_999_999_999)
    if not ok.any():
        return []
    rows = np.flatnonzero(ok)
    digits = (v[ok].astype(np.int64)[:, None] // 10 ** np.arange(9, -1, -1)) % 10
    valid, repl = compute_cpr_validity(digits)
    return _hits_from_flags(rows, valid, repl, file, column)


def _hits_from_flags(rows: np.ndarray, valid: np.ndarray, repl: np.ndarray, file: str | None,
                     column: str) -> list[CprHit]:
    hits = []
    for kind, sel in (("cpr", valid & ~repl), ("replacement", repl)):
        if sel.any():
            hits.append(CprHit(file=file, column=column, line=None, kind=kind, count=int(sel.sum()),
                               first_row=int(rows[sel][0])))
    return hits


def _scan_series(values: pd.Series | pd.Index, file: str | None, column: str) -> list[CprHit]:
    values = pd.Series(values) if isinstance(values, pd.Index) else values
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or (
            isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype)):
        values = values.astype(object)
        dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return []
    if pd.api.types.is_integer_dtype(dtype):
        return _scan_ints(values.fillna(0).to_numpy() if values.hasnans else values.to_numpy(), file, column)
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return []
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred == "string":
            return _scan_strings(values, file, column)
        if inferred == "integer":
            return _scan_ints(values.fillna(0).to_numpy(dtype=np.int64), file, column)
        if inferred in ("floating", "boolean", "empty", "datetime", "date", "timedelta", "decimal"):
            return []
        ints = values.map(lambda x: isinstance(x, int | np.integer) and not isinstance(x, bool))
        hits = []
        if ints.any():
            hits += _scan_ints(np.where(ints, values.where(ints, 0), 0).astype(np.int64), file, column)
        nested = values.map(lambda x: isinstance(x, list | tuple | set | np.ndarray | dict))
        if nested.any():  # list columns (e.g. QC reasons, alleles): scan their elements as text
            hits += _scan_strings(values.where(nested, None).map(
                lambda x: None if x is None else " ".join(map(str, x.values() if isinstance(x, dict) else x))),
                file, column)
        strs = values.map(lambda x: isinstance(x, str | bytes))
        if strs.any():
            hits += _scan_strings(values.where(strs, None).map(
                lambda x: x.decode("utf-8", "replace") if isinstance(x, bytes) else x), file, column)
        return _merge(hits)
    return _scan_strings(values, file, column)


def _merge(hits: list[CprHit]) -> list[CprHit]:
    merged: dict[tuple, CprHit] = {}
    for h in hits:
        key = (h.file, h.column, h.line, h.kind)
        if key in merged:
            old = merged[key]
            first = min(x for x in (old.first_row, h.first_row) if x is not None) if (
                old.first_row is not None or h.first_row is not None) else None
            merged[key] = CprHit(h.file, h.column, h.line, h.kind, old.count + h.count, first)
        else:
            merged[key] = h
    return list(merged.values())


def _scan_frame(frame: pd.DataFrame, file: str | None) -> list[CprHit]:
    hits: list[CprHit] = []
    labels = pd.Series([str(c) for c in frame.columns], dtype=object)
    hits += _scan_series(labels, file, "<column names>")
    for i in range(frame.shape[1]):
        hits += _scan_series(frame.iloc[:, i], file, str(frame.columns[i]))
    if not isinstance(frame.index, pd.RangeIndex):
        for level in range(frame.index.nlevels):
            vals = frame.index.get_level_values(level)
            hits += _scan_series(pd.Series(vals), file, "<index>")
    return hits


def _scan_parquet(path: Path) -> list[CprHit]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    hits: list[CprHit] = []
    names = pf.schema_arrow.names
    hits += _scan_series(pd.Series(names, dtype=object), str(path), "<column names>")
    for name in names:
        arrow = pf.read(columns=[name]).column(0)
        if pa.types.is_integer(arrow.type):  # nulls would turn an integer column into floats in pandas
            hits += _scan_ints(arrow.fill_null(0).to_numpy(), str(path), name)
        else:
            hits += _scan_series(arrow.to_pandas(), str(path), name)
    meta = pf.schema_arrow.metadata or {}
    index_cols = []
    if b"pandas" in meta:
        try:
            index_cols = [c for c in json.loads(meta[b"pandas"]).get("index_columns", []) if isinstance(c, str)]
        except ValueError:  # pragma: no cover - malformed pandas metadata
            index_cols = []
    return [CprHit(h.file, "<index>" if h.column in index_cols else h.column, h.line, h.kind, h.count, h.first_row)
            for h in hits]


def _scan_csv(path: Path) -> list[CprHit]:
    name = path.name.lower()
    sep = "\t" if any(s in name for s in (".tsv", ".tab")) else ","
    if path.suffix.lower() in (".csv", ".tsv", ".tab") and not _scan_bytes(path.read_bytes(), str(path)):
        return []  # fast path: the raw text holds every cell's text, with separators around it
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, compression="infer")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return _scan_bytes(path.read_bytes(), str(path))
    return _scan_frame(frame, str(path))


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst") and len(suffixes) >= 2:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def _scan_file(path: Path) -> list[CprHit]:
    suffix = _suffix(path)
    if suffix in (".parquet", ".pq"):
        return _scan_parquet(path)
    if suffix in (".csv", ".tsv", ".tab"):
        return _scan_csv(path)
    if suffix in TEXT_SUFFIXES:
        return _scan_bytes(path.read_bytes(), str(path))
    return []


def scan_for_cpr(path_or_frame: str | Path | pd.DataFrame | pd.Series) -> list[CprHit]:
    """Find CPR-like values in a DataFrame, a file or a folder (recursively), without revealing them.

    A CPR-like value is 10 digits (or ``DDMMYY-SSSS``) forming a real birth date under the CPR rules (replacement
    days 61–91 included), not part of a longer run of digits or letters and not the decimals of a number — so
    floats such as ``0.2512031990``, pseudonyms such as ``P1234567890abcdef``, 12-digit numbers and ISO
    timestamps do not hit. Integer columns hit on 10-digit values (a CPR stored as an integer with a leading zero
    lost is not detected; keep CPR numbers as text). Float, boolean and date columns are not scanned.

    Files: Parquet, CSV/TSV (optionally compressed; by column), and as text with line numbers: JSON, notebooks
    (``.ipynb``), HTML, TXT/MD, YAML, logs, SVG. Other files (images, binary stores) are skipped.

    Parameters
    ----------
    path_or_frame
        A pandas DataFrame/Series, a file or a folder.

    Returns
    -------
    list of CprHit
        One per (file, column or line, kind), with counts; empty if nothing was found.

    Example
    -------
    >>> hits = scan_for_cpr(pd.DataFrame({"id": ["251203-1990", "x"], "v": [0.2512031990, 1.0]}))
    >>> [(h.column, h.kind, h.count) for h in hits]
    [('id', 'cpr', 1)]
    """
    if isinstance(path_or_frame, pd.Series):
        return _scan_frame(path_or_frame.to_frame(), None)
    if isinstance(path_or_frame, pd.DataFrame):
        return _scan_frame(path_or_frame, None)
    path = Path(path_or_frame)
    if path.is_dir():
        hits: list[CprHit] = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for fn in sorted(filenames):
                hits += _scan_file(Path(dirpath) / fn)
        return hits
    if not path.exists():
        raise FileNotFoundError(f"nothing to scan at {path}")
    return _scan_file(path)


def check_no_cpr(path_or_frame: str | Path | pd.DataFrame | pd.Series) -> None:
    """Raise :class:`PrivacyError` naming the place of the first CPR-like value (never the value).

    Example
    -------
    >>> check_no_cpr(pd.DataFrame({"person_id": ["P3f9a0c1b2d4e5f60"]}))
    """
    hits = scan_for_cpr(path_or_frame)
    if hits:
        h = hits[0]
        extra = f" ({sum(x.count for x in hits)} CPR-like values in {len(hits)} places)" if len(hits) > 1 else ""
        raise PrivacyError(f"CPR-like value in {h.where()}{extra}")
