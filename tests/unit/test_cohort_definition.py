"""Cohort-definition YAML: the issue's example validates; bad keys name the file and YAML key path; hashing."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pmo_workbench.cohort.definition import (
    CONSENT_RULE,
    LOOKUP_RULE,
    definition_hash,
    load_definition,
    parse_definition,
)
from pmo_workbench.errors import ConfigError

EXAMPLE = """\
name: mi_cases
entry:
  domain: diagnosis            # diagnosis | prescription | lab | specimen
  codes: ["DI21*", "DI22*"]    # or {omop: [192671], descendants: true}
  diag_types: [A, B]
  occurrence: first            # first | all
  date_range: [2012-01-01, 2023-12-31]
criteria:
  - age_at_index: [40, 85]
  - sex: [F, M]
  - exclude: {domain: diagnosis, codes: ["DC*"], window: [-1825, -1]}
  - require: {domain: lab, codes: [NPU01567], window: [-365, 0], value: {min: 3.0}}
  - require: {domain: prescription, codes: ["C10AA*"], window: [0, 180], min_count: 2}
  - observation: {prior_days: 365}
specimens: {types: [EDTA-blood, DNA], min_aliquots: 1, collected: [-3650, 30]}
genomes: {qc_pass: true, unrelated: true}
controls: {ratio: 4, match: {sex: exact, birth_year: 2, region: exact}, risk_set: true, seed: 1}
"""


def test_issue_example_validates(tmp_path: Path):
    f = tmp_path / "mi.yaml"
    f.write_text(EXAMPLE)
    d = load_definition(f)
    assert d.rule_names() == ["entry", "age_at_index", "sex", "exclude_diagnosis", "require_lab",
                              "require_prescription", "observation", "specimens", "genomes.qc_pass",
                              "genomes.unrelated", LOOKUP_RULE, CONSENT_RULE]
    assert d.entry.codes.codes == {"SKS": ("DI21*", "DI22*")}
    assert d.criteria[3].require.value.min == 3.0
    assert d.controls.match.birth_year == 2


def test_hash_is_canonical():
    base = yaml.safe_load(EXAMPLE)
    same = copy.deepcopy(base)
    same["entry"]["codes"] = ["di22*", "DI21*", "DI21*"]        # order, case and duplicates do not matter
    same["entry"]["diag_types"] = ["b", "A"]
    same["description"] = "documentation only"
    same["criteria"][0] = {"age_at_index": [40.0, 85.0]}
    assert definition_hash(parse_definition(base)) == definition_hash(parse_definition(same))
    other = copy.deepcopy(base)
    other["criteria"][2]["exclude"]["window"] = [-1826, -1]
    assert definition_hash(parse_definition(base)) != definition_hash(parse_definition(other))
    reordered = copy.deepcopy(base)
    reordered["criteria"] = reordered["criteria"][::-1]          # attrition order is part of the definition
    assert definition_hash(parse_definition(base)) != definition_hash(parse_definition(reordered))


def _set(path: str, value):
    def mutate(d):
        keys = path.replace("]", "").replace("[", ".").split(".")
        target = d
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        target[int(last) if last.isdigit() else last] = value
    return mutate


BAD = [
    (_set("criteria[2].exclude.window", [10, -1]), "criteria[2].exclude.window", "after its end"),
    (_set("criteria[2].exclude.codes", ["DC*", "C50"]), "criteria[2].exclude.codes[1]", "malformed SKS code"),
    (_set("entry.codes", {"loinc": ["1234-5"]}), "entry.codes.loinc", "unknown vocabulary"),
    (_set("entry.codes", {"omop": ["x"], "descendants": True}), "entry.codes.omop[0]", "OMOP concept id"),
    (_set("entry.codes", ["DI25-DI20"]), "entry.codes[0]", "empty SKS range"),
    (_set("entry.date_range", ["2023-12-31", "2012-01-01"]), "entry.date_range", "after it ends"),
    (_set("entry.date_range", ["2012-02-30", "2023-12-31"]), "entry.date_range[0]", "date"),
    (_set("entry.date_range", ["1850-01-01", "2023-12-31"]), "entry.date_range", "outside"),
    (_set("entry.domain", "procedure"), "entry.domain", "diagnosis"),
    (_set("entry.occurrence", "last"), "entry.occurrence", "first"),
    (_set("criteria[3].require.codes", ["NPU1567"]), "criteria[3].require.codes[0]", "malformed NPU"),
    (_set("criteria[3].require.value", {"min": 5, "max": 1}), "criteria[3].require.value", "above max"),
    (_set("criteria[4].require.codes", ["C10AA*", "DI21"]), "criteria[4].require.codes[1]", "malformed ATC"),
    (_set("criteria[4].require.value", {"min": 1}), "criteria[4].require.value", "lab domain only"),
    (_set("criteria[4].require.min_count", 0), "criteria[4].require.min_count", "greater than or equal"),
    (_set("criteria[0].age_at_index", [85, 40]), "criteria[0].age_at_index", "ages"),
    (_set("criteria[1].sex", ["X"]), "criteria[1].sex[0]", "'F' or 'M'"),
    (_set("criteria[5]", {"observation": {"prior_days": 365}, "sex": ["F"]}), "criteria[5]", "exactly one"),
    (_set("criteria[5]", {"observe": {"prior_days": 365}}), "criteria[5].observe", "unknown key"),
    (_set("specimens.collected", [30, -3650]), "specimens.collected", "after its end"),
    (_set("controls.ratio", 0), "controls.ratio", "greater than or equal"),
    (_set("controls.match", {"sex": "nearest"}), "controls.match.sex", "exact"),
    (_set("consent", {"opt_out": False}), "consent", "cannot be configured"),
    (_set("entry.bogus", 1), "entry.bogus", "unknown key"),
]


@pytest.mark.parametrize("mutate,path,message", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_definitions_name_file_and_key_path(tmp_path: Path, mutate, path, message):
    data = yaml.safe_load(EXAMPLE)
    mutate(data)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_definition(f)
    assert err.value.field == path
    assert err.value.file == str(f)
    assert message in err.value.message


def test_yaml_syntax_error_names_line(tmp_path: Path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: x\nentry: {domain: diagnosis, codes: [DI21*\n")
    with pytest.raises(ConfigError) as err:
        load_definition(f)
    assert err.value.line is not None and str(f) in str(err.value)
    with pytest.raises(ConfigError, match="mapping"):
        parse_definition(["not", "a", "mapping"], file="x.yaml")


def test_rule_names_unique_and_explicit_names():
    d = parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": ["DI21*"]}, "criteria": [
        {"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-10, -1]}},
        {"exclude": {"domain": "diagnosis", "codes": ["DE11*"], "window": [-10, -1], "name": "no_diabetes"}},
        {"exclude": {"domain": "diagnosis", "codes": ["DJ44*"], "window": [-10, -1]}},
        {"sex": ["F"], "name": "women"}]})
    assert d.criterion_names() == ["exclude_diagnosis", "no_diabetes", "exclude_diagnosis_2", "women"]
    with pytest.raises(ConfigError) as err:
        parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": ["DI21*"]},
                          "criteria": [{"sex": ["F"], "name": "entry"}]})
    assert err.value.field == "criteria[0].name"
