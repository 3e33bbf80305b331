"""Binder (repo2docker) builds the embedded demo at CI's versions, with its runs, and a quiet JupyterLab."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"


def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def test_binder_installs_the_project_constrained_by_ci_pins():
    lines = _requirement_lines(BINDER / "requirements.txt")
    assert "-c ../constraints.txt" in lines, "binder must install at the versions CI tests"
    installs = [line for line in lines if not line.startswith("-c")]
    # the project itself, without the hail/test extras: the workshops run on the embedded backend
    assert installs == ["-e .."], installs
    # pip resolves a nested -c relative to the requirements file: the constraints file must be there
    assert (BINDER / "../constraints.txt").resolve() == (ROOT / "constraints.txt").resolve()
    # repo2docker reads environment.yml before requirements.txt: there must be none in binder/
    assert not (BINDER / "environment.yml").exists()


def test_binder_python_matches_the_project():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.1[1-9]", runtime), runtime
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_constraints_pin_no_hail_for_binder_install():
    # hail and pyspark are pinned for `make test`, but binder's `-e ..` (no extras) never asks for them
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.lower().startswith(("hail", "pyspark"))]


def test_post_build_builds_the_demo_with_its_qc_run_and_quiet_lab():
    text = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK) and os.access(BINDER / "start", os.X_OK)
    assert "pmo demo --dir demo" in text  # synth + every track, WGS QC included
    assert "write_participant_copies('workshops')" in text
    overrides = json.loads((BINDER / "overrides.json").read_text())
    news = overrides["@jupyterlab/apputils-extension:notification"]
    assert news["fetchNews"] == "false" and news["checkForUpdates"] is False
    subprocess.run(["bash", "-n", str(BINDER / "postBuild")], check=True)
    subprocess.run(["bash", "-n", str(BINDER / "start")], check=True)


def test_binder_start_points_the_notebooks_at_the_demo(tmp_path):
    out = subprocess.run([str(BINDER / "start"), "sh", "-c", "echo $PMO_PROJECT"], capture_output=True, text=True,
                         env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]}, check=True)
    assert out.stdout.strip() == f"{tmp_path}/demo"
