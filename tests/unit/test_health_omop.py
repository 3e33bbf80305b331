"""OMOP CDM import (Eunomia GiBleed 5.3 folder, Synthea27Nj 5.4 zip) and cohorts cross-checked with pandas."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import InputError
from pmo_workbench.health.omop import import_omop
from pmo_workbench.health.schema import read_table

GI_BLEED = 192671
NSAIDS = [1118084, 1124300]   # celecoxib, diclofenac (ingredients; products are descendants)


@pytest.fixture(scope="module")
def gibleed(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    src = shared_data / "omop_gibleed"
    proj = tmp_path_factory.mktemp("gib") / "proj"
    counts = import_omop(src, proj, synthetic=True)
    assert counts["person"] == 2694 and counts["diagnosis"] == 65332 and counts["concept_ancestor"] == 65690
    assert counts["specimen"] == 0
    return src, proj


def _csv(src: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(src / f"{table}.csv.gz")


def test_gibleed_tables(gibleed):
    src, proj = gibleed
    reg = proj / "data" / "registry"
    person = read_table(reg, "person")
    assert (person["sex"] == "F").sum() == 1373 and (person["sex"] == "M").sum() == 1321
    assert person["person_id"].str.fullmatch(r"O\d+").all() and person["death_date"].isna().all()
    raw = _csv(src, "person").set_index("person_id")
    p6 = person.set_index("person_id").loc["O6"]
    assert p6["birth_date"] == pd.Timestamp(raw.loc[6, "birth_datetime"][:10])
    diag = read_table(reg, "diagnosis")
    assert (diag["vocabulary"] == "OMOP").all() and "K92.2" in set(diag["source_value"])
    assert diag.loc[diag["source_value"] == "K92.2", "code"].eq(str(GI_BLEED)).all()
    assert len(read_table(reg, "lab")) == 44053 and read_table(reg, "lab")["value"].isna().all()


def _oracle(src: Path, date_range, min_age, prior_days, nsaid_window) -> tuple[list[int], pd.DataFrame]:
    """The same cohort computed independently with pandas on the original CSVs."""
    ca = _csv(src, "concept_ancestor")
    co = _csv(src, "condition_occurrence")
    gi = {GI_BLEED} | set(ca.loc[ca["ancestor_concept_id"] == GI_BLEED, "descendant_concept_id"])
    ev = co[co["condition_concept_id"].isin(gi)].copy()
    ev["date"] = pd.to_datetime(ev["condition_start_date"])
    first = ev.groupby("person_id")["date"].min().rename("index_date").reset_index()
    steps = [first["person_id"].nunique()]
    lo, hi = map(pd.Timestamp, date_range)
    cohort = first[(first["index_date"] >= lo) & (first["index_date"] <= hi)]
    steps.append(len(cohort))        # not a separate attrition step in the workbench: entry includes the range
    person = _csv(src, "person").set_index("person_id")
    birth = pd.to_datetime(person["birth_datetime"].str[:10])
    b = birth.reindex(cohort["person_id"]).to_numpy()
    idx = cohort["index_date"].to_numpy()
    ages = [i.year - d.year - ((i.month, i.day) < (d.month, d.day))
            for i, d in zip(pd.DatetimeIndex(idx), pd.DatetimeIndex(b), strict=True)]
    cohort = cohort[[a >= min_age for a in ages]]
    steps.append(len(cohort))
    op = _csv(src, "observation_period")
    op["s"], op["e"] = pd.to_datetime(op["observation_period_start_date"]), pd.to_datetime(
        op["observation_period_end_date"])
    m = cohort.merge(op, on="person_id")
    ok = m[(m["s"] <= m["index_date"] - pd.Timedelta(days=prior_days)) & (m["e"] >= m["index_date"])]
    cohort = cohort[cohort["person_id"].isin(ok["person_id"])]
    steps.append(len(cohort))
    de = _csv(src, "drug_exposure")
    nsaid = set(NSAIDS) | set(ca.loc[ca["ancestor_concept_id"].isin(NSAIDS), "descendant_concept_id"])
    d = de[de["drug_concept_id"].isin(nsaid)].copy()
    d["date"] = pd.to_datetime(d["drug_exposure_start_date"])
    m = cohort.merge(d[["person_id", "date"]], on="person_id")
    lag = (m["date"] - m["index_date"]).dt.days
    hit = m[(lag >= nsaid_window[0]) & (lag <= nsaid_window[1])]
    cohort = cohort[cohort["person_id"].isin(hit["person_id"])]
    steps.append(len(cohort))
    return steps, cohort


def test_gibleed_concept_set_cohort_matches_pandas(gibleed):
    src, proj = gibleed
    d = {"name": "gi_bleed_on_nsaids",
         "entry": {"domain": "diagnosis", "codes": {"omop": [GI_BLEED], "descendants": True},
                   "date_range": ["1990-01-01", "2018-12-31"]},
         "criteria": [{"age_at_index": [40, 150]}, {"observation": {"prior_days": 15000}},
                      {"require": {"domain": "prescription", "codes": {"omop": NSAIDS, "descendants": True},
                                   "window": [-30, 0]}}]}
    with pytest.warns(RuntimeWarning, match="Tissue Use Register"):
        r = select_cohort(proj, d)
    steps, oracle = _oracle(src, ["1990-01-01", "2018-12-31"], 40, 15000, (-30, 0))
    assert steps[0] == 479                                   # the Book of OHDSI's GI-bleed persons
    assert steps == [479, 344, 135, 95, 30]                  # every rule removes someone
    assert r.attrition["n_persons"].tolist() == [steps[1], steps[2], steps[3], steps[4], steps[4], steps[4]]
    got = r.cohort[["person_id", "index_date"]].sort_values("person_id").reset_index(drop=True)
    want = pd.DataFrame({"person_id": "O" + oracle["person_id"].astype(str),
                         "index_date": oracle["index_date"]}).sort_values("person_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # without descendants only the exact concept counts
    with pytest.warns(RuntimeWarning):
        plain = select_cohort(proj, {"name": "x", "entry": {"domain": "diagnosis", "codes": {"omop": [GI_BLEED]}}})
    co = _csv(src, "condition_occurrence")
    assert plain.attrition["n_persons"].iloc[0] == co.loc[co["condition_concept_id"] == GI_BLEED, "person_id"].nunique()


def test_synthea_zip_in_place(shared_data, tmp_path: Path):
    z = shared_data / "omop_synthea27nj" / "Synthea27Nj_5.4.zip"
    proj = tmp_path / "s27"
    counts = import_omop(z, proj, synthetic=True)
    assert counts["person"] == 28 and counts["lab"] == 10040 and counts["concept"] == 2294
    assert counts["concept_ancestor"] == 0 and counts["specimen"] == 0
    reg = proj / "data" / "registry"
    person = read_table(reg, "person")
    assert (person["sex"] == "M").sum() == 15 and person["death_date"].notna().sum() == 3
    lab = read_table(reg, "lab")
    weight = lab[lab["source_value"] == "29463-7"]
    assert len(weight) > 50 and (weight["unit"] == "kg").all() and weight["value"].between(1, 300).all()
    assert weight["code"].eq("3025315").all()
    # cross-check: first body weight >= 100 kg per person, from the zip itself
    import zipfile
    with zipfile.ZipFile(z) as zf:
        m = pd.read_csv(zf.open("MEASUREMENT.csv"))
    m = m[(m["measurement_concept_id"] == 3025315) & (m["value_as_number"] >= 100)]
    first = m.groupby("person_id")["measurement_date"].min()
    with pytest.warns(RuntimeWarning):
        r = select_cohort(proj, {"name": "heavy", "entry": {"domain": "lab", "codes": {"omop": [3025315]},
                                                            "value": {"min": 100}}})
    assert dict(zip(r.cohort["person_id"], r.cohort["index_date"].dt.strftime("%Y-%m-%d"), strict=True)) == {
        f"O{p}": d for p, d in first.items()}
    # descendants with an empty concept_ancestor: the concept itself still counts
    with pytest.warns(RuntimeWarning):
        r2 = select_cohort(proj, {"name": "h", "entry": {"domain": "lab", "codes": {"omop": [3025315],
                                                                                 "descendants": True}}})
    assert r2.attrition["n_persons"].iloc[0] == lab.loc[lab["code"] == "3025315", "person_id"].nunique()


def _folder_copy(shared_data: Path, dest: Path, tables=("person", "observation_period", "condition_occurrence",
                                                        "death", "specimen")) -> Path:
    dest.mkdir(parents=True)
    for t in tables:
        shutil.copy(shared_data / "omop_gibleed" / f"{t}.csv.gz", dest / f"{t.upper()}.csv.gz")
    return dest


def test_upper_case_folder_and_missing_tables(shared_data, tmp_path: Path):
    src = _folder_copy(shared_data, tmp_path / "src")
    counts = import_omop(src, tmp_path / "proj")
    assert counts["person"] == 2694 and "prescription" not in counts and "concept" not in counts


@pytest.mark.parametrize("table,edit,row,field,message", [
    ("person", lambda df: df.drop(columns=["gender_concept_id"]), None, "gender_concept_id", "missing column"),
    ("person", lambda df: df.assign(person_id=df["person_id"].astype(str).where(df.index != 3, "x3")), 3,
     "person_id", "not an integer"),
    ("person", lambda df: pd.concat([df, df.iloc[[5]]], ignore_index=True), 2694, "person_id", "duplicate id"),
    ("condition_occurrence", lambda df: df.head(100).assign(condition_start_date=df["condition_start_date"].where(
        df.index != 7, "2019-13-01")), 7, "condition_start_date", "not a date"),
])
def test_bad_omop_input_names_file_row_column(shared_data, tmp_path: Path, table, edit, row, field, message):
    src = _folder_copy(shared_data, tmp_path / "src")
    path = src / f"{table.upper()}.csv.gz"
    df = edit(pd.read_csv(path, dtype=str, keep_default_na=False))
    with gzip.open(path, "wt") as fh:
        df.to_csv(fh, index=False)
    proj = tmp_path / "proj"
    with pytest.raises(InputError) as err:
        import_omop(src, proj)
    e = err.value
    assert e.file.endswith(f"{table.upper()}.csv.gz") and e.row == row and e.field == field and message in e.message
    assert not proj.exists()            # nothing written


def test_not_a_source(tmp_path: Path):
    f = tmp_path / "x.txt"
    f.write_text("hello")
    with pytest.raises(InputError, match="folder or a zip"):
        import_omop(f, tmp_path / "p")
