"""Import an OMOP CDM 5.3/5.4 CSV export (a folder or a zip) into the event schema.

The source is a folder or a zip holding one CSV per table (``person.csv`` or ``PERSON.csv``, optionally
gzipped ``.csv.gz``; a zip may keep them in a subfolder; ``__MACOSX/`` and dot files are skipped). Tables that
are absent or header-only give empty (or no) event tables. Mapping:

=====================  =====================================================================================
OMOP                   event schema
=====================  =====================================================================================
person                 ``person``: sex from gender_concept_id (8532 F, 8507 M, else gender_source_value F/M,
                       else ``U``), birth_date from birth_datetime or year/month/day (missing month/day -> 1),
                       region empty
death                  ``person.death_date`` (earliest per person)
observation_period     ``observation_period``
condition_occurrence   ``diagnosis``: code = condition_concept_id, vocabulary OMOP, contact_id =
                       visit_occurrence_id, source OMOP, extra column ``source_value``
drug_exposure          ``prescription``: code = drug_concept_id, packages = quantity, ``source_value``
measurement            ``lab``: code = measurement_concept_id, value = value_as_number, unit =
                       unit_source_value, ref_low/high = range_low/high, value_text = value_source_value where
                       there is no number, ``source_value``
specimen               ``specimen`` (biobank ``OMOP``, type = specimen_source_value or the concept id)
concept,               kept as ``concept.parquet`` and ``concept_ancestor.parquet`` in the registry folder for
concept_ancestor       descendant expansion of concept sets
=====================  =====================================================================================

Person ids: OMOP ``person_id`` is a plain integer; the workbench stores ``"O" + person_id`` (``O123``), a text id
that cannot be mistaken for a CPR number nor collide with registry pseudonyms (``P`` + hex). Specimen ids
likewise get ``O``. The ``source_value`` column is an addition to the schema's columns.

Examples
--------
>>> # import_omop("../shared/data/omop_gibleed", "gibleed_project")
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import zlib
from datetime import date
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.charsets import detect_encoding, normalise_encoding
from pmo_workbench.errors import InputError
from pmo_workbench.files import replace_atomically
from pmo_workbench.health.checks import ImportChecks
from pmo_workbench.health.registry import REGISTRY_FILES, ImportCounts
from pmo_workbench.health.schema import EVENT_TABLES, sort_event_table, validate_table, write_parquet_atomic
from pmo_workbench.project import Project

OMOP_TABLES = ("person", "observation_period", "condition_occurrence", "drug_exposure", "measurement", "specimen",
               "death", "concept", "concept_ancestor")
REQUIRED = {
    "person": ("person_id", "gender_concept_id", "year_of_birth"),
    "observation_period": ("person_id", "observation_period_start_date", "observation_period_end_date"),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "drug_exposure": ("person_id", "drug_concept_id", "drug_exposure_start_date"),
    "measurement": ("person_id", "measurement_concept_id", "measurement_date"),
    "specimen": ("specimen_id", "person_id", "specimen_concept_id", "specimen_date"),
    "death": ("person_id", "death_date"),
    "concept": ("concept_id", "concept_name", "vocabulary_id"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}
GENDER = {"8532": "F", "8507": "M"}

MAX_MEMBER_BYTES = 8 << 30
"""Largest uncompressed table file read (bytes); a larger one is refused while it is streamed, not after."""
MAX_RATIO = 100
"""A compressed member expanding more than this many times (and beyond 16 MB) is refused before it is read:
CSV text compresses 5-20 times, a zip bomb (222 KB holding 200 MB) about 1000 times."""
_RATIO_FLOOR = 16 << 20


class _Capped(io.RawIOBase):
    """A read-only stream that counts the bytes it passes and refuses more than ``cap``; errors of a corrupt
    gzip or zip stream become an :class:`~pmo_workbench.errors.InputError` naming the member."""

    def __init__(self, raw: BinaryIO, cap: int, where: str) -> None:
        self.raw, self.cap, self.where, self.total = raw, cap, where, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        try:
            data = self.raw.read(len(buffer))
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            kind = "gzip" if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)) else "zip"
            raise InputError(f"corrupt or truncated {kind} data", file=self.where) from None
        self.total += len(data)
        if self.total > self.cap:
            raise InputError(f"larger than {self.cap:,} bytes uncompressed (refused)", file=self.where)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


class OmopSource:
    """The CSV members of an OMOP export folder or zip, by lower-case table name."""

    def __init__(self, source: str | Path, *, encoding: str | None = None,
                 checks: ImportChecks | None = None) -> None:
        self.path = Path(source)
        self.encoding = normalise_encoding(encoding)
        self.encodings: dict[str, str] = {}
        self.checks = checks if checks is not None else ImportChecks()
        self.today = date.today()
        self.known: set[str] = set()
        self.members: dict[str, str] = {}
        if self.path.is_dir():
            names = [p.name for p in self.path.iterdir() if p.is_file()]
            self._zip = None
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError):
                raise InputError("not a readable zip file", file=self.path) from None
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
        else:
            raise InputError("OMOP source must be a folder or a zip file", file=self.path)
        for name in names:
            base = name.rsplit("/", 1)[-1]
            if "__MACOSX" in name.split("/") or base.startswith("."):
                continue
            low = base.lower()
            for suffix in (".csv.gz", ".csv"):
                if low.endswith(suffix):
                    self.members.setdefault(low[: -len(suffix)], name)

    def where(self, table: str) -> str:
        """How errors name the member: ``folder/person.csv`` or ``export.zip:PERSON.csv``."""
        member = self.members[table]
        return f"{self.path}:{member}" if self._zip is not None else str(self.path / member)

    def _open(self, table: str) -> io.BufferedReader:
        """The member's bytes as a stream (decompressed, capped at :data:`MAX_MEMBER_BYTES`)."""
        member, where = self.members[table], self.where(table)
        if self._zip is not None:
            info = self._zip.getinfo(member)
            if info.file_size > MAX_MEMBER_BYTES or (
                    info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
                raise InputError(f"refused: expands from {info.compress_size:,} to {info.file_size:,} bytes "
                                 f"(limit {MAX_MEMBER_BYTES:,} bytes, ratio {MAX_RATIO})", file=where)
            raw: BinaryIO = self._zip.open(member)
        else:
            raw = open(self.path / member, "rb")  # noqa: SIM115 - closed by the stream
        if member.lower().endswith(".gz"):
            raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        return io.BufferedReader(_Capped(raw, MAX_MEMBER_BYTES, where), 1 << 20)

    def read(self, table: str) -> pd.DataFrame | None:
        """The table as text columns (lower-case names), or None if the export has no such file.

        The member is streamed twice (never held as bytes): once to find its encoding (UTF-8 with or without
        BOM, latin-1, cp1252; or the given one) and its size, once by the CSV parser."""
        if table not in self.members:
            return None
        where = self.where(table)
        with self._open(table) as fh:
            enc = self.encoding or detect_encoding(fh, name=where)
        self.encodings[table] = enc
        with self._open(table) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8-sig" if enc == "utf-8" else enc, newline="")
            try:
                df = pd.read_csv(text, dtype=str, keep_default_na=False)
            except pd.errors.EmptyDataError:
                return pd.DataFrame(columns=list(REQUIRED.get(table, ())))
            except pd.errors.ParserError as exc:
                m, q = _FIELDS.search(str(exc)), _EOF_QUOTE.search(str(exc))
                if m:
                    raise InputError(f"expected {m.group(1)} fields, found {m.group(3)}", file=where,
                                     line=int(m.group(2))) from None
                if q:
                    raise InputError("malformed CSV (an unclosed quote)", file=where,
                                     line=int(q.group(1)) + 1) from None
                raise InputError("not a readable CSV file", file=where) from None
            except UnicodeDecodeError:
                raise InputError(f"not valid {enc} text", file=where) from None
        df.columns = [c.strip().lower() for c in df.columns]
        for col in REQUIRED.get(table, ()):
            if col not in df.columns:
                raise InputError("missing column", file=where, field=col)
        self._duplicates(df, table)
        return df

    def _duplicates(self, df: pd.DataFrame, table: str) -> None:
        if len(df) == 0 or not (self.checks.wants("duplicate_rows") or self.checks.wants("duplicate_file")):
            return
        dup = df.duplicated(keep="first").to_numpy()
        if not dup.any():
            return
        first, n = int(dup.argmax()), int(dup.sum())
        if not df.duplicated(keep=False).to_numpy().all() or table in ("concept", "concept_ancestor"):
            self.checks.add("duplicate_rows", self.where(table), None, n, first)
        else:
            self.checks.add("duplicate_file", self.where(table), None, n, first)
            self.checks.add("duplicate_rows", self.where(table), None, n, first)

    def scan(self, table: str, columns: dict[str, pd.Series]) -> None:
        """Refuse CPR-like values (:func:`pmo_workbench.privacy.scan_for_cpr`) in text columns, and in number
        columns before they are converted; the error names the member, first row and column, never the value."""
        from pmo_workbench.privacy import scan_for_cpr

        for col, values in columns.items():
            text = values.astype(str)
            cand = text.str.contains(r"[0-9]{6}", regex=True).to_numpy()
            if not cand.any():
                continue
            hits = scan_for_cpr(pd.DataFrame({col: text[cand].reset_index(drop=True)}))
            if hits:
                row = int(np.flatnonzero(cand)[min(h.first_row or 0 for h in hits)])
                raise InputError("a CPR-like value in a text or number column (remove it before the import)",
                                 file=self.where(table), row=row, field=col)

    def plausible(self, table: str, rules: list[tuple[str, pd.Series, str | None]]) -> None:
        """Report the rows meeting each ``(rule, boolean mask, field)`` to the import's checks."""
        for rule, mask, field in rules:
            m = np.asarray(mask.fillna(False) if hasattr(mask, "fillna") else mask, dtype=bool)
            if m.any():
                self.checks.add(rule, self.where(table), field, int(m.sum()), int(m.argmax()))

    def future(self, *dates: pd.Series) -> pd.Series:
        today = pd.Timestamp(self.today)
        out = dates[0] > today
        for d in dates[1:]:
            out = out | (d > today)
        return out

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _ints(values: pd.Series, *, file: str, column: str, required: bool = True) -> pd.Series:
    """Integer ids, exactly (digit strings are parsed as integers, not through floats); an id beyond 64 bits, a
    fraction or text is an error naming the row."""
    text = values.astype(str).str.strip().reset_index(drop=True)
    out = pd.Series(pd.NA, index=text.index, dtype="Int64")
    digits = text.str.fullmatch(r"[+-]?[0-9]+").to_numpy(dtype=bool)
    if digits.any():
        long = digits & (text.str.lstrip("+-").str.lstrip("0").str.len() >= 19).to_numpy(dtype=bool)
        if long.any():
            big = text[long].map(int)
            over = ((big > 2**63 - 1) | (big < -(2**63))).to_numpy(dtype=bool)
            if over.any():
                raise InputError("integer out of range (more than 64 bits)", file=file,
                                 row=int(np.flatnonzero(long)[over.argmax()]), field=column)
        out[digits] = text[digits].astype("int64").to_numpy()
    rest = ~digits & (text != "").to_numpy(dtype=bool)
    if rest.any():
        num = pd.to_numeric(text[rest], errors="coerce")
        bad = (num.isna() | (num != np.floor(num.fillna(0))) | (num.abs() > 2**53)).to_numpy()
        if bad.any():
            raise InputError("not an integer id", file=file, row=int(np.flatnonzero(rest)[bad.argmax()]),
                             field=column)
        out[rest] = num.astype("int64").to_numpy()
    if required and (text == "").any():
        raise InputError("required value is empty", file=file, row=int((text == "").to_numpy().argmax()),
                         field=column)
    return out


def _dates(values: pd.Series, *, file: str, column: str, required: bool = True) -> pd.Series:
    text = values.str.strip().str.slice(0, 10)
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = (parsed.isna() & (text != "")).to_numpy()
    if bad.any():
        raise InputError("not a date (YYYY-MM-DD)", file=file, row=int(bad.argmax()), field=column)
    if required and (text == "").any():
        raise InputError("required date is empty", file=file, row=int((text == "").to_numpy().argmax()),
                         field=column)
    return parsed


def _floats(values: pd.Series, *, file: str, column: str) -> pd.Series:
    text = values.str.strip()
    num = pd.to_numeric(text, errors="coerce")
    bad = (num.isna() & (text != "") & ~text.str.upper().isin(["NA", "NAN", "NULL"])).to_numpy()
    if bad.any():
        raise InputError("not a number", file=file, row=int(bad.argmax()), field=column)
    return num.astype("float64")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([""] * len(df), index=df.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    s = values.astype(str).str.strip()
    return s.where(s != "", None)


def _oid(ids: pd.Series) -> pd.Series:
    return "O" + ids.astype("int64").astype(str)


def build_person(src: OmopSource) -> pd.DataFrame:
    """``person`` (with death dates) from ``person`` and ``death``."""
    df = src.read("person")
    if df is None:
        raise InputError("OMOP export has no person table", file=src.path, field="person")
    f = src.where("person")
    pid = _ints(df["person_id"], file=f, column="person_id")
    sex = df["gender_concept_id"].str.strip().map(GENDER)
    fallback = _col(df, "gender_source_value").str.strip().str.upper().map({"F": "F", "M": "M"})
    sex = sex.fillna(fallback).fillna("U")
    birth = _dates(_col(df, "birth_datetime"), file=f, column="birth_datetime", required=False)
    year = _ints(df["year_of_birth"], file=f, column="year_of_birth", required=False)
    month = _ints(_col(df, "month_of_birth"), file=f, column="month_of_birth", required=False).fillna(1)
    day = _ints(_col(df, "day_of_birth"), file=f, column="day_of_birth", required=False).fillna(1)
    ymd = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}).astype("float64"),
                         errors="coerce")
    birth = birth.fillna(ymd)
    if birth.isna().any():
        raise InputError("no birth date (year_of_birth or birth_datetime)", file=f,
                         row=int(birth.isna().to_numpy().argmax()), field="year_of_birth")
    src.checks.add("empty_person_table", f, None, 1 if len(df) == 0 else 0, None)
    person = pd.DataFrame({"person_id": _oid(pid), "sex": sex, "birth_date": birth, "death_date": pd.NaT,
                           "region": None})
    death = src.read("death")
    if death is not None and len(death):
        fd = src.where("death")
        dd = pd.DataFrame({"person_id": _oid(_ints(death["person_id"], file=fd, column="person_id")),
                           "death_date": _dates(death["death_date"], file=fd, column="death_date")})
        src.plausible("death", [("unknown_person", ~dd["person_id"].isin(person["person_id"]), "person_id"),
                                ("future_date", src.future(dd["death_date"]), "death_date")])
        first = dd.groupby("person_id")["death_date"].min()
        person["death_date"] = person["person_id"].map(first)
    src.plausible("person", [("death_before_birth", person["death_date"] < person["birth_date"], "death_date"),
                             ("future_date", src.future(person["birth_date"]), "birth_datetime")])
    src.known = set(person["person_id"])
    return validate_table(person, "person", file=f)


