"""Import Danish registry extracts (raw layer, with CPR numbers) into the event schema, pseudonymised on entry.

Files read from the raw folder (CSV, UTF-8, header, comma-separated; layout of ``/tmp/team/SYNTH_CONTRACT.md``):

=========================  ====================================================================================
``cpr_register.csv``       pnr, koen (K|M), foed_dag, doed_dato, region  -> ``person``, ``observation_period``
``lpr_adm.csv``            LPR2 contacts: pnr, recnum, d_inddto, d_uddto, c_pattype, c_sgh, c_adiag
``lpr_diag.csv``           LPR2 diagnoses: recnum, c_diag, c_diagtype                      -> ``diagnosis``
``lpr3_kontakter.csv``     LPR3 contacts: cpr, dw_ek_kontakt, dato_start, tidspunkt_start, dato_slut, ...
``lpr3_diagnoser.csv``     LPR3 diagnoses: dw_ek_kontakt, diagnosekode, diagnosetype, senere_afkraeftet
``lmdb.csv``               prescriptions: pnr, atc, eksd, apk, packsize, volume, voltypetxt, strnum, strunit
``labka.csv``              lab: pnr, samplingdate, samplingtime, analysiscode, value, unit, refl, refu, ...
``tissue_use_register.csv``  pnr, registreringsdato                                     -> ``tissue_use_register``
=========================  ====================================================================================

Mapping decisions:

- Every CPR column is checked with :func:`pmo_workbench.privacy.parse_cpr` and replaced by
  :func:`~pmo_workbench.privacy.pseudonymise` with the project's key; raw numbers are never written. A number
  that does not parse is an :class:`~pmo_workbench.errors.InputError` naming file, row (0-based data row) and
  column, never the number.
- LPR2 and LPR3 go into one ``diagnosis`` table (``source`` LPR2/LPR3, ``contact_id`` = recnum or
  dw_ek_kontakt). LPR2 diagnoses come from ``lpr_diag``; a contact's action diagnosis ``c_adiag`` is added as
  type A when ``lpr_diag`` does not already list it. LPR3 diagnoses with ``senere_afkraeftet == "Ja"`` (later
  disproved) are dropped. Contact type: LPR2 ``c_pattype`` 0 inpatient, 1 day, 2 outpatient, 3 emergency; LPR3
  ``kontakttype`` ALCA10 virtual, else a stay of 12 hours or more (start/end date and time) inpatient, else
  ``prioritet`` ATA1 emergency, else outpatient. Codes are upper-cased and kept as SKS (``DI219``).
- ``lmdb``: ``packages`` = apk, ``ddd`` = apk x volume when ``voltypetxt`` is DDD, ``strength`` =
  ``f"{strnum:g} {strunit}"``, ``source`` LMDB (Lægemiddelstatistikregisteret).
- ``labka``: ``value`` is the number in the text (decimal comma accepted), NaN for text such as ``<0.5``;
  ``value_text`` keeps the text of non-numeric results only. ``datetime`` = samplingdate + samplingtime.
- ``observation_period``: from birth (or ``start_date``, default 1977-01-01 when the national patient register
  begins, if later) to death or the extract's ``end_date``. The raw layer has no migrations, so immigration and
  emigration cannot shorten the periods.
- ``tissue_use_register``: the lookup of every person of the CPR register: ``opt_out`` is true for the persons
  listed in the file; ``lookup_date`` is the date the register was looked up (argument; default: the file's
  modification date).

All tables are built and validated in memory before anything is written; each file is written atomically.

Example
-------
>>> # import_registry("raw/", "myproject", lookup_date=date(2026, 1, 15))
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.health.schema import validate_table, write_table
from pmo_workbench.project import Project

RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "cpr_register.csv": ("pnr", "koen", "foed_dag", "doed_dato", "region"),
    "lpr_adm.csv": ("pnr", "recnum", "d_inddto", "d_uddto", "c_pattype"),
    "lpr_diag.csv": ("recnum", "c_diag", "c_diagtype"),
    "lpr3_kontakter.csv": ("cpr", "dw_ek_kontakt", "dato_start", "dato_slut", "kontakttype", "prioritet"),
    "lpr3_diagnoser.csv": ("dw_ek_kontakt", "diagnosekode", "diagnosetype", "senere_afkraeftet"),
    "lmdb.csv": ("pnr", "atc", "eksd", "apk"),
    "labka.csv": ("pnr", "samplingdate", "analysiscode", "value", "unit"),
    "tissue_use_register.csv": ("pnr", "registreringsdato"),
    "cpr_vandringer.csv": ("pnr", "indud_kode", "haend_dato"),
}
"""Required columns of each raw file."""

REGISTRY_START = date(1977, 1, 1)
LPR2_PATTYPE = {"0": "inpatient", "1": "day", "2": "outpatient", "3": "emergency"}


def read_raw(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read one raw CSV as text (empty cells as ""), checking the required columns."""
    if not path.exists():
        raise InputError("raw file not found", file=path)
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader([fh.readline()]), [])
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False,
            quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        # find the line ourselves: Arrow's message would quote the row (and with it a CPR number)
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for i, record in enumerate(csv.reader(fh), start=1):
                if record and len(record) != len(header):
                    raise InputError(f"expected {len(header)} fields, found {len(record)}", file=path,
                                     line=i) from None
        raise InputError("not a readable CSV file", file=path) from None
    df = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    df.columns = [c.strip().lower().lstrip("\ufeff") for c in df.columns]
    for col in required:
        if col not in df.columns:
            raise InputError("missing column", file=path, field=col)
    return df


