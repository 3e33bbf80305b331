"""`pmo import registry|omop` and `pmo cohort count|select` through the real `pmo` command group."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from pmo_workbench.cli import app

sys.path.insert(0, str(Path(__file__).parent))
from test_health_registry import write_raw  # noqa: E402


def test_import_registry_count_select(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "cli-test-key-0123456789")
    raw = write_raw(tmp_path / "raw")
    proj = tmp_path / "proj"
    runner = CliRunner()
    res = runner.invoke(app, ["import", "registry", "--raw", str(raw), "--out", str(proj),
                              "--lookup-date", "2026-01-15"])
    assert res.exit_code == 0, res.output
    assert "diagnosis" in res.output and (proj / "data" / "registry" / "diagnosis.parquet").exists()
    defn = tmp_path / "mi.yaml"
    defn.write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*]}\ncriteria:\n  - sex: [F]\n")
    res = runner.invoke(app, ["cohort", "count", "--project", str(proj), "--definition", str(defn)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "2026-01-15" in res.output
    assert [ln.split()[1] for ln in lines if ln.strip()[:1].isdigit()] == ["entry", "sex", "Tissue", "Tissue"]
    assert "cases 1" in res.output
    out = proj / "cohorts" / "mi_run"
    res = runner.invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(out / "cohort.parquet")) == 1
    assert pd.read_csv(out / "attrition.csv")["n_persons"].tolist() == [2, 1, 1, 1]


def test_bad_definition_exit_2_names_key_path(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "cli-test-key-0123456789")
    proj = tmp_path / "proj"
    runner = CliRunner()
    assert runner.invoke(app, ["import", "registry", "--raw", str(write_raw(tmp_path / "raw")), "--out",
                               str(proj), "--lookup-date", "2026-01-15"]).exit_code == 0
    defn = tmp_path / "bad.yaml"
    defn.write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*]}\ncriteria:\n"
                    "  - exclude: {domain: diagnosis, codes: [DC*], window: [5, -5]}\n")
    res = runner.invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn)])
    assert res.exit_code == 2
    assert "criteria[0].exclude.window" in res.output and "bad.yaml" in res.output
    assert not (proj / "cohorts").exists()


def test_import_omop_zip(shared_data, tmp_path: Path):
    res = CliRunner().invoke(app, ["import", "omop", "--source",
                                   str(shared_data / "omop_synthea27nj" / "Synthea27Nj_5.4.zip"),
                                   "--out", str(tmp_path / "p"), "--synthetic"])
    assert res.exit_code == 0, res.output
    assert "person" in res.output and "28" in res.output
    assert "synthetic: true" in (tmp_path / "p" / "pmo.yaml").read_text()
    # what the project lacks, and the next commands (#13 item 2)
    lacks = res.output[res.output.index("The project lacks:"):]
    assert "no consent data" in lacks and "pmo import registry" in lacks
    assert "no cohort definitions" in lacks and "templates/cohorts/mi_cases.yaml" in lacks
    assert "no genomes" in lacks
    assert f"pmo run overview --project {tmp_path / 'p'}" in lacks


def test_paths_in_options_are_relative_to_the_project(tmp_path: Path, monkeypatch):
    """`--definition` is looked up as the notebook's `definition` parameter (project, then its cohorts/, a bare
    name without .yaml); `--out` of `cohort select` is relative to the project; neither uses the current folder
    when the project has the file."""
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "cli-test-key-0123456789")
    proj = tmp_path / "proj"
    runner = CliRunner()
    assert runner.invoke(app, ["import", "registry", "--raw", str(write_raw(tmp_path / "raw")), "--out",
                               str(proj), "--lookup-date", "2026-01-15"]).exit_code == 0
    (proj / "cohorts").mkdir(exist_ok=True)
    (proj / "cohorts" / "mi.yaml").write_text("name: mi\nentry: {domain: diagnosis, codes: [DI21*]}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mi.yaml").write_text("name: other\nentry: {domain: diagnosis, codes: [DZZ*]}\n")
    monkeypatch.chdir(elsewhere)
    for given in ("mi", "cohorts/mi.yaml"):
        res = runner.invoke(app, ["cohort", "count", "--project", str(proj), "--definition", given])
        assert res.exit_code == 0, res.output
        assert res.output.startswith("cohort mi "), res.output  # the project's, not ./mi.yaml
    res = runner.invoke(app, ["cohort", "select", "--project", str(proj), "--definition", "mi", "--out", "sel"])
    assert res.exit_code == 0, res.output
    assert (proj / "sel" / "cohort.parquet").exists() and not (elsewhere / "sel").exists()
    res = runner.invoke(app, ["cohort", "count", "--project", str(proj), "--definition", "nope"])
    assert res.exit_code == 2 and "cohort definition not found" in res.output


def test_cpr_like_number_in_a_cohort_name_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PMO_PSEUDONYM_KEY", "cli-test-key-0123456789")
    proj = tmp_path / "proj"
    runner = CliRunner()
    assert runner.invoke(app, ["import", "registry", "--raw", str(write_raw(tmp_path / "raw")), "--out",
                               str(proj), "--lookup-date", "2026-01-15"]).exit_code == 0
    cpr = "".join(["0101", "90", "1234"])
    defn = tmp_path / "c.yaml"
    defn.write_text(f"name: cohort_{cpr}\nentry: {{domain: diagnosis, codes: [DI21*]}}\n")
    res = runner.invoke(app, ["cohort", "select", "--project", str(proj), "--definition", str(defn)])
    assert res.exit_code == 2, res.output
    # refused when the definition is read (names are simple names, never CPR-like), before any selection
    assert "field name: a cohort name must not hold a CPR-like number" in res.output and cpr not in res.output
    assert not (proj / "cohorts" / f"cohort_{cpr}").exists()
