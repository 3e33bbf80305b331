"""Disclosure control: primary and complementary suppression of small counts in count tables.

Examples
--------
>>> import pandas as pd
>>> suppress_small_counts(pd.Series([3, 20, 30]), min_count=5).isna().tolist()
[True, True, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmo_workbench.errors import PrivacyError

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

    Examples
    --------
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

    pos = {cell: i for i, cell in enumerate(zip(*np.nonzero(hidden), strict=True))}
    n = len(pos)
    rows_a, rhs = [], []
    # each line (row, then column) sums to its margin, the cell after its interior: sum(interior) - margin = 0
    for _is_row, vals, _hid, at in _lines(ext, hidden):
        coef = np.zeros(n)
        known = 0.0
        for j in range(len(vals) + 1):
            sign = -1.0 if j == len(vals) else 1.0
            cell = at(j)
            if cell in pos:
                coef[pos[cell]] += sign
            else:
                known += sign * ext[cell]
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

    Examples
    --------
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

    Examples
    --------
    >>> format_suppressed(pd.Series([12000, pd.NA, pd.NA, 0], dtype="Int64")).tolist()
    ['12,000', 'x', 'x', '0']
    """
    assert_no_small_counts(table, min_count)

    def render(v: object) -> str:
        return marker if v is None or v is pd.NA or (isinstance(v, float) and v != v) else f"{int(v):,}"

    if isinstance(table, pd.Series):
        return table.astype(object).map(render)
    return table.astype(object).map(render)
