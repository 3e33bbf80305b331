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
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.errors import InputError
from pmo_workbench.files import replace_atomically
from pmo_workbench.health.registry import ensure_project
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


class OmopSource:
    """The CSV members of an OMOP export folder or zip, by lower-case table name."""

    def __init__(self, source: str | Path) -> None:
        self.path = Path(source)
        self.members: dict[str, str] = {}
        if self.path.is_dir():
            names = [p.name for p in self.path.iterdir() if p.is_file()]
            self._zip = None
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
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

    def read(self, table: str) -> pd.DataFrame | None:
        """The table as text columns (lower-case names), or None if the export has no such file."""
        if table not in self.members:
            return None
        member = self.members[table]
        if self._zip is not None:
            data = self._zip.read(member)
        else:
            data = (self.path / member).read_bytes()
        if member.lower().endswith(".gz"):
            data = gzip.decompress(data)
        if not data.strip():
            return pd.DataFrame(columns=list(REQUIRED.get(table, ())))
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
        df.columns = [c.strip().lower() for c in df.columns]
        for col in REQUIRED.get(table, ()):
            if col not in df.columns:
                raise InputError("missing column", file=self.where(table), field=col)
        return df

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _ints(values: pd.Series, *, file: str, column: str, required: bool = True) -> pd.Series:
    text = values.str.strip()
    num = pd.to_numeric(text, errors="coerce")
    bad = ((num.isna() & (text != "")) | (num.notna() & (num != np.floor(num.fillna(0))))).to_numpy()
    if bad.any():
        raise InputError("not an integer id", file=file, row=int(bad.argmax()), field=column)
    if required and (text == "").any():
        raise InputError("required value is empty", file=file, row=int((text == "").to_numpy().argmax()),
                         field=column)
    return num.astype("Int64")


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
    person = pd.DataFrame({"person_id": _oid(pid), "sex": sex, "birth_date": birth, "death_date": pd.NaT,
                           "region": None})
    death = src.read("death")
    if death is not None and len(death):
        fd = src.where("death")
        dd = pd.DataFrame({"person_id": _oid(_ints(death["person_id"], file=fd, column="person_id")),
                           "death_date": _dates(death["death_date"], file=fd, column="death_date")})
        first = dd.groupby("person_id")["death_date"].min()
        person["death_date"] = person["person_id"].map(first)
    return validate_table(person, "person", file=f)


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
    return validate_table(out, "diagnosis", file=f).assign(source_value=_text(_col(df, "condition_source_value"))
                                                           .reset_index(drop=True))


def build_prescription(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("drug_exposure")
    if df is None:
        return None
    f = src.where("drug_exposure")
    out = pd.DataFrame({
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "date": _dates(df["drug_exposure_start_date"], file=f, column="drug_exposure_start_date"),
        "code": _ints(df["drug_concept_id"], file=f, column="drug_concept_id").astype(str),
        "vocabulary": "OMOP", "ddd": np.nan,
        "packages": _floats(_col(df, "quantity"), file=f, column="quantity"), "strength": None, "source": "OMOP",
    })
    return validate_table(out, "prescription", file=f).assign(source_value=_text(_col(df, "drug_source_value"))
                                                              .reset_index(drop=True))


def build_lab(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("measurement")
    if df is None:
        return None
    f = src.where("measurement")
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
    return validate_table(out, "lab", file=f).assign(source_value=_text(_col(df, "measurement_source_value"))
                                                     .reset_index(drop=True))


def build_specimen(src: OmopSource) -> pd.DataFrame | None:
    df = src.read("specimen")
    if df is None:
        return None
    f = src.where("specimen")
    concept = _ints(df["specimen_concept_id"], file=f, column="specimen_concept_id").astype(str)
    kind = _text(_col(df, "specimen_source_value"))
    out = pd.DataFrame({
        "specimen_id": _oid(_ints(df["specimen_id"], file=f, column="specimen_id")),
        "person_id": _oid(_ints(df["person_id"], file=f, column="person_id")),
        "biobank": "OMOP", "specimen_type": kind.fillna(concept),
        "collected_date": _dates(df["specimen_date"], file=f, column="specimen_date"),
    })
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


def build_omop_tables(source: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of an OMOP export mapped to the event schema, in memory (nothing written)."""
    src = OmopSource(source)
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


def import_omop(source: str | Path, project: str | Path | Project, *, synthetic: bool = False) -> dict[str, int]:
    """Import an OMOP CDM export into ``project`` (created with a minimal ``pmo.yaml`` if missing).

    Parameters
    ----------
    source
        Folder or zip with the OMOP CSV files.
    project
        Target project; event tables go to its registry folder (specimens to the biobank folder).
    synthetic
        Mark a newly created project as synthetic (public test data such as Eunomia; allows selecting without a
        Tissue Use Register lookup).

    Returns
    -------
    dict
        Rows written per table.
    """
    tables = build_omop_tables(source)
    proj = ensure_project(project, synthetic=synthetic)
    registry, biobank = proj.source("registry"), proj.source("biobank")
    assert registry is not None and biobank is not None
    counts = {}
    for name, frame in tables.items():
        if name in EVENT_TABLES:
            write_event_table(frame, name, biobank if name == "specimen" else registry)
        else:
            _write_parquet(pa.Table.from_pandas(frame, preserve_index=False), registry / f"{name}.parquet")
        counts[name] = len(frame)
    return counts
