"""The writer writes ``person_id`` from the integer of the pseudonym (``PSEUDONYM_HINT``, #16 item 5): the 17-character
strings are not carried through DuckDB's sort; the files are byte for byte those written from the text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health import registry
from pmo_workbench.health.registry import import_registry, person_order
from pmo_workbench.health.schema import ORDER_HINT, PSEUDONYM_HINT, pseudonym_text, write_table
from pmo_workbench.privacy import DEMO_KEY, pseudonymise

EQUALITY = Path(__file__).resolve().parents[1] / "data" / "registry_equality" / "raw"


def test_pseudonym_text_is_the_inverse_of_person_order():
    ids = pseudonymise([f"{d:02d}0190{s:04d}" for d in range(1, 29) for s in range(0, 400, 7)], DEMO_KEY)
    ids += ["P0000000000000000", "Pffffffffffffffff", "P00000000000000ff"]
    assert pseudonym_text(person_order(ids)).to_pylist() == ids
    assert pseudonym_text(pa.array([1, None, 2**64 - 1], pa.uint64())).to_pylist() == \
        ["P0000000000000001", None, "Pffffffffffffffff"]
    assert pseudonym_text(pa.array([], pa.uint64())).to_pylist() == []


def test_registry_tables_written_from_the_pseudonym_integers_equal_those_from_the_text(tmp_path: Path, monkeypatch):
    import_registry(EQUALITY, tmp_path / "hint", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    assert PSEUDONYM_HINT in registry._PERSON_ORDER
    monkeypatch.setattr(registry, "_PERSON_ORDER", f"m.person_order AS {ORDER_HINT}person_id")
    import_registry(EQUALITY, tmp_path / "text", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    for table in ("diagnosis", "prescription", "lab", "person", "observation_period"):
        hint, text = (tmp_path / p / "data" / "registry" / f"{table}.parquet" for p in ("hint", "text"))
        assert hint.read_bytes() == text.read_bytes(), table
    assert pq.read_table(tmp_path / "hint" / "data" / "registry" / "lab.parquet").num_rows > 100


def test_the_pseudonym_hint_orders_and_is_not_written_and_a_null_is_refused(tmp_path: Path):
    con = duckdb.connect()
    ids = ["P00000000000000ff", "P0000000000000100", "Pf000000000000000"]
    rows = ", ".join(f"('{p}', {int(p[1:], 16)}, DATE '2020-01-0{i + 1}')" for i, p in enumerate(ids))
    # the text column is not read: rows whose text disagrees with the integer are written from the integer
    rel = con.sql(f"SELECT 'ignored' AS person_id, o AS {PSEUDONYM_HINT}person_id, d AS date, 'A01' AS code, "
                  f"'ATC' AS vocabulary FROM (VALUES {rows}) v(p, o, d) ORDER BY d DESC")
    out = pq.read_table(write_table(rel, "prescription", tmp_path))
    assert out["person_id"].to_pylist() == ids and out.column_names[0] == "person_id"
    assert PSEUDONYM_HINT + "person_id" not in out.column_names
    bad = con.sql(f"SELECT NULL AS person_id, CAST(NULL AS UBIGINT) AS {PSEUDONYM_HINT}person_id, DATE '2020-01-01' "
                  "AS date, 'A01' AS code, 'ATC' AS vocabulary")
    with pytest.raises(InputError, match="required value is empty"):
        write_table(bad, "prescription", tmp_path / "bad")
    assert not (tmp_path / "bad" / "prescription.parquet").exists()
