"""CohortBuilder, Python side: toggles give exactly ``select_cohort(...).what_if``, code edits select again,
saving round-trips through ``load_definition``, the code picker searches with descriptions."""

from __future__ import annotations

import pytest
import yaml

from pmo_widgets import CohortBuilder
from pmo_widgets.cohort_builder import build_code_index
from pmo_workbench.cohort import load_definition, parse_definition, select_cohort
from pmo_workbench.cohort.definition import CONSENT_RULE
from pmo_workbench.errors import ConfigError


@pytest.fixture(scope="module")
def statin(small_project):
    return CohortBuilder(small_project, "statin_users")


@pytest.fixture(scope="module")
def reference(small_project):
    return select_cohort(small_project, load_definition(small_project / "cohorts" / "statin_users.yaml"))


def test_starts_with_the_attrition_of_select_cohort(statin, reference):
    assert statin.attrition_frame.equals(reference.attrition)
    assert statin.n_selected == reference.attrition["n_persons"].iloc[-1] > 0
    assert [r["name"] for r in statin.rules] == reference.definition.rule_names()[1:]
    consent = statin.rules[-1]
    assert consent["name"] == CONSENT_RULE and consent["locked"] and consent["enabled"]


@pytest.mark.parametrize("rule", ["age_at_index", "no_prior_mi", "ldl_measured", "observation", "specimens"])
def test_toggling_a_rule_gives_exactly_select_cohort_without_it(statin, reference, rule):
    statin.set_enabled(rule, False)
    try:
        expected = reference.what_if(disable=[rule]).attrition
        assert statin.attrition_frame.equals(expected)
        assert [a["n_persons"] for a in statin.attrition] == expected["n_persons"].tolist()
        assert statin.n_selected == expected["n_persons"].iloc[-1]
        assert next(r for r in statin.rules if r["name"] == rule)["enabled"] is False
    finally:
        statin.set_enabled(rule, True)
    assert statin.attrition_frame.equals(reference.attrition)


def test_a_message_from_the_page_toggles_like_the_python_api(statin, reference):
    statin._on_page_msg(statin, {"type": "toggle", "rule": "ldl_measured", "enabled": False}, [])
    try:
        assert statin.n_selected == reference.what_if(disable=["ldl_measured"]).attrition["n_persons"].iloc[-1]
        assert statin.error == "" and "switched off" in statin.status
    finally:
        statin._on_page_msg(statin, {"type": "toggle", "rule": "ldl_measured", "enabled": True}, [])
    statin._on_page_msg(statin, {"type": "toggle", "rule": CONSENT_RULE, "enabled": False}, [])
    assert "cannot be switched off" in statin.error
    assert statin.attrition_frame.equals(reference.attrition)


def test_adding_and_removing_a_code_selects_again(small_project, statin, reference):
    raw = yaml.safe_load((small_project / "cohorts" / "statin_users.yaml").read_text())
    raw["criteria"][1]["exclude"]["codes"].append("DI20-DI25")
    expected = select_cohort(small_project, raw).attrition
    statin.add_code("DI20-DI25", target="no_prior_mi")
    try:
        assert statin.attrition_frame.equals(expected)
        chips = next(r for r in statin.rules if r["name"] == "no_prior_mi")["codes"]
        assert [c["code"] for c in chips] == ["DI21*", "DI22*", "DI20-DI25"]
    finally:
        statin.remove_code("DI20-DI25", target="no_prior_mi")
    assert statin.attrition_frame.equals(reference.attrition)
    with pytest.raises(ValueError, match="malformed"):
        statin.add_code("I21", target="no_prior_mi")
    assert statin.attrition_frame.equals(reference.attrition)


