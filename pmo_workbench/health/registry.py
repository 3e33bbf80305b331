"""Import Danish registry extracts (raw layer, with CPR numbers) into the event schema, pseudonymised on entry.

Files read from the raw folder (CSV with a header, comma-separated; UTF-8 with or without BOM, latin-1 or
cp1252 -- detected per file, or given as ``encoding``; layout of ``/tmp/team/SYNTH_CONTRACT.md``):

=========================  ====================================================================================
``cpr_register.csv``       pnr, koen (K|M), foed_dag, doed_dato, region  -> ``person``, ``observation_period``
``cpr_vandringer.csv``     optional moves: pnr, indud_kode (I|U), haend_dato         -> ``observation_period``
``lpr_adm.csv``            LPR2 contacts: pnr, recnum, d_inddto, d_uddto, c_pattype, c_sgh, c_adiag
``lpr_diag.csv``           LPR2 diagnoses: recnum, c_diag, c_diagtype                      -> ``diagnosis``
``lpr3_kontakter.csv``     LPR3 contacts: cpr, dw_ek_kontakt, dato_start, tidspunkt_start, dato_slut, ...
``lpr3_diagnoser.csv``     LPR3 diagnoses: dw_ek_kontakt, diagnosekode, diagnosetype, senere_afkraeftet
``lmdb.csv``               prescriptions: pnr, atc, eksd, apk, packsize, volume, voltypetxt, strnum, strunit
``labka.csv``              lab: pnr, samplingdate, samplingtime, analysiscode, value, unit, refl, refu, ...
``tissue_use_register.csv``  pnr, registreringsdato                                     -> ``tissue_use_register``
=========================  ====================================================================================

Mapping decisions:

- Every CPR column is checked with :func:`pmo_workbench.privacy.compute_cpr_validity` and replaced by
  :func:`~pmo_workbench.privacy.pseudonymise` with the project's key; raw numbers are never written. A number
  that does not parse is an :class:`~pmo_workbench.errors.InputError` naming file, row (0-based data row) and
  column, never the number.
- LPR2 and LPR3 go into one ``diagnosis`` table (``source`` LPR2/LPR3, ``contact_id`` = recnum or
  dw_ek_kontakt). LPR2 diagnoses come from ``lpr_diag``; a contact's action diagnosis ``c_adiag`` is added as
  type A when ``lpr_diag`` does not already list it. LPR3 diagnoses with ``senere_afkraeftet == "Ja"`` (later
  disproved) are dropped. Contact type: LPR2 ``c_pattype`` 0 inpatient, 1 day, 2 outpatient, 3 emergency; LPR3
  ``kontakttype`` ALCA10 virtual, else a stay of 12 hours or more (start/end date and time) inpatient, else
  ``prioritet`` ATA1 emergency, else outpatient. Codes are normalised to the SKS form (:func:`normalised_code`:
  upper case, no spaces or dots, ``D`` prefix: ``di 109`` -> ``DI109``, ``I21.9`` -> ``DI219``; every rewrite
  is reported); numeric codes of LPR before 1994 (``41099``, ``410.99``) are ICD-8, ``vocabulary`` ICD8.
- Every text column that reaches an output (region, recnum/dw_ek_kontakt, codes, units, lab ids and text
  results) and every number column before conversion is scanned for CPR-like values
  (:func:`pmo_workbench.privacy.scan_for_cpr`); one is refused naming file, row and column, never the value.
- Plausibility rules (:mod:`pmo_workbench.health.checks`: death before birth, discharge before admission, dates
  after today, events of persons not in ``cpr_register.csv``, duplicated rows and files, a header-only person
  table, rewritten codes) are counted per rule and file; fatal ones stop the import.
- ``lmdb``: ``packages`` = apk, ``ddd`` = apk x volume when ``voltypetxt`` is DDD, ``strength`` =
  ``f"{strnum:g} {strunit}"``, ``source`` LMDB (Lægemiddelstatistikregisteret).
- ``labka``: ``value`` is the number in the text (decimal comma accepted), null for text such as ``<0.5``;
  ``value_text`` keeps the text of non-numeric results only. ``datetime`` = samplingdate + samplingtime.
- ``observation_period``: from birth (or ``start_date``, default 1977-01-01 when the national patient register
  begins, if later) to death or the extract's ``end_date``, narrowed by the moves of ``cpr_vandringer.csv``
  (from the latest immigration to the first emigration after it).
- ``tissue_use_register``: the lookup of every person of the CPR register: ``opt_out`` is true for the persons
  listed in the file; ``lookup_date`` is the date the register was looked up (argument, required when the file
  is there: a file's modification date says nothing about when the register was consulted).

The work is done in DuckDB (an import of 1 M persons and 58 M events reads 3.7 GB of CSV): each raw file is read
once into a typed table (every raw cell trimmed once) that also flags every value that does not parse and, for
the duplicate check, hashes the compared columns; every check is one SQL aggregate naming the first bad row, CPR
numbers are validated and pseudonymised once per distinct number (with the pseudonym's integer, the writer's
person order), and each event table is streamed to Parquet through
:func:`~pmo_workbench.health.schema.write_tables` (sorted by code, in small row groups) as soon as its own
files are checked -- its raw tables are dropped then, so the database holds one large raw table at a time. Codes,
vocabularies, sources, units and lab ids reach the writer as ENUMs (:data:`~pmo_workbench.health.schema.ENUM_TEXT`),
so its sort carries integers, not strings. The
database is in memory with a memory limit (:data:`MEMORY_LIMIT`) and a temporary folder: tables, joins and sorts
beyond the limit spill there, so memory does not grow with the registry. The files are written into a staging
folder and swapped in as one set only when every table has been checked and written
(:mod:`pmo_workbench.health.staging`), so a failed import leaves the project byte for byte as it was.

Examples
--------
>>> # import_registry("raw/", "myproject", lookup_date=date(2026, 1, 15))
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.charsets import detect_file_encoding, normalise_encoding, transcode
from pmo_workbench.errors import InputError
from pmo_workbench.health.checks import REPORT_FILES, ImportChecks
from pmo_workbench.health.schema import ENUM_TEXT, EVENT_TABLES, PSEUDONYM_HINT, validate_table, write_tables
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

_DIAGNOSIS = "contact_id, date, end_date, code, diag_type, contact_type, source"
"""The columns of ``diagnosis_rows`` after the raw CPR number ``pnr`` (pseudonymised when written); ``vocabulary``
comes per distinct code from :meth:`RegistryImport._diagnosis_codes`."""

_PERSON_ORDER = f"m.person_order AS {PSEUDONYM_HINT}person_id"
"""The writer's order of ``person_id``, from ``cpr_map m``: the integer of the pseudonym
(:data:`~pmo_workbench.health.schema.PSEUDONYM_HINT`), from which the writer also writes ``person_id`` after
the sort (the 17-character strings of 20 M rows are then neither sorted with the rows nor converted to Arrow)."""


def _enum(*values: str) -> str:
    """SQL: the type of an ENUM of ``values`` (given in text order), for a constant vocabulary or source: the
    writer carries it through its sort as one byte and writes it as text
    (:data:`~pmo_workbench.health.schema.ENUM_TEXT`)."""
    return "ENUM(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


_SCAN_BATCH = 500_000

_DUPLICATE_PASS_ROWS = 16_000_000
"""Rows per pass of the duplicate check's grouped aggregate (:meth:`RegistryImport._duplicates`): a file of more
rows is grouped in passes over ranges of its hash values, so the aggregate's memory does not grow with the file."""

