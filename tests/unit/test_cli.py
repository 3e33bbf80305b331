"""The `pmo` command line, run as a real subprocess: help with examples, version, exit codes, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pmo_workbench

PMO = [sys.executable, "-m", "pmo_workbench.cli"]


def pmo(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PMO, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_version():
    res = pmo("--version")
    assert res.returncode == 0
    assert pmo_workbench.__version__ in res.stdout


@pytest.mark.parametrize("command", ["synth", "run", "demo", "new", "lab"])
def test_every_command_has_help_with_an_example(command):
    res = pmo(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "Example:" in res.stdout
    assert f"pmo {command}" in res.stdout


def test_bad_project_file_exits_2_with_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "pmo.yaml").write_text("name: t\nprivacy: {min_cell_count: -1}\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = pmo("run", "overview", "--project", str(tmp_path))
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "pmo.yaml" in lines[0] and "privacy.min_cell_count" in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_unknown_parameter_exits_2(tmp_path):
    (tmp_path / "pmo.yaml").write_text("name: t\n")
    res = pmo("run", "overview", "--project", str(tmp_path), "-p", "frist_year", "2001")
    assert res.returncode == 2
    assert "frist_year" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_new_creates_a_valid_project(tmp_path):
    res = pmo("new", str(tmp_path / "study"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "study" / "pmo.yaml").exists()
    res = pmo("new", str(tmp_path / "study"))
    assert res.returncode == 2
    assert "not empty" in res.stderr


def test_synth_refuses_existing_folder(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("x")
    res = pmo("synth", "--out", str(tmp_path / "p"), "--persons", "100", "--samples", "20", "--variants", "500")
    assert res.returncode == 2
    assert "exists" in res.stderr
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["mine.txt"]


def test_synth_samples_not_above_persons(tmp_path):
    res = pmo("synth", "--out", str(tmp_path / "p"), "--persons", "60", "--samples", "80")
    assert res.returncode == 2
    assert not (tmp_path / "p").exists()


def _all_commands():
    from pmo_workbench.cli import app, iter_commands

    return iter_commands(app)


def test_every_command_and_group_has_help_with_an_example():
    """Every command of the tree (groups and sub-commands included), through click's own help rendering."""
    from click.testing import CliRunner

    from pmo_workbench.cli import app

    commands = _all_commands()
    names = [name for name, _ in commands]
    assert {"pmo", "pmo run", "pmo import omop", "pmo import registry", "pmo cohort count",
            "pmo cohort select"} <= set(names)
    for name, _ in commands:
        res = CliRunner().invoke(app, [*name.split()[1:], "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert "Example:" in res.output, f"{name} --help has no example"
        example = res.output[res.output.index("Example:"):]
        assert f"{name} " in example or name == "pmo", f"{name}'s example does not use {name}"


def test_help_advertises_only_commands_and_tracks_that_exist():
    import re

    from click.testing import CliRunner

    from pmo_workbench.cli import app, available_tracks

    commands = {name for name, _ in _all_commands()}
    tracks = set(available_tracks())
    assert "model_development" in tracks  # the model track exists, so the help may name it
    for name, _ in _all_commands():
        text = CliRunner().invoke(app, [*name.split()[1:], "--help"]).output
        for line in re.findall(r"^\s+(pmo [^#\n]*)", text, flags=re.M):
            words = line.split()
            prefix = next((" ".join(words[:k]) for k in (3, 2, 1) if " ".join(words[:k]) in commands), None)
            assert prefix not in (None, "pmo"), f"{name} --help advertises {line!r}: no such command"
            if prefix == "pmo run":
                assert words[2] in tracks, f"{name} --help advertises a track that does not exist: {line!r}"
    run_help = CliRunner().invoke(app, ["run", "--help"]).output
    assert "Tracks: " + ", ".join(sorted(tracks, key=list(available_tracks()).index)) in " ".join(run_help.split())


@pytest.mark.parametrize("option, value", [("--timeout", "inf"), ("--timeout", "nan"), ("--memory-gb", "nan"),
                                           ("--memory-gb", "inf"), ("--memory-gb", "-1")])
def test_invalid_limits_are_one_line_exit_2(tmp_path, option, value):
    (tmp_path / "pmo.yaml").write_text("name: t\n")
    res = pmo("run", "overview", "--project", str(tmp_path), option, value)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "must be a finite number" in lines[0], res.stderr
    assert not (tmp_path / "runs").exists()


def test_config_problem_inside_the_notebook_exits_2_misconfigured(tmp_path):
    """`pmo run wgs_qc` on a new project without genotypes: the notebook raises ConfigError -> exit 2."""
    assert pmo("new", str(tmp_path / "p")).returncode == 0
    res = pmo("run", "wgs_qc", "--project", str(tmp_path / "p"), "--timeout", "600")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout.startswith("misconfigured: ")
    assert "pmo: run misconfigured: " in res.stderr and "sources.genotypes" in res.stderr
    assert "pmo: fix: " in res.stderr and "Traceback" not in res.stderr
    runs = list((tmp_path / "p" / "runs" / "wgs_qc").iterdir())
    assert len(runs) == 1
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["status"] == "misconfigured" and record["error"]["type"] == "ConfigError"
    html = (runs[0] / "report.html").read_text()
    assert "This run is misconfigured" in html and "Traceback" not in html
    index = (tmp_path / "p" / "runs" / "index.html").read_text()
    assert 'class="run misconfigured"' in index


def test_file_system_errors_are_one_line_exit_2(tmp_path):
    (tmp_path / "afile").write_text("x\n")
    res = pmo("new", str(tmp_path / "afile" / "study"))
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pmo: error: ") and "Traceback" not in res.stderr
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pmo.yaml").write_text("name: t\n")
    (tmp_path / "p" / "runs").write_text("a file where the runs folder should be\n")
    res = pmo("run", "overview", "--project", str(tmp_path / "p"))
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot create the run folder" in lines[0], res.stderr
