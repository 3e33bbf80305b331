"""Custom Jupyter widgets of the PMØ Workbench, imported as ``pmo_widgets``."""

from .cohort_builder import CohortBuilder
from .qc_explorer import QcExplorer
from .risk_threshold import RiskThreshold

__all__ = ["CohortBuilder", "QcExplorer", "RiskThreshold"]
