"""The event schema, the contract every importer writes and every track reads: one spec per table, the columns, their types and which may be null.

Tables live as Parquet files named ``<table>.parquet`` in a project's registry, biobank and consent folders and
are queried with DuckDB. Every event row carries ``code`` and ``vocabulary`` (SKS, ICD8, ATC, NPU or OMOP).
``person_id`` is always a pseudonym (see :mod:`pmo_workbench.privacy`), never a CPR number.

Examples
--------
>>> import pandas as pd
>>> spec = EVENT_TABLES["tissue_use_register"]
>>> df = pd.DataFrame({"person_id": ["p1"], "opt_out": [True], "lookup_date": [pd.Timestamp("2026-01-02")]})
>>> validate_table(df, "tissue_use_register").shape
(1, 3)
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pmo_workbench.errors import InputError
from pmo_workbench.files import replace_atomically
from pmo_workbench.read_ahead import read_ahead

VOCABULARIES = ("SKS", "ICD10", "ICD8", "ATC", "NPU", "OMOP")
"""Vocabularies an event's ``code`` may come from."""


@dataclass(frozen=True)
class TableSpec:
    """Columns of one event-schema table: name -> Arrow type, the required ones and the unique key."""

    name: str
    folder: str
    columns: dict[str, pa.DataType]
    required: tuple[str, ...]
    key: tuple[str, ...] = ()
    doc: str = ""
    optional: dict[str, pa.DataType] = field(default_factory=dict)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t, nullable=n not in self.required) for n, t in self.columns.items()])


_s, _d, _f, _i, _b, _t = pa.string(), pa.date32(), pa.float64(), pa.int64(), pa.bool_(), pa.timestamp("s")

EVENT_TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "person", "registry",
            {"person_id": _s, "sex": _s, "birth_date": _d, "death_date": _d, "region": _s},
            required=("person_id", "sex", "birth_date"), key=("person_id",),
            doc="One row per person; sex is F/M; region is the Danish region of residence.",
        ),
        TableSpec(
            "observation_period", "registry",
            {"person_id": _s, "start_date": _d, "end_date": _d},
            required=("person_id", "start_date", "end_date"),
            doc="Periods in which the person's events are known to be recorded (residence in the regions).",
        ),
        TableSpec(
            "diagnosis", "registry",
            {"person_id": _s, "contact_id": _s, "date": _d, "end_date": _d, "code": _s, "vocabulary": _s,
             "diag_type": _s, "contact_type": _s, "source": _s, "source_value": _s},
            required=("person_id", "date", "code", "vocabulary", "source"),
            doc="Hospital diagnoses (LPR2 before March 2019, LPR3 after; OMOP condition_occurrence).",
        ),
        TableSpec(
            "prescription", "registry",
            {"person_id": _s, "date": _d, "code": _s, "vocabulary": _s, "ddd": _f, "packages": _f,
             "strength": _s, "source": _s, "source_value": _s},
            required=("person_id", "date", "code", "vocabulary"),
            doc="Redeemed prescriptions (Lægemiddelstatistikregisteret: ATC; OMOP drug_exposure).",
        ),
        TableSpec(
            "lab", "registry",
            {"person_id": _s, "datetime": _t, "code": _s, "vocabulary": _s, "value": _f, "value_text": _s,
             "unit": _s, "ref_low": _f, "ref_high": _f, "lab_id": _s, "source_value": _s},
            required=("person_id", "datetime", "code", "vocabulary"),
            doc="Laboratory results (NPU codes from the regional lab databases; OMOP measurement).",
        ),
        TableSpec(
            "specimen", "biobank",
            {"specimen_id": _s, "person_id": _s, "biobank": _s, "specimen_type": _s, "collected_date": _d,
             "aliquots_left": _i, "volume_ul": _f, "location": _s, "freezer": _s, "rack": _s, "box": _s,
             "position": _s, "status": _s},
            required=("specimen_id", "person_id", "biobank", "specimen_type", "collected_date"),
            key=("specimen_id",),
            doc="Biobank specimens; location is 'freezer/rack/box/position'; status available|depleted|reserved.",
        ),
        TableSpec(
            "tissue_use_register", "consent",
            {"person_id": _s, "opt_out": _b, "lookup_date": _d},
            required=("person_id", "opt_out", "lookup_date"), key=("person_id",),
            doc="Vævsanvendelsesregistret: persons who opted out of research use of their tissue.",
        ),
    ]
}