MEMORY_LIMIT = "2.5GB"
"""DuckDB's memory limit during a registry import: tables, joins and sorts beyond it spill to the temporary
folder, so the import's peak memory does not grow with the registry (Python and Arrow come on top: 2.79-2.98 GB
peak at 1 M persons, 3.06 GB at 3 M; see ``benchmarks/bench_registry_import.py``). At 3 GB the peaks were 3.3 GB and
3.8-4.0 GB, too close to the 4 GB bound; at 2 GB the 3 M-person sorts spilled 6-8 GB each and the import took
440 s instead of 369-400 s at 3 GB."""

ICD8_SHAPE = "[0-9]{3}([0-9]{1,2})?"
"""A diagnosis code of this shape (after normalisation) is ICD-8 (LPR before 1994: ``41099``), else SKS."""


def normalised_code(col: str) -> str:
    """SQL: a raw diagnosis code in the SKS form -- upper case, no spaces or dots, and the ``D`` prefix added to
    an ICD-10 code without it (``di 109`` -> ``DI109``, ``I21.9`` -> ``DI219``, ``D50.9`` -> ``DD509``); ICD-8
    codes stay numeric (``410.99`` -> ``41099``)."""
    base = f"regexp_replace(upper({_text(col)}), '[ .]', '', 'g')"
    return f"(CASE WHEN regexp_full_match({base}, '[A-Z][0-9].*') THEN 'D' || {base} ELSE {base} END)"


def _vocabulary(code: str) -> str:
    return f"(CASE WHEN regexp_full_match({code}, '{ICD8_SHAPE}') THEN 'ICD8' ELSE 'SKS' END)"


def _text(col: str) -> str:
    """A raw cell as trimmed text ('' for an empty cell): in :meth:`RegistryImport._load`, every raw column is
    trimmed once in an inner query (a column is used by up to five expressions of the load)."""
    return f'"{col}"'


def _changed(col: str) -> str:
    """SQL: the raw diagnosis code where :func:`normalised_code` changes it, else NULL (for the change report)."""
    return f"CASE WHEN {normalised_code(col)} <> {_text(col)} THEN {_text(col)} END"


def _cpr_candidate(col: str) -> str:
    """The trimmed text of a numeric cell where it has the shape of a CPR number (else NULL), for the CPR scan
    before the cell is converted to a number (a number cannot be scanned)."""
    # the length first: the regular expression then runs on the few 10- or 11-character cells only
    return (f"CASE WHEN length({_text(col)}) IN (10, 11) AND regexp_full_match({_text(col)}, "
            f"'[0-9]{{6}}-?[0-9]{{4}}') THEN {_text(col)} END")


def _date(col: str) -> str:
    return f"TRY_CAST(nullif({_text(col)}, '') AS DATE)"


def _number(col: str) -> str:
    return f"TRY_CAST(replace(nullif({_text(col)}, ''), ',', '.') AS DOUBLE)"


def _unparsed(col: str, value: str) -> str:
    """True where the cell has text that ``value`` could not read."""
    return f"({_text(col)} <> '' AND ({value}) IS NULL)"


def _stamp(day: str, time_col: str | None) -> str:
    """A timestamp from a DATE expression and an optional HH:MM[:SS] column (empty: midnight)."""
    if time_col is None:
        return f"CAST({day} AS TIMESTAMP)"
    return f"({day} + TRY_CAST(coalesce(nullif({_text(time_col)}, ''), '00:00') AS TIME))"


