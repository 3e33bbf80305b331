"""Helpers the track notebooks call so they stay thin: open the project, show and save tables safely.

Examples
--------
>>> import pandas as pd, tempfile
>>> out = tempfile.mkdtemp()
>>> path = save_table(pd.DataFrame({"n": [7]}), out, "counts")
>>> path.name
'counts.parquet'
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from pmo_workbench.privacy.disclosure_layer import Disclosure
from pmo_workbench.project import Project, load_project
from pmo_workbench.rendering import MAX_ROWS, HtmlTable, render_table

DEFAULT_PROJECT = "../demo"


def open_project(project: str | Path | None) -> Project:
    """Load the notebook's project: the parameter, else ``$PMO_PROJECT`` (set by ``pmo lab``), else ``../demo``."""
    chosen = project or os.environ.get("PMO_PROJECT") or DEFAULT_PROJECT
    return load_project(chosen)


def show(table: pd.DataFrame | pd.Series, disclosure: Disclosure, *, kind: str = "counts", caption: str = "",
         name: str | None = None, output_dir: str | Path | None = None, max_rows: int = MAX_ROWS,
         decimals: dict[str, int] | None = None, units: dict[str, str] | None = None) -> HtmlTable:
    """A table as it may be shown in the run's mode, rendered for the report.

    The table passes :meth:`Disclosure.release` as ``kind`` (``counts``, ``individual``, ``aggregate``, ...; see
    :data:`~pmo_workbench.privacy.disclosure_layer.KINDS`) and then the one renderer
    (:func:`~pmo_workbench.rendering.render_table`: integers as integers, no index column, at most ``max_rows``
    rows with the full table written as ``<name>.csv`` in ``output_dir`` and linked).

    Examples
    --------
    >>> t = pd.DataFrame({"F": [3, 40, 22], "M": [30, 41, 19]}, index=pd.Index(["a", "b", "c"], name="region"))
    >>> html = show(t, Disclosure("export", 5), caption="Persons").html
    >>> 'class="num">x<' in html, "nan" in html
    (True, False)
    """
    shown = disclosure.release(table, kind, what=caption or name or "")
    return render_table(shown, caption=caption, export=disclosure.export, footnote=disclosure.footnote,
                        max_rows=max_rows, name=name, output_dir=output_dir, decimals=decimals, units=units)


def save_table(table: pd.DataFrame | pd.Series, output_dir: str | Path | None, name: str,
               disclosure: Disclosure | None = None, *, kind: str = "counts") -> Path | None:
    """Write ``table`` as ``output_dir/name.parquet`` atomically through the disclosure layer
    (:meth:`Disclosure.write_table`; default: internal mode) after a CPR scan; ``output_dir`` None writes nothing."""
    return (disclosure or Disclosure("internal")).write_table(table, output_dir, name, kind=kind)
