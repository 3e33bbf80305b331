"""QC rules on read-level sequencing metrics (:func:`pmo_workbench.qc.sequencing_metrics`): ``low_coverage`` and
``contamination``, with thresholds ``min_mean_coverage`` and ``max_contamination`` of
:class:`~pmo_workbench.qc.thresholds.QcThresholds` (the keyword defaults equal those).

A sample without the metric (no metrics file delivered, or the file gives NA) is not flagged: a missing value
is not evidence of a problem; the report lists such samples.

Example
-------
>>> rm = pd.DataFrame({"mean_coverage": [31.0, 12.0, None], "contamination": [0.001, 0.002, 0.06]},
...                   index=pd.Index(["a", "b", "c"], name="sample_id"))
>>> {k: v.tolist() for k, v in flag_read_metrics(["a", "b", "c", "d"], rm).items()}
{'low_coverage': [False, True, False, False], 'contamination': [False, False, True, False]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

READ_REASONS = ("low_coverage", "contamination")
"""The reasons of this module, in the order :data:`pmo_workbench.qc.rules.REASONS` lists them."""


def _column(read_metrics: pd.DataFrame | None, ids: Sequence[str], column: str) -> np.ndarray:
    """``column`` of the metrics table (indexed by sample_id, or with a sample_id column) for ``ids``, NaN where
    missing."""
    if read_metrics is None or column not in read_metrics.columns:
        return np.full(len(ids), np.nan)
    table = read_metrics.set_index("sample_id") if "sample_id" in read_metrics.columns else read_metrics
    values = pd.to_numeric(table[column], errors="coerce").astype("float64")
    return values.groupby(level=0).first().reindex([str(i) for i in ids]).to_numpy(dtype=np.float64,
                                                                                  na_value=np.nan)


def flag_low_coverage(mean_coverage: np.ndarray, *, min_mean_coverage: float = 20.0) -> np.ndarray:
    """``low_coverage``: mean aligned coverage (x) below ``min_mean_coverage``; NaN flags nothing.

    Example
    -------
    >>> flag_low_coverage(np.array([30.0, 11.5, np.nan])).tolist()
    [False, True, False]
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(mean_coverage, dtype=np.float64) < min_mean_coverage


def flag_contamination(contamination: np.ndarray, *, max_contamination: float = 0.03) -> np.ndarray:
    """``contamination``: estimated contamination (fraction) above ``max_contamination``; NaN flags nothing.

    Example
    -------
    >>> flag_contamination(np.array([0.002, 0.21808, np.nan])).tolist()
    [False, True, False]
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(contamination, dtype=np.float64) > max_contamination


def flag_read_metrics(ids: Sequence[str], read_metrics: pd.DataFrame | None, *, min_mean_coverage: float = 20.0,
                      max_contamination: float = 0.03) -> dict[str, np.ndarray]:
    """The flags of :data:`READ_REASONS` for ``ids`` (all False without a metrics table)."""
    return {
        "low_coverage": flag_low_coverage(_column(read_metrics, ids, "mean_coverage"),
                                          min_mean_coverage=min_mean_coverage),
        "contamination": flag_contamination(_column(read_metrics, ids, "contamination"),
                                            max_contamination=max_contamination),
    }
