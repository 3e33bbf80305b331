"""Custom Jupyter widgets of the PMØ Workbench, imported as ``pmo_widgets``."""

from .cohort_builder import CohortBuilder
from .qc_explorer import QcExplorer
from .risk_threshold import RiskThreshold

__all__ = ["CohortBuilder", "QcExplorer", "RiskThreshold", "in_scheduled_run"]


def in_scheduled_run() -> bool:
    """Whether this kernel runs a scheduled report (``pmo run`` sets ``PMO_RUN_MARKER``), where no widget is shown.

    The track notebooks' last cell opens the track's widget in JupyterLab and says where it would be in a report.

    Examples
    --------
    >>> import os
    >>> in_scheduled_run() == ("PMO_RUN_MARKER" in os.environ)
    True
    """
    import os

    return "PMO_RUN_MARKER" in os.environ
