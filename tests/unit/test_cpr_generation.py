"""Synthetic CPR numbers: consistent with birth date, sex and kind, unique, deterministic; parse_cpr round-trips."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmo_workbench.privacy import compute_cpr_validity, parse_cpr
from pmo_workbench.synth.cpr import generate_cprs

WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def _mod11(number: str) -> bool:
    """Independent oracle: the weighted digit sum is divisible by 11."""
    return sum(int(ch) * w for ch, w in zip(number, WEIGHTS, strict=True)) % 11 == 0


def _expected_digit7(year: int) -> set[int]:
    """The 7th digits the CPR office rules allow for a birth year (written out from the rules, not the code)."""
    if 1858 <= year <= 1899:
        return {5, 6, 7, 8}
    if 1900 <= year <= 1936:
        return {0, 1, 2, 3}
    if 1937 <= year <= 1999:
        return {0, 1, 2, 3, 4, 9}
    if 2000 <= year <= 2036:
        return {4, 5, 6, 7, 8, 9}
    assert 2037 <= year <= 2057
    return {5, 6, 7, 8}


dates = st.dates(min_value=datetime.date(1858, 1, 1), max_value=datetime.date(2057, 12, 31))
persons = st.lists(st.tuples(dates, st.sampled_from("FM"), st.sampled_from(["valid", "nonmod11", "replacement"])),
                   min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(persons=persons, seed=st.integers(0, 2**32 - 1), hyphen=st.booleans(), pad=st.sampled_from(["", " ", "\t"]))
def test_generate_format_parse_round_trip(persons, seed, hyphen, pad):
    births = np.array([p[0] for p in persons], dtype="datetime64[D]")
    sexes = [p[1] for p in persons]
    kinds = [p[2] for p in persons]
    cprs = generate_cprs(births, sexes, kinds, np.random.default_rng(seed))
    assert cprs.dtype == np.dtype("<U10")
    assert len(set(cprs.tolist())) == len(persons)
    for number, (birth, sex, kind) in zip(cprs.tolist(), persons, strict=True):
        assert len(number) == 10 and number.isdigit()
        text = pad + (number[:6] + "-" + number[6:] if hyphen else number) + pad
        cpr = parse_cpr(text)
        assert cpr.birth_date == birth
        assert cpr.sex == sex
        assert cpr.kind == ("replacement" if kind == "replacement" else "cpr")
        assert cpr.mod11_valid == _mod11(number)
        if kind == "valid":
            assert cpr.mod11_valid
        if kind == "nonmod11":
            assert not cpr.mod11_valid
        # day field, century digit and sex digit checked against the rules directly
        day = int(number[:2])
        assert day == birth.day + (60 if kind == "replacement" else 0)
        assert int(number[6]) in _expected_digit7(birth.year)
        assert int(number[9]) % 2 == (1 if sex == "M" else 0)


@settings(max_examples=300, deadline=None)
@given(number=st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_vectorised_validity_agrees_with_parse(number):
    """compute_cpr_validity (used by the scanner) accepts exactly what parse_cpr accepts."""
    valid, replacement = compute_cpr_validity(np.array([[int(c) for c in number]]))
    try:
        cpr = parse_cpr(number)
    except ValueError:
        assert not valid[0]
    else:
        assert valid[0]
        assert replacement[0] == (cpr.kind == "replacement")


def test_same_rng_state_gives_same_numbers_and_other_seed_differs():
    rng = np.random.default_rng(7)
    births = (np.datetime64("1930-01-01") + rng.integers(0, 30000, 500)).astype("datetime64[D]")
    sexes = rng.choice(["F", "M"], 500)
    kinds = rng.choice(["valid", "nonmod11", "replacement"], 500)
    a = generate_cprs(births, sexes, kinds, np.random.default_rng(1))
    b = generate_cprs(births, sexes, kinds, np.random.default_rng(1))
    c = generate_cprs(births, sexes, kinds, np.random.default_rng(2))
    assert a.tolist() == b.tolist()
    assert (a != c).mean() > 0.9


def test_many_persons_born_on_one_day_are_unique():
    # 1930 allows only 7th digits 0-3: 4,000 serials per day, about 180 mod-11-valid ones per sex
    n = 150
    births = np.full(n, np.datetime64("1930-05-05"))
    cprs = generate_cprs(births, ["F"] * n, ["valid"] * n, np.random.default_rng(3))
    assert len(set(cprs.tolist())) == n
    assert all(_mod11(c) and c.startswith("050530") and c[6] in "0123" for c in cprs)


def test_impossible_uniqueness_is_an_error():
    # 1858-1899 has 4 century digits x 100 serials; with the sex fixed and modulus 11 required there are < 200
    n = 400
    with pytest.raises(ValueError, match="unique"):
        generate_cprs(np.full(n, np.datetime64("1890-01-01")), ["M"] * n, ["valid"] * n, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("births", "sexes", "kinds", "message"),
    [
        (["1857-12-31"], ["F"], ["valid"], "1858"),
        (["2058-01-01"], ["F"], ["valid"], "1858"),
        (["1990-01-01"], ["X"], ["valid"], "sexes"),
        (["1990-01-01"], ["F"], ["other"], "kinds"),
        (["1990-01-01", "1990-01-02"], ["F"], ["valid"], "length"),
    ],
)
def test_bad_arguments(births, sexes, kinds, message):
    with pytest.raises(ValueError, match=message):
        generate_cprs(np.array(births, dtype="datetime64[D]"), sexes, kinds, np.random.default_rng(0))


def test_one_million_persons():
    # correctness at registry scale; speed is measured in benchmarks/bench_privacy.py
    n = 1_000_000
    rng = np.random.default_rng(11)
    births = (np.datetime64("1900-01-01") + rng.integers(0, 45000, n)).astype("datetime64[D]")
    sexes = rng.choice(np.array(["F", "M"]), n)
    kinds = rng.choice(np.array(["valid", "nonmod11", "replacement"]), n, p=[0.94, 0.05, 0.01])
    cprs = generate_cprs(births, sexes, kinds, np.random.default_rng(12))
    assert len(np.unique(cprs)) == n
    sample = np.random.default_rng(0).choice(n, 300, replace=False)
    for i in sample:
        cpr = parse_cpr(str(cprs[i]))
        assert np.datetime64(cpr.birth_date) == births[i] and cpr.sex == sexes[i]
