"""The `pmo` command line, run as a real subprocess: help with examples, version, exit codes, nothing written."""

from __future__ import annotations

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
