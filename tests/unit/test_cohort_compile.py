"""The code-range bounds added to every code filter (so DuckDB skips row groups of a code-sorted table) select
exactly the events the patterns select on their own, and the events a Python oracle selects -- for prefixes with
LIKE wildcards in them and codes ending in the highest characters."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pmo_workbench.cohort.compile import _after, code_bounds, event_filter
from pmo_workbench.cohort.definition import parse_definition
from pmo_workbench.health import schema
from pmo_workbench.health.codelists import CodePattern, code_condition
from pmo_workbench.health.schema import write_table

TOP = "\U0010ffff"
CODES = ["DI2", "DI20", "DI21", "DI219", "DI21_", "DI21%", "DI2_1", "DI2%1", "DI2X1", "DI21" + TOP, "DI2" + TOP,
         "DI2" + TOP + "9", "DI3", "DI22", "DI25", "DI259", "DI26", "DI1" + TOP, "DI21\ud7ff", "DI21\ue000",
         "DI21\\", "DI2\\1", "di21", "DI21 ", "D", "DI"]
"""Codes of every awkward kind: LIKE wildcards, a backslash, the highest code point, both sides of the
surrogate gap, lower case, a trailing space, and prefixes of the patterns themselves."""

PATTERNS = [
    [CodePattern("SKS", "prefix", "DI21")],
    [CodePattern("SKS", "prefix", "DI2_")],              # '_' is a literal, not LIKE's any-character
    [CodePattern("SKS", "prefix", "DI2%")],
    [CodePattern("SKS", "prefix", "DI2\\")],
    [CodePattern("SKS", "prefix", "DI2" + TOP)],         # no next character: the bound moves to 'DI3'
    [CodePattern("SKS", "prefix", "DI21\ud7ff")],        # the next character would be a surrogate
    [CodePattern("SKS", "range", "DI20", "DI25")],
    [CodePattern("SKS", "exact", "DI21_"), CodePattern("SKS", "prefix", "DI1" + TOP)],
    [CodePattern("SKS", "prefix", "DI21"), CodePattern("SKS", "range", "DI25", "DI26"),
     CodePattern("SKS", "exact", "DI2")],
]


def _covers(p: CodePattern, code: str) -> bool:
    if p.kind == "exact":
        return code == p.value
    if p.kind == "prefix":
        return code.startswith(p.value)
    return code[: len(p.value)] >= p.value and code[: len(p.high)] <= p.high


def _oracle(patterns: list[CodePattern]) -> set[str]:
    return {c for c in CODES if any(_covers(p, c) for p in patterns)}


def _bounded(patterns: list[CodePattern]) -> str:
    low, high, inclusive = code_bounds(patterns)
    q = "'" + low.replace("'", "''") + "'", "'" + high.replace("'", "''") + "'"
    return f"code >= {q[0]} AND code {'<=' if inclusive else '<'} {q[1]} AND {code_condition(patterns)}"


@pytest.fixture(scope="module")
def sorted_codes(tmp_path_factory) -> duckdb.DuckDBPyConnection:
    """The codes (each for 40 persons) in a code-sorted diagnosis file of 8-row row groups."""
    folder = tmp_path_factory.mktemp("reg")
    frame = pd.DataFrame({"person_id": [f"p{i:02d}" for i in range(40)] * len(CODES),
                          "date": "2020-01-01", "code": [c for c in CODES for _ in range(40)],
                          "vocabulary": "SKS", "source": "LPR2"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schema, "ROW_GROUP_ROWS", 8)
        path = write_table(frame, "diagnosis", folder)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW diagnosis AS SELECT * FROM read_parquet('{path}')")
    return con


@pytest.mark.parametrize("patterns", PATTERNS, ids=lambda p: "|".join(map(str, p)).encode("unicode_escape").decode())
def test_bounds_keep_exactly_the_pattern_matches(sorted_codes, patterns):
    def select(cond: str) -> set[str]:
        return set(sorted_codes.execute(f"SELECT DISTINCT code FROM diagnosis WHERE {cond}").fetchnumpy()["code"])

    want = _oracle(patterns)
    assert want                                            # every case selects something
    assert select(code_condition(patterns)) == want        # LIKE with escaped wildcards matches literally
    assert select(_bounded(patterns)) == want              # the range bound drops nothing
    low, high, inclusive = code_bounds(patterns)
    assert all(low <= c and (c <= high if inclusive else c < high) for c in want)


def test_after_is_a_strict_upper_bound_of_the_prefix():
    for prefix in ["DI21", "DI2" + TOP, "DI21\ud7ff", "A" + TOP + TOP, "\x00"]:
        high = _after(prefix)
        assert high is not None and high.encode("utf-8")             # encodable (no lone surrogate)
        assert all(c < high for c in CODES + [prefix, prefix + TOP * 3] if c.startswith(prefix))
    assert _after(TOP) is None


def test_rule_filters_carry_the_bounds():
    d = parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": ["DI21*", "DI20-DI25"]},
                          "criteria": [{"require": {"domain": "prescription", "codes": ["C10AA*"],
                                                    "window": [0, 180]}}]})
    assert event_filter(d.entry).startswith("code >= 'DI20' AND code < 'DI26' AND ")
    assert event_filter(d.criteria[0].require).startswith("code >= 'C10AA' AND code < 'C10AB' AND ")


def test_row_groups_outside_the_bounds_are_skipped(sorted_codes):
    plan = "\n".join(r[1] for r in sorted_codes.execute(
        f"EXPLAIN ANALYZE SELECT count(*) FROM diagnosis WHERE {_bounded(PATTERNS[0])}").fetchall())
    scanned, total = (int(x) for x in plan.split("Row Groups Scanned:")[1].split("│")[0].strip().split("/"))
    hits = len(_oracle(PATTERNS[0])) * 40 // 8                # row groups holding DI21* codes
    assert total == len(CODES) * 40 // 8 and hits <= scanned <= hits + 2 and scanned < total // 2
