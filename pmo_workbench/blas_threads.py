"""OpenBLAS's idle worker threads: let them sleep soon after work instead of spinning ~0.1 s of CPU at start.

numpy's OpenBLAS starts its worker threads when numpy is loaded, and each one then busy-waits for work for
2^28 CPU cycles (about 0.1 s) before it sleeps: in every process, whether it ever multiplies a matrix or not.
On the 2-core machines the workbench runs on that is 0.1 s of a core per process (7 % of a QC pass on an
imported store of 2,500 x 1M, and of every ``pmo`` command and notebook kernel), taken from the import's own
threads while it lasts. OpenBLAS reads the spin from ``OPENBLAS_THREAD_TIMEOUT`` (2^n cycles, n in 4..30) when
it loads; :data:`SPIN_LOG2_CYCLES` keeps a worker spinning ~0.4 ms after each call (so back-to-back
matrix products, a PCA, still find it awake: measured no slower) and stops the start-up spin.

Set by ``import pmo_workbench`` (the package imports no numpy before it), only when the process has not set it
(``setdefault``: a user's own value wins) and numpy is not loaded yet (too late then: OpenBLAS has read it).
Child processes (notebook kernels of the runner) inherit it.

Example
-------
>>> shorten_blas_spin()  # numpy is already loaded in the doctests: too late, nothing is set
False
"""

from __future__ import annotations

import os
import sys

SPIN_LOG2_CYCLES = 20
"""log2 of the CPU cycles an idle OpenBLAS worker spins before it sleeps (OpenBLAS' own default is 28)."""


def shorten_blas_spin() -> bool:
    """Set ``OPENBLAS_THREAD_TIMEOUT`` to :data:`SPIN_LOG2_CYCLES` unless it is set or numpy is already loaded;
    return whether it took effect (numpy, hence OpenBLAS, not yet loaded)."""
    if "numpy" in sys.modules:
        return False
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(SPIN_LOG2_CYCLES))
    return True
