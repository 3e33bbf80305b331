"""The event schema (DESIGN.md §4.3): one spec per table, the columns, their types and which may be null.

Tables live as Parquet files named ``<table>.parquet`` in a project's registry, biobank and consent folders and
are queried with DuckDB. Every event row carries ``code`` and ``vocabulary`` (SKS, ATC, NPU or OMOP).
``person_id`` is always a pseudonym (see :mod:`pmo_workbench.privacy`), never a CPR number.

Example
-------
>>> import pandas as pd
>>> spec = EVENT_TABLES["tissue_use_register"]
>>> df = pd.DataFrame({"person_id": ["p1"], "opt_out": [True], "lookup_date": [pd.Timestamp("2026-01-02")]})
>>> validate_table(df, "tissue_use_register").shape
(1, 3)
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.errors import InputError

VOCABULARIES = ("SKS", "ICD10", "ATC", "NPU", "OMOP")
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


def write_table(df: pd.DataFrame, table: str, folder: str | Path) -> Path:
    """Validate ``df`` and write it atomically as ``folder/<table>.parquet`` (temp file, then rename)."""
    spec = EVENT_TABLES[table]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clean = validate_table(df, table)
    arrow = pa.Table.from_pandas(clean, schema=spec.schema, preserve_index=False)
    target = folder / f"{table}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=f".{table}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        pq.write_table(arrow, tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_table(folder: str | Path, table: str) -> pd.DataFrame:
    """Read ``folder/<table>.parquet`` into pandas (dates as ``datetime64``)."""
    path = Path(folder) / f"{table}.parquet"
    if not path.exists():
        raise InputError(f"table {table!r} not found", file=path)
    return pq.read_table(path).to_pandas(date_as_object=False)
