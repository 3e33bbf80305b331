"""Participant copies of the workshop notebooks: the solution cells removed, the exercise cells kept.

In ``notebooks/workshops/`` every exercise has three cells: the exercise (tag ``exercise``, ``answer = ...``),
its solution (tag ``solution``, source hidden in JupyterLab) and the check (tag ``check``). CI runs the notebooks
as stored, solutions included (nbval); participants get copies without the solution cells, in which every check
fails until the exercise is solved.

Examples
--------
>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[
...     nbformat.v4.new_code_cell("answer = ...", metadata={"tags": ["exercise"]}),
...     nbformat.v4.new_code_cell("answer = 3", metadata={"tags": ["solution"]})])
>>> [c.source for c in strip_solutions(nb).cells]
['answer = ...']
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from pmo_workbench.files import write_text_atomic

WORKSHOPS = Path(__file__).resolve().parents[2] / "notebooks" / "workshops"
"""The workshop notebooks of a source checkout."""


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cells tagged ``solution`` and without outputs."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def write_participant_copies(out_dir: str | Path, source: str | Path = WORKSHOPS) -> list[Path]:
    """Write every workshop notebook of ``source`` without its solutions into ``out_dir``; return the paths.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in write_participant_copies(tempfile.mkdtemp())]
    ['01_wgs_qc.ipynb', '02_cohort_selection.ipynb', '03_model_development.ipynb']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        write_text_atomic(target, nbformat.writes(strip_solutions(nb)) + "\n")
        written.append(target)
    return written