def validate_table(df: pd.DataFrame, table: str, *, file: str | Path | None = None) -> pd.DataFrame:
    """Check ``df`` against the spec of ``table`` and return it with the schema's column order and types.

    Raises :class:`~pmo_workbench.errors.InputError` naming the file, column and first bad row for a missing
    column, a null in a required column, a duplicated key or a value that does not convert.
    """
    spec = EVENT_TABLES[table]
    where = file or f"<{table}>"
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", file=where, field=missing[0])
    out = pd.DataFrame(index=df.index)
    for name, typ in spec.columns.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        try:
            out[name] = _coerce(col, typ)
        except (ValueError, TypeError) as exc:
            bad = _first_bad_row(col, typ)
            raise InputError(f"cannot read as {typ}: {exc}", file=where, row=bad, field=name) from None
    for name in spec.required:
        nulls = out[name].isna().to_numpy()
        if nulls.any():
            raise InputError("required value is empty", file=where, row=int(nulls.argmax()), field=name)
    if spec.key:
        dup = out.duplicated(list(spec.key)).to_numpy()
        if dup.any():
            raise InputError("duplicate id", file=where, row=int(dup.argmax()), field=",".join(spec.key))
    return out.reset_index(drop=True)


def _coerce(col: pd.Series, typ: pa.DataType) -> pd.Series:
    """Convert one column to the pandas form of ``typ``, vectorised (dates stay ``datetime64``, day precision)."""
    if pa.types.is_date32(typ):
        if pd.api.types.is_datetime64_any_dtype(col):
            return col.dt.normalize()
        return pd.to_datetime(col, errors="raise").dt.normalize()
    if pa.types.is_timestamp(typ):
        return pd.to_datetime(col, errors="raise")
    if pa.types.is_floating(typ):
        return pd.to_numeric(col, errors="raise").astype("float64")
    if pa.types.is_integer(typ):
        return pd.to_numeric(col, errors="raise").astype("Int64")
    if pa.types.is_boolean(typ):
        return col.astype("boolean")
    if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty"):
        return col
    return col.astype("string").astype(object).where(col.notna(), None)


def _first_bad_row(col: pd.Series, typ: pa.DataType) -> int | None:
    for i, v in enumerate(col.tolist()):
        if v is None or (isinstance(v, float) and v != v):
            continue
        try:
            _coerce(pd.Series([v]), typ)
        except (ValueError, TypeError):
            return i
    return None


ROW_GROUP_ROWS = 122_880
"""Rows per Parquet row group of a written table (DuckDB's own row-group size): small enough that the min/max
statistics of a table sorted by :func:`sort_keys` let a code filter or a date window skip most of a 50 M-row
table, large enough to compress well and to keep 2 threads busy."""

_EVENT_DATE = {"diagnosis": "date", "prescription": "date", "lab": "datetime"}


def sort_keys(table: str, *, complete: bool = True) -> tuple[str, ...]:
    """The row order :func:`write_table` writes ``table`` in: event tables by vocabulary, code, date (the order
    the compiled cohort SQL filters in), then person; other tables by their key or ``person_id``. With
    ``complete``, every other column follows (ties then keep no doubt about the order; a DataFrame is sorted so,
    stably); DuckDB sorts a relation by the leading keys only, which is much cheaper at 20 M rows.

    Examples
    --------
    >>> sort_keys("diagnosis", complete=False)
    ('vocabulary', 'code', 'date', 'person_id')
    """
    spec = EVENT_TABLES[table]
    if table in _EVENT_DATE:
        first: tuple[str, ...] = ("vocabulary", "code", _EVENT_DATE[table], "person_id")
    else:
        first = spec.key or ("person_id",)
    return first + tuple(c for c in spec.columns if c not in first) if complete else first


