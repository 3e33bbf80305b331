"""Scanning outputs for CPR numbers: frames and files (tables, text), naming file and column or line, never the value.

Examples
--------
>>> import pandas as pd
>>> [h.column for h in scan_for_cpr(pd.DataFrame({"x": ["0101902000"]}))]
['x']
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.errors import PrivacyError, mask_cpr_like
from pmo_workbench.privacy.cpr import compute_cpr_validity
from pmo_workbench.privacy.cpr_text import _find_cprs


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
        """``<file>, column <c>`` / ``<file>, line <n>`` for messages (a CPR-like part of a path is masked)."""
        parts = [mask_cpr_like(self.file) if self.file else "<data frame>"]
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


TEXT_SUFFIXES = frozenset({".txt", ".md", ".html", ".htm", ".json", ".ipynb", ".log", ".yaml", ".yml", ".xml",
                           ".svg", ".tex", ".rst", ".js", ".css", ".geojson", ".jsonl", ".ndjson"})
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tab", ".parquet", ".pq"})


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
    (``.ipynb``), HTML, TXT/MD, YAML, logs, SVG. Other files (images, binary stores) are skipped. In a folder, the
    names of its files and sub-folders are scanned too (hit column ``"<name>"``; the name is masked in messages).

    Parameters
    ----------
    path_or_frame
        A pandas DataFrame/Series, a file or a folder.

    Returns
    -------
    list of CprHit
        One per (file, column or line, kind), with counts; empty if nothing was found.

    Examples
    --------
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
            for name in (*dirnames, *sorted(filenames)):  # folder and file names are outputs too
                hits += _scan_name(Path(dirpath) / name)
            for fn in sorted(filenames):
                hits += _scan_file(Path(dirpath) / fn)
        return hits
    if not path.exists():
        raise FileNotFoundError(f"nothing to scan at {path}")
    return _scan_file(path)


def _scan_name(path: Path) -> list[CprHit]:
    """A hit (column ``"<name>"``) per kind when the file or folder name itself holds CPR-like values."""
    _, replacement = _find_cprs(path.name.encode("utf-8", "surrogateescape"))
    return [CprHit(file=str(path), column="<name>", line=None, kind=kind, count=int(n))
            for kind, n in (("cpr", (~replacement).sum()), ("replacement", replacement.sum())) if n]


def check_no_cpr(path_or_frame: str | Path | pd.DataFrame | pd.Series) -> None:
    """Raise :class:`PrivacyError` naming the place of the first CPR-like value (never the value).

    Examples
    --------
    >>> check_no_cpr(pd.DataFrame({"person_id": ["P3f9a0c1b2d4e5f60"]}))
    """
    hits = scan_for_cpr(path_or_frame)
    if hits:
        h = hits[0]
        extra = f" ({sum(x.count for x in hits)} CPR-like values in {len(hits)} places)" if len(hits) > 1 else ""
        raise PrivacyError(f"CPR-like value in {h.where()}{extra}")
