"""Consent per person and the pseudonym key's fingerprint (issue 12, items 1 and 4), as regression tests of the
attacks: persons imported from OMOP after a registry import with a Tissue Use Register lookup were selected (the
check asked whether the table existed); the lookup date came from the file's mtime; a different key (environment
over the configured file) silently re-keyed a re-import, dropping specimen links to 0.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pmo_workbench.cli import app
from pmo_workbench.cohort.definition import CONSENT_RULE, LOOKUP_RULE
from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import ConfigError, InputError, PrivacyError
from pmo_workbench.health.omop import import_omop
from pmo_workbench.health.registry import import_registry
from pmo_workbench.health.schema import read_table, write_table
from pmo_workbench.privacy import DEMO_KEY, compute_key_fingerprint, load_pseudonym_key, pseudonymise
from pmo_workbench.project import load_import_record, load_project
from tests.unit.test_cohort_rules import PERSONS, build_project, defn
from tests.unit.test_health_registry import A, B, C, write_raw

GI_BLEED = 192671


def _drop_from_lookup(root: Path, *person_ids: str) -> None:
    tur = read_table(root / "data" / "consent", "tissue_use_register")
    write_table(tur[~tur["person_id"].isin(person_ids)], "tissue_use_register", root / "data" / "consent")


def test_person_without_lookup_is_excluded_and_counted(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    before = select_cohort(root, defn())
    assert "p1" in set(before.cohort["person_id"])
    _drop_from_lookup(root, "p1")
    r = select_cohort(root, defn())
    assert r.attrition["rule"].tolist() == ["entry", LOOKUP_RULE, CONSENT_RULE]
    assert r.attrition["n_persons"].tolist() == [6, 5, 4]       # -p1 not looked up, -p6 opted out
    assert r.attrition["n_removed"].tolist() == [0, 1, 1]
    assert "p1" not in set(r.cohort["person_id"]) and r.reasons("p1") == [LOOKUP_RULE]
    with pytest.raises(ValueError, match="cannot be disabled"):
        r.what_if(disable=[LOOKUP_RULE])


def test_person_without_lookup_is_never_a_control(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    d = defn(controls={"ratio": 3, "match": {"sex": "exact"}, "seed": 1})
    assert "p9" in set(select_cohort(root, d).cohort.query("role == 'control'")["person_id"])
    _drop_from_lookup(root, "p9")
    r = select_cohort(root, d)
    assert "p9" not in set(r.cohort["person_id"]) and len(r.cohort.query("role == 'control'")) > 0


def test_not_looked_up_refuse_mode(tmp_path: Path) -> None:
    root = build_project(tmp_path / "p")
    _drop_from_lookup(root, "p1", "p9")
    (root / "pmo.yaml").write_text("name: tiny\nprivacy: {not_looked_up: refuse}\n")
    with pytest.raises(ConfigError, match="2 persons of the project have no Tissue Use Register lookup"):
        select_cohort(root, defn())
    (root / "pmo.yaml").write_text("name: tiny\nprivacy: {not_looked_up: exclude}\n")
    assert select_cohort(root, defn()).attrition["n_persons"].tolist() == [6, 5, 4]


def test_omop_persons_imported_after_the_lookup_are_not_selected(tmp_path: Path, shared_data: Path) -> None:
    """The issue's attack: a registry import brings the lookup; an OMOP import later brings persons never looked up."""
    proj = tmp_path / "proj"
    import_registry(write_raw(tmp_path / "raw"), proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    assert len(read_table(proj / "data" / "consent", "tissue_use_register")) == 3
    import_omop(shared_data / "omop_gibleed", proj)
    d = {"name": "gi_bleed", "entry": {"domain": "diagnosis", "codes": {"omop": [GI_BLEED], "descendants": True}}}
    try:
        r = select_cohort(proj, d)
    except ConfigError as exc:               # an importer that drops the old lookup makes selection impossible
        assert "Tissue Use Register" in str(exc)
        return
    assert r.attrition["n_persons"].iloc[0] == 479          # the GI-bleed persons of Eunomia enter ...
    assert r.attrition.set_index("rule").loc[LOOKUP_RULE, "n_persons"] == 0   # ... and none was looked up
    assert r.cohort.empty


def test_the_model_study_base_also_needs_a_lookup(tmp_path: Path) -> None:
    from pmo_workbench.health.database import open_database
    from pmo_workbench.model.study_base import select_baseline_cohort

    root = build_project(tmp_path / "p")
    _drop_from_lookup(root, "p1")
    cohort, attrition = select_baseline_cohort(open_database(root), "2015-01-01", age_min=0, age_max=120)
    # p8 is observed only from 2019; p1 was not looked up; p6 opted out
    assert set(cohort["person_id"]) == {p[0] for p in PERSONS} - {"p1", "p6", "p8"}
    steps = attrition.set_index("step")["n_removed"]
    assert steps["Tissue Use Register not looked up"] == 1 and steps["Tissue Use Register opt-out"] == 1


def test_lookup_date_is_required_and_recorded_per_import(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "raw")
    old = time.time() - 400 * 86400
    os.utime(raw / "tissue_use_register.csv", (old, old))       # an mtime that must not become the lookup date
    proj = tmp_path / "proj"
    with pytest.raises(InputError, match="lookup date is required") as info:
        import_registry(raw, proj, key=DEMO_KEY)
    assert info.value.field == "lookup_date" and "tissue_use_register.csv" in str(info.value)
    assert not (proj / "data" / "consent" / "tissue_use_register.parquet").exists()
    res = CliRunner().invoke(app, ["import", "registry", "--raw", str(raw), "--out", str(tmp_path / "p2")],
                             env={"PMO_PSEUDONYM_KEY": "a-key-of-sixteen-bytes-or-more"})
    assert res.exit_code == 2 and "--lookup-date" in res.output and len(res.output.splitlines()) == 1
    import_registry(raw, proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    import_registry(raw, proj, key=DEMO_KEY, lookup_date=date(2026, 3, 1))
    record = load_import_record(load_project(proj))
    assert [e["tissue_use_register_lookup_date"] for e in record["imports"]] == ["2026-01-15", "2026-03-01"]
    assert [e["kind"] for e in record["imports"]] == ["registry", "registry"]
    assert (read_table(proj / "data" / "consent", "tissue_use_register")["lookup_date"]
            == pd.Timestamp("2026-03-01")).all()
    # without the register file no lookup date is needed (and none is recorded)
    (raw / "tissue_use_register.csv").unlink()
    import_registry(raw, tmp_path / "p3", key=DEMO_KEY)
    assert load_import_record(load_project(tmp_path / "p3"))["imports"][0]["tissue_use_register_lookup_date"] is None


def _link_specimens(proj: Path) -> int:
    people = read_table(proj / "data" / "registry", "person")
    spec = pd.DataFrame({"specimen_id": [f"S{i}" for i in range(len(people))], "person_id": people["person_id"],
                         "biobank": "RegionH", "specimen_type": "DNA", "collected_date": "2019-01-01"})
    write_table(spec, "specimen", proj / "data" / "biobank")
    return len(spec)


def _linked(proj: Path) -> int:
    people = set(read_table(proj / "data" / "registry", "person")["person_id"])
    return int(read_table(proj / "data" / "biobank", "specimen")["person_id"].isin(people).sum())


def test_a_different_key_is_refused_naming_both_sources(tmp_path: Path, monkeypatch) -> None:
    key_file = tmp_path / "keys" / "project.key"
    key_file.parent.mkdir()
    key_file.write_text("the-configured-key-0123456789\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "pmo.yaml").write_text(f"name: rekey\nprivacy: {{pseudonym_key: {{file: {key_file}}}}}\n")
    monkeypatch.delenv("PMO_PSEUDONYM_KEY", raising=False)
    raw = write_raw(tmp_path / "raw")
    import_registry(raw, proj, lookup_date=date(2026, 1, 15))
    record = load_import_record(load_project(proj))
    fingerprint = compute_key_fingerprint(b"the-configured-key-0123456789")
    assert record["pseudonym_key"]["fingerprint"] == fingerprint
    assert record["pseudonym_key"]["source"] == f"key file {key_file.resolve()}"
    text = (proj / "data" / "imports.json").read_text()
    assert "the-configured-key" not in text                     # the fingerprint, never the key
    n = _link_specimens(proj)
    assert _linked(proj) == n == 3
    people = read_table(proj / "data" / "registry", "person")["person_id"].tolist()
    # the attack: another key in the environment takes precedence over the configured file
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "another-key-from-the-environment")
    with pytest.raises(PrivacyError) as info:
        import_registry(raw, proj, lookup_date=date(2026, 1, 16))
    msg = str(info.value)
    assert "environment variable PMO_PSEUDONYM_KEY" in msg and str(key_file.resolve()) in msg
    assert "takes precedence" in msg and fingerprint in msg and "\n" not in msg
    assert read_table(proj / "data" / "registry", "person")["person_id"].tolist() == people
    assert _linked(proj) == n                                   # specimen links did not drop to 0
    with pytest.raises(PrivacyError):
        load_pseudonym_key(load_project(proj))
    res = CliRunner().invoke(app, ["import", "registry", "--raw", str(raw), "--out", str(proj),
                                   "--lookup-date", "2026-01-16"])
    assert res.exit_code == 2 and "is not the key this project" in res.output
    assert "another-key" not in res.output and "the-configured-key" not in res.output
    # the original key works again
    monkeypatch.delenv("PMO_PSEUDONYM_KEY")
    import_registry(raw, proj, lookup_date=date(2026, 1, 17))
    assert _linked(proj) == n and len(load_import_record(load_project(proj))["imports"]) == 2


def test_an_explicit_key_is_checked_too(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    raw = write_raw(tmp_path / "raw")
    import_registry(raw, proj, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    with pytest.raises(PrivacyError, match="the key given to import_registry"):
        import_registry(raw, proj, key=b"x" * 32, lookup_date=date(2026, 1, 15))
    people = set(read_table(proj / "data" / "registry", "person")["person_id"])
    assert people == {pseudonymise(x, DEMO_KEY) for x in (A, B, C)}
    assert json.loads((proj / "data" / "imports.json").read_text())["pseudonym_key"]["fingerprint"] == \
        compute_key_fingerprint(DEMO_KEY)


def test_the_synthetic_project_attack_is_refused(writable_project: Path, monkeypatch) -> None:
    """The issue's case: a synthetic project (demo key), re-imported from its raw/ with a key in the environment."""
    proj = writable_project
    record = load_import_record(load_project(proj))
    assert record["pseudonym_key"] == {"fingerprint": compute_key_fingerprint(DEMO_KEY), "source": "the public demo key"}
    linked = _linked(proj)
    assert linked > 0
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "a-key-in-the-environment-0123")
    lookup = read_table(proj / "data" / "consent", "tissue_use_register")["lookup_date"].iloc[0].date()
    with pytest.raises(PrivacyError, match="the public demo key"):
        import_registry(proj / "raw", proj, lookup_date=lookup)
    assert _linked(proj) == linked