def sort_event_table(arrow: pa.Table, table: str) -> pa.Table:
    """``arrow`` in the order of :func:`sort_keys` (a stable sort; nulls last; columns it lacks are skipped)."""
    keys = [(c, "ascending", "at_end") for c in sort_keys(table) if c in arrow.column_names]
    if arrow.num_rows < 2 or not keys:
        return arrow
    return arrow.take(pc.sort_indices(arrow, sort_keys=keys))


def write_parquet_atomic(batches: pa.Table | pa.RecordBatchReader, path: Path,
                         schema: pa.Schema | None = None) -> Path:
    """Write ``batches`` to ``path`` through a temp file and a rename, in row groups of :data:`ROW_GROUP_ROWS`
    (zstd), cast to ``schema`` if given; nothing is left behind on failure (for tables that carry columns
    beyond an event table's schema, such as an OMOP import's; sort them with :func:`sort_event_table` first).

    Examples
    --------
    >>> import tempfile
    >>> f = write_parquet_atomic(pa.table({"a": [1, 2]}), Path(tempfile.mkdtemp()) / "t.parquet")
    >>> pq.read_table(f)["a"].to_pylist()
    [1, 2]
    """
    with replace_atomically(path) as tmp:
        _write_row_groups(batches, tmp, schema or batches.schema)
    return path


class _RequiredNull(Exception):
    """A null in a required column met while streaming a relation (the exact row is then found in SQL)."""


