"""The one table renderer of every report: numbers formatted for a reader, long tables capped and linked.

Rules (:func:`format_table`):

* **no index column**: a named or non-default index becomes ordinary columns, and no row numbers are shown;
* **integers as integers** (``10``, never ``10.0``), with thousands separators (not in years, positions and
  steps: ``2019``); a float column whose values are all whole numbers counts as integers;
* **sensible decimals**: three significant digits judged on the column's typical magnitude (``0.990``, ``2.13``,
  ``30.4``, ``1,234``), at most 4 decimals; p-values and other columns with values below 0.001 in scientific
  notation (``3.2e-09``); ``decimals`` overrides per column;
* **units in headers** (``units={"dp_mean": "reads"}`` gives ``dp_mean (reads)``; :data:`UNITS` holds the
  workbench's usual columns);
* **missing values**: a suppressed cell (export mode) is ``x`` with the footnote below the table; in internal
  mode a missing value is ``–``; never ``nan``;
* **long tables** (:func:`render_table`): only the first ``max_rows`` rows are shown; the full table is written
  beside the report as ``<name>.csv`` and linked (or, when nothing may be written, the report says how many rows
  are left out).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"n": [10.0, 2500.0], "call_rate": [0.99012, 0.95]}, index=pd.Index(["B1", "B2"], name="batch"))
>>> format_table(t).to_dict("list")
{'batch': ['B1', 'B2'], 'n': ['10', '2,500'], 'call_rate (share)': ['0.990', '0.950']}
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 50
"""Rows of a table shown in a report; the full table is written as a file and linked."""

MISSING = "–"
SUPPRESSED = "x"

UNITS: dict[str, str] = {
    "dp_mean": "mean depth, reads", "gq_mean": "mean GQ, phred", "volume_ul": "µl", "pct_of_entry": "%",
    "age": "years", "ddd": "DDD", "missing_share": "share", "call_rate": "share", "het_rate": "share",
    "fail_rate": "share",
}
"""Default units of columns the workbench's tables share (shown in the header)."""


class HtmlTable:
    """A rendered table: displays as HTML in Jupyter and in nbconvert reports (``_repr_html_``)."""

    def __init__(self, html_text: str, frame: pd.DataFrame, *, n_rows: int, file: Path | None = None) -> None:
        self.html = html_text
        self.frame = frame
        self.n_rows = n_rows
        self.file = file

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


