"""Imports as a careless or hostile user meets them (#12 items 3, 5, 7, 8, 9, 10): all-or-nothing, CPR-like
values in every text column, plausibility counts, encodings, one-line errors and resource caps."""

from __future__ import annotations

import gzip
import os
import stat
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.health.omop import import_omop
from pmo_workbench.health.registry import import_registry
from pmo_workbench.health.schema import read_table
from pmo_workbench.privacy import DEMO_KEY, pseudonymise, scan_for_cpr
from tests.unit.test_health_registry import A, B, C, write_raw

LOOKUP = date(2026, 1, 15)


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` with its bytes and mode (folders too), to compare a project before and after."""
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = (p.read_bytes() if p.is_file() else b"<dir>", p.stat().st_mode)
    return out


def _registry(raw: Path, proj: Path, **kw):
    return import_registry(raw, proj, key=DEMO_KEY, lookup_date=LOOKUP, **kw)


# -- item 5: all or nothing ------------------------------------------------------------------------------------
def test_failed_registry_import_leaves_no_project_and_no_pmo_yaml(tmp_path: Path):
    raw = write_raw(tmp_path / "raw", **{"labka.csv": "pnr,samplingdate,analysiscode,value,unit\n"
                                                      f"{A},2015-02-30,NPU01567,1,x\n"})
    proj = tmp_path / "new" / "proj"
    with pytest.raises(InputError, match="not a date"):
        _registry(raw, proj)
    assert not (tmp_path / "new").exists()


def test_failed_reimport_leaves_the_project_byte_identical(tmp_path: Path):
    proj = tmp_path / "proj"
    _registry(write_raw(tmp_path / "raw1"), proj)
    before = snapshot(proj)
    assert "data/registry/lab.parquet" in before and "pmo.yaml" in before
    # a later file is bad: everything before it was read and staged already
    raw2 = write_raw(tmp_path / "raw2", **{"tissue_use_register.csv": f"pnr,registreringsdato\n{C},2020-13-01\n"})
    with pytest.raises(InputError):
        _registry(raw2, proj)
    assert snapshot(proj) == before


def test_failure_during_the_swap_is_rolled_back(tmp_path: Path, monkeypatch):
    from pmo_workbench.health import staging

    proj = tmp_path / "proj"
    _registry(write_raw(tmp_path / "raw1"), proj)
    before = snapshot(proj)
    real_replace, real_commit, calls = os.replace, staging.ImportStage.commit, []

    def flaky(src, dst):  # inside the swap, the fourth rename fails (a full disk, a read-only file system ...)
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    def commit(self, managed):
        monkeypatch.setattr(staging.os, "replace", flaky)
        try:
            return real_commit(self, managed)
        finally:
            monkeypatch.setattr(staging.os, "replace", real_replace)

    monkeypatch.setattr(staging.ImportStage, "commit", commit)
    with pytest.raises(OSError):
        _registry(write_raw(tmp_path / "raw2", **{"lmdb.csv": "pnr,atc,eksd,apk\n"}), proj)
    monkeypatch.undo()
    # three renames were done (old tables moved aside, new ones in) and undone
    assert len(calls) >= 4 and snapshot(proj) == before


def test_reimport_drops_tables_the_new_extract_does_not_provide(tmp_path: Path):
    proj = tmp_path / "proj"
    _registry(write_raw(tmp_path / "raw1"), proj)
    raw2 = write_raw(tmp_path / "raw2")
    for f in ("labka.csv", "lmdb.csv", "tissue_use_register.csv"):
        (raw2 / f).unlink()
    counts = _registry(raw2, proj)
    assert set(counts) == {"person", "observation_period", "diagnosis"}
    reg = proj / "data" / "registry"
    assert sorted(p.name for p in reg.glob("*.parquet")) == ["diagnosis.parquet", "observation_period.parquet",
                                                             "person.parquet"]
    assert not (proj / "data" / "consent" / "tissue_use_register.parquet").exists()
    assert not [p for p in proj.iterdir() if p.name.startswith(".pmo-import-")]


def _omop(folder: Path, person: str, **tables: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "person.csv").write_text(person, encoding="utf-8")
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


PERSON = "person_id,gender_concept_id,year_of_birth,birth_datetime\n1,8532,1950,\n2,8507,1960,\n"
CONDITION = ("person_id,condition_concept_id,condition_start_date,condition_end_date,condition_source_value\n"
             "1,192671,2015-01-01,2015-01-03,K92.2\n2,192671,2016-01-01,,K92.2\n")
DRUG = "person_id,drug_concept_id,drug_exposure_start_date,quantity,drug_source_value\n1,1118084,2015-02-01,30,x\n"


def test_second_omop_import_replaces_the_first_as_a_set(tmp_path: Path):
    proj = tmp_path / "proj"
    import_omop(_omop(tmp_path / "a", PERSON, condition_occurrence=CONDITION, drug_exposure=DRUG), proj,
                synthetic=True)
    assert (proj / "data" / "registry" / "prescription.parquet").exists()
    counts = import_omop(_omop(tmp_path / "b", PERSON, condition_occurrence=CONDITION), proj)
    assert "prescription" not in counts
    assert not (proj / "data" / "registry" / "prescription.parquet").exists()
    assert len(read_table(proj / "data" / "registry", "diagnosis")) == 2


def test_failed_omop_import_is_byte_identical_and_creates_nothing(tmp_path: Path):
    proj = tmp_path / "proj"
    import_omop(_omop(tmp_path / "a", PERSON, condition_occurrence=CONDITION, drug_exposure=DRUG), proj,
                synthetic=True)
    before = snapshot(proj)
    bad = _omop(tmp_path / "b", PERSON, condition_occurrence=CONDITION,
                measurement="person_id,measurement_concept_id,measurement_date\n1,3000963,2015-02-31\n")
    with pytest.raises(InputError, match="not a date"):
        import_omop(bad, proj)
    assert snapshot(proj) == before
    with pytest.raises(InputError):
        import_omop(bad, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_outputs_get_umask_permissions(tmp_path: Path):
    proj = tmp_path / "proj"
    _registry(write_raw(tmp_path / "raw"), proj)
    umask = os.umask(0o022)
    os.umask(umask)
    for p in (proj / "data").rglob("*.*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


# -- item 3 / 13: CPR-like values in every text column -----------------------------------------------------------
TEXT_COLUMNS = [
    ("cpr_register.csv", "region"), ("lpr_adm.csv", "recnum"), ("lpr_adm.csv", "c_adiag"),
    ("lpr_adm.csv", "c_sgh"), ("lpr_diag.csv", "c_diag"), ("lpr_diag.csv", "c_diagtype"),
    ("lpr3_kontakter.csv", "dw_ek_kontakt"), ("lpr3_kontakter.csv", "kontakttype"),
    ("lpr3_kontakter.csv", "prioritet"), ("lpr3_kontakter.csv", "sorenhed_ans"),
    ("lpr3_diagnoser.csv", "diagnosekode"), ("lpr3_diagnoser.csv", "diagnosetype"),
    ("lmdb.csv", "atc"), ("lmdb.csv", "apk"), ("lmdb.csv", "volume"), ("lmdb.csv", "strnum"),
    ("lmdb.csv", "strunit"), ("lmdb.csv", "voltypetxt"), ("lmdb.csv", "vnr"), ("lmdb.csv", "packsize"),
    ("labka.csv", "analysiscode"), ("labka.csv", "value"), ("labka.csv", "unit"), ("labka.csv", "refl"),
    ("labka.csv", "refu"), ("labka.csv", "laboratorium_idcode"),
]
HIDDEN = ["2512031990", "251203-1990", "0101652003", "6101902000"]   # plain, hyphen, another, replacement day


@pytest.mark.parametrize("file,column", TEXT_COLUMNS)
def test_cpr_in_any_text_column_is_refused_or_never_written(tmp_path: Path, file, column):
    raw = write_raw(tmp_path / "raw")
    value = HIDDEN[TEXT_COLUMNS.index((file, column)) % len(HIDDEN)]     # each form in several columns
    df = pd.read_csv(raw / file, dtype=str, keep_default_na=False)
    df.loc[0, column] = value
    df.to_csv(raw / file, index=False)
    proj = tmp_path / "proj"
    try:
        _registry(raw, proj)
    except InputError as err:
        assert "CPR-like" in err.message
        assert err.field == column and Path(err.file).name == file and err.row == 0
        assert value not in str(err) and value.replace("-", "") not in str(err)
        assert not proj.exists()
    else:   # the column is not imported at all (e.g. c_sgh, vnr): nothing of it may be written
        assert scan_for_cpr(proj) == []


def test_cpr_in_omop_text_and_number_columns_is_refused(tmp_path: Path):
    for table, text in [
        ("condition_occurrence", CONDITION.replace("K92.2\n2", "pt 251203-1990\n2")),
        ("drug_exposure", DRUG.replace(",30,", ",2512031990,")),
        ("measurement", "person_id,measurement_concept_id,measurement_date,value_as_number,unit_source_value\n"
                        "1,3000963,2015-02-01,7.5,mmol/L\n2,3000963,2015-02-01,2512031990,mmol/L\n"),
    ]:
        src = _omop(tmp_path / table, PERSON, **{table: text})
        with pytest.raises(InputError, match="CPR-like") as err:
            import_omop(src, tmp_path / "p", synthetic=True)
        assert "2512031990" not in str(err.value) and "251203-1990" not in str(err.value)
        assert err.value.row == (1 if table == "measurement" else 0)
        assert not (tmp_path / "p").exists()


# -- item 7: plausibility ----------------------------------------------------------------------------------------
def test_plausibility_counts_per_rule_and_sks_normalisation(tmp_path: Path):
    D = "0303801236"     # a fourth person, only in the prescriptions: unknown
    raw = write_raw(tmp_path / "raw", **{
        "cpr_register.csv": f"pnr,koen,foed_dag,doed_dato,region\n{A},K,1960-03-15,1950-01-01,H\n"
                            f"{B},M,1950-01-01,2020-05-01,H\n{C},M,1970-10-10,,H\n",
        "lpr_adm.csv": "pnr,recnum,d_inddto,d_uddto,c_pattype,c_adiag\n"
                       f"{A},1,2015-03-10,2015-03-01,0,di 109\n{B},2,2099-01-01,2099-01-02,2,I21.9\n"
                       f"{C},3,1990-05-01,1990-05-09,0,410.99\n",
        "lpr_diag.csv": "recnum,c_diag,c_diagtype\n1,di 109,A\n2,I21.9,A\n2,I21.9,A\n3,41099,A\n",
        "lmdb.csv": f"pnr,atc,eksd,apk\n{A},C10AA05,2015-04-01,1\n{D},C10AA05,2015-04-01,1\n",
    })
    counts = _registry(raw, tmp_path / "proj")
    t = counts.checks.table().set_index(["rule", "file"])["count"].to_dict()
    assert t == {("death_before_birth", "cpr_register.csv"): 1, ("discharge_before_admission", "lpr_adm.csv"): 1,
                 ("future_date", "lpr_adm.csv"): 1, ("unknown_person", "lmdb.csv"): 1,
                 ("duplicate_rows", "lpr_diag.csv"): 1, ("code_normalised", "lpr_adm.csv"): 3,
                 ("code_normalised", "lpr_diag.csv"): 3}
    changes = counts.checks.code_changes()
    assert set(zip(changes["original"], changes["code"], strict=True)) == {("di 109", "DI109"), ("I21.9", "DI219"),
                                                              ("410.99", "41099")}
    d = read_table(tmp_path / "proj" / "data" / "registry", "diagnosis")
    d = d[d["source"] == "LPR2"]
    assert sorted(set(zip(d["code"], d["vocabulary"], strict=True))) == [("41099", "ICD8"), ("DI109", "SKS"), ("DI219", "SKS")]
    report = pd.read_csv(tmp_path / "proj" / "data" / "registry" / "import_checks.csv")
    assert report["count"].sum() == sum(t.values())
    # configured fatal: the rule stops the import, naming file, row and field
    with pytest.raises(InputError, match="future_date") as err:
        _registry(raw, tmp_path / "proj2", checks="future_date=fatal")
    assert err.value.row == 1 and err.value.field == "d_inddto" and not (tmp_path / "proj2").exists()


def test_header_only_person_table_and_duplicated_file_are_fatal(tmp_path: Path):
    raw = write_raw(tmp_path / "raw", **{"cpr_register.csv": "pnr,koen,foed_dag,doed_dato,region\n"})
    with pytest.raises(InputError, match="empty_person_table"):
        _registry(raw, tmp_path / "p")
    lines = "recnum,c_diag,c_diagtype\n1,DI219,A\n1,DE119,B\n3,DR074,A\n"
    raw = write_raw(tmp_path / "raw2", **{"lpr_diag.csv": lines + lines.split("\n", 1)[1]})
    with pytest.raises(InputError, match="duplicate_file") as err:
        _registry(raw, tmp_path / "p")
    assert err.value.row == 3 and not (tmp_path / "p").exists()
    src = _omop(tmp_path / "o", "person_id,gender_concept_id,year_of_birth\n")
    with pytest.raises(InputError, match="empty_person_table"):
        import_omop(src, tmp_path / "p")


# -- item 8: encodings -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_registry_extract_in_any_encoding_keeps_danish_letters(tmp_path: Path, encoding):
    raw = write_raw(tmp_path / "raw")
    person = (f"pnr,koen,foed_dag,doed_dato,region\n{A},K,1960-03-15,,Region Sjælland – Øst\n"
              f"{B},M,1950-01-01,,Region Nordjylland Å\n{C},M,1970-10-10,,Ærø\n")
    if encoding == "latin-1":
        person = person.replace("–", "-")
    (raw / "cpr_register.csv").write_bytes(person.encode(encoding))
    lab = (raw / "labka.csv").read_text(encoding="utf-8").replace("mmol/L,0,3.0,KBH", "µmol/L,0,3.0,Århus")
    (raw / "labka.csv").write_bytes(lab.encode(encoding))
    counts = _registry(raw, tmp_path / "proj")
    assert counts.encodings["cpr_register.csv"] == encoding
    person_t = read_table(tmp_path / "proj" / "data" / "registry", "person").set_index("person_id")
    assert person_t.loc[pseudonymise(C, DEMO_KEY), "region"] == "Ærø"
    assert person_t.loc[pseudonymise(A, DEMO_KEY), "region"] == person.split("\n")[1].split(",")[-1]
    lab_t = read_table(tmp_path / "proj" / "data" / "registry", "lab")
    assert "Århus" in set(lab_t["lab_id"]) and "µmol/L" in set(lab_t["unit"])


def test_given_encoding_wins_and_a_wrong_one_is_a_one_line_error(tmp_path: Path):
    raw = write_raw(tmp_path / "raw")
    text = (raw / "cpr_register.csv").read_text(encoding="utf-8")
    (raw / "cpr_register.csv").write_bytes(text.encode("latin-1"))
    _registry(raw, tmp_path / "p1", encoding="latin-1")
    assert "Region Sjælland" in set(read_table(tmp_path / "p1" / "data" / "registry", "person")["region"])
    with pytest.raises(InputError, match="not valid utf-8") as err:
        _registry(raw, tmp_path / "p2", encoding="utf-8")
    assert err.value.line == 3


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1", "cp1252"])
def test_omop_csv_in_any_encoding(tmp_path: Path, encoding):
    src = tmp_path / "src"
    _omop(src, PERSON)
    cond = CONDITION.replace("K92.2\n2", "Blødning i mave–tarm\n2")
    if encoding == "latin-1":
        cond = cond.replace("–", "-")
    (src / "condition_occurrence.csv").write_bytes(cond.encode(encoding))
    counts = import_omop(src, tmp_path / "p", synthetic=True)
    assert counts.encodings["condition_occurrence"] == encoding
    d = read_table(tmp_path / "p" / "data" / "registry", "diagnosis")
    assert cond.split("\n")[1].split(",")[-1] in set(d["source_value"])


# -- items 9 and 10: one-line errors, resource caps ----------------------------------------------------------------
@pytest.mark.parametrize("name,data,line,message", [
    ("person.csv.gz", b"\x1f\x8b\x08\x00garbage", None, "corrupt or truncated gzip"),
    ("person.csv", b'person_id,gender_concept_id,year_of_birth\n1,8532,"1950\n2,8507,1960\n', 2, "unclosed quote"),
    ("person.csv", b"person_id,gender_concept_id,year_of_birth\n1,8532,1950\n2,8507,1960,5\n", 3,
     "expected 3 fields, found 4"),
    ("person.csv", b"person_id,gender_concept_id,year_of_birth\n1,8532,1950\n18446744073709551617,8507,1960\n",
     None, "more than 64 bits"),
])
def test_bad_omop_files_are_one_line_errors(tmp_path: Path, name, data, line, message):
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_bytes(data)
    with pytest.raises(InputError, match=message) as err:
        import_omop(src, tmp_path / "p", synthetic=True)
    assert "\n" not in str(err.value) and err.value.line == line
    if "64 bits" in message:
        assert err.value.row == 1 and err.value.field == "person_id"
    assert not (tmp_path / "p").exists()


def test_registry_unclosed_quote_is_a_one_line_error(tmp_path: Path):
    raw = write_raw(tmp_path / "raw", **{"lmdb.csv": f'pnr,atc,eksd,apk\n{A},"C10AA05,2015-04-01,1\n{B},x,y,1\n'})
    with pytest.raises(InputError) as err:
        _registry(raw, tmp_path / "p")
    assert Path(err.value.file).name == "lmdb.csv" and "\n" not in str(err.value)
    assert A not in str(err.value) and B not in str(err.value)


def test_zip_bomb_member_is_refused_before_it_is_read(tmp_path: Path):
    bomb = tmp_path / "export.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("person.csv", PERSON)
        with z.open("condition_occurrence.csv", "w", force_zip64=True) as member:
            member.write(CONDITION.split("\n", 1)[0].encode() + b"\n")
            block = b"0" * (1 << 20)
            for _ in range(200):
                member.write(block)
    assert bomb.stat().st_size < 400_000
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(InputError, match="refused") as err:
        import_omop(bomb, tmp_path / "p", synthetic=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 << 20 and len(str(err.value)) < 300
    assert not (tmp_path / "p").exists()


def test_gzip_member_over_the_cap_is_refused_while_streaming(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("pmo_workbench.health.omop.MAX_MEMBER_BYTES", 1000)
    src = tmp_path / "src"
    src.mkdir()
    (src / "person.csv.gz").write_bytes(gzip.compress(PERSON.encode() + b"3,8532,1970,\n" * 200))
    with pytest.raises(InputError, match="larger than 1,000 bytes"):
        import_omop(src, tmp_path / "p", synthetic=True)


def test_cli_import_options_and_one_line_exit_2(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    from pmo_workbench.cli import app

    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "cli-test-key-0123456789")
    raw = write_raw(tmp_path / "raw", **{"lpr_adm.csv": "pnr,recnum,d_inddto,d_uddto,c_pattype\n"
                                                        f"{A},1,2099-03-10,2099-03-14,0\n{C},3,2019-02-28,,3\n"})
    text = (raw / "cpr_register.csv").read_text(encoding="utf-8")
    (raw / "cpr_register.csv").write_bytes(text.encode("cp1252"))
    runner = CliRunner()
    res = runner.invoke(app, ["import", "registry", "--raw", str(raw), "--out", str(tmp_path / "p"),
                              "--lookup-date", "2026-01-15", "--checks", "future_date=fatal"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "future_date" in res.output and "lpr_adm.csv" in res.output and A not in res.output
    assert not (tmp_path / "p").exists()
    res = runner.invoke(app, ["import", "registry", "--raw", str(raw), "--out", str(tmp_path / "p"),
                              "--lookup-date", "2026-01-15", "--encoding", "cp1252"])
    assert res.exit_code == 0, res.output
    assert "future_date" in res.output and "warning" in res.output
    assert "Region Sjælland" in set(read_table(tmp_path / "p" / "data" / "registry", "person")["region"])
