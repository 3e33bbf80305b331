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

from pmo_workbench.files import replace_atomically
from pmo_workbench.overview import disclose
from pmo_workbench.privacy import check_no_cpr
from pmo_workbench.project import Project, load_project

DEFAULT_PROJECT = "../demo"


def open_project(project: str | Path | None) -> Project:
    """Load the notebook's project: the parameter, else ``$PMO_PROJECT`` (set by ``pmo lab``), else ``../demo``."""
    chosen = project or os.environ.get("PMO_PROJECT") or DEFAULT_PROJECT
    return load_project(chosen)


def show(table: pd.DataFrame | pd.Series, *, mode: str, min_count: int, caption: str = "") -> object:
    """A table as it may be displayed in this mode (small counts suppressed in export), styled for the report."""
    shown = disclose(table, mode=mode, min_count=min_count)
    frame = shown.to_frame() if isinstance(shown, pd.Series) else shown
    styler = frame.style.format(na_rep="x" if mode == "export" else "")
    if mode == "export" and frame.isna().to_numpy().any():
        caption = f"{caption} (x: suppressed, a count below {min_count} or a cell that would reveal one)".strip()
    if caption:
        styler = styler.set_caption(caption)
    return styler


def save_table(table: pd.DataFrame | pd.Series, output_dir: str | Path, name: str) -> Path:
    """Write ``table`` as ``output_dir/name.parquet`` atomically, after checking it holds no CPR-like value."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
        frame.columns = [str(c) for c in frame.columns]
    check_no_cpr(frame)
    target = Path(output_dir) / f"{name}.parquet"
    with replace_atomically(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return target
