"""numba kernels of the embedded backend, one module per concern; the C kernels are in :mod:`pmo_workbench.ckernels`.

A kernel here is a compiled loop over numpy arrays and nothing else: it reads no store, builds no table and
knows no backend. The embedded backend (:mod:`pmo_workbench.genotypes.backends.embedded`) and the genotype
store call them; the QC methods reach them only through the backend registry.

- :mod:`.calls`: call-level conversions (calls to ALT dosage, the 2-bit copy's pack and unpack);
- :mod:`.call_counts`: the per-sample and per-variant genotype counters of the rows outside the 2-bit copy;
- :mod:`.king`: KING-robust pair counts by bit-packed popcounts, and the kinship of the counts;
- :mod:`.ld`: the LD-pruning scan.

Kernels on the path of a plain QC pass (:mod:`.calls`, :mod:`.call_counts`) are declared with
:func:`pmo_workbench.lazy_njit.njit`, so that numba is imported on their first call only (a pass on a store whose
rows are all in the 2-bit copy calls none of them); :mod:`.king` and :mod:`.ld` use ``numba`` directly
(a parallel kernel and an LLVM intrinsic), and are imported by the methods that run them.

Examples
--------
>>> import numpy as np
>>> from pmo_workbench.numba_kernels.calls import fill_dosage
>>> gt = np.array([[[0, 1], [1, -2], [-1, -1]]], dtype=np.int8)
>>> dosage, ploidy = np.empty((1, 3), np.int8), np.empty((1, 3), np.int8)
>>> fill_dosage(gt, dosage, ploidy)
>>> dosage.tolist(), ploidy.tolist()
([[1, 1, -1]], [[2, 1, 0]])
"""
