"""eCPR numbers (issue 12, item 12): parse, validate, pseudonymise and find D-eCPR and X-eCPR numbers.

Hand-checked examples come from the format's specification (NSP "eCPR formater (X-eCPR og D-eCPR)": X-eCPR
0203291WQ3 born 2 March 1929, 1308781OS6 born 13 August 1978, 3101057JC9 born 31 January 2005) and from Region
Nordjylland's instruction for D-eCPR (150643-0SJ1 John Smith born 15 June 1943, 280456-0PJ2 Jette Pedersen born
28 April 1956, 100309-6JM3 Magnus Jensen born 10 March 2009); sex from the last digit (odd men, even women).
"""

from __future__ import annotations

import datetime
import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmo_workbench.errors import PrivacyError
from pmo_workbench.health.registry import find_invalid_cprs
from pmo_workbench.privacy import (
    DEMO_KEY,
    check_no_cpr,
    cpr_text,
    find_valid_cprs,
    parse_cpr,
    pseudonymise,
    scan_for_cpr,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.parametrize(("number", "born", "sex", "scheme"), [
    ("0203291WQ3", datetime.date(1929, 3, 2), "M", "X"),
    ("1308781OS6", datetime.date(1978, 8, 13), "F", "X"),
    ("3101057JC9", datetime.date(2005, 1, 31), "M", "X"),
    ("150643-0SJ1", datetime.date(1943, 6, 15), "M", "D"),
    ("280456-0PJ2", datetime.date(1956, 4, 28), "F", "D"),
    ("100309-6JM3", datetime.date(2009, 3, 10), "M", "D"),
    ("0101905AB2", datetime.date(1890, 1, 1), "F", "D"),     # D-eCPR century digit 5: before 1900
    ("290200-7XY0", datetime.date(2000, 2, 29), "F", "X"),   # leap day of 2000
])
def test_parse_ecpr_hand_checked(number: str, born: datetime.date, sex: str, scheme: str) -> None:
    for form in (number, number.replace("-", ""), number[:6] + "-" + number.replace("-", "")[6:]):
        c = parse_cpr(form)
        assert (c.birth_date, c.sex, c.kind, c.ecpr, c.mod11_valid) == (born, sex, "replacement", scheme, False)
    assert parse_cpr(number.lower()) == parse_cpr(number)


@pytest.mark.parametrize(("number", "reason"), [
    ("0203292WQ3", "century digit 2"),       # C must be 0, 5, 6 (D) or 1, 7 (X)
    ("3102291WQ3", "does not exist"),        # 31 February
    ("290201-7XY0", "does not exist"),       # 2001 is no leap year
    ("0213291WQ3", "month 13"),
    ("020329AWQ3", "not a digit"),
    ("0203291WQX", "not a digit"),
])
def test_parse_ecpr_refuses_without_echoing(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_cpr(number)
    assert number not in str(info.value) and number[:6] not in str(info.value)


def test_cpr_numbers_still_parse_as_before() -> None:
    assert parse_cpr("070761-4285").ecpr is None and parse_cpr("6101905678").kind == "replacement"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABZaz-", min_size=10, max_size=11))
def test_vectorised_validity_agrees_with_parse_cpr(text: str) -> None:
    try:
        parse_cpr(text)
        ok = True
    except ValueError:
        ok = False
    assert bool(find_valid_cprs([text])[0]) == ok
    assert bool(find_invalid_cprs(np.array([text], dtype=object))[0]) == (not ok)


def test_pseudonyms_treat_ecpr_like_cpr() -> None:
    forms = ["0203291WQ3", "020329-1WQ3", " 020329-1wq3 ", "0203291wQ3"]
    assert len({pseudonymise(f, DEMO_KEY) for f in forms}) == 1
    assert len(set(pseudonymise(pd.Series(forms), DEMO_KEY))) == 1           # the vectorised path too
    assert pseudonymise(forms, DEMO_KEY) == [pseudonymise("0203291WQ3", DEMO_KEY)] * 4
    assert pseudonymise("0203291WQ3", DEMO_KEY) != pseudonymise("0203291WQ5", DEMO_KEY)
    assert pseudonymise("ab", DEMO_KEY) != pseudonymise("AB", DEMO_KEY)        # other identifiers keep their case


def test_registry_import_pseudonymises_ecpr_persons(tmp_path: Path) -> None:
    from pmo_workbench.health.registry import import_registry
    from pmo_workbench.health.schema import read_table
    from tests.unit.test_health_registry import A, write_raw

    e = "020329-1WQ3"
    raw = write_raw(tmp_path / "raw")
    person = (raw / "cpr_register.csv").read_text() + f"{e},M,1929-03-02,,Region Hovedstaden\n"
    (raw / "cpr_register.csv").write_text(person)
    (raw / "lmdb.csv").write_text((raw / "lmdb.csv").read_text() + "0203291WQ3,C10AA05,2016-04-01,1,98,98,DDD,20,"
                                  "mg,123456\n")
    proj = tmp_path / "proj"
    import_registry(raw, proj, key=DEMO_KEY, lookup_date=datetime.date(2026, 1, 15))
    pe = pseudonymise(e, DEMO_KEY)
    people = read_table(proj / "data" / "registry", "person").set_index("person_id")
    assert people.loc[pe, "sex"] == "M" and pseudonymise(A, DEMO_KEY) in people.index
    rx = read_table(proj / "data" / "registry", "prescription")
    assert (rx["person_id"] == pe).sum() == 1          # the hyphen-less form in LMDB is the same person
    assert scan_for_cpr(proj / "data") == []


@pytest.mark.parametrize("text", [
    "patient 0203291WQ3 seen", "020329-1WQ3", "id:3101057jc9;", "\"1308781OS6\"", "\\n150643-0SJ1\\n",
    "(100309-6JM3)", "0101905AB2",
])
def test_scan_finds_ecpr_numbers(text: str) -> None:
    hits = scan_for_cpr(pd.DataFrame({"note": ["nothing here", text]}))
    assert [(h.column, h.kind, h.count, h.first_row) for h in hits] == [("note", "replacement", 1, 1)]
    with pytest.raises(PrivacyError) as info:
        check_no_cpr(pd.DataFrame({"note": [text]}))
    assert text.strip("\\n\"():;") not in str(info.value)


@pytest.mark.parametrize("text", [
    "P0203291WQ3", "0203291WQ34", "10203291WQ3", "0203291WQ3X", "0203292WQ3", "3102291WQ3", "0203291W23",
    "0203291WQ3.5", "1.0203291WQ3", "020329-1WQ", "02032-91WQ3", "a1b2c3d4e5f60789abcdef",
    "P3f9a0c1b2d4e5f60", "2026-12-07T12:40:19Z", "rs0203291", "chr1:0203291AB",
])
def test_scan_does_not_flag_lookalikes(text: str) -> None:
    assert scan_for_cpr(pd.DataFrame({"x": [text]})) == []


def test_scan_finds_ecpr_in_files(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"name": "x", "note": "see 020329-1WQ3"}, indent=1))
    pd.DataFrame({"id": ["a", "3101057JC9"]}).to_parquet(tmp_path / "t.parquet")
    pd.DataFrame({"id": ["1308781OS6"]}).to_csv(tmp_path / "t.csv", index=False)
    places = {(Path(h.file).name, h.column, h.line, h.kind) for h in scan_for_cpr(tmp_path)}
    assert places == {("run.json", None, 3, "replacement"), ("t.parquet", "id", None, "replacement"),
                      ("t.csv", "id", None, "replacement")}


