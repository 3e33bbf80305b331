"""Privacy core: CPR parsing, pseudonym keys and pseudonyms, small-count suppression (audited by LP), CPR scan."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from pmo_workbench.errors import PrivacyError
from pmo_workbench.privacy import (
    DEMO_KEY,
    Cpr,
    assert_no_small_counts,
    check_no_cpr,
    format_suppressed,
    load_pseudonym_key,
    parse_cpr,
    pseudonymise,
    scan_for_cpr,
    suppress_small_counts,
)
from pmo_workbench.project import load_project

# ---------------------------------------------------------------------------------------------------------------
# parse_cpr: hand-computed cases
# ---------------------------------------------------------------------------------------------------------------


def test_hand_computed_mod11_valid_number():
    # 1505851230: 1*4 + 5*3 + 0*2 + 5*7 + 8*6 + 5*5 + 1*4 + 2*3 + 3*2 + 0*1 = 4+15+0+35+48+25+4+6+6+0 = 143 = 13*11
    assert parse_cpr("150585-1230") == Cpr(datetime.date(1985, 5, 15), "F", "cpr", True)
    # changing the last digit to 2 breaks modulus 11 (sum 145) but the number stays valid
    assert parse_cpr("1505851232") == Cpr(datetime.date(1985, 5, 15), "F", "cpr", False)
    # 0707614285: 0+21+0+49+36+5+16+6+16+5 = 154 = 14*11, digit 7 = 4 with YY 61 -> 1961, last digit odd -> M
    assert parse_cpr("070761-4285") == Cpr(datetime.date(1961, 7, 7), "M", "cpr", True)


@pytest.mark.parametrize(
    ("text", "birth"),
    [
        ("010100-0000", datetime.date(1900, 1, 1)),  # digit 7 = 0 -> 1900s
        ("311299-3999", datetime.date(1999, 12, 31)),  # digit 7 = 3 -> 1900s
        ("010136-4000", datetime.date(2036, 1, 1)),  # 4, YY <= 36 -> 2000s
        ("010137-4000", datetime.date(1937, 1, 1)),  # 4, YY >= 37 -> 1900s
        ("010136-9000", datetime.date(2036, 1, 1)),  # 9 like 4
        ("010199-9000", datetime.date(1999, 1, 1)),
        ("010157-5000", datetime.date(2057, 1, 1)),  # 5-8, YY <= 57 -> 2000s
        ("010158-8000", datetime.date(1858, 1, 1)),  # 5-8, YY >= 58 -> 1800s
        ("010190-6000", datetime.date(1890, 1, 1)),
        ("290200-4000", datetime.date(2000, 2, 29)),  # 2000 is a leap year
        ("290296-1000", datetime.date(1996, 2, 29)),
    ],
)
def test_century_rules(text, birth):
    assert parse_cpr(text).birth_date == birth


def test_sex_from_last_digit_parity():
    assert [parse_cpr(f"010190123{i}").sex for i in range(10)] == ["F", "M"] * 5


def test_replacement_numbers():
    r = parse_cpr("610190-2001")
    assert (r.birth_date, r.sex, r.kind) == (datetime.date(1990, 1, 1), "M", "replacement")
    assert parse_cpr("9112992000").birth_date == datetime.date(1999, 12, 31)
    assert parse_cpr("8902004000").birth_date == datetime.date(2000, 2, 29)  # day 29+60 in a leap year


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("310298-1234", "day 31 does not exist in month 02 of 1998"),
        ("310298-5678", "day 31 does not exist in month 02 of 1898"),  # digit 7 = 5 with YY 98 -> 1898
        ("290201-5678", "day 29 does not exist in month 02 of 2001"),
        ("290200-1678", "day 29 does not exist in month 02 of 1900"),  # 1900 is not a leap year
        ("451398-5678", "day 45"),
        ("601298-5678", "day 60"),
        ("921298-5678", "day 92"),
        ("001298-5678", "day 00"),
        ("011398-5678", "month 13"),
        ("010098-5678", "month 00"),
        ("910498-5678", "day 31 does not exist in month 04"),  # replacement of 31 April
        ("01019856789", "DDMMYY-SSSS"),  # 11 digits
        ("010198567", "10 digits"),
        ("0101985678901", "10 digits"),
        ("010198-56a8", "only digits"),
        ("0101 98567", "only digits"),
        ("", "10 digits"),
    ],
)
def test_errors_say_what_is_wrong_without_the_number(text, message):
    with pytest.raises(ValueError) as info:
        parse_cpr(text)
    msg = str(info.value)
    assert message in msg
    digits = "".join(ch for ch in text if ch.isdigit())
    if text:
        assert digits not in msg and text.strip() not in msg
    assert digits[-4:] not in msg or len(digits) < 10  # the serial number never appears


def test_non_text_is_an_error():
    with pytest.raises(ValueError, match="text"):
        parse_cpr(101901234)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Keys and pseudonyms
# ---------------------------------------------------------------------------------------------------------------

KEY = b"0123456789abcdef-test-key"


def test_pseudonym_is_hmac_sha256_of_normalised_number():
    expected = "P" + hmac.new(KEY, b"0101902000", hashlib.sha256).hexdigest()[:16]
    for form in ("0101902000", "010190-2000", " 010190-2000\n", "010190 2000"):
        assert pseudonymise(form, KEY) == expected
    assert len(expected) == 17 and expected[1:] == expected[1:].lower()


def test_pseudonymise_shapes_and_missing_values():
    s = pd.Series(["0101902000", None, "010190-2000", "0202021234"], index=[10, 11, 12, 13], name="cpr")
    out = pseudonymise(s, KEY)
    assert isinstance(out, pd.Series) and list(out.index) == [10, 11, 12, 13] and out.name == "cpr"
    assert pd.isna(out[11])
    assert out[10] == out[12] != out[13]
    lst = pseudonymise(["0101902000", "0202021234"], KEY)
    assert lst == [out[10], out[13]]
    arr = pseudonymise(np.array(["0101902000", "0202021234"]), KEY)
    assert arr == lst
    assert pseudonymise([101902000], KEY) == [pseudonymise("0101902000", KEY)]  # integers are zero-padded


def test_pseudonyms_depend_on_key():
    a = pseudonymise("0101902000", KEY)
    assert a == pseudonymise("0101902000", KEY)
    assert a != pseudonymise("0101902000", KEY + b"x")
    assert a != pseudonymise("0101902000", DEMO_KEY)


@settings(max_examples=50, deadline=None)
@given(numbers=st.lists(st.text(alphabet="0123456789", min_size=10, max_size=10), min_size=1, max_size=20,
                        unique=True))
def test_pseudonymise_is_injective_and_deterministic_on_samples(numbers):
    p = pseudonymise(numbers, KEY)
    assert p == pseudonymise([n[:6] + "-" + n[6:] for n in numbers], KEY)
    assert len(set(p)) == len(numbers)
    assert all(x == "P" + hmac.new(KEY, n.encode(), hashlib.sha256).hexdigest()[:16] for x, n in zip(p, numbers, strict=True))


def test_short_key_is_an_error():
    with pytest.raises(PrivacyError, match="too short"):
        pseudonymise("0101902000", b"short")


def test_pseudonymise_many_values():
    # speed is measured in benchmarks/bench_privacy.py
    values = pd.Series([f"{i:010d}" for i in range(300_000)])
    out = pseudonymise(values, KEY)
    assert out.nunique() == len(values) and out.str.fullmatch(r"P[0-9a-f]{16}").all()


def _project(tmp_path, extra=""):
    root = tmp_path / "proj"
    root.mkdir(parents=True)
    (root / "pmo.yaml").write_text("name: p\n" + extra)
    return load_project(root)


def test_key_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "a-secret-key-of-enough-length")
    assert load_pseudonym_key(_project(tmp_path)) == b"a-secret-key-of-enough-length"


def test_key_from_configured_env_name(monkeypatch, tmp_path):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("MY_KEY", "another-secret-key-xyz")
    project = _project(tmp_path, "privacy:\n  pseudonym_key:\n    env: MY_KEY\n")
    assert load_pseudonym_key(project) == b"another-secret-key-xyz"


def test_key_file_outside_project(monkeypatch, tmp_path):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    keyfile = tmp_path / "keys" / "pmo.key"
    keyfile.parent.mkdir()
    keyfile.write_bytes(b"file-key-0123456789abcdef\n")
    project = _project(tmp_path, f"privacy:\n  pseudonym_key:\n    file: {keyfile}\n")
    assert load_pseudonym_key(project) == b"file-key-0123456789abcdef"
    # relative to the project folder, but outside it
    project2 = load_project(project.root)
    assert load_pseudonym_key(project2, file="../keys/pmo.key") == b"file-key-0123456789abcdef"


def test_key_file_inside_project_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    project = _project(tmp_path, "privacy:\n  pseudonym_key:\n    file: secret/pmo.key\n")
    (project.root / "secret").mkdir()
    (project.root / "secret" / "pmo.key").write_bytes(b"x" * 32)
    with pytest.raises(PrivacyError, match="inside the project"):
        load_pseudonym_key(project)


def test_missing_key_file_and_short_key(monkeypatch, tmp_path):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PrivacyError, match="does not exist"):
        load_pseudonym_key(file=tmp_path / "nope.key")
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "short")
    with pytest.raises(PrivacyError, match="too short"):
        load_pseudonym_key()


def test_no_key_is_an_error_outside_demo(monkeypatch, tmp_path):
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    with pytest.raises(PrivacyError, match="PMO_PSEUDONYM_KEY"):
        load_pseudonym_key(_project(tmp_path))
    assert load_pseudonym_key(allow_demo=True) == DEMO_KEY
    synthetic = load_project(_project(tmp_path / "s", "privacy:\n  synthetic: true\n").root)
    assert load_pseudonym_key(synthetic) == DEMO_KEY


# ---------------------------------------------------------------------------------------------------------------
# Disclosure control
# ---------------------------------------------------------------------------------------------------------------


def test_hand_case_complement_with_smallest_values():
    t = pd.DataFrame({"a": [3, 20, 30], "b": [40, 50, 60], "c": [7, 90, 100]}, index=["x", "y", "z"])
    out = suppress_small_counts(t)
    # 3 is primary; row x: the smallest other cell is 7 (not 40); column a: 20 (not 30); column c: 90 (not 100);
    # row y then holds 20 and 90 - a closed cycle x-a, x-c, y-c, y-a
    expected = pd.DataFrame({"a": [True, True, False], "b": [False, False, False], "c": [True, True, False]},
                            index=["x", "y", "z"])
    pd.testing.assert_frame_equal(out.isna(), expected)
    assert out.dtypes.eq("Int64").all()
    assert out.loc["z", "a"] == 30


def test_zeros_are_shown_and_never_complements():
    t = pd.DataFrame({"a": [0, 2, 40], "b": [0, 30, 50], "c": [10, 60, 70]})
    out = suppress_small_counts(t)
    assert out.loc[0, "a"] == 0 and out.loc[0, "b"] == 0
    assert out.isna().to_numpy()[t.to_numpy() == 0].sum() == 0


def test_series_one_line():
    s = pd.Series([3, 40, 50, 7], index=list("abcd"))
    out = suppress_small_counts(s)
    assert out.isna().tolist() == [True, False, False, True]  # 7 is the smallest complement
    with_total = suppress_small_counts(pd.Series([3, 40, 50, 7, 100], index=[*"abcd", "Total"]))
    assert with_total.isna().tolist() == [True, False, False, True, False]


def test_line_sum_of_suppressed_cells_reaches_min_count():
    # row x: 1 and 2 are primary; their sum 3 < 5 would be known from the total, so a third cell goes (12)
    t = pd.DataFrame({"a": [1, 50, 60], "b": [2, 70, 80], "c": [12, 90, 95], "d": [30, 40, 45]}, index=list("xyz"))
    out = suppress_small_counts(t)
    assert out.loc["x", ["a", "b", "c"]].isna().all() and out.loc["x", "d"] == 30


def test_margins_auto_from_crosstab_and_checked():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"g": rng.choice(list("abcd"), 200, p=[0.5, 0.3, 0.18, 0.02]),
                       "h": rng.choice(list("xyz"), 200)})
    ct = pd.crosstab(df["g"], df["h"], margins=True)
    out = suppress_small_counts(ct)
    assert list(out.index) == list(ct.index) and list(out.columns) == list(ct.columns)
    _audit(ct.to_numpy(), out.astype("Float64").to_numpy(dtype=float, na_value=np.nan), 5)
    broken = ct.copy()
    broken.iloc[0, -1] += 1
    with pytest.raises(ValueError, match="not the sum"):
        suppress_small_counts(broken)
    with pytest.raises(ValueError, match="no row or column labelled"):
        suppress_small_counts(ct, margins="Total")


def test_bad_tables():
    with pytest.raises(ValueError, match="non-negative whole"):
        suppress_small_counts(pd.DataFrame({"a": [1, -2]}))
    with pytest.raises(ValueError, match="non-negative whole"):
        suppress_small_counts(pd.DataFrame({"a": [1.5, 2]}))
    with pytest.raises(ValueError, match="missing"):
        suppress_small_counts(pd.DataFrame({"a": [1, None]}))


def _audit(orig_ext: np.ndarray, published_ext: np.ndarray, k: int) -> None:
    """Independent interval audit of a published table with total row and column (last row/column).

    Unknowns are the suppressed entries (cells or totals); constraints: every interior row sums to its row total,
    every interior column to its column total, the row totals and the column totals to the grand total, all >= 0.
    """
    R, C = orig_ext.shape[0] - 1, orig_ext.shape[1] - 1
    pub = published_ext
    hidden = np.isnan(pub)
    assert np.array_equal(pub[~hidden], orig_ext[~hidden]), "a published value was changed"
    assert not ((pub >= 1) & (pub < k)).any(), "a small count is published"
    assert hidden[(orig_ext >= 1) & (orig_ext < k)].all()
    idx = {cell: i for i, cell in enumerate(map(tuple, np.argwhere(hidden)))}
    if not idx:
        return
    lines = [[(a, b) for b in range(C)] + [(a, C)] for a in range(R + 1)]
    lines += [[(a, b) for a in range(R)] + [(R, b)] for b in range(C + 1)]
    A, rhs = [], []
    for line in lines:
        row = np.zeros(len(idx))
        const = 0.0
        for pos, cell in enumerate(line):
            sign = -1.0 if pos == len(line) - 1 else 1.0
            if cell in idx:
                row[idx[cell]] += sign
            else:
                const += sign * orig_ext[cell]
        A.append(row)
        rhs.append(-const)
    A, rhs = np.array(A), np.array(rhs)

    def bounds(obj: np.ndarray) -> tuple[float, float]:
        lo = linprog(obj, A_eq=A, b_eq=rhs, bounds=(0, None), method="highs")
        hi = linprog(-obj, A_eq=A, b_eq=rhs, bounds=(0, None), method="highs")
        assert lo.status == 0 and hi.status in (0, 3)
        return lo.fun, (np.inf if hi.status == 3 else -hi.fun)

    for cell, i in idx.items():
        obj = np.zeros(len(idx))
        obj[i] = 1.0
        lo, hi = bounds(obj)
        assert lo - 1e-6 <= orig_ext[cell] <= hi + 1e-6
        assert hi - lo > 0.5, f"suppressed cell {cell} (value {orig_ext[cell]}) is derivable"
    for line in lines:
        members = [c for c in line[:-1] if c in idx]
        if members:
            obj = np.zeros(len(idx))
            obj[[idx[c] for c in members]] = 1.0
            _lo, hi = bounds(obj)
            assert hi >= k - 1e-6, f"suppressed cells of line {line[-1]} can only add up to a small count"


small_tables = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: st.lists(
        st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 9), st.integers(10, 80)),
        min_size=shape[0] * shape[1], max_size=shape[0] * shape[1],
    ).map(lambda v: np.array(v, dtype=np.int64).reshape(shape))
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inner=small_tables, k=st.sampled_from([3, 5, 10]))
def test_suppression_audit_random_tables(inner, k):
    R, C = inner.shape
    ext = np.zeros((R + 1, C + 1), dtype=np.int64)
    ext[:R, :C] = inner
    ext[:R, C] = inner.sum(1)
    ext[R, :C] = inner.sum(0)
    ext[R, C] = inner.sum()
    table = pd.DataFrame(ext, index=[f"r{i}" for i in range(R)] + ["Total"],
                         columns=[f"c{j}" for j in range(C)] + ["Total"])
    out = suppress_small_counts(table, k)
    assert out.shape == table.shape and out.dtypes.eq("Int64").all()
    published = out.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    _audit(ext, published, k)
    # the same counts without margins get the same interior pattern; as a Series (one line) too
    bare = suppress_small_counts(pd.DataFrame(inner), k, margins=None)
    assert np.array_equal(bare.isna().to_numpy(), np.isnan(published[:R, :C]))
    assert_no_small_counts(out, k)
    text = format_suppressed(out, k)
    assert (text.to_numpy() == "x").sum() == np.isnan(published).sum()


def test_assert_and_format_refuse_small_counts():
    with pytest.raises(PrivacyError, match="count below 5 published at row 'b', column 'y'"):
        assert_no_small_counts(pd.DataFrame({"x": [10, 12], "y": [7, 3]}, index=["a", "b"]))
    with pytest.raises(PrivacyError, match="one suppressed cell"):
        assert_no_small_counts(pd.DataFrame({"x": [pd.NA, 12], "Total": [20, 12]}, dtype="Int64"))
    with pytest.raises(PrivacyError):
        format_suppressed(pd.Series([2, 10]))
    assert format_suppressed(pd.Series([1200, pd.NA], dtype="Int64"), marker="<5").tolist() == ["1,200", "<5"]


def test_larger_table():
    # speed is measured in benchmarks/bench_privacy.py
    rng = np.random.default_rng(5)
    t = pd.DataFrame(rng.choice([0, 1, 2, 3, 8, 20, 50, 300], size=(60, 15)))
    out = suppress_small_counts(t)
    assert out.isna().to_numpy()[(t.to_numpy() >= 1) & (t.to_numpy() < 5)].all()


# ---------------------------------------------------------------------------------------------------------------
# Scanning for CPR numbers
# ---------------------------------------------------------------------------------------------------------------

NEGATIVES = [
    "0.2512031990",  # a float's decimals
    "2512031990.5",
    "P2512031990abcdef",  # a pseudonym
    "251203199012",  # 12 digits
    "rs2512031990",  # a dbSNP id
    "chr1:123456789:A:G",  # a VCF-style id
    "2019-03-01T12:34:56",  # timestamps
    "20190301123456",
    "1700000000",  # epoch seconds of 2023 (month 00)
    "3102981234",  # not a date
    "4513981234",  # day 45
]


def test_frame_hits_name_column_and_kind_not_value():
    df = pd.DataFrame({
        "raw": ["x", "251203-1990", "nothing"],
        "note": ["see 6112031990 here", "", None],
        "num": [2512031990, 5, 7],
        "f": [0.2512031990, 2512031990.0, 1.0],
        "neg": NEGATIVES[:3],
    }, index=pd.Index(["a", "b", "0101902000"], name="who"))
    hits = scan_for_cpr(df)
    got = {(h.column, h.kind, h.count, h.first_row) for h in hits}
    assert got == {("raw", "cpr", 1, 1), ("note", "replacement", 1, 0), ("num", "cpr", 1, 0),
                   ("<index>", "cpr", 1, 2)}
    for h in hits:
        assert "2512031990" not in repr(h) and "251203" not in repr(h)


def test_no_false_positives():
    assert scan_for_cpr(pd.DataFrame({"v": NEGATIVES, "n": range(len(NEGATIVES))})) == []
    assert scan_for_cpr(pd.DataFrame({"pos": [123456789, 249000000, 100000000000]})) == []


def test_file_hits_in_every_format(tmp_path):
    out = tmp_path / "run"
    (out / "tables").mkdir(parents=True)
    pd.DataFrame({"person_id": ["Pabc", "Pdef"], "cpr": ["0101902000", "x"], "v": [1.5, 0.2512031990]}).to_parquet(
        out / "tables" / "persons.parquet")
    pd.DataFrame({"a": ["1", "2"], "b": ["q", "150585-1230"]}).to_csv(out / "t.csv", index=False)
    pd.DataFrame({"a": ["0101902000"], "b": ["q"]}).to_csv(out / "t.tsv", sep="\t", index=False)
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "y = 2\n"], "outputs": [], "metadata": {},
                     "execution_count": 1},
                    {"cell_type": "markdown", "source": "note\n6101902000 leaked", "metadata": {}}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (out / "report.ipynb").write_text(json.dumps(nb, indent=1))
    (out / "report.html").write_text("<html>\n<body>\n<td>0.2512031990</td>\n<td>010190-2000</td>\n</body></html>")
    (out / "notes.md").write_text("line one\nP2512031990abcdef\nrs2512031990\n")
    (out / "image.png").write_bytes(b"\x89PNG 0101902000")
    hits = scan_for_cpr(out)
    places = {(h.file.removeprefix(str(out) + "/"), h.column, h.line, h.kind) for h in hits}
    nb_line = 1 + next(i for i, line in enumerate(json.dumps(nb, indent=1).splitlines()) if "6101902000" in line)
    assert places == {
        ("tables/persons.parquet", "cpr", None, "cpr"),
        ("t.csv", "b", None, "cpr"),
        ("t.tsv", "a", None, "cpr"),
        ("report.ipynb", None, nb_line, "replacement"),
        ("report.html", None, 4, "cpr"),
    }
    with pytest.raises(PrivacyError) as info:
        check_no_cpr(out / "tables" / "persons.parquet")
    assert "CPR-like value in" in str(info.value) and "persons.parquet, column cpr" in str(info.value)
    assert "0101902000" not in str(info.value)
    check_no_cpr(out / "notes.md")
    with pytest.raises(FileNotFoundError):
        scan_for_cpr(tmp_path / "missing")


def test_scan_speed(tmp_path):
    rng = np.random.default_rng(0)
    n = 100_000
    df = pd.DataFrame({"person_id": [f"P{x:016x}" for x in rng.integers(0, 2**62, n)],
                       "value": rng.random(n), "count": rng.integers(0, 10**6, n),
                       "code": rng.choice(["DI219", "C10AA01", "NPU01566"], n)})
    df.to_parquet(tmp_path / "a.parquet")
    df.to_csv(tmp_path / "a.csv", index=False)
    assert scan_for_cpr(tmp_path) == []  # speed: benchmarks/bench_privacy.py


_ORACLE = re.compile(r"(?:(?<![0-9A-Za-z])|(?<=\\[nrtbf]))(?<![0-9]\.)([0-9]{6})-?([0-9]{4})(?![0-9A-Za-z])(?!\.[0-9])")


def _oracle_count(text: str) -> int:
    """Regex + parse_cpr: the scanner's rules written independently of its numpy implementation."""
    n = 0
    for m in _ORACLE.finditer(text):
        try:
            parse_cpr(m.group(1) + m.group(2))
        except ValueError:
            continue
        n += 1
    return n


