"""Custom Jupyter widgets of the PMØ Workbench, imported as ``pmo_widgets``."""
