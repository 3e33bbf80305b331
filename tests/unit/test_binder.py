"""Binder (repo2docker) builds the embedded demo at CI's versions, with its runs, and a quiet JupyterLab."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "python -m pmo_workbench.teaching.lab_environment" in text  # no news, no conflicting extension
    subprocess.run(["bash", "-n", str(BINDER / "postBuild")], check=True)
    subprocess.run(["bash", "-n", str(BINDER / "start")], check=True)


@pytest.mark.slow
def test_post_build_runs_in_a_copy_and_builds_the_demo_with_its_qc_run(tmp_path):
    """binder/postBuild as repo2docker runs it (in the repository's copy, the environment installed), with a smaller
    project (PMO_DEMO_ARGS) and this environment's Python; no network."""
    repo = tmp_path / "repo"
    shutil.copytree(BINDER, repo / "binder")
    prefix = tmp_path / "prefix"  # the Jupyter settings go here, not into this test's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMO_", "JUPYTER"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", NB_PYTHON_PREFIX=str(prefix),
               HOME=str(tmp_path), PMO_DEMO_ARGS="--persons 800 --samples 80 --variants 4000",
               PIP_NO_INDEX="1", MPLBACKEND="Agg")
    res = subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    demo = repo / "demo"
    runs = {}
    for record in sorted(demo.glob("runs/*/*/run.json")):
        runs.setdefault(record.parent.parent.name, []).append(json.loads(record.read_text())["status"])
    # the QC run before the newest delivery batch, the QC run after it, and every other track: all succeeded
    assert runs == {"overview": ["succeeded"], "wgs_qc": ["succeeded", "succeeded"],
                    "cohort_selection": ["succeeded"], "model_development": ["succeeded"]}, runs
    assert "incomplete" not in res.stdout and "pmo: failed" not in res.stderr
    from pmo_workbench.genotypes.deliveries import load_ledger

    assert sorted(set(load_ledger(demo)["batch_id"].astype(str))) == ["B1", "B2", "B3"]
    assert (demo / "runs" / "index.html").exists()
    workshops = sorted(p.name for p in (repo / "workshops").glob("*.ipynb"))
    assert workshops == ["01_wgs_qc.ipynb", "02_cohort_selection.ipynb", "03_model_development.ipynb"]
    assert '"solution"' not in (repo / "workshops" / workshops[0]).read_text()
    overrides = json.loads((prefix / "share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert (prefix / "share/jupyter/voila/templates/pmo/index.html.j2").exists()
    assert res.stdout.strip().splitlines()[-1].startswith("[setup] Jupyter:")


def test_binder_start_points_the_notebooks_at_the_demo(tmp_path):
    out = subprocess.run([str(BINDER / "start"), "sh", "-c", "echo $PMO_PROJECT"], capture_output=True, text=True,
                         env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]}, check=True)
    assert out.stdout.strip() == f"{tmp_path}/demo"
