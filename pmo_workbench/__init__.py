"""PMØ Workbench: WGS QC, cohort selection and model development for a Danish personalised-medicine programme.

The library behind the track notebooks in ``notebooks/``; ``ARCHITECTURE.md`` shows the layers and where new pieces go, ``docs/`` the user documentation.
"""

from __future__ import annotations

from pmo_workbench.arrow_allocator import commit_arrow_memory_on_demand
from pmo_workbench.blas_threads import shorten_blas_spin

shorten_blas_spin()  # before anything loads numpy (and with it OpenBLAS)
commit_arrow_memory_on_demand()  # before anything loads pyarrow (and with it mimalloc)

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, looked up on first use (importlib.metadata costs ~30 ms at every import)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pmo-workbench")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            return "0.0.0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
