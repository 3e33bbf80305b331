"""Interactive notebook runs write nothing beside the notebooks (#13 item 3).

Each track notebook runs with papermill, as a researcher would run it in JupyterLab (``output_dir`` left at its
default, working directory ``notebooks/``), inside a *copy of the repository* with the nbstripout filter active;
afterwards ``git status`` of the copy is clean, ignored files included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120,
                         env={"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    """The repository's files (tracked and new, not ignored) in a fresh git repository, committed."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, text=True, check=True).stdout.split("\0")
    copy = tmp_path_factory.mktemp("repo") / "workbench"
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / rel)
    _git(copy, "init", "-q")
    _git(copy, "config", "user.email", "t@example.org")
    _git(copy, "config", "user.name", "t")
    subprocess.run([sys.executable, "-m", "nbstripout", "--install", "--attributes", ".gitattributes"], cwd=copy,
                   check=True, timeout=120)
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "copy")
    return copy


def test_gitattributes_activate_nbstripout_and_notebooks_are_stored_stripped(repo_copy):
    assert _git(repo_copy, "check-attr", "filter", "--", "notebooks/overview.ipynb").strip().endswith(
        "filter: nbstripout")
    # the stored notebooks pass the filter unchanged: nothing to commit after a re-add
    _git(repo_copy, "add", "--renormalize", ".")
    assert _git(repo_copy, "status", "--porcelain") == ""


def test_an_executed_notebook_would_be_stripped_on_add(repo_copy, tmp_path):
    nb_path = repo_copy / "notebooks" / "overview.ipynb"
    original = nb_path.read_bytes()
    nb = nbformat.read(nb_path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="person P1 ...\n")]
    code.execution_count = 7
    nbformat.write(nb, nb_path)
    try:
        _git(repo_copy, "add", "notebooks/overview.ipynb")
        assert _git(repo_copy, "status", "--porcelain") == ""  # the outputs never reach the index
    finally:
        nb_path.write_bytes(original)
        _git(repo_copy, "add", "notebooks/overview.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("track", ["overview", "wgs_qc", "cohort_selection", "model_development"])
def test_running_a_notebook_interactively_writes_nothing_into_the_repository(repo_copy, writable_project, tmp_path,
                                                                            track):
    import papermill

    preset = repo_copy / "notebooks" / "params" / f"{track}.demo.yaml"
    params = yaml.safe_load(preset.read_text()) if preset.exists() else {}
    params["project"] = str(writable_project)
    papermill.execute_notebook(str(repo_copy / "notebooks" / f"{track}.ipynb"), str(tmp_path / f"{track}.ipynb"),
                               parameters=params, cwd=str(repo_copy / "notebooks"), kernel_name="python3",
                               progress_bar=False, execution_timeout=900)
    status = _git(repo_copy, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert status == "", f"{track} wrote into the repository:\n{status}"
