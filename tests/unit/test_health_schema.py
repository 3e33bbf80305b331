"""The event-table writer: rows sorted by vocabulary, code and date in small row groups (so DuckDB's min/max
statistics skip row groups), the same from pandas and from a DuckDB relation, and nothing written when one table
of several is bad."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health import schema
from pmo_workbench.health.schema import write_table, write_tables


def _diagnoses(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = np.array(["DI219", "DI210", "DC509", "DE119", "DZ000", "DI109", "DJ449", "C50.9"])
    code = codes[rng.integers(0, len(codes), n)]
    return pd.DataFrame({
        "person_id": [f"p{k:04d}" for k in rng.integers(0, 300, n)],
        "date": pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 9000, n), unit="D"),
        "code": code, "vocabulary": np.where(code == "C50.9", "ICD10", "SKS"),
        "diag_type": rng.choice(["A", "B"], n), "source": "LPR2"})


def _keys(frame: pd.DataFrame) -> list[tuple]:
    return list(zip(frame["vocabulary"], frame["code"], frame["date"], frame["person_id"], strict=True))


@pytest.mark.parametrize("via", ["pandas", "duckdb"])
def test_event_table_sorted_by_code_and_date_in_row_groups(tmp_path: Path, monkeypatch, via: str):
    monkeypatch.setattr(schema, "ROW_GROUP_ROWS", 100)
    df = _diagnoses(1050)
    con = duckdb.connect()
    data = df if via == "pandas" else con.from_df(df)
    path = write_table(data, "diagnosis", tmp_path)
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100] * 10 + [50]
    got = pq.read_table(path).to_pandas(date_as_object=False)
    assert _keys(got) == sorted(_keys(df))                      # the same rows, in (vocabulary, code, date) order
    # consecutive row groups cover consecutive code ranges: a code filter reads only the groups holding it
    col = pq.ParquetFile(path).schema_arrow.names.index("code")
    bounds = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
              for i in range(meta.num_row_groups)]
    vocab = got["vocabulary"].to_numpy()
    for i in range(len(bounds) - 1):
        if vocab[100 * i + 99] == vocab[100 * (i + 1)]:
            assert bounds[i][1] <= bounds[i + 1][0]
    assert pq.read_table(path).schema == schema.EVENT_TABLES["diagnosis"].schema


def test_relation_errors_name_column_and_row(tmp_path: Path):
    con = duckdb.connect()
    dup = con.sql("SELECT * FROM (VALUES ('a', 'F', DATE '1950-01-01'), ('b', 'M', DATE '1951-01-01'), "
                  "('a', 'M', DATE '1952-01-01')) t(person_id, sex, birth_date)")
    with pytest.raises(InputError) as err:
        write_table(dup, "person", tmp_path)
    assert (err.value.row, err.value.field, err.value.message) == (2, "person_id", "duplicate id")
    text = con.sql("SELECT * FROM (VALUES ('a', 'F', '1950-01-01'), ('b', 'M', '1950-02-30')) "
                   "t(person_id, sex, birth_date)")
    with pytest.raises(InputError) as err:
        write_table(text, "person", tmp_path)
    assert (err.value.row, err.value.field) == (1, "birth_date")
    assert list(tmp_path.iterdir()) == []


def test_one_bad_table_among_several_writes_none(tmp_path: Path):
    con = duckdb.connect()
    write_table(pd.DataFrame({"person_id": ["old"], "sex": ["F"], "birth_date": ["1940-01-01"]}), "person", tmp_path)
    good = con.sql("SELECT 'a' AS person_id, 'F' AS sex, DATE '1950-01-01' AS birth_date")
    bad = con.sql("SELECT * FROM (VALUES ('a', true, DATE '2026-01-15'), (NULL, false, DATE '2026-01-15')) "
                  "t(person_id, opt_out, lookup_date)")
    with pytest.raises(InputError) as err:
        write_tables([(good, "person", tmp_path), (bad, "tissue_use_register", tmp_path)])
    assert (err.value.row, err.value.field, err.value.message) == (1, "person_id", "required value is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["person.parquet"]
    assert pq.read_table(tmp_path / "person.parquet")["person_id"].to_pylist() == ["old"]


@pytest.mark.parametrize("column", ["person_id", "code", "date"])
def test_event_relation_with_empty_sort_key_names_row(tmp_path: Path, column: str):
    # event tables are sorted by the ranks of their string keys: a null key must still be reported, not sorted away
    df = _diagnoses(300)
    df[column] = df[column].astype(object)
    df.loc[217, column] = None
    con = duckdb.connect()
    with pytest.raises(InputError) as err:
        write_table(con.from_df(df), "diagnosis", tmp_path)
    assert (err.value.row, err.value.field, err.value.message) == (217, column, "required value is empty")
    assert list(tmp_path.iterdir()) == []
    assert con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_pmo_%'").fetchall() == [(0,)]


def test_event_relation_order_is_bytewise_like_duckdb(tmp_path: Path):
    # ranks of the string keys order rows as DuckDB orders the strings themselves (bytewise, nulls last)
    codes = ["DI21", "DI2", "di21", "DÆ10", "DZ", "D I21", "DI21X"]
    people = ["Pb", "Pa", "PÅ", "P", "pa"]
    rows = [(people[i % 5], codes[i % 7], f"2020-01-{1 + i % 3:02d}") for i in range(70)]
    con = duckdb.connect()
    rel = con.sql("SELECT * FROM (VALUES " + ", ".join(f"('{p}', '{c}', DATE '{d}', 'SKS', 'LPR3')" for p, c, d in rows)
                  + ") t(person_id, code, date, vocabulary, source)")
    got = pq.read_table(write_table(rel, "diagnosis", tmp_path)).to_pandas(date_as_object=False)
    want = rel.order("vocabulary, code, date, person_id").df()
    assert list(zip(got["code"], got["date"], got["person_id"], strict=True)) == \
        list(zip(want["code"], want["date"], want["person_id"], strict=True))


def test_order_hint_column_sorts_and_is_not_written(tmp_path: Path, monkeypatch):
    """A relation's ``_pmo_order_person_id`` (an integer ordered as person_id) is what the writer sorts persons by;
    it is not written. Here the hint reverses the persons' order, so a writer that ignored it would fail."""
    monkeypatch.setattr(schema, "ROW_GROUP_ROWS", 100)
    df = _diagnoses(450)
    con = duckdb.connect()
    rel = con.from_df(df).query("_d", "SELECT *, -dense_rank() OVER (ORDER BY person_id) AS _pmo_order_person_id "
                                      "FROM _d")
    got = pq.read_table(write_table(rel, "diagnosis", tmp_path))
    assert got.schema == schema.EVENT_TABLES["diagnosis"].schema
    keys = list(zip(got["vocabulary"].to_pylist(), got["code"].to_pylist(), got["date"].to_pylist(),
                    got["person_id"].to_pylist(), strict=True))
    expected = sorted(keys, key=lambda k: (k[0], k[1], k[2], tuple(-ord(c) for c in k[3])))
    assert [k[:3] for k in keys] == [k[:3] for k in expected]
    assert keys == expected
