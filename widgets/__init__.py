"""Custom Jupyter widgets of the PMØ Workbench, imported as ``pmo_widgets``."""

from .cohort_builder import CohortBuilder
from .qc_explorer import QcExplorer

__all__ = ["CohortBuilder", "QcExplorer"]
