"""The DuckDB view of a project: missing tables are empty, bad Parquet inputs are named by file, row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health.database import open_database
from pmo_workbench.health.schema import write_table

RAW = "".join(["1503", "60", "1234"])   # a CPR-like number (valid birth date), built so it is not a literal


def _project(root: Path) -> Path:
    reg = root / "data" / "registry"
    write_table(pd.DataFrame({"person_id": ["a", "b", "c"], "sex": ["F", "M", "F"],
                              "birth_date": ["1950-01-01", "1960-01-01", "1970-01-01"]}), "person", reg)
    (root / "pmo.yaml").write_text("name: db\n")
    return root


def test_missing_tables_are_empty(tmp_path: Path):
    db = open_database(_project(tmp_path))
    assert db.present == {"person"}
    assert db.query("SELECT count(*) AS n FROM diagnosis")["n"].item() == 0
    assert db.query("SELECT count(*) AS n FROM person WHERE sex = 'F'")["n"].item() == 2


@pytest.mark.parametrize("frame,table,row,field,message", [
    (pd.DataFrame({"person_id": ["a", "b", RAW], "date": pd.to_datetime(["2020-01-01"] * 3), "code": "DI21",
                   "vocabulary": "SKS", "source": "LPR2"}), "diagnosis", 2, "person_id", "raw CPR"),
    (pd.DataFrame({"person_id": ["a", "b", "a"], "sex": "F", "birth_date": pd.to_datetime(["1950-01-01"] * 3)}),
     "person", 2, "person_id", "duplicate id"),
    (pd.DataFrame({"person_id": ["a"], "date": pd.to_datetime(["2020-01-01"]), "vocabulary": "SKS",
                   "source": "LPR2"}), "diagnosis", None, "code", "missing required column"),
])
def test_bad_tables_named(tmp_path: Path, frame, table, row, field, message):
    root = _project(tmp_path)
    path = root / "data" / "registry" / f"{table}.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError) as err:
        open_database(root)
    e = err.value
    assert e.file == str(path) and e.row == row and e.field == field and message in e.message
    assert RAW not in str(e)


def test_ten_digit_ids_that_are_not_cpr_numbers_pass(tmp_path: Path):
    root = _project(tmp_path)
    pd.DataFrame({"person_id": ["9913991234", "0000000000"], "date": pd.to_datetime(["2020-01-01"] * 2),
                  "code": "DI21", "vocabulary": "SKS", "source": "LPR2"}).to_parquet(
        root / "data" / "registry" / "diagnosis.parquet")
    assert "diagnosis" in open_database(root).present
