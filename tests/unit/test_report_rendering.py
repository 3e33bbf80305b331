"""Reports a reader can use and no false figures (#13 items 2 and 4): the one table renderer, figures laid out for
the page, "not available" instead of made-up numbers, Table 1 in the project's vocabulary (real OMOP data), the
failure-share warning and the cohort report's explanations."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pmo_workbench import plots  # noqa: E402
from pmo_workbench.notebook import show  # noqa: E402
from pmo_workbench.overview import ProjectOverview  # noqa: E402
from pmo_workbench.privacy import Disclosure  # noqa: E402
from pmo_workbench.rendering import format_table, render_table  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------------ renderer


def test_integers_stay_integers_and_floats_get_sensible_decimals():
    t = pd.DataFrame({"n": [10.0, 2500.0, 3.0], "p_value": [1e-9, 0.04, 0.5], "dp_mean": [30.123, 28.0, 31.5],
                      "r_ti_tv": [2.0, 2.1, 2.05]}, index=pd.Index(["B1", "B2", "B3"], name="batch"))
    out = format_table(t)
    assert out.columns.tolist() == ["batch", "n", "p_value", "dp_mean (mean depth, reads)", "r_ti_tv"]
    assert out["n"].tolist() == ["10", "2,500", "3"]
    assert out["p_value"].tolist() == ["1.0e-09", "0.04", "0.5"]
    assert out["dp_mean (mean depth, reads)"].tolist() == ["30.1", "28.0", "31.5"]
    assert out["r_ti_tv"].tolist() == ["2.00", "2.10", "2.05"], "a ratio is not an integer even when whole"
    years = format_table(pd.DataFrame({"diagnosis LPR2": [1200, 35]}, index=pd.Index([2018, 2019], name="year")))
    assert years["year"].tolist() == ["2018", "2019"] and years["diagnosis LPR2"].tolist() == ["1,200", "35"]


def test_no_index_column_no_nan_and_suppressed_cells_marked():
    t = pd.DataFrame({"F": [3, 40, 22], "M": [30, 41, 19]}, index=pd.Index(["a", "b", "c"], name="region"))
    html = show(t, Disclosure("export", 5), caption="Persons").html
    assert "<th>region</th>" in html and "<th></th>" not in html, "the index is a named column, not row labels"
    assert ">x<" in html and "x: suppressed" in html
    assert "nan" not in html.lower() and "<NA>" not in html
    inside = show(pd.DataFrame({"v": [1.5, np.nan]}), Disclosure("internal"), kind="aggregate").html
    assert "nan" not in inside.lower() and "–" in inside


def test_long_tables_are_capped_and_the_full_table_written_and_linked(tmp_path):
    t = pd.DataFrame({"sample_id": [f"s{i}" for i in range(268)], "call_rate": np.linspace(0.9, 1, 268)})
    r = render_table(t, caption="Newly failing", name="newly_failing", output_dir=tmp_path)
    assert r.html.count("<tr>") == 51  # header + 50 rows
    assert 'href="newly_failing.csv"' in r.html and "first 50 of 268 rows" in r.html
    assert len(pd.read_csv(tmp_path / "newly_failing.csv")) == 268
    r = render_table(t, caption="Newly failing")
    assert r.file is None and "first 50 of 268 rows" in r.html


def test_individual_tables_are_refused_in_export():
    from pmo_workbench.errors import PrivacyError

    with pytest.raises(PrivacyError):
        show(pd.DataFrame({"sample_id": ["a"]}), Disclosure("export"), kind="individual", caption="Failing samples")


# ------------------------------------------------------------------------------------------------- figures


def _legend_outside(ax) -> bool:
    leg = ax.get_legend()
    fig = ax.figure
    fig.canvas.draw()
    lb = leg.get_window_extent()
    ab = ax.get_window_extent()
    return lb.x0 >= ab.x1 - 1


def test_legends_sit_outside_the_data_and_year_axes_are_integers():
    cov = pd.DataFrame({"diagnosis LPR2": [100, 120, 130, 0], "diagnosis LPR3": [0, 0, 10, 140]},
                       index=[2016, 2017, 2018, 2019])
    ax = plots.plot_coverage_by_year(cov, mark="2019-03-01")
    assert _legend_outside(ax)
    ticks = [t for t in ax.get_xticks() if 2016 <= t <= 2019]
    assert ticks and all(float(t).is_integer() for t in ticks), "no year tick at 2016.5"
    plt.close("all")
    ax = plots.plot_count_table(pd.DataFrame({"F": [10, 12], "M": [9, 14]}, index=["H", "S"]))
    assert _legend_outside(ax)
    plt.close("all")


def test_export_charts_mark_suppressed_categories_instead_of_dropping_them():
    shown = Disclosure("export", 5).counts(pd.DataFrame({"F": [3, 40, 22], "M": [30, 41, 19]},
                                                        index=["a", "b", "c"]))
    ax = plots.plot_count_table(shown)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert plots.SUPPRESSED_LABEL in labels
    marks = [c for c in ax.collections if len(c.get_offsets())]
    assert sum(len(c.get_offsets()) for c in marks) == int(shown.isna().sum().sum())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"], "no category dropped"
    plt.close("all")


def test_batch_trend_small_multiples_stay_legible():
    metrics = ["call_rate", "het_rate", "r_ti_tv", "r_het_hom_var", "dp_mean", "gq_mean", "n_singleton"]
    ref = pd.DataFrame({"batch": [f"E{i}" for i in range(12)], **{m: np.linspace(1, 2, 12) for m in metrics}})
    now = pd.DataFrame({"batch": ["B1", "B2"], **{m: [1.5, 3.0] for m in metrics}})
    lim = pd.DataFrame({"metric": metrics, "center": 1.5, "lower": 1.0, "upper": 2.0})
    fig = plots.plot_batch_trends(ref, now, lim, flagged=["B2"])
    visible = [a for a in fig.axes if a.get_visible()]
    assert len(visible) == 7
    width, _ = fig.get_size_inches()
    assert width <= 13.5, "at most three panels a row, not seven side by side"
    assert [t.get_text() for t in visible[0].get_xticklabels()] == ["12 earlier", "B1", "B2"]
    plt.close("all")


# ----------------------------------------------------------------------------------- no false figures


def test_overview_without_consent_says_not_available(writable_project):
    shutil.rmtree(writable_project / "data" / "consent")
    ov = ProjectOverview(writable_project)
    text = ov.describe_consent(Disclosure("internal"))
    assert "not available" in text and "nan" not in text and "0.0 %" not in text and "0.0%" not in text
    assert "may be used" not in text
    link = ov.linkage()
    assert link.columns.tolist() == ["not looked up"], "nobody counted as 'may be used' without a lookup"


def test_overview_with_consent_gives_the_share_and_the_lookup_date(small_project):
    ov = ProjectOverview(small_project)
    text = ov.describe_consent(Disclosure("internal"))
    tur = pd.read_parquet(small_project / "data/consent/tissue_use_register.parquet")
    persons = pd.read_parquet(small_project / "data/registry/person.parquet")
    share = tur.loc[tur["opt_out"], "person_id"].nunique() / len(persons)
    assert f"**{share:.1%}**" in text and "looked up **20" in text


@pytest.fixture(scope="module")
def gibleed(shared_data, tmp_path_factory) -> Path:
    from pmo_workbench.health.omop import import_omop

    proj = tmp_path_factory.mktemp("gib") / "proj"
    import_omop(shared_data / "omop_gibleed", proj, synthetic=True)
    return proj


def test_omop_overview_has_no_lpr_line_and_no_npu_label(gibleed):
    ov = ProjectOverview(gibleed)
    cov = ov.registry_coverage(first_year=1900)
    assert {"diagnosis OMOP", "prescription OMOP"} <= set(cov.columns)
    assert not any("NPU" in c or "LPR" in c for c in cov.columns)
    assert ov.lpr_change() is None
    text = ov.describe_coverage()
    assert "LPR" not in text and "OMOP" in text
    assert "not available" in ov.describe_consent(Disclosure("internal"))


def test_omop_table1_uses_omop_concept_sets_and_names_what_is_not_available(gibleed):
    import warnings

    from pmo_workbench.cohort import select_cohort
    from pmo_workbench.cohort.report import OMOP_COMORBIDITIES, compute_table1, describe_comorbidities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no Tissue Use Register in the import
        r = select_cohort(gibleed, {"name": "gib", "entry": {"domain": "diagnosis",
                                                            "codes": {"omop": [192671], "descendants": True}}})
    t1 = compute_table1(r)
    assert t1.attrs["vocabulary"] == "OMOP"
    # GiBleed's vocabulary holds only one of the eight concept sets (Cerebrovascular accident, 381316)
    assert "stroke" in set(t1["variable"]) and "diabetes" not in set(t1["variable"])
    assert set(t1.attrs["not_available"]) == set(OMOP_COMORBIDITIES) - {"stroke"}
    stroke = t1[(t1["variable"] == "stroke") & (t1["statistic"] == "n")]["case"].iloc[0]
    # oracle: persons with a stroke concept (or a descendant) before their first GI bleed, in pandas
    src = Path(__file__).resolve().parents[3] / "shared" / "data" / "omop_gibleed"
    co = pd.read_csv(src / "condition_occurrence.csv.gz", usecols=["person_id", "condition_concept_id",
                                                                   "condition_start_date"])
    anc = pd.read_csv(src / "concept_ancestor.csv.gz")
    strokes = set(anc.loc[anc["ancestor_concept_id"] == 381316, "descendant_concept_id"])
    gib = set(anc.loc[anc["ancestor_concept_id"] == 192671, "descendant_concept_id"])
    first = co[co["condition_concept_id"].isin(gib)].groupby("person_id")["condition_start_date"].min()
    st = co[co["condition_concept_id"].isin(strokes)].merge(first.rename("index"), on="person_id")
    assert stroke == st.loc[st["condition_start_date"] < st["index"], "person_id"].nunique() > 0
    text = describe_comorbidities("OMOP", t1.attrs["not_available"])
    assert "381316" in text and "Not available" in text and "SKS" not in text


# --------------------------------------------------------------------------------- cohort explanations


def test_cohort_explanations_count_both_roles_and_short_cases(tmp_path):
    from test_cohort_report import build_project

    from pmo_workbench.cohort import parse_definition
    from pmo_workbench.cohort.report import explain_selection, select_for_report

    proj = build_project(tmp_path / "p")
    d = parse_definition({"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
                          "controls": {"ratio": 3, "risk_set": True, "match": {"sex": "exact"}}})
    sel = select_for_report(proj, d)
    r = sel.result
    both = int((r.cohort.groupby("person_id")["role"].nunique() > 1).sum())
    text = "\n".join(explain_selection(proj, sel, Disclosure("internal")))
    assert r.controls_short > 0 and f"**{r.controls_short}** case(s) got fewer than 3 controls" in text
    if both:
        assert f"**{both}** person(s) are both a control and, later, a case" in text
    hidden = "\n".join(explain_selection(proj, sel, Disclosure("export", 5)))
    assert f"**{r.controls_short}** case" not in hidden and "Some" in hidden


def test_age_difference_after_birth_year_matching_is_explained(tmp_path):
    from test_cohort_report import build_project

    from pmo_workbench.cohort import parse_definition
    from pmo_workbench.cohort.report import compute_table1, explain_selection, select_for_report

    proj = build_project(tmp_path / "p")
    d = parse_definition({"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*", "DI22*"]},
                          "controls": {"ratio": 2, "risk_set": True, "match": {"birth_year": 5}}})
    sel = select_for_report(proj, d)
    t1 = compute_table1(sel.result)
    text = "\n".join(explain_selection(proj, sel, Disclosure("internal"), t1))
    # oracle: completed years at the index date, from the person table, in pandas
    persons = pd.read_parquet(proj / "data/registry/person.parquet").set_index("person_id")
    c = sel.result.cohort.assign(birth=lambda x: pd.to_datetime(x["person_id"].map(persons["birth_date"])),
                                 index=lambda x: pd.to_datetime(x["index_date"]))
    c["age"] = c["index"].dt.year - c["birth"].dt.year - (
        (c["index"].dt.month * 100 + c["index"].dt.day) < (c["birth"].dt.month * 100 + c["birth"].dt.day))
    m1, m0 = c.loc[c["role"] == "case", "age"].mean(), c.loc[c["role"] == "control", "age"].mean()
    s1, s0 = c.loc[c["role"] == "case", "age"].std(), c.loc[c["role"] == "control", "age"].std()
    smd = (m1 - m0) / np.sqrt((s1 ** 2 + s0 ** 2) / 2)
    assert f"cases {m1:.1f} and controls {m0:.1f} years" in text
    assert f"{m1 - m0:+.1f} years (standardised difference {smd:.2f})" in text
    assert "birth year ±5" in text and "up to 6 years" in text
