"""YAML input (`pmo.yaml`, cohort definitions): alias bombs, size, encodings, dates and infinities (#12 items 8-10)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmo_workbench.cohort.definition import load_definition, parse_definition
from pmo_workbench.errors import ConfigError
from pmo_workbench.project import load_project
from pmo_workbench.yaml_input import MAX_BYTES, load_yaml

BOMB = "name: bomb\nentry:\n  domain: diagnosis\n  codes: &l9 [&l8 [&l7 [&l6 [&l5 [&l4 [&l3 [&l2 [&l1 [&l0 [DI21*, DI21*, DI21*, DI21*, DI21*, DI21*, DI21*, DI21*, DI21*]" + "".join(
    f", *l{i}, *l{i}, *l{i}, *l{i}, *l{i}, *l{i}, *l{i}, *l{i}]" for i in range(9)) + "\n"


def test_alias_bomb_in_codes_fails_fast_with_a_short_error(tmp_path: Path):
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases expand") as err:
        load_definition(f)
    assert time.perf_counter() - t0 < 1.0 and len(str(err.value)) < 300


def test_oversized_yaml_is_refused(tmp_path: Path):
    f = tmp_path / "big.yaml"
    f.write_text("name: x\ndescription: " + "y" * MAX_BYTES + "\n")
    with pytest.raises(ConfigError, match="too large"):
        load_yaml(f)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_project_and_cohort_yaml_in_any_encoding(tmp_path: Path, encoding):
    (tmp_path / "pmo.yaml").write_bytes("name: aeroe\ndescription: Sjælland, Østjylland og Åbenrå\n".encode(encoding))
    proj = load_project(tmp_path, check_files=False)
    assert proj.config.name == "aeroe" and proj.config.description == "Sjælland, Østjylland og Åbenrå"
    f = tmp_path / "c.yaml"
    f.write_bytes("name: mi\ndescription: blodprop i hjertet, første gang\n"
                  "entry: {domain: diagnosis, codes: [DI21*]}\n".encode(encoding))
    assert load_definition(f).entry.codes.codes == {"SKS": ("DI21*",)}


@pytest.mark.parametrize("text,line,message", [
    ("name: mi\nentry: {domain: diagnosis, codes: [DI21*], date_range: [2020-02-30, 2021-01-01]}\n", 2,
     "not a valid date"),
    ("name: mi\nentry: {domain: lab, codes: [NPU01567],\n        value: {min: .inf}}\n", 3, "not a finite number"),
    ("name: mi\nentry: {domain: diagnosis, codes: [DI21*\n", 3, "not valid YAML"),
])
def test_bad_values_are_one_line_errors_with_the_line(tmp_path: Path, text, line, message):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_definition(f)
    assert err.value.line == line and "\n" not in str(err.value)


def test_infinite_value_limits_refused_from_python_too():
    with pytest.raises(ConfigError, match="finite"):
        parse_definition({"name": "x", "entry": {"domain": "lab", "codes": ["NPU01567"],
                                                 "value": {"min": float("inf")}}})


def test_cli_cohort_with_a_bad_date_exits_2(tmp_path: Path):
    from pmo_workbench.cli import app

    (tmp_path / "pmo.yaml").write_text("name: p\nprivacy: {synthetic: true}\n")
    f = tmp_path / "c.yaml"
    f.write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*], date_range: [2020-13-01, 2021-01-01]}\n")
    res = CliRunner().invoke(app, ["cohort", "count", "--project", str(tmp_path), "--definition", str(f)])
    assert res.exit_code == 2 and "Traceback" not in res.output and "line 2" in res.output


def test_code_errors_are_truncated_and_never_echo_a_cpr_like_value():
    for codes, hidden in ((["2512031990"], "2512031990"), (["DI2!" + "9" * 5000], "9" * 100)):
        with pytest.raises(ConfigError) as err:
            parse_definition({"name": "x", "entry": {"domain": "diagnosis", "codes": codes}})
        assert hidden not in str(err.value) and len(str(err.value)) < 250
