"""The cohort report's helpers: definition in words, attrition disclosure, Table 1 disclosure, balance, specimen
availability and the missing-QC path, against hand-computed answers on a tiny hand-made project."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmo_workbench.cohort import definition_hash, load_definition, parse_definition, select_cohort
from pmo_workbench.cohort.report import (
    _window_words,
    build_run_extra,
    compute_balance,
    compute_funnel,
    compute_specimen_availability,
    describe_definition,
    resolve_definition_path,
    select_for_report,
)
from pmo_workbench.errors import ConfigError
from pmo_workbench.health.schema import write_table
from pmo_workbench.privacy import Disclosure

MIN = 5


def build_project(root: Path) -> Path:
    """Five MI persons (a..e) and three specimens; f is opted out; g never has MI."""
    reg, bio, con = root / "data" / "registry", root / "data" / "biobank", root / "data" / "consent"
    write_table(pd.DataFrame({
        "person_id": list("abcdefg"), "sex": list("FMFMFMF"),
        "birth_date": ["1950-01-01", "1955-01-01", "1960-01-01", "1965-01-01", "1970-01-01", "1950-06-01",
                       "1951-01-01"],
        "region": ["H", "H", "S", "S", "H", "H", "H"]}), "person", reg)
    write_table(pd.DataFrame({
        "person_id": list("abcdef"), "date": ["2015-01-01", "2016-01-01", "2017-01-01", "2018-01-01",
                                              "2019-01-01", "2015-06-01"],
        "code": ["DI219", "DI210", "DI211", "DI219", "DI22", "DI219"], "vocabulary": "SKS", "diag_type": "A",
        "source": "LPR2"}), "diagnosis", reg)
    write_table(pd.DataFrame({
        "specimen_id": ["s1", "s2", "s3", "s4", "s5"], "person_id": ["a", "a", "b", "c", "d"],
        "biobank": ["B1", "B2", "B1", "B1", "B2"], "specimen_type": ["DNA", "DNA", "plasma", "DNA", "DNA"],
        # s4 is collected 200 days after c's index date (outside [-100, 10]); s5 is depleted
        "collected_date": ["2014-12-01", "2015-01-05", "2016-01-01", "2017-07-20", "2018-01-01"],
        "aliquots_left": [2, 1, 3, 1, 0], "status": ["available"] * 4 + ["depleted"]}), "specimen", bio)
    write_table(pd.DataFrame({"person_id": list("abcdefg"), "opt_out": [False] * 5 + [True, False],
                              "lookup_date": "2026-01-15"}), "tissue_use_register", con)
    (root / "pmo.yaml").write_text("name: tiny\n")
    (root / "cohorts").mkdir()
    return root


MI = {"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*", "DI22*"]}}


# ----------------------------------------------------------------------------------------------- in words


@pytest.mark.parametrize(("window", "words"), [
    ((-1825, -1), "1 day to 1825 days before the index date"),
    ((-365, 0), "from 365 days before to the index date"),
    ((0, 180), "from the index date to 180 days after"),
    ((-3650, 30), "from 3650 days before to 30 days after"),
    ((0, 0), "on the index date"),
    ((7, 7), "7 days after the index date"),
])
def test_windows_in_words(window, words):
    assert _window_words(*window) == words


def test_definition_in_words_names_every_rule_in_attrition_order():
    d = parse_definition({
        **MI, "entry": {**MI["entry"], "diag_types": ["A", "B"], "date_range": ["2012-01-01", "2023-12-31"]},
        "criteria": [{"age_at_index": [40, 85]},
                     {"require": {"domain": "lab", "codes": ["NPU01567"], "window": [-365, 0], "value": {"min": 3}}},
                     {"require": {"domain": "prescription", "codes": ["C10AA*"], "window": [0, 180],
                                  "min_count": 2}},
                     {"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-1825, -1], "min_count": 2}}],
        "specimens": {"types": ["DNA"], "collected": [-3650, 30]}, "genomes": {"qc_pass": True},
        "controls": {"ratio": 4, "match": {"sex": "exact", "birth_year": 2}}})
    text = describe_definition(d)
    lines = text.splitlines()
    assert lines[0].startswith("**Entry** (the index date): the first recorded diagnosis with code `DI21*` or "
                               "`DI22*` (diagnosis type A, B), if it falls between 2012-01-01 and 2023-12-31")
    ruled = [ln.split("`")[1] for ln in lines if ln.startswith("- `")]
    assert ruled == d.rule_names()[1:]
    assert "- `require_lab`: at least 1 lab result with code `NPU01567` and a value >= 3 from 365 days before" \
           in text
    assert "- `require_prescription`: at least 2 prescriptions with code `C10AA*` from the index date to 180" \
           in text
    assert "fewer than 2 diagnoses with code `DC*` 1 day to 1825 days before" in text
    assert "up to 4 per case by risk-set sampling, without replacement, matched on sex, birth year (±2)" in text


# ----------------------------------------------------------------------------------------------- attrition


def _att(values: list[int]) -> pd.DataFrame:
    rules = ["entry"] + [f"r{i}" for i in range(1, len(values))]
    removed = [0] + [values[i - 1] - values[i] for i in range(1, len(values))]
    return pd.DataFrame({"step": range(len(values)), "rule": rules, "n_persons": values, "n_removed": removed})


@pytest.mark.parametrize(("values", "expected"), [
    ([40, 37, 30], [40, None, 30]),            # 3 removed: the middle count goes
    ([100, 100, 60, 58, 10], [100, 100, 60, None, 10]),
    ([50, 48, 46, 44, 40], [50, None, None, None, 40]),  # all neighbour steps small; 50 - 40 = 10 is not
    ([30, 4, 0], [30, None, 0]),               # a small final count is hidden; 0 may be shown
    ([3, 2, 1], [None, None, None]),
    ([60, 60, 60], [60, 60, 60]),
])
def test_attrition_chain_hand_cases(values, expected):
    shown = Disclosure("export", MIN).attrition(_att(values))["n_persons"]
    assert [None if pd.isna(v) else int(v) for v in shown] == expected


def test_attrition_internal_mode_is_unchanged():
    att = _att([40, 37, 30])
    assert Disclosure("internal", MIN).attrition(att).equals(att)
    with pytest.raises(ValueError, match="mode"):
        Disclosure("public", MIN).attrition(att)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=9), st.integers(2, 11))
def test_no_small_count_can_be_derived_from_the_disclosed_attrition(drops, m):
    total = sum(drops)
    values = [total - sum(drops[:i]) for i in range(len(drops))]
    out = Disclosure("export", m).attrition(_att(values))
    shown = [(i, int(v)) for i, v in enumerate(out["n_persons"]) if not pd.isna(v)]
    for _, v in shown:
        assert not 0 < v < m
    # any two shown counts differ by 0 or >= m, so no derivable removed-count is small
    for (_, a), (_, b) in zip(shown, shown[1:], strict=False):
        assert not 0 < a - b < m
    for i, r in enumerate(out["n_removed"]):
        if not pd.isna(r):
            assert not 0 < int(r) < m
            if i > 0:
                assert int(r) == values[i - 1] - values[i]
    if not 0 < values[-1] < m:
        assert not pd.isna(out["n_persons"].iloc[-1]), "the final count must be shown when it may be"


def test_funnel_percentages_hide_with_the_entry_count():
    f = compute_funnel(Disclosure("export", MIN).attrition(_att([40, 37, 30])))
    assert f["pct_of_entry"].tolist()[0] == 100.0 and f["pct_of_entry"].tolist()[2] == 75.0
    assert pd.isna(f["pct_of_entry"].iloc[1])
    f = compute_funnel(Disclosure("export", MIN).attrition(_att([3, 0])))
    assert f["pct_of_entry"].isna().all()


# ------------------------------------------------------------------------------------------------ Table 1


def _table1(case_n, ctrl_n, f_case, f_ctrl, dm_case, dm_ctrl) -> pd.DataFrame:
    rows = [("n", "", "n", case_n, ctrl_n), ("age at index", "", "mean", 60.0, 59.0),
            ("age at index", "", "sd", 10.0, 9.0)]
    for lvl, a, b in (("F", f_case, f_ctrl), ("M", case_n - f_case, ctrl_n - f_ctrl)):
        rows += [("sex", lvl, "n", a, b), ("sex", lvl, "%", 100 * a / case_n, 100 * b / ctrl_n)]
    rows += [("diabetes", "yes", "n", dm_case, dm_ctrl),
             ("diabetes", "yes", "%", 100 * dm_case / case_n, 100 * dm_ctrl / ctrl_n)]
    return pd.DataFrame(rows, columns=["variable", "level", "statistic", "case", "control"])


def test_table1_export_suppresses_small_and_complementary_cells():
    t = _table1(20, 80, 3, 40, 17, 60)   # F cases 3 (small); diabetes "no" among cases = 3 (small)
    out = Disclosure("export", MIN).table1(t).set_index(["variable", "level", "statistic"])
    assert pd.isna(out.loc[("sex", "F", "n"), "case"]) and pd.isna(out.loc[("sex", "F", "%"), "case"])
    assert pd.isna(out.loc[("sex", "M", "n"), "case"]), "complementary: M = n - F would reveal F"
    assert pd.isna(out.loc[("diabetes", "yes", "n"), "case"]), "a small 'no' hides 'yes' (n - yes)"
    assert pd.isna(out.loc[("diabetes", "yes", "n"), "control"]), "2x2 cycle: yes/no totals are published"
    assert pd.isna(out.loc[("sex", "F", "n"), "control"]), "2x2 cycle on sex as well"
    assert out.loc[("n", "", "n"), "case"] == 20 and out.loc[("age at index", "", "mean"), "case"] == 60.0
    counts = out.xs("n", level="statistic")[["case", "control"]].to_numpy(dtype=float)
    assert not ((counts > 0) & (counts < MIN)).any()
    assert Disclosure("internal", MIN).table1(t).equals(t)


def test_table1_export_hides_means_of_a_small_group():
    t = _table1(4, 80, 2, 40, 1, 10)
    out = Disclosure("export", MIN).table1(t).set_index(["variable", "level", "statistic"])
    assert out["case"].isna().all()
    assert pd.isna(out.loc[("n", "", "n"), "control"]), "n case + n control is a published total"


def test_balance_against_hand_computed_standardised_differences():
    t = _table1(20, 80, 10, 20, 5, 40)
    b = compute_balance(t).set_index(["variable", "level"])
    assert b.loc[("age at index", ""), "smd"] == pytest.approx((60 - 59) / math.sqrt((100 + 81) / 2))
    p1, p0 = 0.5, 0.25
    assert b.loc[("sex", "F"), "smd"] == pytest.approx((p1 - p0) / math.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2))
    assert b.loc[("diabetes", "yes"), "smd"] == pytest.approx((0.25 - 0.5) / math.sqrt((0.1875 + 0.25) / 2))
    hidden = compute_balance(Disclosure("export", MIN).table1(_table1(20, 80, 3, 40, 10, 40)))
    assert math.isnan(hidden.set_index(["variable", "level"]).loc[("sex", "F"), "smd"])


def test_balance_of_a_real_selection_matches_the_individual_level_data(tmp_path):
    proj = build_project(tmp_path / "p")
    d = {**MI, "controls": {"ratio": 1, "match": {"sex": "exact"}, "seed": 3}}
    r = select_cohort(proj, d)
    people = pd.read_parquet(proj / "data" / "registry" / "person.parquet").set_index("person_id")
    c = r.cohort.assign(sex=lambda x: x["person_id"].map(people["sex"]))
    f_case = (c.loc[c.role == "case", "sex"] == "F").mean()
    f_ctrl = (c.loc[c.role == "control", "sex"] == "F").mean()
    b = compute_balance(r.table1()).set_index(["variable", "level"])
    assert b.loc[("sex", "F"), "case"] == pytest.approx(100 * f_case)
    assert b.loc[("sex", "F"), "control"] == pytest.approx(100 * f_ctrl)


# ---------------------------------------------------------------------------------------------- specimens


def test_specimen_availability_by_biobank_hand_computed(tmp_path):
    proj = build_project(tmp_path / "p")
    r = select_cohort(proj, {**MI, "specimens": {"types": ["DNA", "plasma"], "collected": [-100, 10]}})
    # cases: a (s1 B1 DNA -31 d, s2 B2 DNA +4 d), b (s3 B1 plasma 0 d); c: s4 at +200 d fails; d: depleted;
    # e: none; f: opted out
    assert sorted(r.cohort["person_id"]) == ["a", "b"]
    by_type = compute_specimen_availability(r)
    assert by_type.to_dict() == {"DNA": {"B1": 1, "B2": 1}, "plasma": {"B1": 1, "B2": 0}}
    by_role = compute_specimen_availability(r, by="role")
    assert by_role["case"].to_dict() == {"B1": 2, "B2": 1} and by_role["control"].sum() == 0
    picked = set(r.pick_list()["person_id"])
    assert picked == {"a", "b"}


def test_specimen_availability_without_a_specimen_rule_counts_every_available_specimen(tmp_path):
    proj = build_project(tmp_path / "p")
    r = select_cohort(proj, MI)
    table = compute_specimen_availability(r)
    assert table.to_dict() == {"DNA": {"B1": 2, "B2": 1}, "plasma": {"B1": 1, "B2": 0}}  # a, c in B1; a in B2


# --------------------------------------------------------------------------------- definition path and QC


def test_resolve_definition_path(tmp_path):
    proj = build_project(tmp_path / "p")
    with pytest.raises(ConfigError, match="no cohorts"):
        resolve_definition_path(proj, None)
    (proj / "cohorts" / "b.yaml").write_text("name: b\nentry: {domain: diagnosis, codes: [DI21*]}\n")
    (proj / "cohorts" / "a.yaml").write_text("name: a\nentry: {domain: diagnosis, codes: [DI22*]}\n")
    assert resolve_definition_path(proj, None).name == "a.yaml"
    (proj / "cohorts" / "mi_cases.yaml").write_text("name: m\nentry: {domain: diagnosis, codes: [DI21*]}\n")
    assert resolve_definition_path(proj, None).name == "mi_cases.yaml"
    assert resolve_definition_path(proj, "b").name == "b.yaml"
    assert resolve_definition_path(proj, "cohorts/b.yaml").name == "b.yaml"
    with pytest.raises(ConfigError) as exc:
        resolve_definition_path(proj, "nope.yaml")
    assert "nope.yaml" in str(exc.value) and exc.value.field == "definition"


def test_missing_qc_run_is_reported_or_fails(tmp_path):
    proj = build_project(tmp_path / "p")
    d = parse_definition({**MI, "criteria": [{"sex": ["F"]}], "genomes": {"qc_pass": True},
                          "controls": {"ratio": 1}})
    with pytest.raises(ConfigError, match="no succeeded WGS QC run"):
        select_for_report(proj, d, on_missing_genomes="fail")
    sel = select_for_report(proj, d, disable=["sex"])
    assert not sel.complete and "pmo run wgs_qc" in sel.problem
    assert sel.result.attrition["rule"].tolist() == ["entry", "Tissue Use Register not looked up",
                                                     "Tissue Use Register opt-out"]
    assert sel.result.attrition["n_persons"].tolist() == [6, 6, 5]
    assert (sel.result.cohort["role"] == "case").all()
    extra = build_run_extra(sel, proj / "cohorts" / "x.yaml", Disclosure("export", MIN))
    assert extra["cohort_complete"] is False and extra["counts"]["cases"] is None
    assert extra["counts"]["entry"] is None, "6 entering and 5 left: the entry count would reveal 1 opt-out"
    assert extra["definition_hash"] == definition_hash(d) != sel.result.definition_hash
    assert extra["tissue_use_register_lookup_date"] == "2026-01-15"


def test_templates_are_valid_definitions(repo_root):
    names = {p.stem: load_definition(p) for p in sorted((repo_root / "templates" / "cohorts").glob("*.yaml"))}
    assert {"mi_cases", "statin_users"} <= set(names)
    assert names["mi_cases"].genomes is not None and names["mi_cases"].genomes.qc_pass
    assert names["statin_users"].genomes is None


def test_table1_export_hides_controls_of_an_exactly_matched_small_case_cell():
    """Controls matched exactly on region at 4:1 sit at 4x the cases of their region: wherever a case count is
    hidden, the control count of that level must be hidden too, or case = control / 4 gives it away."""
    cases = [3, 8, 30, 12, 20]
    rows = [("n", "", "n", sum(cases), 4 * sum(cases))]
    for i, c in enumerate(cases):
        rows += [("region", f"R{i}", "n", c, 4 * c),
                 ("region", f"R{i}", "%", 100 * c / sum(cases), 100 * c / sum(cases))]
    t = pd.DataFrame(rows, columns=["variable", "level", "statistic", "case", "control"])
    out = Disclosure("export", MIN).table1(t)
    region = out[out["variable"] == "region"]
    assert (region["case"].isna() == region["control"].isna()).all()
    hidden = region[region["statistic"] == "n"]["case"].isna()
    assert hidden.sum() >= 2, "one hidden region alone would follow from the published total"
    shown = region[(region["statistic"] == "n") & ~region["case"].isna()]
    assert not ((shown["case"] > 0) & (shown["case"] < MIN)).any()