def _write_row_groups(batches: pa.Table | pa.RecordBatchReader, tmp: str, schema: pa.Schema,
                      required: tuple[str, ...] = ()) -> None:
    if isinstance(batches, pa.Table):
        pq.write_table(batches.cast(schema), tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        return
    pending: list[pa.RecordBatch] = []
    rows, written = 0, False

    def put(chunk: pa.Table) -> None:
        if any(chunk.column(c).null_count for c in required):
            raise _RequiredNull
        writer.write_table(chunk.cast(schema), row_group_size=ROW_GROUP_ROWS)

    # DuckDB converts the next batches to Arrow on a second thread while this one encodes the row group
    ahead = read_ahead(iter(batches), name="pmo-parquet-prefetch")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer, closing(ahead) as stream:
        for batch in stream:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= ROW_GROUP_ROWS:
                chunk = pa.Table.from_batches(pending)
                put(chunk.slice(0, ROW_GROUP_ROWS))
                rest = chunk.slice(ROW_GROUP_ROWS)
                pending, rows, written = rest.to_batches(), rest.num_rows, True
        if rows or not written:
            put(pa.Table.from_batches(pending, schema=batches.schema))


def write_table(df: pd.DataFrame | duckdb.DuckDBPyRelation, table: str, folder: str | Path) -> Path:
    """Validate ``df`` and write it atomically as ``folder/<table>.parquet`` (temp file, then rename).

    Rows are written in the order of :func:`sort_keys` in row groups of :data:`ROW_GROUP_ROWS`, so DuckDB skips
    the row groups that cannot hold a queried code or date. ``df`` is a DataFrame (checked with
    :func:`validate_table`) or a DuckDB relation (checked with :func:`validate_relation`, then sorted and
    streamed by DuckDB -- how a registry import writes 50 M rows without pandas).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> f = write_table(pd.DataFrame({"person_id": ["b", "a"], "date": ["2020-01-01", "2019-01-01"],
    ...                               "code": ["DI21", "DI10"], "vocabulary": "SKS", "source": "LPR2"}),
    ...                 "diagnosis", d)
    >>> pq.read_table(f)["code"].to_pylist()
    ['DI10', 'DI21']
    """
    return write_tables([(df, table, folder)])[0]


def write_tables(items: list[tuple[pd.DataFrame | duckdb.DuckDBPyRelation, str, str | Path]]) -> list[Path]:
    """:func:`write_table` for several ``(data, table, folder)`` at once: every table is validated and written
    to a temp file first, and only when all succeeded do they replace ``folder/<table>.parquet`` -- a failure
    leaves none of them written."""
    temps: list[tuple[str, Path]] = []
    try:
        for data, table, folder in items:
            target = Path(folder) / f"{table}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{table}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temps.append((tmp, target))
            if isinstance(data, duckdb.DuckDBPyRelation):
                _write_relation(data, table, tmp)
            else:
                clean = validate_table(data, table)
                arrow = pa.Table.from_pandas(clean, schema=EVENT_TABLES[table].schema, preserve_index=False)
                _write_row_groups(sort_event_table(arrow, table), tmp, EVENT_TABLES[table].schema)
        umask = os.umask(0o022)
        os.umask(umask)
        for tmp, target in temps:
            os.chmod(tmp, 0o666 & ~umask)   # as an ordinary new file (mkstemp makes 0600)
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        raise
    return [target for _, target in temps]


def _write_relation(rel: duckdb.DuckDBPyRelation, table: str, tmp: str) -> None:
    """Sort ``rel`` in DuckDB by the leading :func:`sort_keys` and stream it into ``tmp``.

    The fast path checks while writing (strict casts, required columns without nulls, keys unique); only when a
    check fails is :func:`validate_relation` run to name the column and row.
    """
    spec = EVENT_TABLES[table]
    have = set(rel.columns)
    missing = [c for c in spec.required if c not in have]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", file=f"<{table}>", field=missing[0])
    # a column with a pseudonym hint is not selected: DuckDB then neither carries its text through the sort nor
    # converts it to Arrow; it is written from the hint's integers (_with_pseudonyms)
    pseudonyms = {c.removeprefix(PSEUDONYM_HINT): c for c in rel.columns if c.startswith(PSEUDONYM_HINT)
                  and c.removeprefix(PSEUDONYM_HINT) in have and spec.columns.get(c.removeprefix(PSEUDONYM_HINT))
                  == pa.string() and not spec.key}
    # an ENUM column for a text column stays an ENUM through the sort (1-2 bytes, sorted by its position:
    # ENUM_TEXT) and becomes text in Arrow, after the sort (_write_row_groups casts it to the schema)
    types = dict(zip(rel.columns, rel.types, strict=True))
    enums = {n: len(types[n].children[0][1]) for n, t in spec.columns.items()
             if n in have and t == pa.string() and types[n].id == ENUM_TEXT}
    exprs = ", ".join(f'"{n}"' if n in enums else f'CAST("{n}" AS {_DUCK_TYPES[t]}) AS "{n}"' if n in have else
                      f'CAST(NULL AS {_DUCK_TYPES[t]}) AS "{n}"' for n, t in spec.columns.items() if n not in pseudonyms)
    hints = [c for c in rel.columns if c.startswith(ORDER_HINT) and c.removeprefix(ORDER_HINT) in have
             and c.removeprefix(ORDER_HINT) not in pseudonyms]
    exprs += "".join(f', "{c}"' for c in [*hints, *pseudonyms.values()])
    try:
        if spec.key:
            keys = ", ".join(f'"{k}"' for k in spec.key)
            n, distinct = rel.query("_k", f"SELECT count(*), count(DISTINCT ({keys})) FROM _k").fetchall()[0]
            if n != distinct:
                raise _RequiredNull
        with _sorted_reader(rel, table, f"SELECT {exprs} FROM _v", [*hints, *pseudonyms.values()],
                            keep=tuple(pseudonyms.values()), enums=enums) as reader:
            _write_row_groups(_with_pseudonyms(reader, table, pseudonyms) if pseudonyms else reader, tmp,
                              spec.schema, spec.required)
    except (_RequiredNull, duckdb.ConversionException):
        validate_relation(rel, table)
        raise InputError("cannot convert to the event schema", file=f"<{table}>") from None


PSEUDONYM_HINT = "_pmo_pseudonym_"
"""Prefix of an optional column of a relation given to :func:`write_table`: ``_pmo_pseudonym_<column>`` is the
64-bit integer of the pseudonyms in ``<column>`` -- ``"P"`` and the integer's 16 lower-case hex digits
(:func:`pmo_workbench.privacy.pseudonymise`; :func:`pmo_workbench.health.registry.person_order` gives the
integer) -- so it is ordered as ``<column>`` (as an :data:`ORDER_HINT` is). The writer then sorts by the integer
and writes ``<column>`` from it after the sort, without reading the column: DuckDB neither carries the
17-character strings through the sort nor converts them to Arrow (the join, sort and Arrow conversion of the 25 M
labs of 1 M persons: 18-22 instead of 26-30 CPU s, measured alone). It is not written; for tables without a key
only."""

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def pseudonym_text(values: pa.Array) -> pa.Array:
    """The pseudonyms (``"P"`` + 16 lower-case hex digits) of 64-bit integers (:data:`PSEUDONYM_HINT`), nulls
    kept, vectorised (no Python string per row).

    Examples
    --------
    >>> pseudonym_text(pa.array([255, None], pa.uint64())).to_pylist()
    ['P00000000000000ff', None]
    """
    n = len(values)
    ints = np.asarray(pc.fill_null(values.cast(pa.uint64()), 0).to_numpy(zero_copy_only=False), dtype=np.uint64)
    text = np.empty((n, 17), dtype=np.uint8)
    text[:, 0] = ord("P")
    digits = ints.astype(">u8").view(np.uint8).reshape(n, 8)
    text[:, 1::2] = _HEX[digits >> 4]
    text[:, 2::2] = _HEX[digits & 15]
    offsets = np.arange(0, 17 * (n + 1), 17, dtype=np.int32)
    out = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))
    return pc.if_else(values.is_valid(), out, pa.scalar(None, pa.string())) if values.null_count else out


