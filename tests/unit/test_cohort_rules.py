"""Each cohort rule against hand-computed answers on a tiny hand-made project."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.cohort.definition import CONSENT_RULE, LOOKUP_RULE
from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import ConfigError
from pmo_workbench.health.schema import write_table

PERSONS = [
    # person_id, sex, birth_date, death_date, region
    ("p1", "F", "1960-06-15", None, "H"),
    ("p2", "M", "1950-01-01", None, "H"),
    ("p3", "F", "1990-01-01", None, "S"),
    ("p4", "M", "1955-05-05", None, "S"),
    ("p5", "F", "1945-01-01", None, "H"),
    ("p6", "M", "1948-01-01", None, "H"),
    ("p7", "F", "1972-03-10", None, "S"),
    ("p8", "M", "1960-01-01", None, "H"),
    ("p9", "F", "1961-01-01", None, "H"),
]
DIAGNOSES = [
    # person_id, date, code, diag_type, source
    ("p1", "2015-03-10", "DI219", "A", "LPR2"),
    ("p1", "2018-01-01", "DI210", "A", "LPR2"),
    ("p2", "2016-05-05", "DI21", "B", "LPR2"),
    ("p2", "2014-01-01", "DC509", "A", "LPR2"),   # cancer 855 days before index -> excluded
    ("p3", "2017-01-01", "DI211", "A", "LPR2"),   # aged 27 -> fails age
    ("p4", "2010-01-01", "DI219", "A", "LPR2"),   # first-ever MI before the range
    ("p4", "2014-01-01", "DI219", "A", "LPR2"),
    ("p5", "2019-06-01", "DI219", "G", "LPR3"),   # diag type G -> not an entry event
    ("p6", "2020-02-02", "DI22", "A", "LPR3"),    # opted out
    ("p7", "2012-03-09", "DI219", "A", "LPR2"),   # the day before the 40th birthday
    ("p8", "2019-06-01", "DI219", "A", "LPR3"),   # observed only from 2019-01-01
    ("p9", "2005-01-01", "DC509", "A", "LPR2"),   # cancer long before; never MI
]
LABS = [
    ("p1", "2015-01-10 08:30:00", "NPU01567", 3.5),
    ("p2", "2016-01-01 08:00:00", "NPU01567", 3.0),   # exactly the minimum -> passes
    ("p7", "2012-01-01 08:00:00", "NPU01567", 2.5),   # too low
    ("p6", "2019-06-01 08:00:00", "NPU01567", 4.0),
    ("p8", "2019-01-02 08:00:00", "NPU01567", 5.0),
    ("p4", "2013-06-01 08:00:00", "NPU01567", 3.2),
]
PRESCRIPTIONS = [
    ("p1", "2015-04-01", "C10AA05"), ("p1", "2015-06-01", "C10AA01"),
    ("p2", "2016-06-01", "C10AA05"),                                   # only one in window
    ("p6", "2020-03-01", "C10AA05"), ("p6", "2020-04-01", "C10AA05"),
    ("p8", "2019-07-01", "C10AA05"), ("p8", "2019-08-01", "C10AA05"),
    ("p4", "2014-02-01", "C10AA05"), ("p4", "2014-03-01", "C10BA02"),  # C10BA is not C10AA*
]


def build_project(root: Path, *, opt_out: tuple[str, ...] = ("p6",), with_register: bool = True) -> Path:
    reg = root / "data" / "registry"
    person = pd.DataFrame(PERSONS, columns=["person_id", "sex", "birth_date", "death_date", "region"])
    write_table(person, "person", reg)
    obs = pd.DataFrame({"person_id": person["person_id"], "start_date": "1977-01-01", "end_date": "2025-12-31"})
    obs.loc[obs["person_id"] == "p8", "start_date"] = "2019-01-01"
    write_table(obs, "observation_period", reg)
    d = pd.DataFrame(DIAGNOSES, columns=["person_id", "date", "code", "diag_type", "source"])
    write_table(d.assign(vocabulary="SKS"), "diagnosis", reg)
    lab = pd.DataFrame(LABS, columns=["person_id", "datetime", "code", "value"])
    write_table(lab.assign(vocabulary="NPU", unit="mmol/L"), "lab", reg)
    rx = pd.DataFrame(PRESCRIPTIONS, columns=["person_id", "date", "code"])
    write_table(rx.assign(vocabulary="ATC"), "prescription", reg)
    if with_register:
        # the lookup covers every person (one row each, as the register import writes it)
        tur = pd.DataFrame({"person_id": person["person_id"], "opt_out": person["person_id"].isin(opt_out),
                            "lookup_date": "2026-01-15"})
        write_table(tur, "tissue_use_register", root / "data" / "consent")
    (root / "pmo.yaml").write_text("name: tiny\n")
    return root


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return build_project(tmp_path)


ENTRY = {"domain": "diagnosis", "codes": ["DI21*", "DI22*"], "diag_types": ["A", "B"], "occurrence": "first",
         "date_range": ["2012-01-01", "2023-12-31"]}


def defn(*criteria, **extra) -> dict:
    return {"name": "mi", "entry": dict(ENTRY, **extra.pop("entry", {})), "criteria": list(criteria), **extra}


def persons(result) -> list[str]:
    return sorted(result.cohort.loc[result.cohort["role"] == "case", "person_id"])


def test_entry_first_ever_event_in_range_with_diag_types(tiny):
    r = select_cohort(tiny, defn())
    # p4's first MI (2010) is before the range; p5 has type G; p6 is opted out; p9 never had MI
    assert r.attrition["rule"].tolist() == ["entry", LOOKUP_RULE, CONSENT_RULE]
    assert r.attrition["n_persons"].tolist() == [6, 6, 5]
    assert persons(r) == ["p1", "p2", "p3", "p7", "p8"]
    idx = r.cohort.set_index("person_id")["index_date"]
    assert idx["p1"] == pd.Timestamp("2015-03-10")          # first ever, not the 2018 event
    assert r.lookup_date.isoformat() == "2026-01-15"


def test_entry_all_uses_every_event_in_range(tiny):
    r = select_cohort(tiny, defn(entry={"occurrence": "all"}))
    assert "p4" in persons(r)
    assert r.cohort.set_index("person_id").loc["p4", "index_date"] == pd.Timestamp("2014-01-01")


def test_entry_without_range_or_types(tiny):
    r = select_cohort(tiny, {"name": "x", "entry": {"domain": "diagnosis", "codes": ["DI20-DI25"]}})
    assert r.attrition["n_persons"].tolist() == [8, 8, 7]    # p1..p8 (p5 type G counts now), minus p6


def test_age_at_index_is_completed_years_inclusive(tiny):
    r = select_cohort(tiny, defn({"age_at_index": [40, 85]}))
    # p3 is 27; p7 is 39 on 2012-03-09 (birthday 03-10); p1 54, p2 66, p8 59
    assert persons(r) == ["p1", "p2", "p8"]
    assert r.attrition["n_persons"].tolist() == [6, 4, 4, 3]
    r39 = select_cohort(tiny, defn({"age_at_index": [39, 39]}))
    assert persons(r39) == ["p7"]


def test_sex(tiny):
    assert persons(select_cohort(tiny, defn({"sex": ["F"]}))) == ["p1", "p3", "p7"]


def test_exclude_with_window(tiny):
    r = select_cohort(tiny, defn({"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-1825, -1]}}))
    assert persons(r) == ["p1", "p3", "p7", "p8"]
    # a window that ends before the cancer (index - 855 days) keeps p2
    r2 = select_cohort(tiny, defn({"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-800, -1]}}))
    assert "p2" in persons(r2)
    r3 = select_cohort(tiny, defn({"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-855, -855]}}))
    assert "p2" not in persons(r3)
    r4 = select_cohort(tiny, defn({"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-854, -1]}}))
    assert "p2" in persons(r4)


def test_require_lab_value_min(tiny):
    rule = {"require": {"domain": "lab", "codes": ["NPU01567"], "window": [-365, 0], "value": {"min": 3.0}}}
    r = select_cohort(tiny, defn(rule))
    # p1 3.5 (59 days before), p2 3.0 (exactly min), p8 5.0; p7 2.5 too low; p3 no lab
    assert persons(r) == ["p1", "p2", "p8"]
    rule["require"]["value"] = {"max": 3.2}
    assert persons(select_cohort(tiny, defn(rule))) == ["p2", "p7"]


def test_require_prescription_min_count(tiny):
    rule = {"require": {"domain": "prescription", "codes": ["C10AA*"], "window": [0, 180], "min_count": 2}}
    r = select_cohort(tiny, defn(rule))
    assert persons(r) == ["p1", "p8"]     # p2 has one; p6 opted out
    rule["require"]["min_count"] = 1
    assert persons(select_cohort(tiny, defn(rule))) == ["p1", "p2", "p8"]


def test_observation_prior_days(tiny):
    r = select_cohort(tiny, defn({"observation": {"prior_days": 365}}))
    assert "p8" not in persons(r) and len(persons(r)) == 4
    r2 = select_cohort(tiny, defn({"observation": {"prior_days": 151}}))   # 2019-01-01 .. 2019-06-01
    assert "p8" in persons(r2)
    r3 = select_cohort(tiny, defn({"observation": {"prior_days": 152}}))
    assert "p8" not in persons(r3)


def test_attrition_is_sequential_and_what_if_and_reasons(tiny):
    d = defn({"age_at_index": [40, 85]}, {"sex": ["M"]},
             {"require": {"domain": "prescription", "codes": ["C10AA*"], "window": [0, 180], "min_count": 2}})
    r = select_cohort(tiny, d)
    assert r.attrition["rule"].tolist() == ["entry", "age_at_index", "sex", "require_prescription", LOOKUP_RULE,
                                            CONSENT_RULE]
    # age: p3, p7 out; sex M: p1 out; two statins in [0, 180]: p2 out (p6, p8 stay); consent: p6 out
    assert r.attrition["n_persons"].tolist() == [6, 4, 3, 2, 2, 1]
    assert r.attrition["n_removed"].tolist() == [0, 2, 1, 1, 0, 1]
    assert persons(r) == ["p8"]
    w = r.what_if(disable=["sex"])
    assert w.attrition["rule"].tolist() == ["entry", "age_at_index", "require_prescription", LOOKUP_RULE,
                                            CONSENT_RULE]
    assert persons(w) == ["p1", "p8"]
    assert r.reasons("p3") == ["age_at_index", "sex", "require_prescription"]
    assert r.reasons("p6") == [CONSENT_RULE]
    assert r.reasons("p9") == ["entry"]
    assert r.reasons("p8") == []
    with pytest.raises(ValueError, match="cannot be disabled"):
        r.what_if(disable=[CONSENT_RULE])
    with pytest.raises(ValueError, match="no rule named"):
        r.what_if(disable=["nope"])


def test_consent_always_removed_and_register_required(tmp_path):
    root = build_project(tmp_path / "a", opt_out=("p1", "p2"))
    r = select_cohort(root, defn())
    assert "p1" not in persons(r) and "p2" not in persons(r)
    assert r.attrition.iloc[-1]["rule"] == CONSENT_RULE and r.attrition.iloc[-1]["n_removed"] == 2
    root_b = build_project(tmp_path / "b", with_register=False)
    with pytest.raises(ConfigError, match="Tissue Use Register"):
        select_cohort(root_b, defn())


def test_specimens_rule_and_pick_list(tiny):
    spec = pd.DataFrame([
        # specimen_id, person_id, biobank, type, collected, aliquots, volume, location, status
        ("s1", "p1", "RegionH", "DNA", "2014-01-01", 2, 50.0, "F2/R10/B3/7", "available"),
        ("s2", "p1", "RegionH", "EDTA-blood", "2014-01-01", 5, 500.0, "F2/R2/B1/1", "available"),
        ("s3", "p2", "National", "DNA", "2000-01-01", 1, 30.0, "F1/R1/B1/1", "available"),  # too old
        ("s4", "p3", "RegionH", "Serum", "2016-01-01", 3, 200.0, "F1/R1/B1/2", "available"),  # wrong type
        ("s5", "p7", "RegionH", "DNA", "2012-01-01", 0, 0.0, "F1/R1/B1/3", "depleted"),
        ("s6", "p8", "National", "DNA", "2019-06-20", 1, 40.0, "F9/R1/B1/1", "available"),
        ("s7", "p7", "RegionH", "EDTA-blood", "2012-01-01", 1, 100.0, "F2/R2/B1/10", "available"),
    ], columns=["specimen_id", "person_id", "biobank", "specimen_type", "collected_date", "aliquots_left",
                "volume_ul", "location", "status"])
    write_table(spec, "specimen", tiny / "data" / "biobank")
    d = defn(specimens={"types": ["DNA", "EDTA-blood"], "min_aliquots": 1, "collected": [-3650, 30]})
    r = select_cohort(tiny, d)
    assert persons(r) == ["p1", "p7", "p8"]
    pl = r.pick_list()
    # one specimen per person: DNA preferred over EDTA-blood (order of types); p7's DNA is depleted.
    # Retrieval order: biobank National before RegionH, then rack R2 before R10 (numbers compared as numbers)
    assert pl["specimen_id"].tolist() == ["s6", "s7", "s1"]
    assert pl.loc[2, ["freezer", "rack", "box", "position"]].tolist() == ["F2", "R10", "B3", "7"]
    assert list(pl.columns) == ["specimen_id", "person_id", "biobank", "freezer", "rack", "box", "position",
                                "specimen_type", "volume_ul"]


def _qc_run(root: Path, name: str, decisions: dict[str, bool], related: list[tuple[str, str]],
            status: str = "succeeded") -> None:
    run = root / "runs" / "wgs_qc" / name
    run.mkdir(parents=True)
    pd.DataFrame({"sample_id": list(decisions), "pass": list(decisions.values()),
                  "reasons": [[] for _ in decisions]}).to_parquet(run / "qc_decisions.parquet")
    kin = pd.DataFrame({"sample_i": [a for a, _ in related] + ["S1"], "sample_j": [b for _, b in related] + ["S2"],
                        "kinship": 0.25, "relationship": ["first"] * len(related) + ["unrelated"]})
    kin.to_parquet(run / "kinship.parquet")
    (run / "run.json").write_text(f'{{"status": "{status}"}}')


def test_genomes_qc_pass_and_unrelated_prefers_fewest_relatives(tiny):
    manifest = pd.DataFrame({"sample_id": ["S1", "S2", "S3", "S7", "S8", "S8b", "S9"],
                             "person_id": ["p1", "p2", "p3", "p7", "p8", "p8", "p9"]})
    manifest.to_csv(tiny / "manifest.tsv", sep="\t", index=False)
    (tiny / "pmo.yaml").write_text("name: tiny\nsources:\n  manifest: manifest.tsv\n")
    d = defn(genomes={"qc_pass": True, "unrelated": True})
    with pytest.raises(ConfigError, match="WGS QC run"):
        select_cohort(tiny, d)
    # an older run where everyone passed, a newer good one, and a newest failed one (ignored)
    _qc_run(tiny, "2026-01-01T00-00-00Z", {s: True for s in manifest["sample_id"]}, [])
    _qc_run(tiny, "2026-02-01T00-00-00Z",
            {"S1": True, "S2": True, "S3": False, "S7": True, "S8": False, "S8b": True, "S9": True},
            [("S1", "S2"), ("S2", "S7"), ("S8", "S9")])
    _qc_run(tiny, "2026-03-01T00-00-00Z", {s: False for s in manifest["sample_id"]}, [], status="failed")
    r = select_cohort(tiny, d)
    assert r.qc_run.name == "2026-02-01T00-00-00Z"
    # qc_pass: p3 fails; p8 passes through its second sample. unrelated among p1, p2, p7, p8:
    # p1-p2-p7 is a path, greedy keeps p1 and p7 (one relative each) and drops p2; p8's relative p9 is no case
    assert r.attrition["rule"].tolist() == ["entry", "genomes.qc_pass", "genomes.unrelated", LOOKUP_RULE,
                                            CONSENT_RULE]
    assert r.attrition["n_persons"].tolist() == [6, 4, 3, 3, 3]   # -p3 and -p6 (no genome); -p2; none left
    assert persons(r) == ["p1", "p7", "p8"]
    assert r.reasons("p2") == ["genomes.unrelated"]
    assert r.reasons("p3") == ["genomes.qc_pass"]


def test_table1_counts(tiny):
    r = select_cohort(tiny, defn({"age_at_index": [40, 85]}))
    t = r.table1().set_index(["variable", "level", "statistic"])
    assert t.loc[("n", "", "n"), "case"] == 3
    assert t.loc[("sex", "F", "n"), "case"] == 1 and t.loc[("sex", "M", "n"), "case"] == 2
    assert t.loc[("age at index", "", "mean"), "case"] == pytest.approx((54 + 66 + 59) / 3)
    assert t.loc[("cancer", "yes", "n"), "case"] == 1        # p2's DC509 before the index
    assert t.loc[("ischaemic heart disease", "yes", "n"), "case"] == 0   # MI on the index date is not prior


def test_write_outputs(tiny, tmp_path):
    r = select_cohort(tiny, defn())
    out = tiny / "cohorts" / "out"
    r.write(out)
    assert sorted(p.name for p in out.iterdir()) == ["attrition.csv", "cohort.parquet", "pick_list.csv",
                                                    "selection.json", "table1.csv"]
    assert pd.read_parquet(out / "cohort.parquet")["person_id"].tolist() == r.cohort["person_id"].tolist()
    assert r.definition_hash in (out / "selection.json").read_text()


def test_specimen_domain_entry_and_require(tiny):
    spec = pd.DataFrame([
        ("s1", "p1", "RegionH", "DNA", "2014-01-01", 2, "available"),
        ("s2", "p2", "RegionH", "Serum", "2016-05-01", 1, "available"),
        ("s3", "p9", "RegionH", "dna", "2010-06-01", 1, "depleted"),
    ], columns=["specimen_id", "person_id", "biobank", "specimen_type", "collected_date", "aliquots_left", "status"])
    write_table(spec, "specimen", tiny / "data" / "biobank")
    r = select_cohort(tiny, {"name": "dna", "entry": {"domain": "specimen", "codes": ["DNA"]}})
    # specimen types compare case-insensitively; the entry counts specimens whatever their status
    assert r.cohort.set_index("person_id")["index_date"].to_dict() == {
        "p1": pd.Timestamp("2014-01-01"), "p9": pd.Timestamp("2010-06-01")}
    rule = {"require": {"domain": "specimen", "codes": ["Serum", "DNA"], "window": [-500, 0]}}
    assert persons(select_cohort(tiny, defn(rule))) == ["p1", "p2"]   # p1: 433 days before; p2: 4 days before
