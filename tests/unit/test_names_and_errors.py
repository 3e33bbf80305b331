"""Names are names and errors pass the CPR gate (issue 12, items 2 and 3): the attacks become regression tests.

A cohort name is used as a folder name, so ``name: ../../../x``, an absolute path, a name with a slash or a
CPR-like number must be refused with a one-line error (exit code 2 from the CLI) and nothing written; every output
path is resolved and must stay inside the project; error messages never echo a CPR-like value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pmo_workbench.cli import app
from pmo_workbench.cohort.definition import parse_definition
from pmo_workbench.cohort.selection import select_cohort
from pmo_workbench.errors import ConfigError, InputError, PmoError, PrivacyError, format_error, mask_cpr_like
from pmo_workbench.names import check_name, make_name, resolve_inside
from pmo_workbench.project import ProjectConfig, load_project
from tests.unit.test_cohort_rules import build_project

ATTACKS = ["../../../x", "/tmp/evil", "a/b", "..", ".hidden", "x\ny", "a b", "", "0101902000", "mi_010190-2000",
           "0203291WQ3", "x" * 65, "név", "C:\\x", "~root"]


@pytest.mark.parametrize("name", ATTACKS)
def test_names_refused_everywhere(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)
    with pytest.raises(ConfigError) as info:
        parse_definition({"name": name, "entry": {"domain": "diagnosis", "codes": ["DI21*"]}}, file="c.yaml")
    assert info.value.field == "name" and "\n" not in str(info.value)
    for cpr in ("0101902000", "010190-2000", "0203291WQ3"):
        assert cpr not in str(info.value)
    with pytest.raises(ValueError):
        ProjectConfig(name=name)


@pytest.mark.parametrize("name", ["mi", "MI_2026", "gi-bleed.v2", "a", "x" * 64, "1990s"])
def test_simple_names_accepted(name: str) -> None:
    assert check_name(name) == name
    assert parse_definition({"name": name, "entry": {"domain": "diagnosis", "codes": ["DI21*"]}}).name == name


def test_make_name_from_folder_names() -> None:
    assert make_name("My study (2026)") == "My_study_2026"
    assert make_name("...") == "project" and make_name("010190-2000") == "project"


def test_resolve_inside(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    assert resolve_inside(root, "cohorts/mi") == (root / "cohorts" / "mi").resolve()
    assert resolve_inside(root, root / "runs") == (root / "runs").resolve()
    for bad in ("../x", "/etc", "cohorts/../../x", str(tmp_path)):
        with pytest.raises(ConfigError, match="leaves the project folder"):
            resolve_inside(root, bad)
    (root / "link").symlink_to(tmp_path)          # a link pointing out is refused too
    with pytest.raises(ConfigError):
        resolve_inside(root, "link/x")


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("name", ["../../../x", "/tmp/pmo_attack_abs", "../escape", "0101902000"])
def test_cli_cohort_select_refuses_path_names(tmp_path: Path, name: str) -> None:
    proj = build_project(tmp_path / "p" / "proj")
    defn = tmp_path / "evil.yaml"
    defn.write_text(f"name: '{name}'\nentry: {{domain: diagnosis, codes: [DI21*]}}\n")
    before = _listing(tmp_path)
    res = CliRunner().invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pmo: error: ") and "field name" in lines[0]
    assert "0101902000" not in res.output
    assert _listing(tmp_path) == before and not Path("/tmp/pmo_attack_abs").exists()


@pytest.mark.parametrize("out", ["../outside", "/tmp/pmo_attack_out", "cohorts/../../outside"])
def test_cli_cohort_select_refuses_out_outside_the_project(tmp_path: Path, out: str) -> None:
    proj = build_project(tmp_path / "proj")
    defn = tmp_path / "mi.yaml"
    defn.write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*]}\n")
    before = _listing(tmp_path)
    target = out if out.startswith("/") else str(proj / out)
    res = CliRunner().invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn),
                                   "--out", target])
    assert res.exit_code == 2 and "leaves the project folder" in res.output, res.output
    assert _listing(tmp_path) == before and not Path("/tmp/pmo_attack_out").exists()
    # the default place, inside the project, works
    res = CliRunner().invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn)])
    assert res.exit_code == 0, res.output
    assert (proj / "cohorts" / "mi" / "cohort.parquet").is_file()


def test_library_write_refuses_outside_the_project(tmp_path: Path) -> None:
    proj = build_project(tmp_path / "proj")
    r = select_cohort(proj, {"name": "mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"]}})
    with pytest.raises(ConfigError, match="leaves the project folder"):
        r.write(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()
    assert {p.name for p in r.write(proj / "cohorts" / "mi")} >= {"cohort.parquet", "selection.json"}


def test_project_and_synth_names(tmp_path: Path) -> None:
    (tmp_path / "pmo.yaml").write_text("name: ../../x\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert info.value.field == "name"
    res = CliRunner().invoke(app, ["new", str(tmp_path / "n"), "--name", "../up"])
    assert res.exit_code == 2 and not (tmp_path / "n").exists() and not (tmp_path / "up").exists()
    res = CliRunner().invoke(app, ["new", str(tmp_path / "My study")])
    assert res.exit_code == 0 and load_project(tmp_path / "My study").config.name == "My_study"
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "s"), "--name", "a/b", "--quiet"])
    assert res.exit_code == 2 and not (tmp_path / "s").exists()


# -- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0101902000", "010190-2000", "6101902000", "0203291WQ3", "020329-1wq3",
                                   "010190 2000"])
def test_error_text_never_holds_a_cpr_like_value(value: str) -> None:
    for err in (InputError(f"bad code {value!r}", file="x.csv", row=3, field="code"),
                ConfigError(f"unknown code {value}"), PrivacyError(value), PmoError(f"[{value}]")):
        assert value not in str(err) and "<CPR-like value>" in str(err)
        assert value not in getattr(err, "message", "")
        assert value not in format_error(err)
    assert value not in format_error(ValueError(f"int() of {value}"))     # any exception, through the one gate


def test_mask_leaves_other_numbers() -> None:
    text = "row 12, id 12345678901, 2026-12-07T12:40:19Z, value 3.1415926535, P3f9a0c1b2d4e5f60, rs123456789"
    assert mask_cpr_like(text) == text


def test_format_error_is_one_bounded_line() -> None:
    msg = format_error(ValueError("a\nb\r\n  c " + "y" * 5000))
    assert "\n" not in msg and len(msg) == 500 and msg.startswith("a b c") and "more characters" in msg


def test_cli_error_caused_by_a_cpr_like_code_never_echoes_it(tmp_path: Path) -> None:
    proj = build_project(tmp_path / "proj")
    defn = tmp_path / "c.yaml"
    for code in ("0101902000", "010190-2000", "0203291WQ3"):
        defn.write_text(f"name: mi\nentry: {{domain: diagnosis, codes: ['{code}']}}\n")
        res = CliRunner().invoke(app, ["cohort", "count", "--project", str(proj), "--definition", str(defn)])
        assert res.exit_code == 2, res.output
        assert code not in res.output and "entry.codes" in res.output and len(res.output.splitlines()) == 1


def test_cli_out_is_relative_to_the_project(tmp_path: Path, monkeypatch) -> None:
    proj = build_project(tmp_path / "proj")
    defn = tmp_path / "mi.yaml"
    defn.write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*]}\n")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["cohort", "select", "--project", "proj", "--definition", str(defn),
                                   "--out", "cohorts/here"])
    assert res.exit_code == 0, res.output
    assert (proj / "cohorts" / "here" / "cohort.parquet").is_file()
