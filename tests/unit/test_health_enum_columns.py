"""The event-table writer takes DuckDB ENUM columns for text columns (``ENUM_TEXT``, #16 item 5): a registry import
gives codes, vocabularies and sources so, and DuckDB's sort carries their 1-2 byte positions instead of strings.
The files are byte for byte those written from the same rows as text."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health.schema import write_table

CODES = ["DI219", "41099", "DE119", "DI109", "25000", "DZ000"]


def _rows(con: duckdb.DuckDBPyConnection) -> None:
    # codes inserted out of text order, both vocabularies, equal codes on several dates and persons
    values = ", ".join(f"('P{i % 7:016x}', DATE '2020-01-01' + {i % 5}, '{CODES[i % len(CODES)]}', "
                       f"'{'ICD8' if CODES[i % len(CODES)][0].isdigit() else 'SKS'}', "
                       f"'{'LPR2' if i % 3 else 'LPR3'}', {'NULL' if i % 4 == 0 else repr(str(i))})"
                       for i in range(60))
    con.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {values}) v(person_id, date, code, vocabulary, source, "
                "contact_id)")
    con.execute("CREATE TYPE code_t AS ENUM (SELECT DISTINCT code FROM t ORDER BY code)")


def test_enum_text_columns_are_written_as_the_same_text_in_the_same_order(tmp_path: Path):
    con = duckdb.connect()
    _rows(con)
    text = write_table(con.sql("SELECT * FROM t"), "diagnosis", tmp_path / "text")
    enum = con.sql("SELECT person_id, date, CAST(code AS code_t) AS code, CAST(vocabulary AS ENUM('ICD8', 'SKS')) "
                   "AS vocabulary, CAST(source AS ENUM('LPR2', 'LPR3')) AS source, "
                   "CAST(contact_id AS ENUM('1', '10', '2', '3')) AS contact_id FROM t "
                   "WHERE contact_id IS NULL OR contact_id IN ('1', '10', '2', '3')")
    assert str(enum.types[2]).startswith("ENUM")
    written = write_table(enum, "diagnosis", tmp_path / "enum")
    same = write_table(con.sql("SELECT * FROM t WHERE contact_id IS NULL OR contact_id IN ('1', '10', '2', '3')"),
                       "diagnosis", tmp_path / "same")
    assert written.read_bytes() == same.read_bytes()
    out = pq.read_table(written)
    assert out.schema == pq.read_table(text).schema      # text columns, not dictionaries
    keys = list(zip(*(out[c].to_pylist() for c in ("vocabulary", "code", "date", "person_id")), strict=True))
    assert keys == sorted(keys) and keys[0][0] == "ICD8" and keys[-1][0] == "SKS"
    assert None in out["contact_id"].to_pylist()


def test_a_constant_enum_vocabulary_is_not_sorted_by_and_its_nulls_are_refused(tmp_path: Path):
    con = duckdb.connect()
    _rows(con)
    rel = con.sql("SELECT person_id, date, CAST(code AS code_t) AS code, CAST('ATC' AS ENUM('ATC')) AS vocabulary "
                  "FROM t")
    out = pq.read_table(write_table(rel, "prescription", tmp_path))
    assert set(out["vocabulary"].to_pylist()) == {"ATC"}
    assert out["code"].to_pylist() == sorted(out["code"].to_pylist())
    bad = con.sql("SELECT person_id, date, CAST(code AS code_t) AS code, CAST(CASE WHEN code = 'DZ000' THEN NULL "
                  "ELSE 'ATC' END AS ENUM('ATC')) AS vocabulary FROM t")
    with pytest.raises(InputError, match="required value is empty"):
        write_table(bad, "prescription", tmp_path / "bad")
    assert not (tmp_path / "bad" / "prescription.parquet").exists()