def _flatten(table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    if not isinstance(frame.index, pd.RangeIndex) or any(n is not None for n in frame.index.names):
        names = [n if n is not None else ("item" if frame.index.nlevels == 1 else f"level_{i}")
                 for i, n in enumerate(frame.index.names)]
        frame = frame.copy()
        frame.index = frame.index.set_names(names)
        frame = frame.reset_index()
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.copy()
        frame.columns = [" ".join(str(x) for x in c if str(x)) for c in frame.columns]
    return frame


def _is_whole(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size == 0 or bool(np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2 ** 53))


def column_decimals(values: pd.Series) -> int | str:
    """Decimals for a float column (three significant digits of its median magnitude, 0-4), ``"e"``
    (scientific notation) when it holds values below 0.001 (p-values), or ``"g"`` (three significant digits per
    cell) when its values span more than three orders of magnitude.

    Examples
    --------
    >>> column_decimals(pd.Series([0.99, 0.98])), column_decimals(pd.Series([30.2])), column_decimals(
    ...     pd.Series([1e-9, 0.5]))
    (3, 1, 'e')
    >>> column_decimals(pd.Series([375.5, 0.002, 93.6]))  # several metrics in one column
    'g'
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    v = np.abs(v[np.isfinite(v)])
    if v.size == 0:
        return 2
    nonzero = v[v > 0]
    if nonzero.size and nonzero.min() < 1e-3 and nonzero.max() < 1:
        return "e"
    if nonzero.size and nonzero.min() < nonzero.max() / 1000:
        return "g"  # mixed magnitudes (a long table of several metrics): three significant digits per cell
    typical = float(np.median(nonzero)) if nonzero.size else 0.0
    if typical == 0:
        return 2
    return int(min(4, max(0, 2 - math.floor(math.log10(typical)))))


NO_SEPARATOR = ("year", "position", "pos", "step", "seed")
"""Integer columns printed without thousands separators (a year is 2019, never 2,019)."""


def _plain(name: str) -> bool:
    low = name.lower()
    return low in NO_SEPARATOR or low.endswith(("_year", "_id", "_position")) or low.startswith("year")


def _format_number(v: Any, decimals: int | str, integer: bool, separator: bool = True) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    x = float(v)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if integer:
        return f"{int(round(x)):,}" if separator else str(int(round(x)))
    if decimals == "e":
        return f"{x:.2g}" if x == 0 or abs(x) >= 1e-3 else f"{x:.1e}"
    if decimals == "g":
        return f"{x:,.3g}" if abs(x) < 1e6 else f"{x:.3g}"
    return f"{x:,.{int(decimals)}f}"


def format_table(table: pd.DataFrame | pd.Series, *, export: bool = False,
                 decimals: dict[str, int] | None = None, units: dict[str, str] | None = None) -> pd.DataFrame:
    """The table as text cells, by the module's rules (index as columns, integers, decimals, units, ``x``)."""
    frame = _flatten(table)
    unit_map = {**UNITS, **(units or {})}
    out = {}
    for col in frame.columns:
        s = frame[col]
        name = str(col)
        missing = s.isna().to_numpy()
        if pd.api.types.is_bool_dtype(s.dtype):
            text = s.map(lambda v: "" if pd.isna(v) else ("yes" if v else "no"))
        elif pd.api.types.is_numeric_dtype(s.dtype):
            vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            integer = pd.api.types.is_integer_dtype(s.dtype) or (
                (decimals or {}).get(name) is None and _is_whole(vals) and column_decimals(s) != "e"
                and not name.startswith(("r_", "p_")))
            dec = (decimals or {}).get(name, column_decimals(s))
            text = pd.Series([_format_number(v, dec, integer, not _plain(name)) for v in vals], index=s.index)
        else:
            text = s.map(lambda v: "" if v is None or (not isinstance(v, list | tuple | np.ndarray) and pd.isna(v))
                         else (", ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else str(v)))
        text = text.astype(object)
        text[missing] = SUPPRESSED if export else MISSING
        header = name if name not in unit_map or "(" in name else f"{name} ({unit_map[name]})"
        out[header] = text.to_numpy()
    return pd.DataFrame(out, columns=list(out))


def _write_full(frame: pd.DataFrame, output_dir: str | Path, name: str) -> Path:
    from pmo_workbench.files import write_text_atomic
    from pmo_workbench.privacy import check_no_cpr

    check_no_cpr(frame)
    target = Path(output_dir) / f"{name}.csv"
    write_text_atomic(target, frame.to_csv(index=False))
    return target


def render_table(table: pd.DataFrame | pd.Series, *, caption: str = "", export: bool = False,
                 footnote: str = "", max_rows: int = MAX_ROWS, name: str | None = None,
                 output_dir: str | Path | None = None, decimals: dict[str, int] | None = None,
                 units: dict[str, str] | None = None, numeric_right: bool = True) -> HtmlTable:
    """HTML of a table for a report (see the module docstring); a table longer than ``max_rows`` shows its first
    rows, and with ``name`` and ``output_dir`` the full (formatted) table is written as ``<name>.csv`` there and
    linked.

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> r = render_table(pd.DataFrame({"x": range(60)}), caption="Long", name="long", output_dir=out)
    >>> r.n_rows, r.file.name, "first 50 of 60 rows" in r.html
    (60, 'long.csv', True)
    """
    text = format_table(table, export=export, decimals=decimals, units=units)
    n = len(text)
    shown = text.head(max_rows) if n > max_rows else text
    file = None
    notes = []
    if n > max_rows:
        if name and output_dir is not None:
            file = _write_full(text, output_dir, name)
            notes.append(f"first {max_rows} of {n:,} rows shown; the full table: "
                         f"<a href=\"{html.escape(file.name)}\">{html.escape(file.name)}</a>")
        else:
            notes.append(f"first {max_rows} of {n:,} rows shown (the full table is in the run folder's files "
                         "when run with an output folder)")
    if export and (text.to_numpy() == SUPPRESSED).any() and footnote:
        notes.append(html.escape(footnote))
    numeric_cols = set()
    if numeric_right:
        frame = _flatten(table)
        numeric_cols = {i for i, c in enumerate(frame.columns) if pd.api.types.is_numeric_dtype(frame[c].dtype)}
    parts = ['<table class="pmo-table">']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
                 + "</tr></thead><tbody>")
    for row in shown.itertuples(index=False):
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in numeric_cols else ""
            cells.append(f"<td{cls}>{html.escape(str(v))}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if notes:
        parts.append('<p class="pmo-table-note">' + "; ".join(notes) + "</p>")
    return HtmlTable("".join(parts), shown, n_rows=n, file=file)