def test_code_picker_searches_codes_and_descriptions(small_project, statin):
    statin.target = "no_prior_mi"
    statin.query = "myocardial infarction"
    hits = statin.search_results
    assert hits and all(h["vocabulary"] == "SKS" and h["domain"] == "diagnosis" for h in hits)
    assert {"DI219", "DI229"} <= {h["code"] for h in hits}
    assert all("myocardial infarction" in h["description"].lower() for h in hits)
    # every vocabulary is searched, whatever the target rule's domain; each hit names its domain
    statin.query = "C10AA"
    hits = statin.search_results
    assert hits and {h["domain"] for h in hits} == {"prescription"} and "C10AA05" in {h["code"] for h in hits}
    with pytest.raises(ValueError, match="prescription code .* not to no_prior_mi"):
        statin.add_code("C10AA05", "ATC", target="no_prior_mi")
    statin.target = "entry"
    statin.query = "C10AA"
    codes = {h["code"]: h for h in statin.search_results}
    users = select_cohort(small_project, {"name": "x", "entry": {"domain": "prescription", "codes": ["C10AA05"]}})
    assert codes["C10AA05"]["persons"] == users.attrition["n_persons"].iloc[0]
    statin.query = ""
    index = build_code_index(small_project)
    assert "acute myocardial infarction" in index.describe("DI219", "SKS").lower()


def test_save_round_trips_the_switched_on_definition(writable_project):
    w = CohortBuilder(writable_project, "statin_users")
    w.set_enabled("ldl_measured", False)
    w.set_enabled("specimens", False)
    path = w.save("statin_simple")
    assert path == writable_project / "cohorts" / "statin_simple.yaml" and w.saved_path == str(path)
    loaded = load_definition(path)
    assert loaded.name == "statin_simple"
    assert loaded.criterion_names() == ["age_at_index", "no_prior_mi", "observation"]
    assert loaded.specimens is None and loaded.controls is not None and loaded.controls.ratio == 2
    again = select_cohort(writable_project, loaded)
    assert again.attrition["n_persons"].iloc[-1] == w.n_selected
    assert again.attrition["n_persons"].tolist() == w.attrition_frame["n_persons"].tolist()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        w.save("statin_simple")
    w._on_page_msg(w, {"type": "save", "name": "../escape"}, [])
    assert "letters, digits" in w.error and not (writable_project / "escape.yaml").exists()
    assert path.read_bytes() == before
    w.set_enabled("specimens", True)
    w.save("statin_simple", overwrite=True)
    assert load_definition(path).specimens is not None
    assert not list(path.parent.glob(".*.tmp"))


def test_genome_rules_are_unavailable_without_a_qc_run(small_project):
    w = CohortBuilder(small_project, "mi_cases")
    genome = [r for r in w.rules if r["name"].startswith("genomes.")]
    assert [r["name"] for r in genome] == ["genomes.qc_pass", "genomes.unrelated"]
    assert all(r["locked"] and not r["enabled"] and r["note"] == "no WGS QC run" for r in genome)
    d = parse_definition(yaml.safe_load((small_project / "cohorts" / "mi_cases.yaml").read_text()))
    expected = select_cohort(small_project, d.model_copy(update={"genomes": None})).attrition
    assert w.attrition_frame.equals(expected)
    with pytest.raises(ValueError, match="WGS QC run"):
        w.set_enabled("genomes.qc_pass", True)


def test_search_puts_the_target_domain_first(statin):
    statin.target = "ldl_measured"  # a lab rule
    statin.query = "c"  # matches codes of every domain
    domains = [h["domain"] for h in statin.search_results]
    assert "lab" in domains and len(set(domains)) > 1
    first_other = next(i for i, d in enumerate(domains) if d != "lab")
    assert all(d != "lab" for d in domains[first_other:])
    statin.query = ""
    statin.target = "entry"


def test_rule_summaries_are_plain_text(statin):
    summaries = [statin.entry["summary"]] + [r["summary"] for r in statin.rules if r.get("summary")]
    assert summaries and not any("`" in s or "**" in s for s in summaries)
    assert "C10AA*" in statin.entry["summary"] and any("DI21" in s for s in summaries)


def test_save_refuses_names_that_are_not_names(writable_project):
    w = CohortBuilder(writable_project, "statin_users")
    cohorts = writable_project / "cohorts"
    before = sorted(p.name for p in cohorts.iterdir())
    for name in ("/tmp/pmo_widget_abs", "a/b", "..", "0101902000", "mi 2", "../../x"):
        with pytest.raises(ConfigError):
            w.save(name)
        w._on_page_msg(w, {"type": "save", "name": name}, [])
        assert w.error and "0101902000" not in w.error
    assert sorted(p.name for p in cohorts.iterdir()) == before
    assert not (writable_project.parent / "x.yaml").exists()
