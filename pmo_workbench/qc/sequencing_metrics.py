"""A project's read-level sequencing metrics (:func:`sequencing_metrics`), one row per ingested sample.

The metrics files of each delivery are parsed with MultiQC at ingest
(:mod:`pmo_workbench.genotypes.delivery_metrics`, :func:`pmo_workbench.genotypes.deliveries.ingest_batch`) and
kept in the project's ``genotypes/read_metrics.parquet`` with the unit, tool and source file of every value.

Example
-------
>>> sequencing_metrics(project).columns.tolist()  # project: an empty project folder
['mean_coverage', 'pct_ge_20x', 'pct_mapped', 'pct_duplicates', 'insert_size_median', 'contamination', 'ploidy_estimate', 'metrics_source']
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pmo_workbench.genotypes.deliveries import load_ledger, project_root_of
from pmo_workbench.genotypes.delivery_metrics import (
    LONG_COLUMNS,
    METRICS,
    parse_metrics_files,
    pivot_metrics,
    read_metrics_path,
)


def sequencing_metrics(project: Any, *, long: bool = False) -> pd.DataFrame:
    """A project's read-level metrics: one row per ingested sample (``pmo ingest``), indexed by ``sample_id``.

    Parameters
    ----------
    project
        A project folder (``str``/``Path``) or a :class:`~pmo_workbench.project.Project`.
    long
        Return the long table instead (``sample_id``, ``metric``, ``value``, ``unit``, ``tool``,
        ``source_file``, ``batch``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`METRICS` (units in ``.attrs["units"]``) and ``metrics_source``; a sample whose files
        lack a metric has NA there. Every sample of the delivery ledger has a row (all NA when no metrics
        file was delivered); an empty table for a project with nothing ingested.

    Example
    -------
    >>> sequencing_metrics(project).empty  # project: an empty project folder
    True
    """
    root = project_root_of(project)
    path = read_metrics_path(root)
    table = pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=[*LONG_COLUMNS, "batch"])
    if long:
        return table
    ids = load_ledger(root)["sample_id"].astype(str).tolist()
    ids += table["sample_id"].astype(str).tolist()
    if "value_text" in table.columns:  # stored: numbers and labels in separate columns (Parquet is typed)
        table = table.assign(value=table["value"].astype(object).where(table["value"].notna(), table["value_text"]))
    return pivot_metrics(table, ids)


__all__ = ["METRICS", "parse_metrics_files", "pivot_metrics", "sequencing_metrics"]
