"""Event tables written in parts (#16 item 5): each table is sorted and written as consecutive ranges of its codes,
so that no sort outgrows DuckDB's memory limit, and the file is the one a single sort writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health import registry
from pmo_workbench.health.registry import RegistryImport, import_registry
from pmo_workbench.health.schema import TableParts, key_ranges, write_tables
from pmo_workbench.privacy import DEMO_KEY
from tests.unit.test_health_registry import A, B, C, write_raw

EQUALITY = Path(__file__).resolve().parents[1] / "data" / "registry_equality" / "raw"


def test_key_ranges_keep_each_value_whole_and_within_the_budget():
    counts = [3, 4, 2, 9, 1, 1, 7, 7]
    ranges = key_ranges(counts, budget=7)
    assert ranges == [(0, 1), (2, 2), (3, 3), (4, 5), (6, 6), (7, 7)]
    # contiguous, covering every value once, in order
    assert [i for a, b in ranges for i in range(a, b + 1)] == list(range(len(counts)))
    # within the budget, except a value bigger than the budget, which is a range of its own
    assert all(sum(counts[a:b + 1]) <= 7 or a == b for a, b in ranges)
    assert key_ranges([20], budget=5) == [(0, 0)]
    assert key_ranges([1] * 5, budget=100) == [(0, 4)]
    assert key_ranges([], budget=5) == []
    with pytest.raises(ValueError, match="budget"):
        key_ranges([1], budget=0)


def _import(raw: Path, out: Path, monkeypatch, part_rows: int) -> tuple[Path, dict[str, int]]:
    """Import ``raw`` with parts of ``part_rows`` rows; the folder written and the number of parts per table."""
    monkeypatch.setattr(registry, "PART_ROWS", part_rows)
    parts: dict[str, int] = {}
    sink = registry.RegistryImport._emit

    def counting(self, table, *done):
        parts[table] = len(self._parts.get(table, [None]))
        return sink(self, table, *done)

    monkeypatch.setattr(registry.RegistryImport, "_emit", counting)
    import_registry(raw, out, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    monkeypatch.setattr(registry.RegistryImport, "_emit", sink)
    return out / "data" / "registry", parts


@pytest.mark.parametrize("part_rows", [1, 40])
def test_tables_written_in_parts_equal_the_single_sort_byte_for_byte(tmp_path: Path, monkeypatch, part_rows):
    whole, one = _import(EQUALITY, tmp_path / "whole", monkeypatch, 10**9)
    split, many = _import(EQUALITY, tmp_path / "split", monkeypatch, part_rows)
    assert one == {"person": 1, "observation_period": 1, "diagnosis": 1, "prescription": 1, "lab": 1}
    # many parts, and with a budget of one row, one part per code (the equality extract has 8 lab codes)
    assert many["diagnosis"] > 5 and many["prescription"] > 5 and many["lab"] > 2
    if part_rows == 1:
        con = duckdb.connect()
        for table in ("diagnosis", "prescription", "lab"):
            codes = con.execute(f"SELECT count(DISTINCT (vocabulary, code)) FROM "
                                f"read_parquet('{whole / table}.parquet')").fetchone()[0]
            assert many[table] == codes, table
    for table in ("diagnosis", "prescription", "lab", "person", "observation_period"):
        assert (split / f"{table}.parquet").read_bytes() == (whole / f"{table}.parquet").read_bytes(), table


def test_a_part_boundary_never_falls_inside_a_code_and_a_huge_code_is_one_part(tmp_path: Path, monkeypatch):
    # one code (NPU01567) with 30 rows, bigger than the budget of 4; the others a few rows each; both
    # vocabularies of the diagnoses (ICD-8 before SKS) across the parts
    labs = "".join(f"{A},2015-01-{d:02d},08:30,NPU01567,{d},mmol/L,0,3.0,KBH\n" for d in range(1, 31))
    labs += f"{B},2016-01-01,,NPU19748,<0.5,mg/L,0,8,ROS\n{C},2020-02-02,07:15:30,NPU00001,4.1,mmol/L,0,3,ROS\n"
    labs += f"{C},2020-02-03,07:15:30,NPU00001,4.2,mmol/L,0,3,ROS\n{B},2016-01-02,,NPU19748,1.5,mg/L,0,8,ROS\n"
    adm = ("pnr,recnum,d_inddto,d_uddto,c_pattype,c_sgh,c_adiag\n"
           f"{A},1,1985-03-10,1985-03-14,0,1301,41099\n{B},2,1990-01-01,1990-01-01,2,1301,25009\n"
           f"{C},3,2019-02-28,2019-02-28,3,1301,DR074\n{A},4,2015-03-10,2015-03-14,0,1301,DI219\n")
    diag = "recnum,c_diag,c_diagtype\n1,41099,A\n1,250.09,B\n2,25009,A\n3,DR074,A\n4,DI219,A\n4,DE119,B\n"
    raw = write_raw(tmp_path / "raw", **{
        "labka.csv": "pnr,samplingdate,samplingtime,analysiscode,value,unit,refl,refu,laboratorium_idcode\n" + labs,
        "lpr_adm.csv": adm, "lpr_diag.csv": diag})
    whole, _ = _import(raw, tmp_path / "whole", monkeypatch, 10**9)
    split, parts = _import(raw, tmp_path / "split", monkeypatch, 4)
    lab = pq.read_table(split / "lab.parquet")
    assert lab.num_rows == 34 and parts["lab"] == 3   # NPU00001 | NPU01567 (30 rows) | NPU19748
    assert lab["code"].to_pylist() == ["NPU00001"] * 2 + ["NPU01567"] * 30 + ["NPU19748"] * 2
    assert [v.as_py().day for v in lab["datetime"][2:32]] == list(range(1, 31))
    diagnosis = pq.read_table(split / "diagnosis.parquet")
    assert diagnosis["vocabulary"].to_pylist()[:3] == ["ICD8"] * 3 and parts["diagnosis"] > 2
    for table in ("diagnosis", "prescription", "lab"):
        assert (split / f"{table}.parquet").read_bytes() == (whole / f"{table}.parquet").read_bytes(), table


def test_empty_event_tables_and_empty_parts(tmp_path: Path, monkeypatch):
    raw = write_raw(tmp_path / "raw", **{
        "labka.csv": "pnr,samplingdate,samplingtime,analysiscode,value,unit,refl,refu,laboratorium_idcode\n"})
    folder, parts = _import(raw, tmp_path / "proj", monkeypatch, 1)
    assert parts["lab"] == 1 and pq.read_table(folder / "lab.parquet").num_rows == 0
    assert parts["prescription"] == 2 and pq.read_table(folder / "prescription.parquet").num_rows == 2
    # parts of which some (or all) hold no rows write the rows there are, and the schema
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'P' || i AS person_id, DATE '2020-01-01' AS date, 'C' || (i % 3) AS code, "
                "'ATC' AS vocabulary FROM range(10) r(i)")
    rel = "SELECT * FROM t WHERE code {}"
    parts = TableParts(con, [rel.format(c) for c in ("= 'X'", "<= 'C1'", "= 'Y'", "> 'C1'")])
    out = write_tables([(parts, "prescription", tmp_path / "a")])[0]
    assert pq.read_table(out)["code"].to_pylist() == ["C0"] * 4 + ["C1"] * 3 + ["C2"] * 3
    empty = write_tables([(TableParts(con, [rel.format("= 'X'"), rel.format("= 'Y'")]), "prescription",
                           tmp_path / "b")])[0]
    assert pq.read_table(empty).num_rows == 0 and pq.read_table(empty).schema.names[0] == "person_id"


def test_parts_out_of_order_are_refused_and_nothing_is_written(tmp_path: Path):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'P' || i AS person_id, DATE '2020-01-01' AS date, 'C' || (i % 3) AS code, "
                "'ATC' AS vocabulary FROM range(10) r(i)")
    parts = TableParts(con, ["SELECT * FROM t WHERE code > 'C0'", "SELECT * FROM t WHERE code = 'C0'"])
    with pytest.raises(ValueError, match="part 1 has rows that sort before"):
        write_tables([(parts, "prescription", tmp_path)])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="has a key"):
        write_tables([(TableParts(con, ["SELECT 'P1' AS person_id, 'F' AS sex, DATE '1960-01-01' AS birth_date"]),
                       "person", tmp_path)])
    # a part that does not convert is named as a single relation's row would be
    bad = TableParts(con, ["SELECT * FROM t WHERE code = 'C0'", "SELECT person_id, date, NULL AS code, vocabulary "
                           "FROM t WHERE code = 'C1'"])
    with pytest.raises(InputError, match="required value is empty"):
        write_tables([(bad, "prescription", tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_the_spill_folder_is_removed_after_an_import_in_parts(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(registry, "PART_ROWS", 1)
    raw = write_raw(tmp_path / "raw")
    (tmp_path / "spill").mkdir()
    with RegistryImport(raw, DEMO_KEY, lookup_date=date(2026, 1, 15), spill_dir=tmp_path / "spill",
                        sink=lambda name, rel: None) as reg:
        assert len(reg._parts["diagnosis"]) > 1
        assert any((tmp_path / "spill").iterdir())
    assert list((tmp_path / "spill").iterdir()) == []
