"""The registry importer's event tables stay identical to those of the reference implementation (#16 item 5).

``tests/data/registry_equality`` holds a raw extract of 100 synthetic persons and the tables the in-memory
importer of commit cda5b0d wrote from it; the bounded-memory importer (an on-disk DuckDB database with a memory
limit, spilling) must write the same rows: ``EXCEPT ALL`` both ways is empty for every table, and the row counts
agree (so duplicates are compared too).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pmo_workbench.health.registry import import_registry
from pmo_workbench.health.schema import EVENT_TABLES, sort_keys
from pmo_workbench.privacy import DEMO_KEY

DATA = Path(__file__).resolve().parents[1] / "data" / "registry_equality"


@pytest.mark.parametrize("memory_limit", [None, "64MB"])
def test_event_tables_equal_the_reference_import(tmp_path: Path, memory_limit, monkeypatch):
    if memory_limit is not None:      # a tight limit forces DuckDB to spill; the rows must not change
        monkeypatch.setattr("pmo_workbench.health.registry.MEMORY_LIMIT", memory_limit)
        # and CPR numbers pseudonymised and text scanned in many small batches
        monkeypatch.setattr("pmo_workbench.health.registry._SCAN_BATCH", 7)
    counts = import_registry(DATA / "raw", tmp_path / "proj", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    expected = sorted(p.stem for p in (DATA / "expected").glob("*.parquet"))
    assert sorted(counts) == expected == ["diagnosis", "lab", "observation_period", "person", "prescription"]
    con = duckdb.connect()
    for table in expected:
        new = f"read_parquet('{tmp_path / 'proj' / 'data' / 'registry' / table}.parquet')"
        old = f"read_parquet('{DATA / 'expected' / table}.parquet')"
        n_old = con.execute(f"SELECT count(*) FROM {old}").fetchone()[0]
        assert counts[table] == n_old > 0, table
        for a, b in ((new, old), (old, new)):
            extra = con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})").fetchone()[0]
            assert extra == 0, f"{table}: {extra} rows of {a} not in {b}"
        # written in the writer's order (vocabulary, code, date, person_id for events), with the schema's columns
        written = pq.read_table(tmp_path / "proj" / "data" / "registry" / f"{table}.parquet")
        assert written.column_names == list(EVENT_TABLES[table].columns)
        keys = list(zip(*(written[k].to_pylist() for k in sort_keys(table, complete=False)), strict=True))
        assert keys == sorted(keys), table