def find_invalid_cprs(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the values that are not CPR numbers (``DDMMYYSSSS`` or ``DDMMYY-SSSS`` with a real birth
    date, replacement numbers included), vectorised with :func:`pmo_workbench.privacy.compute_cpr_validity`."""
    from pmo_workbench.privacy import compute_cpr_validity

    s = pd.Series(values, dtype=object).astype(str).str.strip()
    hyphen = (s.str.len() == 11) & (s.str[6:7] == "-")
    s = s.where(~hyphen, s.str[:6] + s.str[7:])
    shaped = (s.str.len() == 10) & s.str.fullmatch(r"[0-9]{10}", na=False)
    ok = np.zeros(len(s), dtype=bool)
    if shaped.any():
        digits = np.frombuffer("".join(s[shaped]).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48
        valid, _ = compute_cpr_validity(digits)
        ok[shaped.to_numpy()] = valid
    return ~ok


class Pseudonymiser:
    """Validates raw CPR numbers and replaces them by keyed pseudonyms, remembering the ones already seen.

    Example
    -------
    >>> from pmo_workbench.privacy import DEMO_KEY
    >>> p = Pseudonymiser(DEMO_KEY)
    >>> out = p(pd.Series(["0101902000", "010190-2000"]), file="x.csv", column="pnr")
    >>> out.nunique(), out.iloc[0][0]
    (1, 'P')
    """

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._cache: dict[str, str] = {}

    def __call__(self, values: pd.Series, *, file: Path | str, column: str) -> pd.Series:
        """Pseudonyms of ``values``; a value that is not a CPR number is an InputError naming file, row, column."""
        from pmo_workbench.privacy import parse_cpr, pseudonymise

        text = values.astype(str).str.strip()
        empty = (text == "").to_numpy()
        if empty.any():
            raise InputError("empty CPR number", file=file, row=int(empty.argmax()), field=column)
        codes, uniques = pd.factorize(text)
        new = np.array([u not in self._cache for u in uniques], dtype=bool)
        fresh = np.asarray(uniques, dtype=object)[new]
        bad = find_invalid_cprs(fresh)
        if bad.any():
            raw = fresh[int(np.flatnonzero(bad)[0])]
            j = int(np.flatnonzero(np.asarray(uniques, dtype=object) == raw)[0])
            row = int(np.flatnonzero(codes == j)[0])
            try:
                parse_cpr(raw)
                reason = "not a CPR number"
            except ValueError as exc:
                reason = str(exc)
            raise InputError(f"not a valid CPR number ({reason})", file=file, row=row, field=column)
        normalised = [f[:6] + f[7:] if len(f) == 11 else f for f in fresh]
        for raw, pseudo in zip(fresh, pseudonymise(normalised, self.key), strict=True):
            self._cache[raw] = pseudo
        pseudo_of_unique = np.array([self._cache[u] for u in uniques], dtype=object)
        return pd.Series(pseudo_of_unique[codes], index=values.index, dtype=object)


def parse_dates(values: pd.Series, *, file: Path, column: str, required: bool = True) -> pd.Series:
    """Parse ISO dates (YYYY-MM-DD); empty cells are NaT unless ``required``."""
    text = values.str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    bad = (parsed.isna() & (text != "")).to_numpy()
    if bad.any():
        raise InputError("not a date (YYYY-MM-DD)", file=file, row=int(bad.argmax()), field=column)
    if required:
        empty = (text == "").to_numpy()
        if empty.any():
            raise InputError("required date is empty", file=file, row=int(empty.argmax()), field=column)
    return parsed


def parse_numbers(values: pd.Series, *, file: Path, column: str, strict: bool = True) -> pd.Series:
    """Parse numbers (decimal comma accepted); empty -> NaN; a non-number is an error when ``strict``."""
    text = values.str.strip().str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(text, errors="coerce")
    if strict:
        bad = (parsed.isna() & (text != "")).to_numpy()
        if bad.any():
            raise InputError("not a number", file=file, row=int(bad.argmax()), field=column)
    return parsed.astype("float64")


def _codes(values: pd.Series, *, file: Path, column: str) -> pd.Series:
    codes = values.str.strip().str.upper()
    empty = (codes == "").to_numpy()
    if empty.any():
        raise InputError("empty code", file=file, row=int(empty.argmax()), field=column)
    return codes


def build_person(raw: Path, pseudo: Pseudonymiser, end_date: date,
                 start_date: date = REGISTRY_START) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``person`` and ``observation_period`` from ``cpr_register.csv``."""
    f = raw / "cpr_register.csv"
    df = read_raw(f, RAW_COLUMNS[f.name])
    dup = df["pnr"].str.replace("-", "", regex=False).str.strip().duplicated().to_numpy()
    if dup.any():
        raise InputError("duplicate id", file=f, row=int(dup.argmax()), field="pnr")
    sex = df["koen"].str.strip().str.upper().map({"K": "F", "M": "M", "F": "F"})
    if sex.isna().any():
        raise InputError("sex must be K or M", file=f, row=int(sex.isna().to_numpy().argmax()), field="koen")
    person = pd.DataFrame({
        "person_id": pseudo(df["pnr"], file=f, column="pnr"),
        "sex": sex,
        "birth_date": parse_dates(df["foed_dag"], file=f, column="foed_dag"),
        "death_date": parse_dates(df["doed_dato"], file=f, column="doed_dato", required=False),
        "region": df["region"].str.strip().replace("", None),
    })
    person = validate_table(person, "person", file=f)
    birth = pd.to_datetime(person["birth_date"])
    death = pd.to_datetime(person["death_date"])
    start = birth.where(birth > pd.Timestamp(start_date), pd.Timestamp(start_date))
    end = death.fillna(pd.Timestamp(end_date)).where(death.isna() | (death < pd.Timestamp(end_date)),
                                                     pd.Timestamp(end_date))
    moves = raw / "cpr_vandringer.csv"
    if moves.exists():
        start, end = _apply_migrations(moves, pseudo, person["person_id"], start, end)
    keep = (start <= end).to_numpy()
    obs = pd.DataFrame({"person_id": person["person_id"][keep], "start_date": start[keep], "end_date": end[keep]})
    return person, validate_table(obs, "observation_period", file=f)


def _apply_migrations(f: Path, pseudo: Pseudonymiser, person_id: pd.Series, start: pd.Series,
                      end: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Narrow observation by the CPR register's moves (``cpr_vandringer.csv``: pnr, indud_kode I|U, haend_dato).

    One period per person: from the latest immigration (I) to the first emigration (U) after it; a person whose
    moves leave no such span keeps no observation period.
    """
    df = read_raw(f, RAW_COLUMNS[f.name])
    code = df["indud_kode"].str.strip().str.upper()
    bad = ~code.isin(["I", "U"])
    if bad.any():
        raise InputError("must be I (immigration) or U (emigration)", file=f, row=int(bad.to_numpy().argmax()),
                         field="indud_kode")
    moves = pd.DataFrame({"person_id": pseudo(df["pnr"], file=f, column="pnr"), "code": code,
                          "date": pd.to_datetime(parse_dates(df["haend_dato"], file=f, column="haend_dato"))})
    unknown = ~moves["person_id"].isin(person_id)
    if unknown.any():
        raise InputError("person not in cpr_register.csv", file=f, row=int(unknown.to_numpy().argmax()), field="pnr")
    start = start.copy()
    end = end.copy()
    index = pd.Series(np.arange(len(person_id)), index=person_id.to_numpy())
    last_in = moves[moves["code"] == "I"].groupby("person_id")["date"].max()
    rows = index[last_in.index].to_numpy()
    start.iloc[rows] = np.maximum(start.iloc[rows].to_numpy(), last_in.to_numpy())
    out = moves[moves["code"] == "U"]
    out = out[out["date"] >= start.iloc[index[out["person_id"]].to_numpy()].to_numpy()]
    first_out = out.groupby("person_id")["date"].min()
    rows = index[first_out.index].to_numpy()
    end.iloc[rows] = np.minimum(end.iloc[rows].to_numpy(), first_out.to_numpy())
    return start, end


def build_lpr2(raw: Path, pseudo: Pseudonymiser) -> pd.DataFrame:
    """LPR2 diagnoses (``lpr_adm`` + ``lpr_diag``) in the diagnosis schema."""
    fa, fd = raw / "lpr_adm.csv", raw / "lpr_diag.csv"
    adm = read_raw(fa, RAW_COLUMNS[fa.name])
    diag = read_raw(fd, RAW_COLUMNS[fd.name])
    dup = adm["recnum"].duplicated().to_numpy()
    if dup.any():
        raise InputError("duplicate id", file=fa, row=int(dup.argmax()), field="recnum")
    pattype = adm["c_pattype"].str.strip().map(LPR2_PATTYPE)
    if pattype.isna().any():
        raise InputError("c_pattype must be 0, 1, 2 or 3", file=fa, row=int(pattype.isna().to_numpy().argmax()),
                         field="c_pattype")
    contacts = pd.DataFrame({
        "person_id": pseudo(adm["pnr"], file=fa, column="pnr"),
        "contact_id": adm["recnum"].str.strip(),
        "date": parse_dates(adm["d_inddto"], file=fa, column="d_inddto"),
        "end_date": parse_dates(adm["d_uddto"], file=fa, column="d_uddto", required=False),
        "contact_type": pattype,
    })
    unknown = ~diag["recnum"].str.strip().isin(contacts["contact_id"])
    if unknown.any():
        raise InputError("recnum not in lpr_adm.csv", file=fd, row=int(unknown.to_numpy().argmax()),
                         field="recnum")
    d = pd.DataFrame({"contact_id": diag["recnum"].str.strip(),
                      "code": _codes(diag["c_diag"], file=fd, column="c_diag"),
                      "diag_type": diag["c_diagtype"].str.strip().str.upper()})
    if "c_adiag" in adm.columns:
        a = pd.DataFrame({"contact_id": contacts["contact_id"], "code": adm["c_adiag"].str.strip().str.upper(),
                          "diag_type": "A"})
        a = a[a["code"] != ""]
        listed = pd.MultiIndex.from_frame(d[["contact_id", "code"]])
        a = a[~pd.MultiIndex.from_frame(a[["contact_id", "code"]]).isin(listed)]
        if len(a):
            d = pd.concat([a, d], ignore_index=True)
    out = d.merge(contacts, on="contact_id", how="inner")
    return out.assign(vocabulary="SKS", source="LPR2")


def _stamp(day: pd.Series, time: pd.Series | None) -> pd.Series:
    if time is None:
        return day
    t = time.str.strip()
    t = t.where(t != "", "00:00")
    t = t.where(t.str.count(":") >= 2, t + ":00")
    return pd.to_datetime(day.dt.strftime("%Y-%m-%d") + " " + t, format="%Y-%m-%d %H:%M:%S", errors="coerce")


def _lpr3_contact_type(k: pd.DataFrame, start: pd.Series, end: pd.Series, *, file: Path) -> pd.Series:
    """ALCA10 virtual; else a stay of 12 hours or more inpatient; else ATA1 emergency; else outpatient."""
    kind = k["kontakttype"].str.strip().str.upper()
    prio = k["prioritet"].str.strip().str.upper()
    t0 = _stamp(start, k["tidspunkt_start"] if "tidspunkt_start" in k.columns else None)
    t1 = _stamp(end, k["tidspunkt_slut"] if "tidspunkt_slut" in k.columns else None)
    for stamp, col in ((t0, "tidspunkt_start"), (t1, "tidspunkt_slut")):
        bad = (stamp.isna() & (start if col == "tidspunkt_start" else end).notna()).to_numpy()
        if bad.any():
            raise InputError("not a time (HH:MM or HH:MM:SS)", file=file, row=int(bad.argmax()), field=col)
    long_stay = (t1 - t0) >= pd.Timedelta(hours=12)
    out = np.where(prio == "ATA1", "emergency", "outpatient").astype(object)
    out = np.where(long_stay.fillna(False).to_numpy(dtype=bool), "inpatient", out)
    out = np.where(kind == "ALCA10", "virtual", out)
    return pd.Series(out, index=k.index)


def build_lpr3(raw: Path, pseudo: Pseudonymiser) -> pd.DataFrame:
    """LPR3 diagnoses (``lpr3_kontakter`` + ``lpr3_diagnoser``), later-disproved ones dropped."""
    fk, fd = raw / "lpr3_kontakter.csv", raw / "lpr3_diagnoser.csv"
    k = read_raw(fk, RAW_COLUMNS[fk.name])
    diag = read_raw(fd, RAW_COLUMNS[fd.name])
    dup = k["dw_ek_kontakt"].duplicated().to_numpy()
    if dup.any():
        raise InputError("duplicate id", file=fk, row=int(dup.argmax()), field="dw_ek_kontakt")
    start = parse_dates(k["dato_start"], file=fk, column="dato_start")
    end = parse_dates(k["dato_slut"], file=fk, column="dato_slut", required=False)
    contacts = pd.DataFrame({
        "person_id": pseudo(k["cpr"], file=fk, column="cpr"),
        "contact_id": k["dw_ek_kontakt"].str.strip(), "date": start, "end_date": end,
        "contact_type": _lpr3_contact_type(k, start, end, file=fk),
    })
    disproved = diag["senere_afkraeftet"].str.strip().str.capitalize()
    bad = ~disproved.isin(["Ja", "Nej", ""])
    if bad.any():
        raise InputError("senere_afkraeftet must be Ja or Nej", file=fd, row=int(bad.to_numpy().argmax()),
                         field="senere_afkraeftet")
    unknown = ~diag["dw_ek_kontakt"].str.strip().isin(contacts["contact_id"])
    if unknown.any():
        raise InputError("dw_ek_kontakt not in lpr3_kontakter.csv", file=fd, row=int(unknown.to_numpy().argmax()),
                         field="dw_ek_kontakt")
    d = pd.DataFrame({"contact_id": diag["dw_ek_kontakt"].str.strip(),
                      "code": _codes(diag["diagnosekode"], file=fd, column="diagnosekode"),
                      "diag_type": diag["diagnosetype"].str.strip().str.upper()})[(disproved != "Ja").to_numpy()]
    out = d.merge(contacts, on="contact_id", how="inner")
    return out.assign(vocabulary="SKS", source="LPR3")


def build_prescription(raw: Path, pseudo: Pseudonymiser) -> pd.DataFrame:
    """Redeemed prescriptions from ``lmdb.csv``."""
    f = raw / "lmdb.csv"
    df = read_raw(f, RAW_COLUMNS[f.name])
    packages = parse_numbers(df["apk"], file=f, column="apk")
    ddd = pd.Series(np.nan, index=df.index)
    if "volume" in df.columns and "voltypetxt" in df.columns:
        volume = parse_numbers(df["volume"], file=f, column="volume")
        ddd = (packages * volume).where(df["voltypetxt"].str.strip().str.upper() == "DDD")
    strength = None
    if "strnum" in df.columns:
        num = parse_numbers(df["strnum"], file=f, column="strnum")
        unit = df["strunit"].str.strip() if "strunit" in df.columns else ""
        strength = (num.map(lambda v: "" if v != v else f"{v:g}") + " " + unit).str.strip().replace("", None)
    out = pd.DataFrame({
        "person_id": pseudo(df["pnr"], file=f, column="pnr"),
        "date": parse_dates(df["eksd"], file=f, column="eksd"),
        "code": _codes(df["atc"], file=f, column="atc"), "vocabulary": "ATC",
        "ddd": ddd, "packages": packages, "strength": strength, "source": "LMDB",
    })
    return validate_table(out, "prescription", file=f)


def build_lab(raw: Path, pseudo: Pseudonymiser) -> pd.DataFrame:
    """Lab results from ``labka.csv`` (text results such as ``<0.5``: value NaN, text in value_text)."""
    f = raw / "labka.csv"
    df = read_raw(f, RAW_COLUMNS[f.name])
    day = parse_dates(df["samplingdate"], file=f, column="samplingdate")
    when = day
    if "samplingtime" in df.columns:
        when = _stamp(day, df["samplingtime"])
        bad = when.isna().to_numpy()
        if bad.any():
            raise InputError("not a time (HH:MM or HH:MM:SS)", file=f, row=int(bad.argmax()), field="samplingtime")
    value = parse_numbers(df["value"], file=f, column="value", strict=False)
    text = df["value"].str.strip()
    out = pd.DataFrame({
        "person_id": pseudo(df["pnr"], file=f, column="pnr"),
        "datetime": when, "code": _codes(df["analysiscode"], file=f, column="analysiscode"), "vocabulary": "NPU",
        "value": value, "value_text": text.where(value.isna() & (text != ""), None),
        "unit": df["unit"].str.strip().replace("", None),
        "ref_low": parse_numbers(df["refl"], file=f, column="refl") if "refl" in df.columns else np.nan,
        "ref_high": parse_numbers(df["refu"], file=f, column="refu") if "refu" in df.columns else np.nan,
        "lab_id": df["laboratorium_idcode"].str.strip().replace("", None)
        if "laboratorium_idcode" in df.columns else None,
    })
    return validate_table(out, "lab", file=f)


def build_tissue_use_register(raw: Path, pseudo: Pseudonymiser, lookup_date: date | None,
                              persons: pd.Series | None = None) -> pd.DataFrame:
    """The register lookup: every person of ``persons`` (and every listed one), opt_out True if listed in
    ``tissue_use_register.csv``, with the lookup date."""
    f = raw / "tissue_use_register.csv"
    df = read_raw(f, RAW_COLUMNS[f.name])
    parse_dates(df["registreringsdato"], file=f, column="registreringsdato", required=False)
    if lookup_date is None:
        lookup_date = datetime.fromtimestamp(f.stat().st_mtime).date()
    ids = pseudo(df["pnr"], file=f, column="pnr")
    everyone = pd.Series(pd.unique(pd.concat([persons if persons is not None else pd.Series(dtype=object), ids])))
    out = pd.DataFrame({"person_id": everyone, "opt_out": everyone.isin(set(ids)),
                        "lookup_date": pd.Timestamp(lookup_date)})
    return validate_table(out.drop_duplicates("person_id").reset_index(drop=True), "tissue_use_register", file=f)


def build_registry_tables(raw_dir: str | Path, key: bytes, *, lookup_date: date | None = None,
                          end_date: date = date(2025, 12, 31),
                          start_date: date = REGISTRY_START) -> dict[str, pd.DataFrame]:
    """All event tables of a raw folder, validated, in memory (nothing written).

    Returns a dict table name -> DataFrame (``person``, ``observation_period``, ``diagnosis``,
    ``prescription``, ``lab``, ``tissue_use_register``), leaving out tables whose raw files are absent
    (``cpr_register.csv`` is required; LPR2 and LPR3 each need both of their files).
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise InputError("raw folder not found", file=raw)
    pseudo = Pseudonymiser(key)
    person, obs = build_person(raw, pseudo, end_date, start_date)
    tables: dict[str, pd.DataFrame] = {"person": person, "observation_period": obs}
    parts = []
    if (raw / "lpr_adm.csv").exists() or (raw / "lpr_diag.csv").exists():
        parts.append(build_lpr2(raw, pseudo))
    if (raw / "lpr3_kontakter.csv").exists() or (raw / "lpr3_diagnoser.csv").exists():
        parts.append(build_lpr3(raw, pseudo))
    if parts:
        cols = ["person_id", "contact_id", "date", "end_date", "code", "vocabulary", "diag_type", "contact_type",
                "source"]
        diag = pd.concat([p[cols] for p in parts], ignore_index=True)
        diag = diag.sort_values(["person_id", "date", "source", "contact_id", "code"], kind="stable")
        tables["diagnosis"] = validate_table(diag.reset_index(drop=True), "diagnosis", file=raw / "lpr")
    if (raw / "lmdb.csv").exists():
        tables["prescription"] = build_prescription(raw, pseudo)
    if (raw / "labka.csv").exists():
        tables["lab"] = build_lab(raw, pseudo)
    if (raw / "tissue_use_register.csv").exists():
        tables["tissue_use_register"] = build_tissue_use_register(raw, pseudo, lookup_date, person["person_id"])
    return tables


def import_registry(raw_dir: str | Path, project: str | Path | Project, *, key: bytes | None = None,
                    lookup_date: date | None = None, end_date: date = date(2025, 12, 31),
                    start_date: date = REGISTRY_START) -> dict[str, int]:
    """Import a raw registry folder into ``project`` (created with a minimal ``pmo.yaml`` if missing).

    Parameters
    ----------
    raw_dir
        Folder with the raw CSV extracts (see the module docstring).
    project
        Target project (folder or loaded); tables go to its registry and consent folders.
    key
        Pseudonymisation key; default :func:`pmo_workbench.privacy.load_pseudonym_key` of the project.
    lookup_date
        Date the Tissue Use Register was looked up (default: the file's modification date).
    end_date, start_date
        End of the extract (closes observation periods of the living) and start of registration (opens them
        for persons born earlier).

    Returns
    -------
    dict
        Rows written per table.
    """
    from pmo_workbench.privacy import load_pseudonym_key

    proj = ensure_project(project)
    key = key if key is not None else load_pseudonym_key(proj)
    tables = build_registry_tables(raw_dir, key, lookup_date=lookup_date, end_date=end_date, start_date=start_date)
    counts = {}
    for name, frame in tables.items():
        folder = proj.source("consent" if name == "tissue_use_register" else "registry")
        assert folder is not None
        write_table(frame, name, folder)
        counts[name] = len(frame)
    return counts


def ensure_project(project: str | Path | Project, *, synthetic: bool = False) -> Project:
    """Load ``project``, or create a folder with a minimal ``pmo.yaml`` (name = folder name) and load that."""
    from pmo_workbench.project import ProjectConfig, load_project, write_project_file

    if isinstance(project, Project):
        return project
    root = Path(project)
    if not (root / "pmo.yaml").exists():
        name = root.resolve().name or "project"
        cfg = ProjectConfig.model_validate({"name": name, "privacy": {"synthetic": synthetic}})
        write_project_file(root, cfg)
    return load_project(root, check_files=False)
