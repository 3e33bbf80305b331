"""The registry import in bounded memory (#16 item 5): each event table is handed to the writer as soon as it is
built and the raw tables only it needed are dropped then; persons are ordered by the integer of their pseudonym;
duplicate rows are found through a hash computed at load (trimmed cells, as the rows are compared)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pmo_workbench.health.registry import RegistryImport, build_registry_tables, import_registry, person_order
from pmo_workbench.privacy import DEMO_KEY, pseudonymise
from tests.unit.test_health_registry import A, B, C, write_raw


def test_each_table_is_written_as_soon_as_built_and_its_raw_tables_dropped(tmp_path: Path):
    raw = write_raw(tmp_path / "raw")
    seen: list[tuple[str, set[str], int]] = []

    def sink(name: str, rel: duckdb.DuckDBPyRelation) -> None:
        # the tables of the import's database at the moment the table is handed over (on rel's connection)
        tables = {r[0] for r in rel.query("_t", "SELECT table_name FROM duckdb_tables()").fetchall()}
        seen.append((name, tables, len(rel.fetchall())))

    with RegistryImport(raw, DEMO_KEY, lookup_date=date(2026, 1, 15), sink=sink) as reg:
        built = list(reg.tables)
    assert [name for name, _, _ in seen] == built == ["person", "observation_period", "diagnosis", "prescription",
                                                      "lab", "tissue_use_register"]
    tables = {name: t for name, t, _ in seen}
    # when the prescriptions are written, the LPR tables and the joined diagnoses are gone; when the labs are
    # written, the prescriptions' raw table is gone too: one large raw table at a time
    assert {"lmdb"} <= tables["prescription"] and not {"diagnosis_rows", "lpr2_diag", "lpr3_d"} & tables["prescription"]
    assert "labka" in tables["lab"] and not {"lmdb", "diagnosis_rows"} & tables["lab"]
    # the rows handed over are those of the tables kept in memory without a sink
    expected = build_registry_tables(raw, DEMO_KEY, lookup_date=date(2026, 1, 15))
    assert {name: n for name, _, n in seen} == {name: len(df) for name, df in expected.items()}


def test_person_order_is_the_text_order_of_the_pseudonyms():
    ids = pseudonymise([f"{d:02d}0190{s:04d}" for d in range(1, 29) for s in range(0, 400, 7)], DEMO_KEY)
    ids += ids[:5]                                        # equal pseudonyms get equal orders
    order = person_order(ids).to_pylist()
    assert sorted(range(len(ids)), key=lambda i: (ids[i], i)) == sorted(range(len(ids)), key=lambda i: (order[i], i))
    assert order[-5:] == order[:5]
    with pytest.raises(ValueError, match="lower-case"):
        person_order(["P00000000000000FF"])


@pytest.mark.parametrize("pass_rows", [None, 2])
def test_duplicate_prescriptions_and_labs_counted_from_the_hash_of_the_trimmed_row(tmp_path: Path, pass_rows,
                                                                                    monkeypatch):
    if pass_rows:       # the hashes grouped in passes over ranges of their values (2 rows a pass: 2-3 passes)
        monkeypatch.setattr("pmo_workbench.health.registry._DUPLICATE_PASS_ROWS", pass_rows)
    raw = write_raw(tmp_path / "raw", **{
        "lmdb.csv": "pnr,atc,eksd,apk,packsize,volume,voltypetxt,strnum,strunit,vnr\n"
                    f"{A},C10AA05,2015-04-01,2,98,98,DDD,20,mg,123456\n{C},N02BE01,2021-02-01,1,100,16.7,DDD,500,mg,1\n"
                    f"{A}, C10AA05 ,2015-04-01,2,98,98,DDD,20,mg,999\n"       # vnr is not compared; cells trimmed
                    f"{A},C10AA05,2015-04-01,3,98,98,DDD,20,mg,123456\n",     # another amount: not a duplicate
        "labka.csv": "pnr,samplingdate,samplingtime,analysiscode,value,unit,refl,refu,laboratorium_idcode\n"
                     f"{A},2015-01-10,08:30,NPU01567,\"3,5\",mmol/L,0,3.0,KBH\n"
                     f"{B},2016-01-01,,NPU19748,<0.5,mg/L,0,8,ROS\n{B},2016-01-01,,NPU19748,<0.5,mg/L,0,8,ROS\n"
                     f"{B},2016-01-01,,NPU19748,<0.5,mg/L,0,8,ROS\n{C},2020-02-02,07:15:30,NPU01567,4.1,mmol/L,0,3,ROS\n",
    })
    counts = import_registry(raw, tmp_path / "proj", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    got = counts.checks.table().set_index(["rule", "file"])
    assert got.loc[("duplicate_rows", "lmdb.csv"), "count"] == 1
    assert got.loc[("duplicate_rows", "labka.csv"), "count"] == 2
    assert got.loc[("duplicate_rows", "lmdb.csv"), "first_row"] == 2
    assert got.loc[("duplicate_rows", "labka.csv"), "first_row"] == 2
    assert counts["prescription"] == 4 and counts["lab"] == 5
