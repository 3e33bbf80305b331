"""Code patterns, ranges and their SQL, checked against the WHO ICD-10 2019 hierarchy and a Python oracle."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmo_workbench.errors import InputError
from pmo_workbench.health.codelists import (
    CodeIndex,
    code_condition,
    load_descriptions,
    parse_code,
    search_codes,
)


@pytest.fixture(scope="module")
def icd10(shared_data) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """All WHO ICD-10 categories/subcategories as SKS codes, and the SKS codes under every block."""
    root = ET.parse(shared_data / "codelists" / "icd10_who_2019" / "icd_10_v2019.xml").getroot()
    rows, blocks = [], {}

    def walk(item, block_stack):
        kind, name = item.get("type"), item.findtext("name")
        stack = block_stack + [name] if kind == "block" else block_stack
        if kind in ("category", "subcategory") and re.fullmatch(r"[A-Z][0-9]{2}(\.[0-9A-Z]+)?", name):
            sks = "D" + name.replace(".", "")
            rows.append((sks, item.findtext("description")))
            for b in stack:
                blocks.setdefault(b, set()).add(sks)
        for child in item.findall("item"):
            walk(child, stack)

    for chapter in root.findall("item"):
        walk(chapter, [])
    return pd.DataFrame(rows, columns=["code", "description"]), blocks


_CON = duckdb.connect()


def _select(codes: list[str], condition: str, *, table: str = "t") -> set[str]:
    if codes:
        _CON.register(table, pd.DataFrame({"code": codes, "vocabulary": "SKS"}))
    return set(_CON.execute(f"SELECT code FROM {table} WHERE {condition}").fetchnumpy()["code"])


def test_every_who_block_as_an_sks_range_selects_exactly_its_codes(icd10):
    codes, blocks = icd10
    assert len(codes) > 12000 and "DI219" in set(codes["code"])
    all_codes = codes["code"].tolist()
    _select(all_codes, "FALSE", table="who")
    checked = 0
    for block, members in blocks.items():
        if "-" not in block:
            continue
        low, high = block.split("-")
        pattern = parse_code(f"D{low}-D{high}", "SKS")
        assert _select([], code_condition([pattern]), table="who") == members, block
        if block == "I20-I25":
            assert {c for c in all_codes if pattern.matches(c)} == members
        checked += 1
    assert checked > 200


def test_prefix_selects_the_category_and_its_subcategories(icd10):
    codes, _ = icd10
    got = _select(codes["code"].tolist(), code_condition([parse_code("DI21*", "SKS")]))
    assert got == {"DI21", "DI210", "DI211", "DI212", "DI213", "DI214", "DI219"}


@pytest.mark.parametrize("text,vocab,kind,value", [
    ("DI21*", "SKS", "prefix", "DI21"), ("dc*", "SKS", "prefix", "DC"), ("DI219", "SKS", "exact", "DI219"),
    ("DE110A", "SKS", "exact", "DE110A"), ("DI20-DI25", "SKS", "range", "DI20"), ("C10AA*", "ATC", "prefix", "C10AA"),
    ("C10AA05", "ATC", "exact", "C10AA05"), ("C", "ATC", "exact", "C"), ("NPU01567", "NPU", "exact", "NPU01567"),
    ("DNK05451", "NPU", "exact", "DNK05451"), (192671, "OMOP", "exact", "192671"), ("I21.9", "ICD10", "exact", "I21.9"),
])
def test_parse_code_accepts(text, vocab, kind, value):
    p = parse_code(text, vocab)
    assert (p.kind, p.value) == (kind, value)


@pytest.mark.parametrize("text,vocab,message", [
    ("I21", "SKS", "malformed SKS code"), ("DI2X", "SKS", "malformed"), ("D*", "SKS", "malformed SKS prefix"),
    ("C10A05", "ATC", "malformed ATC"), ("NPU1567", "NPU", "malformed NPU"), ("NPU01567*", "NPU", "exactly"),
    ("DI25-DI20", "SKS", "empty SKS range"), ("abc", "OMOP", "OMOP"), (0, "OMOP", "OMOP"), ("DI21", "LOINC", "unknown"),
])
def test_parse_code_rejects(text, vocab, message):
    with pytest.raises(ValueError, match=message):
        parse_code(text, vocab)


SKS_CODES = st.from_regex(r"D[A-C][0-9]{2}[0-9A-B]{0,2}", fullmatch=True)
SKS_PATTERNS = st.one_of(
    SKS_CODES,
    st.from_regex(r"D[A-C]([0-9][0-9]?)?", fullmatch=True).map(lambda s: s + "*"),
    st.tuples(st.from_regex(r"D[A-C][0-9]{2}", fullmatch=True), st.from_regex(r"D[A-C][0-9]{2}", fullmatch=True))
    .map(sorted).map(lambda ab: f"{ab[0]}-{ab[1]}"),
)


@settings(max_examples=40, deadline=None)
@given(patterns=st.lists(SKS_PATTERNS, min_size=1, max_size=4), codes=st.lists(SKS_CODES, min_size=1, max_size=30))
def test_sql_condition_agrees_with_python_matching(patterns, codes):
    parsed = [parse_code(p, "SKS") for p in patterns]
    expected = {c for c in codes if any(p.matches(c) for p in parsed)}
    assert _select(codes, code_condition(parsed)) == expected


def test_omop_descendants_sql():
    con = duckdb.connect()
    con.register("concept_ancestor", pd.DataFrame({"ancestor_concept_id": [1, 1, 2], "descendant_concept_id": [1, 5, 6]}))
    con.register("t", pd.DataFrame({"code": ["1", "5", "6", "7"], "vocabulary": "OMOP"}))
    cond = code_condition([parse_code(1, "OMOP")], descendants=True)
    assert sorted(con.execute(f"SELECT code FROM t WHERE {cond}").df()["code"]) == ["1", "5"]
    cond = code_condition([parse_code(1, "OMOP")], descendants=False)
    assert sorted(con.execute(f"SELECT code FROM t WHERE {cond}").df()["code"]) == ["1"]


def test_descriptions_and_search(tmp_path, icd10):
    codes, _ = icd10
    f = tmp_path / "sks.tsv"
    codes.head(3000).to_csv(f, sep="\t", index=False)
    index = CodeIndex(load_descriptions(f))
    hits = search_codes("cholera", "SKS", index=index)
    assert set(hits["code"]) == {c for c, d in codes.head(3000).itertuples(index=False) if "cholera" in d.lower()}
    assert hits["code"].str.startswith("DA00").all()
    assert index.describe("DA009", "SKS") is not None
    assert search_codes("DA00", index=index)["code"].iloc[0] == "DA00"
    bad = tmp_path / "atc.tsv"
    bad.write_text("code\tdescription\nC10AA\tstatins\n\tno code\n")
    with pytest.raises(InputError) as err:
        load_descriptions(bad)
    assert err.value.row == 1 and err.value.field == "code"