cpr_texts = st.lists(
    st.one_of(st.sampled_from(["0101902000", "251203-1990", "6112031990", "3102981234", "010190-20001",
                               "0.", ".5", "P", "x", "\\n", "\\", "-", " ", "\n", ",", "12"]),
              st.text(alphabet="0123456789-.aP \n", max_size=6)),
    max_size=12,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(cpr_texts, min_size=1, max_size=4))
def test_scanner_agrees_with_regex_oracle(texts):
    expected = sum(_oracle_count(t) for t in texts)
    hits = scan_for_cpr(pd.DataFrame({"c": texts}))
    assert sum(h.count for h in hits) == expected
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "out.txt"
        path.write_text("\n".join(texts))
        hits = scan_for_cpr(path)
        assert sum(h.count for h in hits) == sum(_oracle_count(t) for t in "\n".join(texts).split("\n"))


def test_scan_finds_cpr_inside_list_columns_and_ignores_clean_lists():
    import pyarrow as pa

    arrow_lists = pd.Series([["ok", "1505851230"], None], dtype=pd.ArrowDtype(pa.list_(pa.string())))
    arrays = pd.Series([np.array(["a"]), np.array(["x", "150585-1230"])])
    hits = scan_for_cpr(pd.DataFrame({"reasons": [["low_call_rate"], []], "l": arrow_lists, "arr": arrays}))
    assert sorted(h.column for h in hits) == ["arr", "l"]
    assert all("1505851230" not in repr(h) for h in hits)
