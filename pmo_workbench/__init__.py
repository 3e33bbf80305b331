"""PMØ Workbench: WGS QC, cohort selection and model development for a Danish personalised-medicine programme.

The library behind the track notebooks in ``notebooks/``; see ``DESIGN.md`` in the shared folder for the plan.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pmo-workbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