def _real_buffers():
    for folder in ("omop_gibleed", "omop_synthea27nj", "codelists", "pgs_catalog", "sequencing_metrics",
                   "1kg_sample_labels", "ceph1463_pedigree"):
        for p in sorted((SHARED / folder).rglob("*")):
            if not p.is_file():
                continue
            if p.suffix == ".zip":
                with zipfile.ZipFile(p) as z:
                    for n in z.namelist():
                        yield f"{p.name}:{n}", z.read(n)
            elif p.suffix == ".gz":
                yield p.name, gzip.decompress(p.read_bytes())
            else:
                yield p.name, p.read_bytes()


def test_no_ecpr_false_positives_on_the_real_data() -> None:
    """The eCPR finder flags nothing in the real public data sets (OMOP ids, source values, concept codes, code
    lists, PGS scoring files, sequencing metrics): 0 hits over ~58 MB here; measured once on every file of
    ../shared/data, VCFs included (198 MB uncompressed, 0 hits)."""
    if not SHARED.is_dir():
        pytest.fail(f"shared test data not found at {SHARED}")
    n = 0
    for name, data in _real_buffers():
        a = np.frombuffer(data, dtype=np.uint8)
        if len(a) < 10:
            continue
        digit = cpr_text._DIGIT[a]
        edges = np.diff(digit.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        start, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        pad = np.concatenate([np.zeros(2, np.uint8), a, np.zeros(4, np.uint8)])
        found = cpr_text._find_ecprs(a, pad, start, end, end - start)
        assert len(found) == 0, f"{name}: {len(found)} eCPR-like values"
        n += len(data)
    assert n > 50e6


def test_folder_and_file_names_are_scanned_and_masked(tmp_path: Path) -> None:
    (tmp_path / "run_0101902000").mkdir()
    (tmp_path / "run_0101902000" / "ok.txt").write_text("nothing")
    (tmp_path / "cohort-020329-1WQ3.csv").write_text("a\n1\n")
    hits = scan_for_cpr(tmp_path)
    assert sorted((Path(h.file).name, h.column, h.kind) for h in hits) == [
        ("cohort-020329-1WQ3.csv", "<name>", "replacement"), ("run_0101902000", "<name>", "cpr")]
    with pytest.raises(PrivacyError) as info:
        check_no_cpr(tmp_path)
    assert "0101902000" not in str(info.value) and "1WQ3" not in str(info.value)
    assert all("0101902000" not in h.where() and "020329-1WQ3" not in h.where() for h in hits)
