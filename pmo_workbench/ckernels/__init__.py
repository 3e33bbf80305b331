"""C kernels, loaded with :mod:`ctypes`: the QC pass on a store (packed call counts, HWE tests, strings), the VCF
import (record parser, BGZF inflater: ``vcf.h``) and KING kinship counts.

Why C and not numba (ARCHITECTURE.md, "A new compiled loop"): a QC pass over a million variants takes about one
second of work, the same as plink2's whole run, and the first call of any cached numba function in a process
costs another second (numba builds its compiler context and imports ``scipy.linalg``). The kernels that the
QC pass on a store needs are therefore compiled C, built by setuptools with the package (``pip install -e .``,
``make setup``); so are the VCF import and KING kinship, the steps every user runs first (at 1,000 samples x
100k variants numba's start-up was a third of their time). A ctypes call releases the GIL, so the callers run one
call per thread.

Examples
--------
>>> import numpy as np
>>> two, excess = np.empty(1), np.empty(1)
>>> library().pmo_hwe_midp(np.array([37]), np.array([200]), np.array([85]), 1, two, excess)
>>> f"{two[0]:.10e}"  # Hail's documentation: 1.1337210383168987e-06
'1.1337210383e-06'
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
from pathlib import Path

import numpy as np

_MODULE = "pmo_workbench.ckernels._lib"


def _array(dtype: type, writable: bool = False) -> type:
    flags = "C_CONTIGUOUS,WRITEABLE" if writable else "C_CONTIGUOUS"
    return np.ctypeslib.ndpointer(dtype=dtype, ndim=None, flags=flags)


_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
# name: (restype, argtypes) -- ndpointer arguments check dtype and layout on every call
_SIGNATURES = {
    "pmo_count_packed_rows": (ctypes.c_int, [
        _array(np.uint64), _I64, _array(np.int64), _I64, _array(np.int64), _I64, _I64,
        _array(np.int64, True), _array(np.int32, True), _array(np.int32, True), _array(np.int32, True),
        _array(np.int64, True)]),
    # the QC pass straight from the 2-bit copy's chunk files (packed_counts.c) and their decoder (blosc_lz4.c)
    "pmo_count_packed_chunks": (ctypes.c_int, [
        ctypes.c_char_p, ctypes.c_int32, _I64, _I64, _I64, _I64, _I64, _array(np.uint8), _array(np.int64), _I64,
        _I64, ctypes.c_int32, _array(np.int64, True), _array(np.int64, True), _array(np.int64, True),
        _array(np.int64, True), _array(np.int64, True), _array(np.int64, True), _array(np.int32, True), _I64,
        _array(np.int32, True), _array(np.int32, True), _array(np.int32, True), _array(np.int64, True)]),
    "pmo_lz4_load": (ctypes.c_int, [ctypes.c_char_p]),
    "pmo_blosc_info": (ctypes.c_int, [_PTR, _I64, _array(np.int64, True)]),
    "pmo_blosc_decode": (_I64, [_PTR, _I64, _PTR, _I64]),
    "pmo_zstd_load": (ctypes.c_int, [ctypes.c_char_p]),
    "pmo_hwe_midp": (None, [
        _array(np.int64), _array(np.int64), _array(np.int64), _I64, _array(np.float64, True),
        _array(np.float64, True)]),
    "pmo_unpack_vlen": (_I64, [
        _array(np.uint8), _I64, _I64, _array(np.int64, True), _array(np.uint8, True), _I64, _I64]),
    "pmo_format_loci": (_I64, [
        _array(np.int64), _array(np.int64), _I64, _array(np.uint8), _array(np.int64), _I64,
        _array(np.int64, True), _array(np.uint8, True), _I64]),
    "pmo_split_alleles": (_I64, [_array(np.uint8), _array(np.int64), _array(np.uint8), _array(np.int64), _I64,
                                 _array(np.int64, True), _array(np.int64, True), _I64, _array(np.uint8, True)]),
    # the VCF import (vcf.h): pointers to pmo_vcf_spec / pmo_vcf_out structures and to text buffers
    "pmo_vcf_parse": (_I64, [_PTR, _I64, _PTR, _PTR]),
    "pmo_hash_key": (ctypes.c_uint64, [ctypes.c_char_p, _I64]),
    "pmo_packed_row_bytes": (_I64, [_I64]),
    "pmo_find_byte": (_I64, [_PTR, _I64, ctypes.c_int32, ctypes.c_int32]),
    "pmo_pack_calls": (None, [_array(np.int8), _I64, _I64, _I64, _array(np.uint8, True), _array(np.uint8, True)]),
    "pmo_inflate_load": (ctypes.c_int, [ctypes.c_char_p]),
    "pmo_bgzf_scan": (_I64, [_PTR, _I64, _array(np.int64, True), _array(np.int64, True), _I64,
                             ctypes.POINTER(_I64)]),
    "pmo_bgzf_inflate": (_I64, [_PTR, _array(np.int64), _I64, _array(np.uint8, True), _I64]),
    "pmo_pack_vlen": (_I64, [_array(np.uint8), _array(np.int64), _array(np.int32), _I64, _I64, _I64,
                             ctypes.c_int32, _array(np.uint8, True), _I64]),
    "pmo_string_runs": (_I64, [_array(np.uint8), _array(np.int64), _array(np.int32), _I64, _I64,
                               _array(np.int64, True)]),
    # call counts of rows outside the 2-bit copy (genotypes/call_counts.py)
    "pmo_gt_fast_rows": (None, [_array(np.uint16), _I64, _array(np.int64), _I64, _array(np.int64), _array(np.int8),
                                _array(np.int64, True), _array(np.uint8, True), _array(np.int32, True), _I64,
                                _array(np.int64, True)]),
    "pmo_gt_general_rows": (None, [_array(np.int8), _I64, _I64, _array(np.int64), _I64, _array(np.int64),
                                   _array(np.int8), _I64, _array(np.int32, True), _I64, _array(np.int64, True),
                                   _array(np.int64, True), _array(np.int64, True), _array(np.int64, True),
                                   _array(np.int64, True)]),
    "pmo_gt_sparse_rows": (ctypes.c_int, [_array(np.int64), _PTR, _I64, _array(np.int8), _I64, _I64, _I64,
                                          _array(np.int64), _array(np.int8), _I64, _array(np.int32, True), _I64,
                                          _array(np.int64, True), _array(np.int64, True), _array(np.int64, True),
                                          _array(np.int64, True), _array(np.int64, True)]),
    "pmo_allele_lists": (_I64, [_array(np.int32), _I64, _array(np.int64), _I64, _array(np.int32, True),
                                _array(np.int32, True), _array(np.int32, True), _array(np.float64, True)]),
    "pmo_classify_alleles": (None, [_array(np.uint8), _array(np.int64), _array(np.uint8), _array(np.int64),
                                    _array(np.int64), _I64, _array(np.int8, True), _I64]),
    # KING kinship
    "pmo_king_counts": (None, [_array(np.uint64), _array(np.uint64), _array(np.uint64), _I64, _I64,
                               _array(np.int64), _I64, _array(np.uint32, True), _array(np.uint32, True),
                               _array(np.uint32, True), _array(np.uint32, True)]),
    "pmo_king_planes": (None, [_array(np.int8), _I64, _I64, _I64, _array(np.uint64, True),
                               _array(np.uint64, True), _array(np.uint64, True), _array(np.uint64, True)]),
    "pmo_king_planes_packed": (None, [_array(np.uint8), _I64, _array(np.int64), _I64, _I64, _I64,
                                      _array(np.uint64, True), _array(np.uint64, True), _array(np.uint64, True),
                                      _array(np.uint64, True)]),
    "pmo_king_phi": (None, [_array(np.uint32), _array(np.uint32), _array(np.uint32), _I64,
                            _array(np.float64, True)]),
    "pmo_king_select": (_I64, [_array(np.uint32), _array(np.uint32), _array(np.uint32), _I64, ctypes.c_double,
                               ctypes.c_int32, _array(np.int64, True), _array(np.int64, True),
                               _array(np.float64, True), _I64]),
    "pmo_king_pair_phi": (None, [_array(np.uint32), _array(np.uint32), _array(np.uint32), _I64, _array(np.int64),
                                 _array(np.int64), _I64, _array(np.float64, True)]),
    "pmo_unpack_dosage": (None, [_array(np.uint8), _I64, _I64, _I64, _array(np.int8, True),
                                 _array(np.int8, True)]),
    # polygenic-score sums (model/pgs_kernels.py)
    "pmo_pgs_score_rows": (ctypes.c_int, [_array(np.uint8), _I64, _array(np.int64), _I64, _I64,
                                          _array(np.float64), _array(np.float64), _array(np.int64), _I64,
                                          ctypes.c_int32, _array(np.float64, True), _array(np.int64, True)]),
}


@functools.cache
def library() -> ctypes.CDLL:
    """The kernels' shared library with typed functions (loaded once).

    Raises
    ------
    ImportError
        When the library was not built, or is older than its C sources (an editable install is not rebuilt
        by editing a ``.c`` file): run ``make setup`` or ``pip install -e .`` with a C compiler.
    """
    spec = importlib.util.find_spec(_MODULE)
    if spec is None or not spec.origin:
        raise ImportError(f"{_MODULE} is not built: run `make setup` (or `pip install -e .`) with a C compiler "
                          "(gcc or clang) on the PATH")
    stale = stale_sources(Path(spec.origin), Path(__file__).parent)
    if stale:
        raise ImportError(f"{spec.origin} is older than {', '.join(stale)}: rebuild it with `make setup` "
                          "(or `pip install -e .`)")
    lib = ctypes.CDLL(spec.origin)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def stale_sources(built: Path, source_dir: Path) -> list[str]:
    """Names of the C sources (``.c``, ``.h``) in ``source_dir`` changed after the library ``built`` was made (an
    installed package holds no sources: only an editable install can go stale)."""
    made = built.stat().st_mtime
    return sorted(p.name for pattern in ("*.c", "*.h") for p in source_dir.glob(pattern) if p.stat().st_mtime > made)


def n_threads() -> int:
    """Threads for the kernels: ``PMO_THREADS`` if set, else the CPUs this process may use."""
    env = os.environ.get("PMO_THREADS")
    if env:
        return max(int(env), 1)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