def _events(src: OmopSource, table: str, person_id: pd.Series, *dates: pd.Series,
            end: pd.Series | None = None, field: str | None = None) -> None:
    """The plausibility rules of an event table: unknown persons, future dates, ends before starts."""
    rules = [("unknown_person", ~person_id.isin(src.known), "person_id"),
             ("future_date", src.future(*dates), field)]
    if end is not None:
        rules.append(("discharge_before_admission", end < dates[0], field))
    src.plausible(table, rules)


def build_observation_period(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("observation_period")
    if df is None:
        return None
    f = src.where("observation_period")
    out = pd.DataFrame({
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "start_date": _dates(df["observation_period_start_date"], file=f, column="observation_period_start_date"),
        "end_date": _dates(df["observation_period_end_date"], file=f, column="observation_period_end_date"),
    })
    src.plausible("observation_period", [("unknown_person", ~out["person_id"].isin(src.known), "person_id")])
    return validate_table(out, "observation_period", file=f)


def build_diagnosis(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("condition_occurrence")
    if df is None:
        return None
    f = src.where("condition_occurrence")
    visit = _ints(_col(df, "visit_occurrence_id"), file=f, column="visit_occurrence_id", required=False)
    out = pd.DataFrame({
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "contact_id": visit.astype(str).where(visit.notna(), None),
        "date": _dates(df["condition_start_date"], file=f, column="condition_start_date"),
        "end_date": _dates(_col(df, "condition_end_date"), file=f, column="condition_end_date", required=False),
        "code": _ints(df["condition_concept_id"], file=f, column="condition_concept_id").astype(str),
        "vocabulary": "OMOP", "diag_type": None, "contact_type": None, "source": "OMOP",
    })
    src.scan("condition_occurrence", {"condition_source_value": _col(df, "condition_source_value")})
    _events(src, "condition_occurrence", out["person_id"], out["date"], end=out["end_date"],
            field="condition_start_date")
    return validate_table(out, "diagnosis", file=f).assign(source_value=_text(_col(df, "condition_source_value"))
                                                           .reset_index(drop=True))


def build_prescription(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("drug_exposure")
    if df is None:
        return None
    f = src.where("drug_exposure")
    src.scan("drug_exposure", {"drug_source_value": _col(df, "drug_source_value"), "quantity": _col(df, "quantity")})
    out = pd.DataFrame({
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "date": _dates(df["drug_exposure_start_date"], file=f, column="drug_exposure_start_date"),
        "code": _ints(df["drug_concept_id"], file=f, column="drug_concept_id").astype(str),
        "vocabulary": "OMOP", "ddd": np.nan,
        "packages": _floats(_col(df, "quantity"), file=f, column="quantity"), "strength": None, "source": "OMOP",
    })
    _events(src, "drug_exposure", out["person_id"], out["date"], field="drug_exposure_start_date")
    return validate_table(out, "prescription", file=f).assign(source_value=_text(_col(df, "drug_source_value"))
                                                              .reset_index(drop=True))


def build_lab(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("measurement")
    if df is None:
        return None
    f = src.where("measurement")
    src.scan("measurement", {c: _col(df, c) for c in ("measurement_source_value", "value_source_value",
                                                      "unit_source_value", "value_as_number", "range_low",
                                                      "range_high")})
    day = _dates(df["measurement_date"], file=f, column="measurement_date")
    stamp = pd.to_datetime(_col(df, "measurement_datetime").str.strip(), format="%Y-%m-%d %H:%M:%S",
                           errors="coerce")
    value = _floats(_col(df, "value_as_number"), file=f, column="value_as_number")
    text = _text(_col(df, "value_source_value"))
    out = pd.DataFrame({
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "datetime": stamp.fillna(day),
        "code": _ints(df["measurement_concept_id"], file=f, column="measurement_concept_id").astype(str),
        "vocabulary": "OMOP", "value": value, "value_text": text.where(value.isna(), None),
        "unit": _text(_col(df, "unit_source_value")),
        "ref_low": _floats(_col(df, "range_low"), file=f, column="range_low"),
        "ref_high": _floats(_col(df, "range_high"), file=f, column="range_high"), "lab_id": None,
    })
    _events(src, "measurement", out["person_id"], out["datetime"], field="measurement_date")
    return validate_table(out, "lab", file=f).assign(source_value=_text(_col(df, "measurement_source_value"))
                                                     .reset_index(drop=True))


def build_specimen(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("specimen")
    if df is None:
        return None
    f = src.where("specimen")
    concept = _ints(df["specimen_concept_id"], file=f, column="specimen_concept_id").astype(str)
    kind = _text(_col(df, "specimen_source_value"))
    src.scan("specimen", {"specimen_source_value": _col(df, "specimen_source_value")})
    out = pd.DataFrame({
        "specimen_id": _oid(_ints(df["specimen_id"], file=f, column="specimen_id")),
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "biobank": "OMOP", "specimen_type": kind.fillna(concept),
        "collected_date": _dates(df["specimen_date"], file=f, column="specimen_date"),
    })
    _events(src, "specimen", out["person_id"], out["collected_date"], field="specimen_date")
    return validate_table(out, "specimen", file=f)


def build_vocabulary(src: OmopSource) -> dict[str, pd.DataFrame]:
    """``concept`` and ``concept_ancestor`` (typed; absent ones left out)."""
    out: dict[str, pd.DataFrame] = {}
    c = src.read("concept")
    if c is not None:
        f = src.where("concept")
        out["concept"] = pd.DataFrame({
            "concept_id": _ints(c["concept_id"], file=f, column="concept_id").astype("int64"),
            "concept_name": c["concept_name"], "domain_id": _col(c, "domain_id"),
            "vocabulary_id": c["vocabulary_id"], "concept_class_id": _col(c, "concept_class_id"),
            "standard_concept": _col(c, "standard_concept"), "concept_code": _col(c, "concept_code"),
        })
    a = src.read("concept_ancestor")
    if a is not None:
        f = src.where("concept_ancestor")
        out["concept_ancestor"] = pd.DataFrame({
            "ancestor_concept_id": _ints(a["ancestor_concept_id"], file=f, column="ancestor_concept_id")
            .astype("int64"),
            "descendant_concept_id": _ints(a["descendant_concept_id"], file=f, column="descendant_concept_id")
            .astype("int64"),
        })
    return out


def _write_parquet(table: pa.Table, path: Path) -> None:
    with replace_atomically(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_event_table(df: pd.DataFrame, table: str, folder: Path) -> Path:
    """Write a validated event table with the schema's types plus any extra text columns (``source_value``),
    sorted and in row groups as :func:`~pmo_workbench.health.schema.write_table` writes."""
    spec = EVENT_TABLES[table]
    extras = [c for c in df.columns if c not in spec.columns]
    clean = validate_table(df, table)
    for c in extras:
        clean[c] = df[c].reset_index(drop=True).astype(object).where(df[c].notna().to_numpy(), None)
    schema = spec.schema
    for c in extras:
        schema = schema.append(pa.field(c, pa.string()))
    arrow = sort_event_table(pa.Table.from_pandas(clean, schema=schema, preserve_index=False), table)
    return write_parquet_atomic(arrow, folder / f"{table}.parquet")


def build_omop_tables(source: str | Path, *, encoding: str | None = None,
                      checks: ImportChecks | None = None) -> dict[str, pd.DataFrame]:
    """Every table of an OMOP export mapped to the event schema, in memory (nothing written); the plausibility
    counts go to ``checks``."""
    return _build(OmopSource(source, encoding=encoding, checks=checks))


def _build(src: OmopSource) -> dict[str, pd.DataFrame]:
    try:
        tables: dict[str, pd.DataFrame] = {"person": build_person(src)}
        for name, build in (("observation_period", build_observation_period), ("diagnosis", build_diagnosis),
                            ("prescription", build_prescription), ("lab", build_lab),
                            ("specimen", build_specimen)):
            frame = build(src)
            if frame is not None:
                tables[name] = frame
        tables.update(build_vocabulary(src))
    finally:
        src.close()
    return tables


def import_omop(source: str | Path, project: str | Path | Project, *, synthetic: bool = False,
                encoding: str | None = None, checks: str | dict[str, str] | None = None) -> ImportCounts:
    """Import an OMOP CDM export into ``project`` (created with a minimal ``pmo.yaml`` if missing).

    All or nothing (:mod:`pmo_workbench.health.staging`): the new tables replace the project's registry tables
    and specimens as one set, tables of an earlier import that this one does not provide are dropped, and a
    failed import leaves the project as it was (no ``pmo.yaml`` either).

    Parameters
    ----------
    source
        Folder or zip with the OMOP CSV files.
    project
        Target project; event tables go to its registry folder (specimens to the biobank folder).
    synthetic
        Mark a newly created project as synthetic (public test data such as Eunomia; allows selecting without a
        Tissue Use Register lookup).
    encoding
        Text encoding of the CSV files; default: detected per file (UTF-8 with or without BOM, latin-1, cp1252).
    checks
        Severity per plausibility rule (:func:`pmo_workbench.health.checks.parse_severities`).

    Returns
    -------
    ImportCounts
        Rows written per table, with ``.checks`` (also written as ``import_checks.csv``) and ``.encodings``.
    """
    from pmo_workbench.health.staging import ImportStage

    report = ImportChecks(checks)
    src = OmopSource(source, encoding=encoding, checks=report)
    tables = _build(src)      # everything read and checked before the project is touched
    root = project.root if isinstance(project, Project) else Path(project)
    counts = ImportCounts()
    with ImportStage(root, synthetic=synthetic) as stage:
        registry, biobank = stage.folder("registry"), stage.folder("biobank")
        for name, frame in tables.items():
            if name in EVENT_TABLES:
                write_event_table(frame, name, biobank if name == "specimen" else registry)
            else:
                _write_parquet(pa.Table.from_pandas(frame, preserve_index=False), registry / f"{name}.parquet")
            counts[name] = len(frame)
        report.write(registry)
        stage.commit({"registry": REGISTRY_FILES, "biobank": ("specimen.parquet",)})
    counts.checks, counts.encodings = report, src.encodings
    return counts