class RegistryImport:
    """The raw folder loaded into an in-memory DuckDB database, checked and mapped to the event schema.

    ``tables`` maps each event table that can be built to the SQL that yields it (over the loaded raw tables and
    ``cpr_map``, the pseudonyms of every CPR number seen; diagnoses, whose LPR2 and LPR3 joins are the costliest,
    are joined once into ``diagnosis_rows`` and the raw LPR tables dropped). Close it with :meth:`close` (or use it
    as a context manager): the database spills to a temporary folder that is removed then.

    Examples
    --------
    >>> # with RegistryImport("raw/", key) as reg: reg.con.sql(reg.tables["person"]).df()
    """

    def __init__(self, raw_dir: str | Path, key: bytes, *, lookup_date: date | None = None,
                 end_date: date = date(2025, 12, 31), start_date: date = REGISTRY_START,
                 encoding: str | None = None, checks: ImportChecks | None = None,
                 spill_dir: str | Path | None = None, memory_limit: str | None = None,
                 sink: Callable[[str, duckdb.DuckDBPyRelation], None] | None = None) -> None:
        self.raw = Path(raw_dir)
        if not self.raw.is_dir():
            raise InputError("raw folder not found", file=self.raw)
        self.key = key
        self.encoding = normalise_encoding(encoding)
        self.checks = checks if checks is not None else ImportChecks(folder=self.raw)
        self.checks.folder = self.raw
        self.today = date.today()
        self._sources: dict[str, tuple[Path, str]] = {}
        self._spill = tempfile.mkdtemp(prefix="pmo-import-", dir=spill_dir)
        # in memory, with the spill folder as temporary directory: beyond the memory limit the buffer manager
        # evicts table blocks there as they are (a database file would compress every table written, ~15 % of
        # the import's CPU, for tables read once or twice)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET threads TO 2")
        self.con.execute(f"SET memory_limit = '{memory_limit or MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order TO true")
        self.con.execute(f"SET temp_directory TO '{Path(self._spill) / 'tmp'}'")
        self.con.execute("CREATE TABLE cpr_map (raw VARCHAR, person_id VARCHAR, person_order UBIGINT)")
        self.tables: dict[str, str] = {}
        self._sink = sink
        try:
            self._build(lookup_date, end_date, start_date)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> RegistryImport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and remove its spill folder."""
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    # -- reading and checking -----------------------------------------------------------------------------
    def _source(self, file: str) -> Path:
        """The file to read for raw ``file``: itself when it is UTF-8, else a UTF-8 copy in the spill folder
        (latin-1/cp1252 detected, or the import's ``encoding``)."""
        if file not in self._sources:
            path = self.raw / file
            enc = self.encoding or detect_file_encoding(path)
            if enc in ("utf-8", "utf-8-sig") and self.encoding is None:
                self._sources[file] = (path, enc)
            else:
                self._sources[file] = (transcode(path, Path(self._spill) / f"utf8-{file}", enc), enc)
        return self._sources[file][0]

    @property
    def encodings(self) -> dict[str, str]:
        """Raw file -> the encoding it was read in."""
        return {f: enc for f, (_, enc) in self._sources.items()}

    def _load(self, name: str, file: str, select: dict[str, str], *, required: bool = True,
              hashed: list[str] | None = None) -> list[str] | None:
        """Read ``file`` once into table ``name`` with the columns ``select`` (alias -> SQL over the raw
        columns, which are text); returns the raw columns, or None when the file is absent and not
        ``required``. The table's ``rowid`` is the 0-based data row of the file.

        With ``hashed`` (aliases of ``select``), the table also gets ``_dup_hash``, a 64-bit hash of those
        columns for :meth:`_duplicates` (computed while the row is at hand instead of re-reading a table of
        20 M rows, most of it spilled, later)."""
        path = self.raw / file
        if not path.exists():
            if required:
                raise InputError("raw file not found", file=path)
            return None
        header = self._header(file) or []
        for col in RAW_COLUMNS[file]:
            if col not in header:
                raise InputError("missing column", file=path, field=col)
        src_path = self._source(file)
        cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
        src = (f"read_csv('{str(src_path).replace(chr(39), chr(39) * 2)}', header = true, auto_detect = false, "
               f"delim = ',', quote = '\"', escape = '\"', columns = {cols})")
        exprs = [f"{sql} AS {alias}" for alias, sql in select.items()]
        trimmed = ", ".join(f"coalesce(trim(\"{c}\"), '') AS \"{c}\"" for c in header)
        query = f"SELECT {', '.join(exprs)} FROM (SELECT {trimmed} FROM {src})"
        if hashed and self._wants_duplicates():
            query = f"SELECT *, hash({', '.join(hashed)}) AS _dup_hash FROM ({query})"
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {query}")
        except duckdb.Error:
            # find the line ourselves: DuckDB's message could quote the row (and with it a CPR number)
            with src_path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh, strict=True)
                try:
                    for record in reader:
                        if record and len(record) != len(header):
                            raise InputError(f"expected {len(header)} fields, found {len(record)}", file=path,
                                             line=reader.line_num) from None
                except csv.Error:
                    raise InputError("malformed CSV (an unclosed quote?)", file=path,
                                     line=reader.line_num) from None
            raise InputError("not a readable CSV file", file=path) from None
        return header

    def _check(self, name: str, file: str, checks: list[tuple[str, str, str]], *, row: str = "rowid") -> None:
        """Raise for the first of ``checks`` (SQL condition, field, message) that some row of ``name`` meets,
        naming that condition's first row (column ``row`` holds the file's data row)."""
        if not checks:
            return
        firsts = ", ".join(f"min({row}) FILTER (WHERE {cond})" for cond, _, _ in checks)
        rows = self.con.execute(f"SELECT {firsts} FROM {name}").fetchall()[0]
        assert rows is not None
        for (_, field, message), row in zip(checks, rows, strict=True):
            if row is not None:
                raise InputError(message, file=self.raw / file, row=int(row), field=field)

    def _check_unique(self, name: str, file: str, column: str, field: str) -> None:
        """The first row repeating an earlier row's ``column`` is an error (``duplicate id``)."""
        n, distinct = self.con.execute(f"SELECT count(*), count(DISTINCT {column}) FROM {name}").fetchall()[0]
        if n == distinct:
            return
        row = self.con.execute(f"SELECT min(rowid) FROM (SELECT rowid, row_number() OVER (PARTITION BY {column} "
                               f"ORDER BY rowid) AS k FROM {name}) WHERE k > 1").fetchall()[0][0]
        raise InputError("duplicate id", file=self.raw / file, row=int(row), field=field)

    def _pseudonymise(self, name: str, file: str, column: str, field: str) -> None:
        """Check the CPR numbers in ``name.column`` and add the new ones' pseudonyms to ``cpr_map``.

        The numbers not yet in ``cpr_map`` are checked and pseudonymised :data:`_SCAN_BATCH` at a time, so the
        Python side holds a bounded number of them however many persons the register has."""
        from pmo_workbench.privacy import parse_cpr, pseudonymise

        self._check(name, file, [(f"{column} = ''", field, "empty CPR number")])
        self.con.execute(f"CREATE OR REPLACE TABLE _fresh AS SELECT DISTINCT {column} AS raw FROM {name} ANTI JOIN "
                         f"cpr_map ON cpr_map.raw = {name}.{column}")
        n = self.con.execute("SELECT count(*) FROM _fresh").fetchall()[0][0]
        bad_values: list[str] = []
        for start in range(0, n, _SCAN_BATCH):
            fresh = np.asarray(self.con.execute(f"SELECT raw FROM _fresh WHERE rowid >= {start} AND rowid < "
                                                f"{start + _SCAN_BATCH}").fetchnumpy()["raw"], dtype=object)
            bad = find_invalid_cprs(fresh)
            if bad.any() or bad_values:     # after a bad number, only the others are looked for
                bad_values.extend(fresh[bad].tolist())
                continue
            pseudonyms = pseudonymise(list(fresh), self.key)
            mapping = pa.table({"raw": pa.array(fresh, pa.string()), "person_id": pa.array(pseudonyms, pa.string()),
                                "person_order": person_order(pseudonyms)})
            self.con.register("_new", mapping)
            self.con.execute("INSERT INTO cpr_map SELECT raw, person_id, person_order FROM _new")
            self.con.unregister("_new")
        self.con.execute("DROP TABLE _fresh")
        if bad_values:
            self.con.register("_bad", pa.table({"raw": pa.array(bad_values, pa.string())}))
            row, raw = self.con.execute(f"SELECT rowid, {column} FROM {name} WHERE {column} IN (SELECT raw FROM "
                                        "_bad) ORDER BY rowid LIMIT 1").fetchall()[0]
            self.con.unregister("_bad")
            try:
                parse_cpr(raw)
                reason = "not a CPR number"
            except ValueError as exc:
                reason = str(exc)
            raise InputError(f"not a valid CPR number ({reason})", file=self.raw / file, row=int(row), field=field)

    def _dates(self, *cols: tuple[str, str, bool]) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
        """Select entries and checks for date columns ``(raw column, alias, required)``."""
        select, checks = {}, []
        for col, alias, required in cols:
            select[alias] = _date(col)
            select[f"bad_{alias}"] = _unparsed(col, _date(col))
            checks.append((f"bad_{alias}", col, "not a date (YYYY-MM-DD)"))
            if required:
                select[f"empty_{alias}"] = f"{_text(col)} = ''"
                checks.append((f"empty_{alias}", col, "required date is empty"))
        return select, checks

    def _numbers(self, header: list[str], *cols: tuple[str, str]) -> tuple[dict[str, str], list]:
        select, checks = {}, []
        for col, alias in cols:
            if col in header:
                select[alias] = _number(col)
                select[f"bad_{alias}"] = _unparsed(col, _number(col))
                checks.append((f"bad_{alias}", col, "not a number"))
        return select, checks

    def _header(self, file: str) -> list[str] | None:
        path = self.raw / file
        if not path.exists():
            return None
        with self._source(file).open(encoding="utf-8-sig", newline="") as fh:
            return [c.strip().lower().lstrip("\ufeff") for c in next(csv.reader([fh.readline()]), [])]

    def _scan_text(self, name: str, file: str, columns: dict[str, str], *, unique: tuple[str, ...] = (),
                   keep: str | None = None) -> None:
        """Refuse CPR-like values (CPR, replacement and eCPR numbers, :func:`pmo_workbench.privacy.scan_for_cpr`)
        in the text columns of ``name`` (alias -> raw column), naming file, first row and column, never the
        value. Only the distinct values holding six digits in a row (every CPR-like form does) are scanned.

        The distinct combinations of the columns' values are taken first, in one pass (codes, units, lab ids:
        a few thousand among millions of rows), and the patterns matched on those; for the columns in ``unique``
        (ids, nearly one value a row) the patterns are matched on every row instead. With ``keep``, that table of
        distinct combinations is kept as table ``keep`` (for the ENUM types of the codes, units and lab ids)."""
        shared = [alias for alias in columns if alias not in unique]
        if shared:
            self.con.execute(f"CREATE OR REPLACE TABLE _distinct AS SELECT DISTINCT {', '.join(shared)} FROM {name}")
        try:
            self._scan_distinct(name, file, columns, unique)
        except BaseException:
            self.con.execute("DROP TABLE IF EXISTS _distinct")
            raise
        if keep and shared:
            self.con.execute(f"DROP TABLE IF EXISTS {keep}; ALTER TABLE _distinct RENAME TO {keep}")
        else:
            self.con.execute("DROP TABLE IF EXISTS _distinct")

    def _scan_distinct(self, name: str, file: str, columns: dict[str, str], unique: tuple[str, ...]) -> None:
        from pmo_workbench.privacy import scan_for_cpr

        # a value can only hold a CPR-like number if it has six digits in a row; a value of digits only must
        # then be exactly 10 long (the scan wants no digit beside the number): 8-digit recnums, 12-digit
        # dw_ek_kontakt ids and the like are never fetched
        shape = "regexp_matches(v, '[0-9]{6}') AND NOT (regexp_full_match(v, '[0-9]+') AND length(v) <> 10)"
        for alias, field in columns.items():
            table = name if alias in unique else "_distinct"
            query = f"SELECT DISTINCT v FROM (SELECT {alias} AS v FROM {table}) WHERE v IS NOT NULL AND {shape}"
            reader = self.con.sql(query).to_arrow_reader(_SCAN_BATCH)
            found: list[str] = []
            for batch in reader:     # in batches: memory stays bounded however many distinct values there are
                values = pd.Series(batch.column(0).to_pylist(), dtype=object)
                hits = scan_for_cpr(pd.DataFrame({field: values}))
                if hits:
                    rows = sorted({h.first_row for h in hits if h.first_row is not None})
                    found = (values.iloc[rows] if rows else values).tolist()
                    break
            reader.close()
            if not found:
                continue
            self.con.register("_hit", pa.table({"v": pa.array(found, pa.string())}))
            row = self.con.execute(f"SELECT min(rowid) FROM {name} WHERE {alias} IN (SELECT v FROM _hit)").fetchall()
            self.con.unregister("_hit")
            raise InputError("a CPR-like value in a text or number column (remove or pseudonymise it before the "
                             "import)", file=self.raw / file, row=None if row[0][0] is None else int(row[0][0]),
                             field=field)

    def _plausible(self, name: str, file: str, rules: list[tuple[str, str, str | None]]) -> None:
        """Count the rows of ``name`` meeting each ``(rule, SQL condition, field)`` and report them."""
        rules = [r for r in rules if self.checks.wants(r[0])]
        if not rules:
            return
        sel = ", ".join(f"count(*) FILTER (WHERE {cond}), min(rowid) FILTER (WHERE {cond})" for _, cond, _ in rules)
        got = self.con.execute(f"SELECT {sel} FROM {name}").fetchall()[0]
        for i, (rule, _, field) in enumerate(rules):
            self.checks.add(rule, file, field, int(got[2 * i] or 0), got[2 * i + 1])

    def _duplicates(self, name: str, file: str, columns: list[str]) -> None:
        """Rows repeating an earlier row of the file exactly (``duplicate_rows``), and files whose every row
        is there twice or more (``duplicate_file``): a 64-bit hash per row finds candidates, exact comparison
        confirms them (only when there are any)."""
        if not self._wants_duplicates():
            return
        cols = ", ".join(columns)
        have = {r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()}
        h = "_dup_hash" if "_dup_hash" in have else f"hash({cols})"
        # the repeated hashes in one grouped aggregate over the hash column (a synthetic prescription file has
        # a few hundred exact repeats among 20 M rows: counting the distinct hashes first, then grouping, read
        # the rows twice) -- per range of hash values (equal hashes fall in the same range) of at most
        # _DUPLICATE_PASS_ROWS rows: the aggregate of 69 M hashes in one pass failed to allocate 512 MiB under a
        # 2.5 GB memory limit, as its hash table grows with the rows
        n = self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        passes = max(1, -(-n // _DUPLICATE_PASS_ROWS))
        try:
            for k in range(passes):
                where = f" WHERE h % {passes} = {k}" if passes > 1 else ""
                self.con.execute(f"{'INSERT INTO' if k else 'CREATE OR REPLACE TABLE'} _repeated "
                                 f"{'' if k else 'AS '}SELECT h FROM (SELECT {h} AS h FROM {name}){where} "
                                 "GROUP BY ALL HAVING count(*) > 1")
            if not self.con.execute("SELECT count(*) FROM _repeated").fetchall()[0][0]:
                return
            self._exact_duplicates(name, file, cols, h, n)
        finally:
            self.con.execute("DROP TABLE IF EXISTS _repeated")

    def _exact_duplicates(self, name: str, file: str, cols: str, h: str, n: int) -> None:
        """The duplicate rows among those of ``name`` whose hash ``h`` is in ``_repeated`` (few, unless the
        file is duplicated), compared exactly."""
        cand = f"SELECT {cols}, rowid AS _r FROM {name} WHERE {h} IN (SELECT h FROM _repeated)"
        first, dups, rows, singles = self.con.execute(
            "SELECT min(_r) FILTER (WHERE k > 1), count(*) FILTER (WHERE k > 1), count(*), count(*) FILTER "
            f"(WHERE c = 1) FROM (SELECT _r, row_number() OVER (PARTITION BY {cols} ORDER BY _r) AS k, "
            f"count(*) OVER (PARTITION BY {cols}) AS c FROM ({cand}))").fetchall()[0]
        if dups and rows == n and singles == 0:
            self.checks.add("duplicate_file", file, None, int(dups), first)
        self.checks.add("duplicate_rows", file, None, int(dups or 0), first)

    def _wants_duplicates(self) -> bool:
        return self.checks.wants("duplicate_rows") or self.checks.wants("duplicate_file")

    def _future(self, *cols: str) -> str:
        today = f"DATE '{self.today.isoformat()}'"
        return " OR ".join(f"coalesce({c} > {today}, false)" for c in cols)

    def _unknown(self, column: str = "pnr") -> str:
        """SQL condition: the CPR number in ``column`` is not one of the person table's."""
        # the (few) unknown numbers are found once among the distinct numbers of cpr_map, which holds every number
        # of the table already (pseudonymised before the plausibility rules run); a row is then probed against
        # that small set instead of the million numbers of the person table
        return (f"{column} IN (SELECT raw FROM cpr_map WHERE replace(raw, '-', '') NOT IN "
                "(SELECT key FROM raw_person))")

    def _code_changes(self, name: str, file: str, code: str = "code", original: str = "code_raw") -> None:
        if not self.checks.wants("code_normalised"):
            return
        changed = self.con.execute(f"SELECT {original} AS original, {code} AS code, count(*) AS count, "
                                   f"min(rowid) AS first FROM {name} WHERE {original} IS NOT NULL GROUP BY ALL "
                                   "ORDER BY count DESC, original").df()
        if len(changed):
            self.checks.add_changes(file, changed[["original", "code", "count"]])
            self.checks.add("code_normalised", file, None, int(changed["count"].sum()), int(changed["first"].min()))

    # -- the tables -----------------------------------------------------------------------------------------
    def _code_type(self, name: str, codes: str) -> str:
        """Create ENUM type ``name`` of the distinct ``code`` of the query ``codes``, in text order; return
        ``name``. A code cast to it is carried through the writer's sort as its 1-2 byte position, sorts as its
        text and is written as text (:data:`~pmo_workbench.health.schema.ENUM_TEXT`): the sort carries no code
        strings, and the writer does not rank the codes of the joined rows itself (a second pass over them)."""
        self.con.execute(f"DROP TYPE IF EXISTS {name}")
        self.con.execute(f"CREATE TYPE {name} AS ENUM (SELECT DISTINCT code FROM ({codes}) WHERE code IS NOT NULL "
                         "ORDER BY code)")
        return name

    def _diagnosis_codes(self, name: str, lpr2: bool, lpr3: bool) -> str:
        """Table ``name``: the distinct diagnosis codes of the raw LPR tables (codes of rows not written, as
        disproved ones, too: the ENUM only orders) as ENUM type ``<name>_t`` (:meth:`_code_type`, returned) and
        their ``vocabulary`` (:func:`_vocabulary`, an ENUM: 'ICD8' < 'SKS' in text order)."""
        sources = []
        if lpr2:
            sources.append("SELECT code FROM lpr2_diag")
            if "adiag" in {r[0] for r in self.con.execute("DESCRIBE lpr2_adm").fetchall()}:
                sources.append("SELECT adiag AS code FROM lpr2_adm WHERE adiag <> ''")
        if lpr3:
            sources.append("SELECT code FROM lpr3_d")
        codes = self._code_type(f"{name}_t", " UNION ALL ".join(sources))
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT CAST(code AS {codes}) AS code, "
                         f"CAST({_vocabulary('code')} AS {_enum('ICD8', 'SKS')}) AS vocabulary "
                         f"FROM (SELECT unnest(enum_range(NULL::{codes})) AS code)")
        return codes

    def _emit(self, table: str, *done: str) -> None:
        """Hand event table ``table`` to the sink (if any) as soon as it is built and checked, then drop the
        tables ``done`` that only it needed: the database then holds one large raw table at a time (a 20 M-row
        file is written before the next is read), instead of every table until the end."""
        if self._sink is None:
            return
        self._sink(table, self.con.sql(self.tables[table]))
        for name in done:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def _build(self, lookup_date: date | None, end_date: date, start_date: date) -> None:
        self._build_person(end_date, start_date)
        lpr2 = self._build_lpr2()
        lpr3 = self._build_lpr3()
        parts = [p for p in (lpr2, lpr3) if p]
        if parts:
            # joined once here, the raw LPR tables freed then (joined in the writer's query instead, at 3 M persons
            # the joins' hash tables and the sort did not fit the memory limit together); codes and sources stored
            # as ENUMs (:meth:`_code_type`: 1-2 bytes a row instead of a string), each code's vocabulary found
            # once per distinct code (not a regular expression per row)
            codes = self._diagnosis_codes("diagnosis_codes", lpr2 is not None, lpr3 is not None)
            self.con.execute(
                f"CREATE TABLE diagnosis_rows AS SELECT * REPLACE (CAST(code AS {codes}) AS code, CAST(source AS "
                f"{_enum('LPR2', 'LPR3')}) AS source) FROM ({' UNION ALL '.join(parts)})")
            self.con.execute("DROP TABLE IF EXISTS lpr2_adm; DROP TABLE IF EXISTS lpr2_diag; "
                             "DROP TABLE IF EXISTS lpr3_k; DROP TABLE IF EXISTS lpr3_d")
            select = ", ".join("k.vocabulary" if c == "vocabulary" else f"d.{c}"
                               for c in ("contact_id", "date", "end_date", "code", "vocabulary", "diag_type",
                                         "contact_type", "source"))
            self.tables["diagnosis"] = (
                f"SELECT m.person_id, {select}, {_PERSON_ORDER} FROM diagnosis_rows d "
                "JOIN cpr_map m ON m.raw = d.pnr LEFT JOIN diagnosis_codes k ON k.code = d.code")
            self._emit("diagnosis", "diagnosis_rows", "diagnosis_codes")
        self._build_prescription()
        self._build_lab()
        self._build_tissue_use_register(lookup_date)

    def _build_person(self, end_date: date, start_date: date) -> None:
        f = "cpr_register.csv"
        dates, date_checks = self._dates(("foed_dag", "birth_date", True), ("doed_dato", "death_date", False))
        sex = f"CASE upper({_text('koen')}) WHEN 'K' THEN 'F' WHEN 'F' THEN 'F' WHEN 'M' THEN 'M' END"
        self._load("raw_person", f, {"pnr": _text("pnr"), "key": f"replace({_text('pnr')}, '-', '')", "sex": sex,
                                    **dates, "region": f"nullif({_text('region')}, '')"})
        self._check_unique("raw_person", f, "key", "pnr")
        self._check("raw_person", f, [("sex IS NULL", "koen", "sex must be K or M")])
        self._pseudonymise("raw_person", f, "pnr", "pnr")
        self._check("raw_person", f, date_checks)
        self._scan_text("raw_person", f, {"region": "region"})
        n = self.con.execute("SELECT count(*) FROM raw_person").fetchall()[0][0]
        self.checks.add("empty_person_table", f, None, 1 if n == 0 else 0, None)
        self._plausible("raw_person", f, [("death_before_birth", "death_date < birth_date", "doed_dato"),
                                         ("future_date", self._future("birth_date", "death_date"), "foed_dag")])
        self.con.execute(
            "CREATE TABLE person AS SELECT m.person_id, r.sex, r.birth_date, r.death_date, r.region, "
            f"greatest(r.birth_date, DATE '{start_date.isoformat()}') AS start_date, "
            f"least(coalesce(r.death_date, DATE '{end_date.isoformat()}'), DATE '{end_date.isoformat()}') AS end_date "
            "FROM raw_person r JOIN cpr_map m ON m.raw = r.pnr ORDER BY r.rowid")
        self.tables["person"] = "SELECT person_id, sex, birth_date, death_date, region FROM person"
        obs = "SELECT person_id, start_date, end_date FROM person"
        f = "cpr_vandringer.csv"
        dates, date_checks = self._dates(("haend_dato", "date", True))
        if self._load("raw_moves", f, {"pnr": _text("pnr"), "code": f"upper({_text('indud_kode')})", **dates},
                     required=False) is not None:
            self._check("raw_moves", f, [("code NOT IN ('I', 'U')", "indud_kode",
                                         "must be I (immigration) or U (emigration)")])
            self._pseudonymise("raw_moves", f, "pnr", "pnr")
            self._check("raw_moves", f, date_checks)
            self._plausible("raw_moves", f, [("future_date", self._future("date"), "haend_dato")])
            self.con.execute("CREATE TABLE moves AS SELECT m.person_id, r.code, r.date, r.rowid AS row "
                             "FROM raw_moves r JOIN cpr_map m ON m.raw = r.pnr")
            self._check("moves", f, [("person_id NOT IN (SELECT person_id FROM person)", "pnr",
                                     "person not in cpr_register.csv")], row="row")
            # the latest immigration opens the period; the first emigration after that closes it
            obs = ("WITH s AS (SELECT p.person_id, greatest(p.start_date, coalesce(i.last_in, p.start_date)) "
                   "AS start_date, p.end_date FROM person p LEFT JOIN (SELECT person_id, max(date) AS last_in FROM "
                   "moves WHERE code = 'I' GROUP BY person_id) i USING (person_id)) "
                   "SELECT s.person_id, s.start_date, least(s.end_date, coalesce(min(u.date), s.end_date)) AS "
                   "end_date FROM s LEFT JOIN moves u ON u.person_id = s.person_id AND u.code = 'U' "
                   "AND u.date >= s.start_date GROUP BY s.person_id, s.start_date, s.end_date")
        self.tables["observation_period"] = f"SELECT * FROM ({obs}) o WHERE start_date <= end_date"
        self._emit("person")
        self._emit("observation_period", "moves", "raw_moves")

    def _build_lpr2(self) -> str | None:
        fa, fd = "lpr_adm.csv", "lpr_diag.csv"
        if not (self.raw / fa).exists() and not (self.raw / fd).exists():
            return None
        dates, date_checks = self._dates(("d_inddto", "date", True), ("d_uddto", "end_date", False))
        pattype = (f"CASE {_text('c_pattype')} WHEN '0' THEN 'inpatient' WHEN '1' THEN 'day' "
                   "WHEN '2' THEN 'outpatient' WHEN '3' THEN 'emergency' END")
        header = self._header(fa) or []
        adiag = {"adiag": normalised_code("c_adiag"), "adiag_raw": _changed("c_adiag")} if "c_adiag" in header else {}
        self._load("lpr2_adm", fa, {"pnr": _text("pnr"), "contact_id": _text("recnum"), **dates,
                                   "contact_type": pattype, **adiag})
        diag_duplicates = ["contact_id", "code", "diag_type"]
        self._load("lpr2_diag", fd, {"contact_id": _text("recnum"), "code": normalised_code("c_diag"),
                                    "code_raw": _changed("c_diag"), "diag_type": f"upper({_text('c_diagtype')})"},
                   hashed=diag_duplicates)
        self._scan_text("lpr2_adm", fa, {"contact_id": "recnum", **({"adiag": "c_adiag"} if adiag else {})},
                        unique=("contact_id",))
        self._scan_text("lpr2_diag", fd, {"code": "c_diag", "diag_type": "c_diagtype"})
        self._check_unique("lpr2_adm", fa, "contact_id", "recnum")
        self._check("lpr2_adm", fa, [("contact_type IS NULL", "c_pattype", "c_pattype must be 0, 1, 2 or 3")])
        self._pseudonymise("lpr2_adm", fa, "pnr", "pnr")
        self._check("lpr2_adm", fa, date_checks)
        self._check("lpr2_diag", fd, [("contact_id NOT IN (SELECT contact_id FROM lpr2_adm)", "recnum",
                                      "recnum not in lpr_adm.csv"), ("code = ''", "c_diag", "empty code")])
        self._plausible("lpr2_adm", fa, [("discharge_before_admission", "end_date < date", "d_uddto"),
                                        ("future_date", self._future("date", "end_date"), "d_inddto"),
                                        ("unknown_person", self._unknown(), "pnr")])
        self._duplicates("lpr2_diag", fd, diag_duplicates)
        if adiag:
            self._code_changes("lpr2_adm", fa, "adiag", "adiag_raw")
        self._code_changes("lpr2_diag", fd)
        diags = "SELECT contact_id, code, diag_type FROM lpr2_diag"
        if adiag:
            diags += (" UNION ALL SELECT a.contact_id, a.adiag, 'A' FROM lpr2_adm a WHERE a.adiag <> '' AND NOT "
                      "EXISTS (SELECT 1 FROM lpr2_diag d WHERE d.contact_id = a.contact_id AND d.code = a.adiag)")
        return (f"SELECT pnr, {_DIAGNOSIS} FROM (SELECT c.pnr, c.contact_id, c.date, c.end_date, d.code, "
                f"d.diag_type, c.contact_type, 'LPR2' AS source "
                f"FROM ({diags}) d JOIN lpr2_adm c USING (contact_id))")

    def _build_lpr3(self) -> str | None:
        fk, fd = "lpr3_kontakter.csv", "lpr3_diagnoser.csv"
        if not (self.raw / fk).exists() and not (self.raw / fd).exists():
            return None
        header = self._header(fk) or []
        dates, date_checks = self._dates(("dato_start", "date", True), ("dato_slut", "end_date", False))
        t0 = _stamp(_date("dato_start"), "tidspunkt_start" if "tidspunkt_start" in header else None)
        t1 = _stamp(_date("dato_slut"), "tidspunkt_slut" if "tidspunkt_slut" in header else None)
        kind = (f"CASE WHEN upper({_text('kontakttype')}) = 'ALCA10' THEN 'virtual' "
                f"WHEN coalesce({t1} - {t0} >= INTERVAL 12 HOUR, false) THEN 'inpatient' "
                f"WHEN upper({_text('prioritet')}) = 'ATA1' THEN 'emergency' ELSE 'outpatient' END")
        self._load("lpr3_k", fk, {"pnr": _text("cpr"), "contact_id": _text("dw_ek_kontakt"), **dates,
                                 "bad_t0": f"({t0} IS NULL AND {_date('dato_start')} IS NOT NULL)",
                                 "bad_t1": f"({t1} IS NULL AND {_date('dato_slut')} IS NOT NULL)",
                                 "contact_type": kind})
        disproved = f"upper(left({_text('senere_afkraeftet')}, 1)) || lower(substr({_text('senere_afkraeftet')}, 2))"
        diag_duplicates = ["contact_id", "code", "diag_type", "disproved"]
        self._load("lpr3_d", fd, {"contact_id": _text("dw_ek_kontakt"), "code": normalised_code("diagnosekode"),
                                 "code_raw": _changed("diagnosekode"),
                                 "diag_type": f"upper({_text('diagnosetype')})", "disproved": disproved},
                   hashed=diag_duplicates)
        self._scan_text("lpr3_k", fk, {"contact_id": "dw_ek_kontakt"}, unique=("contact_id",))
        self._scan_text("lpr3_d", fd, {"code": "diagnosekode", "diag_type": "diagnosetype"})
        self._check_unique("lpr3_k", fk, "contact_id", "dw_ek_kontakt")
        self._pseudonymise("lpr3_k", fk, "pnr", "cpr")
        self._check("lpr3_k", fk, [*date_checks, ("bad_t0", "tidspunkt_start", "not a time (HH:MM or HH:MM:SS)"),
                                  ("bad_t1", "tidspunkt_slut", "not a time (HH:MM or HH:MM:SS)")])
        self._check("lpr3_d", fd, [("disproved NOT IN ('Ja', 'Nej', '')", "senere_afkraeftet",
                                   "senere_afkraeftet must be Ja or Nej"),
                                  ("contact_id NOT IN (SELECT contact_id FROM lpr3_k)", "dw_ek_kontakt",
                                   "dw_ek_kontakt not in lpr3_kontakter.csv"),
                                  ("code = ''", "diagnosekode", "empty code")])
        self._plausible("lpr3_k", fk, [("discharge_before_admission", "end_date < date", "dato_slut"),
                                      ("future_date", self._future("date", "end_date"), "dato_start"),
                                      ("unknown_person", self._unknown(), "cpr")])
        self._duplicates("lpr3_d", fd, diag_duplicates)
        self._code_changes("lpr3_d", fd)
        return (f"SELECT pnr, {_DIAGNOSIS} FROM (SELECT c.pnr, c.contact_id, c.date, c.end_date, d.code, "
                f"d.diag_type, c.contact_type, 'LPR3' AS source "
                "FROM lpr3_d d JOIN lpr3_k c USING (contact_id) WHERE d.disproved <> 'Ja')")

    def _build_prescription(self) -> None:
        f = "lmdb.csv"
        header = self._header(f)
        if header is None:
            return
        dates, date_checks = self._dates(("eksd", "date", True))
        numbers, number_checks = self._numbers(header, ("apk", "packages"), ("volume", "volume"),
                                               ("strnum", "strnum"))
        extra = {}
        if "voltypetxt" in header:
            extra["ddd_unit"] = f"upper({_text('voltypetxt')}) = 'DDD'"
        extra["strunit"] = _text("strunit") if "strunit" in header else "''"
        raw_numbers = {f"cand_{c}": _cpr_candidate(c) for c in ("apk", "volume", "strnum") if c in header}
        duplicates = ["pnr", "date", "code", *numbers, *extra]
        self._load("lmdb", f, {"pnr": _text("pnr"), **dates, "code": f"upper({_text('atc')})", **numbers, **extra,
                               **raw_numbers}, hashed=duplicates)
        self._pseudonymise("lmdb", f, "pnr", "pnr")
        self._scan_text("lmdb", f, {"code": "atc", "strunit": "strunit",
                                    **{k: k.removeprefix("cand_") for k in raw_numbers}}, keep="lmdb_text")
        self._check("lmdb", f, [*date_checks, ("code = ''", "atc", "empty code"), *number_checks])
        self._plausible("lmdb", f, [("future_date", self._future("date"), "eksd"),
                                    ("unknown_person", self._unknown(), "pnr")])
        self._duplicates("lmdb", f, duplicates)
        ddd = "r.packages * r.volume" if "volume" in numbers and "ddd_unit" in extra else "NULL"
        if ddd != "NULL":
            ddd = f"CASE WHEN r.ddd_unit THEN {ddd} END"
        strength = "CAST(NULL AS VARCHAR)"
        if "strnum" in numbers:
            # f"{strnum:g} {strunit}" for the few distinct strengths, joined back (not concatenated per row)
            self.con.execute("CREATE TABLE _strengths AS SELECT DISTINCT strnum, strunit FROM lmdb")
            nums = self.con.execute("SELECT DISTINCT strnum FROM _strengths WHERE strnum IS NOT NULL").fetchnumpy()
            values = np.asarray(nums["strnum"], dtype="float64")
            self.con.register("_g", pa.table({"strnum": values, "g": [f"{v:g}" for v in values]}))
            self.con.execute("CREATE TABLE strnum_text AS SELECT s.strnum, s.strunit, nullif(trim(coalesce(g.g, '') "
                             "|| ' ' || s.strunit), '') AS strength FROM _strengths s LEFT JOIN _g g "
                             "ON g.strnum = s.strnum")
            self.con.unregister("_g")
            self.con.execute("DROP TABLE _strengths")
            strength = f"CAST(g.strength AS {self._code_type('lmdb_strength', 'SELECT strength AS code FROM strnum_text')})"
        join = (" LEFT JOIN strnum_text g ON g.strnum IS NOT DISTINCT FROM r.strnum AND g.strunit = r.strunit"
                if "strnum" in numbers else "")
        codes = self._code_type("lmdb_code", "SELECT code FROM lmdb_text")
        self.tables["prescription"] = (
            f"SELECT m.person_id, r.date, CAST(r.code AS {codes}) AS code, CAST('ATC' AS {_enum('ATC')}) AS "
            f"vocabulary, {ddd} AS ddd, r.packages, {strength} AS strength, CAST('LMDB' AS {_enum('LMDB')}) AS source, "
            f"{_PERSON_ORDER} FROM lmdb r JOIN cpr_map m ON m.raw = r.pnr{join}")
        self._emit("prescription", "lmdb", "strnum_text", "lmdb_text")

    def _build_lab(self) -> None:
        f = "labka.csv"
        header = self._header(f)
        if header is None:
            return
        dates, date_checks = self._dates(("samplingdate", "day", True))
        numbers, number_checks = self._numbers(header, ("refl", "ref_low"), ("refu", "ref_high"))
        when = _stamp(_date("samplingdate"), "samplingtime" if "samplingtime" in header else None)
        value = _number("value")
        lab_id = f"nullif({_text('laboratorium_idcode')}, '')" if "laboratorium_idcode" in header else "NULL"
        self._load("labka", f, {
            "pnr": _text("pnr"), **dates, "datetime": when,
            "bad_time": f"({when} IS NULL AND {_date('samplingdate')} IS NOT NULL)",
            "code": f"upper({_text('analysiscode')})", "value": f"CASE WHEN NOT isnan({value}) THEN {value} END",
            "value_text": f"CASE WHEN {_unparsed('value', value)} THEN {_text('value')} END",
            "unit": f"nullif({_text('unit')}, '')", **numbers, "lab_id": f"CAST({lab_id} AS VARCHAR)",
            **{f"cand_{c}": _cpr_candidate(c) for c in ("value", "refl", "refu") if c in header}},
            hashed=(duplicates := ["pnr", "datetime", "code", "value", "value_text", "unit", *numbers, "lab_id"]))
        self._pseudonymise("labka", f, "pnr", "pnr")
        self._scan_text("labka", f, {"code": "analysiscode", "value_text": "value", "unit": "unit",
                                     "lab_id": "laboratorium_idcode",
                                     **{f"cand_{c}": c for c in ("value", "refl", "refu") if c in header}},
                        keep="labka_text")
        self._plausible("labka", f, [("future_date", self._future("day"), "samplingdate"),
                                     ("unknown_person", self._unknown(), "pnr")])
        self._duplicates("labka", f, duplicates)
        self._check("labka", f, [*date_checks, ("bad_time", "samplingtime", "not a time (HH:MM or HH:MM:SS)"),
                                ("code = ''", "analysiscode", "empty code"), *number_checks])
        refs = ", ".join(f"r.{c}" if c in numbers else f"CAST(NULL AS DOUBLE) AS {c}" for c in ("ref_low", "ref_high"))
        # the codes, units and lab ids as ENUMs (a few distinct values, from the CPR scan's distinct combinations:
        # the writer's sort then carries no strings for them)
        codes = self._code_type("labka_code", "SELECT code FROM labka_text")
        units = self._code_type("labka_unit", "SELECT unit AS code FROM labka_text")
        labs = self._code_type("labka_lab_id", "SELECT lab_id AS code FROM labka_text")
        self.tables["lab"] = (
            f"SELECT m.person_id, r.datetime, CAST(r.code AS {codes}) AS code, CAST('NPU' AS {_enum('NPU')}) AS "
            f"vocabulary, r.value, r.value_text, CAST(r.unit AS {units}) AS unit, {refs}, CAST(r.lab_id AS {labs}) "
            f"AS lab_id, {_PERSON_ORDER} FROM labka r JOIN cpr_map m ON m.raw = r.pnr")
        self._emit("lab", "labka", "labka_text")

    def _build_tissue_use_register(self, lookup_date: date | None) -> None:
        f = "tissue_use_register.csv"
        dates, date_checks = self._dates(("registreringsdato", "registered", False))
        if self._load("tur", f, {"pnr": _text("pnr"), **dates}, required=False) is None:
            return
        self._pseudonymise("tur", f, "pnr", "pnr")
        self._check("tur", f, date_checks)
        self._plausible("tur", f, [("unknown_person", self._unknown(), "pnr")])
        if lookup_date is None:
            raise InputError("the Tissue Use Register lookup date is required (--lookup-date YYYY-MM-DD, the day "
                             "the register was looked up); it is not taken from the file's date",
                             file=self.raw / f, field="lookup_date")
        self.tables["tissue_use_register"] = (
            "SELECT person_id, bool_or(listed) AS opt_out, DATE '" + lookup_date.isoformat() + "' AS lookup_date "
            "FROM (SELECT person_id, false AS listed FROM person UNION ALL SELECT m.person_id, true FROM tur t "
            "JOIN cpr_map m ON m.raw = t.pnr) GROUP BY person_id")
        self._emit("tissue_use_register", "tur")


def person_order(pseudonyms: list[str]) -> pa.Array:
    """The 64-bit integers of pseudonyms ``"P" + 16 lower-case hex digits``
    (:func:`~pmo_workbench.privacy.pseudonymise`): ordered as the pseudonyms' text is (bytewise, the order
    DuckDB sorts text in) and equal where it is equal, so the writer sorts event tables by this integer
    (:data:`~pmo_workbench.health.schema.PSEUDONYM_HINT`) instead of 20 M strings, and every table can be written as
    soon as its own CPR numbers are pseudonymised (no ranking over all persons first).

    Examples
    --------
    >>> person_order(["P00000000000000ff", "Pffffffffffffffff", "P0000000000000100"]).to_pylist()
    [255, 18446744073709551615, 256]
    """
    if any(len(p) != 17 or p[0] != "P" for p in pseudonyms):
        raise ValueError("pseudonyms are P and 16 hex digits")
    text = "".join(p[1:] for p in pseudonyms)
    if text != text.lower():     # upper-case hex digits would sort before the digits as text, not as numbers
        raise ValueError("pseudonyms are P and 16 lower-case hex digits")
    digits = bytes.fromhex(text)
    values = np.frombuffer(digits, dtype=">u8").astype(np.uint64)
    return pa.array(values, pa.uint64())


def find_invalid_cprs(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the values that are not CPR numbers (``DDMMYYSSSS`` or ``DDMMYY-SSSS`` with a real birth
    date, replacement numbers included) nor eCPR numbers (``DDMMYYCAAG``), vectorised with
    :func:`pmo_workbench.privacy.find_valid_cprs`.

    Examples
    --------
    >>> find_invalid_cprs(np.array(["0101902000", "010190-2000", "3213901234", "12", "0203291WQ3"],
    ...                            dtype=object)).tolist()
    [False, False, True, True, False]
    """
    from pmo_workbench.privacy import find_valid_cprs

    return ~find_valid_cprs(values)


def build_registry_tables(raw_dir: str | Path, key: bytes, *, lookup_date: date | None = None,
                          end_date: date = date(2025, 12, 31),
                          start_date: date = REGISTRY_START) -> dict[str, pd.DataFrame]:
    """All event tables of a raw folder, validated, in memory as DataFrames (nothing written).

    Returns a dict table name -> DataFrame (``person``, ``observation_period``, ``diagnosis``,
    ``prescription``, ``lab``, ``tissue_use_register``), leaving out tables whose raw files are absent
    (``cpr_register.csv`` is required; LPR2 and LPR3 each need both of their files). For small extracts;
    :func:`import_registry` streams large ones to Parquet without pandas.

    Examples
    --------
    >>> # build_registry_tables("raw/", DEMO_KEY)["person"].columns.tolist()[:2]  -> ['person_id', 'sex']
    """
    with RegistryImport(raw_dir, key, lookup_date=lookup_date, end_date=end_date, start_date=start_date) as reg:
        return {name: validate_table(_enums_as_text(reg.con.sql(sql)).df(), name, file=reg.raw)
                for name, sql in reg.tables.items()}


def _enums_as_text(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """``rel`` with its ENUM columns (codes, vocabularies, sources: for the writer's sort) cast to text, as pandas
    wants them (not as categories)."""
    return rel.project(", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if t.id == ENUM_TEXT else f'"{c}"'
                                 for c, t in zip(rel.columns, rel.types, strict=True)))


REGISTRY_FILES = (*(f"{name}.parquet" for name, spec in EVENT_TABLES.items() if spec.folder == "registry"),
                  "concept.parquet", "concept_ancestor.parquet", *REPORT_FILES)
"""The files of a project's registry folder that an import replaces as one set (absent new ones are dropped)."""


class ImportCounts(dict):
    """Rows written per table (a dict), with the import's plausibility ``checks`` and the ``encodings`` read."""

    checks: ImportChecks
    encodings: dict[str, str]


def import_registry(raw_dir: str | Path, project: str | Path | Project, *, key: bytes | None = None,
                    lookup_date: date | None = None, end_date: date = date(2025, 12, 31),
                    start_date: date = REGISTRY_START, encoding: str | None = None,
                    checks: str | dict[str, str] | None = None) -> ImportCounts:
    """Import a raw registry folder into ``project`` (created with a minimal ``pmo.yaml`` if missing).

    The import is all or nothing (:mod:`pmo_workbench.health.staging`): the new tables replace the project's
    registry tables and Tissue Use Register lookup as one set, tables the new import does not provide are
    dropped, and a failed import leaves the project as it was (a project folder it created is removed).

    Parameters
    ----------
    raw_dir
        Folder with the raw CSV extracts (see the module docstring).
    project
        Target project (folder or loaded); tables go to its registry and consent folders.
    key
        Pseudonymisation key; default :func:`pmo_workbench.privacy.load_pseudonym_key` of the project.
    lookup_date
        Date the Tissue Use Register was looked up; required when the raw folder holds the register. It is
        recorded per import in the project's ``data/imports.json``.
    end_date, start_date
        End of the extract (closes observation periods of the living) and start of registration (opens them
        for persons born earlier).
    encoding
        Text encoding of the raw files (``utf-8``, ``latin-1``, ``cp1252``); default: detected per file.
    checks
        Severity per plausibility rule (:func:`pmo_workbench.health.checks.parse_severities`).

    Returns
    -------
    ImportCounts
        Rows written per table; ``.checks`` holds the plausibility counts (also written to
        ``import_checks.csv`` and ``code_changes.csv`` in the registry folder).

    Examples
    --------
    >>> # import_registry("raw/", "myproject", lookup_date=date(2026, 1, 15))["person"]  -> 1000000
    """
    from pmo_workbench.health.staging import ImportStage
    from pmo_workbench.privacy import check_key_fingerprint, load_pseudonym_key_source, record_key_fingerprint
    from pmo_workbench.project import append_import_record

    raw = Path(raw_dir)
    if not raw.is_dir():
        raise InputError("raw folder not found", file=raw)
    report = ImportChecks(checks, folder=raw)
    root = project.root if isinstance(project, Project) else Path(project)
    with ImportStage(root) as stage:
        proj = stage.project
        key, key_source = (key, "the key given to import_registry") if key is not None else \
            load_pseudonym_key_source(proj)
        check_key_fingerprint(proj, key, key_source)  # a different key would re-key every person silently
        written: dict[str, Path] = {}

        def sink(name: str, rel: duckdb.DuckDBPyRelation) -> None:
            # each table is written into the staging folder as soon as it is built (nothing reaches the project
            # before the commit below), so the database need not keep every raw table until the end
            folder = stage.folder("consent" if name == "tissue_use_register" else "registry")
            written[name] = write_tables([(rel, name, folder)])[0]

        with RegistryImport(raw, key, lookup_date=lookup_date, end_date=end_date, start_date=start_date,
                            encoding=encoding, checks=report, spill_dir=stage.dir, sink=sink) as reg:
            assert list(written) == list(reg.tables), "every table built is written"
            encodings = reg.encodings
            has_register = "tissue_use_register" in reg.tables
        report.write(stage.folder("registry"))
        counts = ImportCounts({name: _count_rows(path) for name, path in written.items()})
        stage.commit({"registry": REGISTRY_FILES, "consent": ("tissue_use_register.parquet",)})
        append_import_record(stage.project, {
            "kind": "registry", "source": str(raw.resolve()),
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "tables": list(written),
            "tissue_use_register_lookup_date": lookup_date.isoformat() if has_register and lookup_date else None,
            "pseudonym_key_fingerprint": record_key_fingerprint(key, key_source)["fingerprint"],
            "encodings": encodings,
        }, pseudonym_key=record_key_fingerprint(key, key_source))
    counts.checks, counts.encodings = report, encodings
    return counts


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def ensure_project(project: str | Path | Project, *, synthetic: bool = False) -> Project:
    """Load ``project``, or create a folder with a minimal ``pmo.yaml`` (name = folder name) and load that."""
    from pmo_workbench.names import make_name
    from pmo_workbench.project import ProjectConfig, load_project, write_project_file

    if isinstance(project, Project):
        return project
    root = Path(project)
    if not (root / "pmo.yaml").exists():
        name = make_name(root.resolve().name)
        cfg = ProjectConfig.model_validate({"name": name, "privacy": {"synthetic": synthetic}})
        write_project_file(root, cfg)
    return load_project(root, check_files=False)
