"""ICD-8 (#12 item 11): LPR before 1994 is imported as ICD8, code lists accept it, and the shipped endpoints
cover both eras, so "prior MI" finds the persons whose MI was diagnosed before 1994."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pmo_workbench.cohort.definition import parse_definition
from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import ConfigError
from pmo_workbench.health.codelists import ENDPOINTS, parse_code
from pmo_workbench.health.schema import read_table


def test_icd8_codes_parse_with_and_without_the_dot():
    assert parse_code("410.99", "ICD8").value == "41099" and parse_code("41099", "icd8").kind == "exact"
    assert parse_code("410*", "ICD8").matches("41099") and not parse_code("410*", "ICD8").matches("41199")
    assert parse_code("430-438", "ICD8").matches("43499") and not parse_code("430-438", "ICD8").matches("44099")
    for bad in ("DI21", "4109999", "41A"):
        with pytest.raises(ValueError, match="ICD8"):
            parse_code(bad, "ICD8")
    d = parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": {"endpoint": "mi"}}})
    assert d.entry.codes.codes == {"ICD8": ("410*",), "SKS": ("DI21*", "DI22*")}
    with pytest.raises(ConfigError, match="unknown endpoint"):
        parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": {"endpoint": "gout"}}})
    for name, groups in ENDPOINTS.items():     # every shipped endpoint names valid ICD-8 and SKS patterns
        assert set(groups) == {"SKS", "ICD8"}, name
        for vocab, patterns in groups.items():
            for p in patterns:
                parse_code(p, vocab)


def _patients_excluding_prior_mi(project: Path, codes) -> tuple[set[str], set[str]]:
    """Persons with a hospital contact since 2000 (entry: the first SKS-coded one), and those of them a "prior
    MI" exclusion with ``codes`` removes."""
    entry = {"domain": "diagnosis", "codes": ["DA00-DZ99"], "occurrence": "first"}
    everyone = set(select_cohort(project, {"name": "patients", "entry": entry}).cohort["person_id"])
    kept = set(select_cohort(project, {"name": "patients", "entry": entry, "criteria": [
        {"name": "prior MI", "exclude": {"domain": "diagnosis", "codes": codes, "window": [-36500, -1]}}]}
    ).cohort["person_id"])
    return everyone, everyone - kept


def test_prior_mi_finds_persons_diagnosed_before_1994(small_project: Path):
    diag = read_table(small_project / "data" / "registry", "diagnosis")
    icd8 = diag[diag["vocabulary"] == "ICD8"]
    assert (icd8["date"] < pd.Timestamp("1994-01-01")).all()
    mi_1977_93 = set(icd8.loc[icd8["code"].str.startswith("410"), "person_id"])
    sks_mi = diag[diag["code"].str.match(r"DI2[12]")].groupby("person_id")["date"].min()
    users, excluded_both = _patients_excluding_prior_mi(small_project, {"endpoint": "mi"})
    _, excluded_sks = _patients_excluding_prior_mi(small_project, ["DI21*", "DI22*"])
    old_mi_users = mi_1977_93 & users
    assert len(old_mi_users) >= 5
    # every patient with an ICD-8 MI is excluded by the harmonised rule (every SKS contact is after 1994) ...
    assert old_mi_users <= excluded_both
    # ... and the SKS-only rule misses those without a later SKS MI
    missed = excluded_both - excluded_sks
    assert missed and missed <= old_mi_users
    assert excluded_sks <= excluded_both and excluded_sks <= set(sks_mi.index)