def _with_pseudonyms(reader: pa.RecordBatchReader, table: str, pseudonyms: dict[str, str]) -> pa.RecordBatchReader:
    """``reader``'s batches with each column of ``pseudonyms`` (column -> its :data:`PSEUDONYM_HINT` column)
    written from the hint, in the table's column order (the hint columns left out)."""
    names = [n for n in EVENT_TABLES[table].columns if n in pseudonyms or n in reader.schema.names]
    schema = pa.schema([pa.field(n, pa.string()) if n in pseudonyms else reader.schema.field(n) for n in names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [pseudonym_text(batch.column(pseudonyms[n])) if n in pseudonyms else batch.column(n) for n in names],
                schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


ENUM_TEXT = "enum"
"""DuckDB's type id of an ENUM. A text column of a relation given to :func:`write_table` may be an ENUM whose values
are listed in text (bytewise) order, as ``CREATE TYPE t AS ENUM (SELECT DISTINCT code FROM raw ORDER BY code)``
lists them: the writer then sorts by it and carries it through the sort as its 1-2 byte position instead of the
text, and writes it as text after the sort (DuckDB hands it to Arrow as a dictionary array, cast to the schema's
text; the Parquet column is the same). A registry import gives its codes, vocabularies and sources so: the sort
and Arrow conversion of the 25 M labs of 1 M persons carry no strings for them. A required ENUM of one value (a
constant vocabulary) is not sorted by."""

ORDER_HINT = "_pmo_order_"
"""Prefix of an optional column of a relation given to :func:`write_table`: ``_pmo_order_<column>`` is an integer
ordered as ``<column>`` (equal where it is equal), which the writer then sorts by instead of ranking the column's
values itself (a registry import ranks the pseudonyms once for all its tables). It is not written."""


@contextmanager
def _sorted_reader(rel: duckdb.DuckDBPyRelation, table: str, rows: str, hints: list[str] | tuple[str, ...] = (),
                   keep: tuple[str, ...] = (), enums: dict[str, int] | None = None) -> Iterator[pa.RecordBatchReader]:
    """``rows`` (a SELECT of the table's columns from ``_v``, the relation ``rel``, and the ``hints`` columns of
    :data:`ORDER_HINT`) in the order of the leading :func:`sort_keys`, as Arrow batches of :data:`ROW_GROUP_ROWS`
    rows (the hint columns left out, but those in ``keep``; a :data:`PSEUDONYM_HINT` column orders its column as
    an :data:`ORDER_HINT` does; the ``enums`` columns (:data:`ENUM_TEXT`; column -> number of values) order
    themselves, and a required one of one value is left out of the order).

    DuckDB sorts 20 M rows much faster by integers than by strings, so for an event table (whose sort keys are
    all required: a null among them fails the write anyway) each run of string keys (``vocabulary, code``;
    ``person_id``) is replaced by the rank of its distinct values, computed first into a temporary table
    (``row_number() OVER (ORDER BY ...)``: DuckDB orders strings bytewise either way, so the order is the same;
    a null joins no rank and sorts last, as it would). The temporary tables are dropped on leaving.
    """
    spec = EVENT_TABLES[table]
    keys = sort_keys(table, complete=False)
    hinted = {h.removeprefix(ORDER_HINT).removeprefix(PSEUDONYM_HINT): f'_rows."{h}"' for h in hints}
    for column, n_values in (enums or {}).items():     # an ENUM in text order (ENUM_TEXT) sorts by itself
        if n_values == 1 and column in spec.required and column not in hinted:
            keys = tuple(k for k in keys if k != column)    # one value and no nulls: nothing to sort by
        hinted.setdefault(column, f'_rows."{column}"')
    dropped = [h for h in hints if h not in keep]
    out = "_rows.*" + (" EXCLUDE (" + ", ".join(f'"{h}"' for h in dropped) + ")" if dropped else "")
    groups: list[list[str]] = []
    for k, prev in zip(keys, (None, *keys[:-1]), strict=True):
        if k in hinted:
            continue
        if spec.columns[k] == pa.string():
            if groups and prev == groups[-1][-1]:
                groups[-1].append(k)
            else:
                groups.append([k])
    if table not in _EVENT_DATE or not set(keys) <= set(spec.required) or not groups:
        order = ", ".join(hinted.get(c, f'_rows."{c}"') for c in keys)
        yield rel.query("_v", f"SELECT {out} FROM ({rows}) _rows ORDER BY {order}").to_arrow_reader(ROW_GROUP_ROWS)
        return
    tag = uuid.uuid4().hex
    distinct = f"_pmo_distinct_{tag}"
    names = [f"_pmo_rank{i}_{tag}" for i in range(len(groups))]
    try:
        # the distinct values of every group in one pass (grouping sets), then each group's ranks
        sets = ", ".join("(" + ", ".join(f'"{c}"' for c in group) + ")" for group in groups)
        flags = ", ".join(f'grouping("{group[0]}") AS _g{i}' for i, group in enumerate(groups))
        every = ", ".join(f'"{c}"' for group in groups for c in group)
        rel.query("_v", f"CREATE TEMP TABLE {distinct} AS SELECT {every}, {flags} FROM ({rows}) "
                        f"GROUP BY GROUPING SETS ({sets})")
        joins, order = [], {}
        for i, (name, group) in enumerate(zip(names, groups, strict=True)):
            cols = ", ".join(f'"{c}"' for c in group)
            rel.query("_v", f"CREATE TEMP TABLE {name} AS SELECT {cols}, row_number() OVER (ORDER BY {cols}) AS _rank "
                            f"FROM {distinct} WHERE _g{i} = 0")
            joins.append(f"LEFT JOIN {name} ON " + " AND ".join(f'{name}."{c}" = _rows."{c}"' for c in group))
            order[group[0]] = f"{name}._rank"
        by = ", ".join(order.get(k, hinted.get(k, f'_rows."{k}"')) for k in keys
                       if k in order or k in hinted or spec.columns[k] != pa.string())
        reader = rel.query("_v", f"SELECT {out} FROM ({rows}) _rows {' '.join(joins)} ORDER BY {by}")
        yield reader.to_arrow_reader(ROW_GROUP_ROWS)
    finally:
        for name in (distinct, *names):
            rel.query("_v", f"DROP TABLE IF EXISTS {name}")


_DUCK_TYPES = {pa.string(): "VARCHAR", pa.date32(): "DATE", pa.float64(): "DOUBLE", pa.int64(): "BIGINT",
               pa.bool_(): "BOOLEAN", pa.timestamp("s"): "TIMESTAMP"}


def validate_relation(rel: duckdb.DuckDBPyRelation, table: str, *, file: str | Path | None = None
                      ) -> duckdb.DuckDBPyRelation:
    """The checks of :func:`validate_table` for a DuckDB relation, in SQL; returns it with the schema's columns
    (missing optional ones as nulls) cast to the schema's types.

    Rows named in errors count in the relation's own order (``row_number() OVER ()``), as far as it has one.
    """
    spec = EVENT_TABLES[table]
    where = file or f"<{table}>"
    have = set(rel.columns)
    missing = [c for c in spec.required if c not in have]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", file=where, field=missing[0])
    exprs, checks = [], []
    for name, typ in spec.columns.items():
        duck = _DUCK_TYPES[typ]
        if name not in have:
            exprs.append(f'CAST(NULL AS {duck}) AS "{name}"')
            continue
        exprs.append(f'TRY_CAST("{name}" AS {duck}) AS "{name}"')
        checks.append((f'"{name}" IS NOT NULL AND TRY_CAST("{name}" AS {duck}) IS NULL', name, f"cannot read as {typ}"))
        if name in spec.required:
            checks.append((f'"{name}" IS NULL', name, "required value is empty"))
    if checks:
        flags = ", ".join(f"min(CASE WHEN {cond} THEN rn END)" for cond, _, _ in checks)
        found = rel.query("_v", f"SELECT {flags} FROM (SELECT *, row_number() OVER () - 1 AS rn FROM _v)").fetchall()[0]
        for (_, name, message), row in zip(checks, found, strict=True):
            if row is not None:
                raise InputError(message, file=where, row=int(row), field=name)
    out = rel.query("_v", f"SELECT {', '.join(exprs)} FROM _v")
    if spec.key:
        keys = ", ".join(f'"{k}"' for k in spec.key)
        n, distinct = out.query("_k", f"SELECT count(*), count(DISTINCT ({keys})) FROM _k").fetchall()[0]
        dup = None if n == distinct else out.query(
            "_k", f"SELECT min(rn) FROM (SELECT rn, row_number() OVER (PARTITION BY {keys} ORDER BY rn) AS k FROM "
                  f"(SELECT *, row_number() OVER () - 1 AS rn FROM _k)) WHERE k > 1").fetchall()[0][0]
        if dup is not None:
            raise InputError("duplicate id", file=where, row=int(dup), field=",".join(spec.key))
    return out


def read_table(folder: str | Path, table: str) -> pd.DataFrame:
    """Read ``folder/<table>.parquet`` into pandas (dates as ``datetime64``)."""
    path = Path(folder) / f"{table}.parquet"
    if not path.exists():
        raise InputError(f"table {table!r} not found", file=path)
    return pq.read_table(path).to_pandas(date_as_object=False)
