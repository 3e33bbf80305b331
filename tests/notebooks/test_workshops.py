"""The workshop sessions: stored clean, every exercise with a hidden solution and a check; nbval passes with the
solutions; without them (the participants' copies) the checks fail, so they can tell a wrong answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from pmo_workbench.teaching.checks import EXERCISES, ExerciseNotSolved, check
from pmo_workbench.teaching.participant import WORKSHOPS, strip_solutions, write_participant_copies

NOTEBOOKS = sorted(WORKSHOPS.glob("*.ipynb"))


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_three_workshops_one_per_track():
    assert [p.name for p in NOTEBOOKS] == ["01_wgs_qc.ipynb", "02_cohort_selection.ipynb",
                                           "03_model_development.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_workshop_structure(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored with outputs"
    assert nb.cells[0].cell_type == "markdown" and "**Goals.**" in nb.cells[0].source
    assert sum("parameters" in _tags(c) for c in code) == 1
    exercises = [i for i, c in enumerate(nb.cells) if "exercise" in _tags(c)]
    assert len(exercises) >= 3
    for i in exercises:
        solution, checking = nb.cells[i + 1], nb.cells[i + 2]
        assert "..." in nb.cells[i].source  # the participant's blank
        assert "solution" in _tags(solution) and solution.metadata["jupyter"]["source_hidden"] is True
        assert "check" in _tags(checking) and checking.source.startswith("check(")
        name = checking.source.split('"')[1]
        assert name in EXERCISES, f"{path.name}: unknown exercise {name}"


def test_workshops_pass_nbval_with_solutions(writable_project, tmp_path):
    env = dict(os.environ, PMO_PROJECT=str(writable_project), MPLBACKEND="Agg")
    for nb in NOTEBOOKS:
        (tmp_path / nb.name).write_bytes(nb.read_bytes())
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
           "--rootdir", str(tmp_path), *[nb.name for nb in NOTEBOOKS]]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and " failed" not in res.stdout


def test_participant_copies_have_no_solutions_and_their_checks_fail(writable_project, tmp_path):
    copies = write_participant_copies(tmp_path / "participant")
    assert [p.name for p in copies] == [p.name for p in NOTEBOOKS]
    for copy in copies:
        nb = nbformat.read(copy, as_version=4)
        assert not [c for c in nb.cells if "solution" in _tags(c)]
        assert [c for c in nb.cells if "check" in _tags(c)]
    # run the blank WGS QC workshop: the first check must stop it, saying that there is no answer yet
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(copies[0]), str(tmp_path / "out.ipynb"),
                                   parameters={"project": str(writable_project)}, progress_bar=False,
                                   kernel_name="python3", cwd=str(tmp_path))
    assert err.value.ename == "ExerciseNotSolved" and "no answer yet" in err.value.evalue


def test_strip_keeps_everything_but_solutions():
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    stripped = strip_solutions(nb)
    assert len(stripped.cells) == len(nb.cells) - sum("solution" in _tags(c) for c in nb.cells)
    assert len(nb.cells) == len(nbformat.read(NOTEBOOKS[1], as_version=4).cells)  # the original is untouched


def test_wrong_answers_fail_with_a_hint_not_the_answer(small_project):
    from pmo_workbench.cohort import select_cohort

    mi = {"name": "first_mi", "entry": {"domain": "diagnosis", "codes": ["DI21*"], "occurrence": "first",
                                        "date_range": ["2005-01-01", "2025-12-31"]}}
    right = int(select_cohort(small_project, mi).attrition["n_persons"].iloc[0])
    check("cohort.first_mi", right, str(small_project))
    with pytest.raises(ExerciseNotSolved) as err:
        check("cohort.first_mi", right + 1, str(small_project))
    assert str(right) not in str(err.value).split("--")[1]
    with pytest.raises(ExerciseNotSolved, match="no answer yet"):
        check("cohort.first_mi", ..., str(small_project))
    with pytest.raises(ExerciseNotSolved):
        check("cohort.first_mi", float(right), str(small_project))  # a count is an integer
    wrong = {**mi, "entry": {**mi["entry"], "codes": ["DI22*"]}}
    with pytest.raises(ExerciseNotSolved):
        check("cohort.statin_definition", wrong, str(small_project))
    with pytest.raises(ExerciseNotSolved):
        check("model.net_benefit", 0.5, None, y=[0, 1, 1, 0], p=[0.05, 0.9, 0.2, 0.3], threshold=0.1)
    # hand computation: flagged p >= 0.1 -> 3 persons, TP 2, FP 1: 2/4 - 1/4 * 0.1/0.9
    check("model.net_benefit", 2 / 4 - 1 / 4 * (0.1 / 0.9), None, y=[0, 1, 1, 0], p=[0.05, 0.9, 0.2, 0.3],
          threshold=0.1)


def test_workshops_are_listed_in_the_docs():
    text = (Path(__file__).resolve().parents[2] / "docs" / "teaching.md").read_text()
    assert "notebooks/workshops/" in text
