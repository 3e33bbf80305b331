"""Registry import from hand-made raw Danish extracts: LPR2/LPR3 merge, LMDB, labs, opt-outs, bad input."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import InputError, PrivacyError
from pmo_workbench.health.registry import import_registry
from pmo_workbench.health.schema import read_table
from pmo_workbench.privacy import DEMO_KEY, pseudonymise, scan_for_cpr


def cpr(day: int, month: int, yy: int, serial: str) -> str:
    return f"{day:02d}{month:02d}{yy:02d}{serial}"


A, B, C = cpr(15, 3, 60, "1234"), cpr(1, 1, 50, "2345"), cpr(10, 10, 70, "3457")   # F (even), M, M (odd)


def write_raw(raw: Path, **override: str) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    files = {
        "cpr_register.csv": f"pnr,koen,foed_dag,doed_dato,region\n{A},K,1960-03-15,,Region Hovedstaden\n"
                            f"{B},M,1950-01-01,2020-05-01,Region Sjælland\n{C},M,1970-10-10,,Region Sjælland\n",
        "lpr_adm.csv": "pnr,recnum,d_inddto,d_uddto,c_pattype,c_sgh,c_adiag\n"
                       f"{A},1,2015-03-10,2015-03-14,0,1301,DI219\n{B},2,2018-01-01,2018-01-01,2,1301,DJ449\n"
                       f"{C},3,2019-02-28,2019-02-28,3,1301,DR074\n",
        "lpr_diag.csv": "recnum,c_diag,c_diagtype\n1,DI219,A\n1,DE119,B\n3,DR074,A\n",
        "lpr3_kontakter.csv": "cpr,dw_ek_kontakt,dato_start,tidspunkt_start,dato_slut,tidspunkt_slut,kontakttype,"
                              "prioritet,sorenhed_ans\n"
                              f"{A},k1,2019-03-01,10:00,2019-03-01,12:00,ALCA00,ATA1,1301\n"
                              f"{B},k2,2019-05-01,08:00,2019-05-03,09:00,ALCA00,ATA3,1301\n"
                              f"{C},k3,2020-01-01,09:00,2020-01-01,09:30,ALCA10,ATA3,1301\n"
                              f"{C},k4,2021-01-01,09:00,2021-01-01,11:00,ALCA00,ATA3,1301\n",
        "lpr3_diagnoser.csv": "dw_ek_kontakt,diagnosekode,diagnosetype,senere_afkraeftet\n"
                              "k1,DI210,A,Nej\nk2,DC509,A,Ja\nk2,DI10,B,Nej\nk3,DE119,A,Nej\nk4,DI219,A,Nej\n",
        "lmdb.csv": "pnr,atc,eksd,apk,packsize,volume,voltypetxt,strnum,strunit,vnr\n"
                    f"{A},C10AA05,2015-04-01,2,98,98,DDD,20,mg,123456\n{C},N02BE01,2021-02-01,1,100,16.7,DDD,500,mg,1\n",
        "labka.csv": "pnr,samplingdate,samplingtime,analysiscode,value,unit,refl,refu,laboratorium_idcode\n"
                     f"{A},2015-01-10,08:30,NPU01567,\"3,5\",mmol/L,0,3.0,KBH\n"
                     f"{B},2016-01-01,,NPU19748,<0.5,mg/L,0,8,ROS\n{C},2020-02-02,07:15:30,NPU01567,4.1,mmol/L,0,3,ROS\n",
        "tissue_use_register.csv": f"pnr,registreringsdato\n{C},2020-01-01\n",
    }
    files.update(override)
    for name, text in files.items():
        (raw / name).write_text(text, encoding="utf-8")
    return raw


def test_import_merges_lpr2_and_lpr3_and_pseudonymises(tmp_path: Path):
    raw = write_raw(tmp_path / "raw")
    proj = tmp_path / "proj"
    counts = import_registry(raw, proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    pa, pb, pc = (pseudonymise(x, DEMO_KEY) for x in (A, B, C))
    assert counts == {"person": 3, "observation_period": 3, "diagnosis": 8, "prescription": 2, "lab": 3,
                      "tissue_use_register": 3}
    reg = proj / "data" / "registry"
    person = read_table(reg, "person").set_index("person_id")
    assert person.loc[pa, "sex"] == "F" and person.loc[pb, "sex"] == "M"
    assert person.loc[pb, "death_date"] == pd.Timestamp("2020-05-01")
    obs = read_table(reg, "observation_period").set_index("person_id")
    assert obs.loc[pb, "start_date"] == pd.Timestamp("1977-01-01") and obs.loc[pb, "end_date"] == pd.Timestamp(
        "2020-05-01")
    assert obs.loc[pa, "end_date"] == pd.Timestamp("2025-12-31")
    d = read_table(reg, "diagnosis")
    got = sorted(zip(d["person_id"], d["date"].dt.strftime("%Y-%m-%d"), d["code"], d["diag_type"],
                     d["contact_type"], d["source"], strict=True))
    expected = sorted([
        (pa, "2015-03-10", "DI219", "A", "inpatient", "LPR2"), (pa, "2015-03-10", "DE119", "B", "inpatient", "LPR2"),
        (pb, "2018-01-01", "DJ449", "A", "outpatient", "LPR2"),        # c_adiag not in lpr_diag: added as A
        (pc, "2019-02-28", "DR074", "A", "emergency", "LPR2"),
        (pa, "2019-03-01", "DI210", "A", "emergency", "LPR3"),
        (pb, "2019-05-01", "DI10", "B", "inpatient", "LPR3"),          # DC509 was later disproved: dropped
        (pc, "2020-01-01", "DE119", "A", "virtual", "LPR3"), (pc, "2021-01-01", "DI219", "A", "outpatient", "LPR3"),
    ])
    assert got == expected
    assert (d["vocabulary"] == "SKS").all()
    rx = read_table(reg, "prescription").set_index("person_id")
    assert rx.loc[pa, "ddd"] == pytest.approx(196.0) and rx.loc[pa, "strength"] == "20 mg"
    assert rx.loc[pa, "packages"] == 2 and rx.loc[pa, "vocabulary"] == "ATC"
    lab = read_table(reg, "lab").set_index("person_id")
    assert lab.loc[pa, "value"] == pytest.approx(3.5) and pd.isna(lab.loc[pa, "value_text"])
    assert lab.loc[pa, "datetime"] == pd.Timestamp("2015-01-10 08:30:00")
    assert pd.isna(lab.loc[pb, "value"]) and lab.loc[pb, "value_text"] == "<0.5"
    assert lab.loc[pc, "datetime"] == pd.Timestamp("2020-02-02 07:15:30") and lab.loc[pc, "ref_high"] == 3
    tur = read_table(proj / "data" / "consent", "tissue_use_register")
    assert tur.loc[tur["opt_out"], "person_id"].tolist() == [pc] and len(tur) == 3
    assert (tur["lookup_date"] == pd.Timestamp("2026-01-15")).all()
    assert scan_for_cpr(proj) == []          # no raw CPR number anywhere in the project


def test_cohort_over_the_merged_registry(tmp_path: Path):
    proj = tmp_path / "proj"
    import_registry(write_raw(tmp_path / "raw"), proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    d = {"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"], "occurrence": "first"}}
    r = select_cohort(proj, d)
    pa, pc = pseudonymise(A, DEMO_KEY), pseudonymise(C, DEMO_KEY)
    # A's first-ever MI is the LPR2 one (2015), not the LPR3 one (2019); C has MI in LPR3 but opted out
    assert r.attrition["n_persons"].tolist() == [2, 2, 1]  # entry, looked up, not opted out
    assert r.cohort[["person_id", "index_date"]].values.tolist() == [[pa, pd.Timestamp("2015-03-10")]]
    assert r.reasons(pc) == ["Tissue Use Register opt-out"]
    assert r.lookup_date == date(2026, 1, 15)
    late = {"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"], "occurrence": "all",
                                    "date_range": ["2019-03-01", "2025-12-31"]}}
    assert select_cohort(proj, late).cohort["index_date"].tolist() == [pd.Timestamp("2019-03-01")]


BAD_CPR = cpr(15, 13, 60, "1234")   # month 13


@pytest.mark.parametrize("file,text,row,field,message", [
    ("lmdb.csv", f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-01,1\n{BAD_CPR},C10AA05,2015-04-01,1\n", 1, "pnr",
     "not a valid CPR number"),
    ("lmdb.csv", f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-31,1\n", 0, "eksd", "not a date"),
    ("lmdb.csv", f"pnr,atc,eksd\n{A},C10AA05,2015-04-01\n", None, "apk", "missing column"),
    ("lmdb.csv", f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-01,two\n", 0, "apk", "not a number"),
    ("cpr_register.csv", f"pnr,koen,foed_dag,doed_dato,region\n{A},K,1960-03-15,,H\n{A},K,1960-03-15,,H\n", 1,
     "pnr", "duplicate id"),
    ("cpr_register.csv", f"pnr,koen,foed_dag,doed_dato,region\n{A},X,1960-03-15,,H\n", 0, "koen", "K or M"),
    ("lpr_diag.csv", "recnum,c_diag,c_diagtype\n1,DI219,A\n99,DI219,A\n", 1, "recnum", "not in lpr_adm"),
    ("lpr_adm.csv", f"pnr,recnum,d_inddto,d_uddto,c_pattype\n{A},1,2015-03-10,,7\n", 0, "c_pattype", "0, 1, 2"),
    ("lpr3_diagnoser.csv", "dw_ek_kontakt,diagnosekode,diagnosetype,senere_afkraeftet\nk1,DI210,A,Maybe\n", 0,
     "senere_afkraeftet", "Ja or Nej"),
    ("labka.csv", f"pnr,samplingdate,samplingtime,analysiscode,value,unit\n{A},2015-01-10,25:99,NPU01567,1,x\n", 0,
     "samplingtime", "not a time"),
    ("tissue_use_register.csv", f"pnr,registreringsdato\n{A},2020-01-01\n{C[:9]},2020-01-01\n", 1, "pnr",
     "not a valid CPR number"),
])
def test_bad_raw_input_names_file_row_column_and_writes_nothing(tmp_path: Path, file, text, row, field, message):
    raw = write_raw(tmp_path / "raw", **{file: text})
    proj = tmp_path / "proj"
    with pytest.raises(InputError) as err:
        import_registry(raw, proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    e = err.value
    assert Path(e.file).name == file and e.row == row and e.field == field and message in e.message
    for number in (A, B, C, BAD_CPR, C[:9]):
        assert number not in str(e)
    assert not list(proj.rglob("*.parquet"))


def test_first_invalid_cpr_in_file_order_when_checked_in_batches(tmp_path: Path, monkeypatch):
    """CPR numbers are checked a batch at a time (here one number a batch, in no particular order); the error
    still names the first invalid one in the file."""
    monkeypatch.setattr("pmo_workbench.health.registry._SCAN_BATCH", 1)
    other_bad = cpr(32, 1, 60, "1234")   # day 32
    raw = write_raw(tmp_path / "raw", **{"lmdb.csv": f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-01,1\n"
                                                     f"{other_bad},C10AA05,2015-04-01,1\n{B},C10AA05,2015-04-01,1\n"
                                                     f"{BAD_CPR},C10AA05,2015-04-01,1\n"})
    with pytest.raises(InputError) as err:
        import_registry(raw, tmp_path / "proj", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    assert (err.value.row, err.value.field) == (1, "pnr") and "not a valid CPR number" in err.value.message


def test_ragged_csv_names_the_line_without_echoing(tmp_path: Path):
    raw = write_raw(tmp_path / "raw", **{"lmdb.csv": f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-01,1\n{B},C10AA05\n"})
    with pytest.raises(InputError) as err:
        import_registry(raw, tmp_path / "proj", key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    assert err.value.line == 3 and Path(err.value.file).name == "lmdb.csv" and B not in str(err.value)


def test_no_key_outside_demo_mode_is_an_error(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PrivacyError):
        import_registry(write_raw(tmp_path / "raw"), tmp_path / "proj", lookup_date=date(2026, 1, 15))
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "a-secret-key-of-enough-length")
    import_registry(tmp_path / "raw", tmp_path / "proj", lookup_date=date(2026, 1, 15))
    ids = read_table(tmp_path / "proj" / "data" / "registry", "person")["person_id"]
    assert set(ids) == set(pseudonymise([A, B, C], b"a-secret-key-of-enough-length"))
    assert not set(ids) & set(pseudonymise([A, B, C], DEMO_KEY))


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def test_reproduces_the_synthetic_generators_event_tables(small_project: Path, tmp_path: Path):
    """The raw layer of `pmo synth` imports into exactly the event tables the generator wrote."""
    synth_reg, synth_consent = small_project / "data" / "registry", small_project / "data" / "consent"
    lookup = read_table(synth_consent, "tissue_use_register")["lookup_date"].iloc[0].date()
    proj = tmp_path / "proj"
    import_registry(small_project / "raw", proj, key=DEMO_KEY, lookup_date=lookup, start_date=date(2000, 1, 1))
    ours = proj / "data" / "registry"
    keys = {"person": ["person_id"], "diagnosis": ["person_id", "date", "contact_id", "code", "diag_type"],
            "prescription": ["person_id", "date", "code", "packages"], "lab": ["person_id", "datetime", "code"]}
    for table, key in keys.items():
        want = _sorted(read_table(synth_reg, table), key)
        got = _sorted(read_table(ours, table), key)
        assert len(want) > 0
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=table)
    pd.testing.assert_frame_equal(_sorted(read_table(proj / "data" / "consent", "tissue_use_register"), ["person_id"]),
                                  _sorted(read_table(synth_consent, "tissue_use_register"), ["person_id"]),
                                  check_dtype=False)
    # observation periods come from birth, death and the CPR register's moves (cpr_vandringer.csv)
    want = _sorted(read_table(synth_reg, "observation_period"), ["person_id"])
    got = _sorted(read_table(ours, "observation_period"), ["person_id"])
    pd.testing.assert_frame_equal(got, want, check_dtype=False, obj="observation_period")
    moves = pd.read_csv(small_project / "raw" / "cpr_vandringer.csv", dtype=str)
    assert set(moves["indud_kode"]) == {"I", "U"}


def test_migrations_narrow_observation_periods(tmp_path: Path):
    """Hand-computed: A immigrates 2005-06-01; C emigrates 2018-12-31 (a U before his I would be ignored)."""
    from pmo_workbench.health.registry import build_registry_tables

    moves = ("pnr,indud_kode,haend_dato\n"
             f"{A},I,2005-06-01\n{C},U,2001-01-01\n{C},I,2002-02-02\n{C},U,2018-12-31\n")
    raw = write_raw(tmp_path / "raw", **{"cpr_vandringer.csv": moves})
    tables = build_registry_tables(raw, DEMO_KEY, lookup_date=date(2026, 1, 15), start_date=date(2000, 1, 1),
                                   end_date=date(2025, 12, 31))
    obs = tables["observation_period"].set_index("person_id")
    pa_, pb, pc = pseudonymise([A, B, C], DEMO_KEY)
    assert obs.loc[pa_, "start_date"] == pd.Timestamp("2005-06-01")
    assert obs.loc[pa_, "end_date"] == pd.Timestamp("2025-12-31")
    assert obs.loc[pb, "start_date"] == pd.Timestamp("2000-01-01") and obs.loc[pb, "end_date"] == pd.Timestamp("2020-05-01")
    assert obs.loc[pc, "start_date"] == pd.Timestamp("2002-02-02") and obs.loc[pc, "end_date"] == pd.Timestamp("2018-12-31")
    bad = write_raw(tmp_path / "bad", **{"cpr_vandringer.csv": f"pnr,indud_kode,haend_dato\n{A},X,2005-06-01\n"})
    with pytest.raises(InputError, match=r"cpr_vandringer.csv: row 0: field indud_kode"):
        build_registry_tables(bad, DEMO_KEY)
