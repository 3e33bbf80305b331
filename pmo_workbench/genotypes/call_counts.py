"""One pass over the calls of a store: per-sample and per-variant genotype counts for sample/variant QC.

Rows held in the store's 2-bit copy (:mod:`.packed_calls`: biallelic rows whose calls are all diploid or
missing, nearly all of an autosomal WGS call set) are counted from it without decoding ``call_genotype``, by
a C kernel (:mod:`pmo_workbench.ckernels`, ``packed_counts.c``) on one thread per CPU: per-variant counts by
popcounts over 64-bit words, per-sample counts by walking only the non-hom-ref calls of a sparse row (most
rows of a large cohort) or, for a dense row, vertical 4-bit-lane counters. A QC pass of a store whose rows
are all packed so runs no numba code (numba's first call in a process costs about a second: see
:mod:`pmo_workbench.ckernels`). REF/ALT are read from the store as Arrow strings
(:mod:`.arrow_strings`), not through the variant table.
The other rows are read from the store's side file of them (:mod:`.unpacked_calls`: uncompressed, written at
import or on the first QC), or, for a store with many such rows, from ``call_genotype``:
biallelic diploid/haploid rows (nearly all of a WGS call set) take a fast path: each call's two int8 alleles
are read as one uint16 and mapped through a lookup table to a class (hom-ref, het, hom-var, haploid ref,
haploid alt, missing) and, in the same pass over the row, histogrammed (allele counts) and added to
per-sample counters by the variant's allele type; the carrier of a singleton is found in a second look at
that (rare) row.
Multi-allelic and polyploid rows go through a general kernel (both kernels are C: ``ckernels/gt_counts.c``).
The result is cached on the
:class:`~pmo_workbench.genotypes.store.Genotypes` object, so the embedded backend's ``sample_counts`` and
``variant_counts`` kernels (:mod:`pmo_workbench.genotypes.backends.embedded`) read the store once between them.

Examples
--------
>>> counts = compute_call_counts(g)  # g: the doctests' simulated set
>>> counts.sample[:3, SAMPLE_CALLED].tolist()  # called genotypes per sample
[677, 676, 680]
>>> int(counts.ac[0].sum()), int(counts.n_het[0])  # called alleles and diploid hets of the first variant
(80, 12)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.genotypes import packed_calls
from pmo_workbench.genotypes.alleles import (
    DELETION,
    INSERTION,
    TRANSITION,
    TRANSVERSION,
)
from pmo_workbench.genotypes.arrow_strings import read_variant_strings, string_buffers
from pmo_workbench.genotypes.unpacked_calls import (
    SparseCalls,
    load_unpacked_calls,
    read_side_rows,
    wanted_rows,
)

# per-sample counters
(SAMPLE_CALLED, SAMPLE_NOT_CALLED, SAMPLE_HOM_REF, SAMPLE_HET, SAMPLE_SINGLETON, SAMPLE_TS, SAMPLE_TV,
 SAMPLE_INS, SAMPLE_DEL) = range(9)
N_SAMPLE = 9
# call classes of the fast path
HOM_REF, HET, HOM_VAR, HAP_REF, HAP_ALT, MISSING, OTHER = range(7)
N_CLASS = 6
N_SLOTS = 7  # counter slots per allele type: the six classes and "other"
N_TYPES = 9  # allele type codes 0..8 of .alleles


def build_class_table() -> np.ndarray:
    """Lookup from the little-endian uint16 view of a call ``[a0, a1]`` to its class (int8; ``OTHER`` for any
    call the fast path does not count).

    Examples
    --------
    >>> lut = build_class_table()
    >>> int(lut[np.array([[0, 1]], dtype=np.int8).view(np.uint16)[0, 0]]) == HET
    True
    """
    lut = np.full(1 << 16, OTHER, dtype=np.int8)

    def code(a0: int, a1: int) -> int:
        return (a0 & 0xFF) | ((a1 & 0xFF) << 8)  # little-endian uint16 view of [a0, a1]

    lut[code(0, 0)] = HOM_REF
    lut[code(0, 1)] = lut[code(1, 0)] = HET
    lut[code(1, 1)] = HOM_VAR
    lut[code(0, -2)] = HAP_REF
    lut[code(1, -2)] = HAP_ALT
    lut[code(-1, -1)] = lut[code(-1, -2)] = MISSING
    return lut


if np.little_endian is False:  # pragma: no cover - the uint16 view assumes little-endian
    raise ImportError("the call-class table assumes a little-endian machine")

_LUT = build_class_table()


def count_fast_rows(codes, rows, atype, lut, hist, flagged, scounts, singles) -> None:
    """One pass per listed row: histogram its calls and add them to one thread's per-sample counters
    ``scounts`` [samples, types * slots] and ``singles`` [samples] (C: ``ckernels/gt_counts.c``).

    Rows holding a call outside the table's classes are undone and flagged for the general kernel; for a
    row whose ALT allele count is 1 the carrier gets a singleton.
    """
    ckernels.library().pmo_gt_fast_rows(codes, codes.shape[1], np.ascontiguousarray(rows, np.int64), len(rows),
                                        np.ascontiguousarray(atype, np.int64), lut, hist, flagged.view(np.uint8),
                                        scounts, scounts.shape[1], singles)


def count_general_rows(gt, rows, n_alleles, atype, ac, n_called, n_het, hom_ref, hom_var, sample) -> None:
    """Any ploidy, any number of alleles (Hail's rules); ``ac`` etc. are indexed like ``rows`` (C:
    ``ckernels/gt_counts.c``)."""
    gt = np.ascontiguousarray(gt, np.int8)
    atype = np.ascontiguousarray(atype, np.int8).reshape(len(atype), -1)
    ckernels.library().pmo_gt_general_rows(gt, gt.shape[1], gt.shape[2], np.ascontiguousarray(rows, np.int64),
                                           len(rows), np.ascontiguousarray(n_alleles, np.int64), atype,
                                           atype.shape[1], ac, ac.shape[1], n_called, n_het, hom_ref, hom_var,
                                           sample)


def count_sparse_rows(side: SparseCalls, n_alleles: np.ndarray, atype: np.ndarray, ac: np.ndarray,
                      n_called: np.ndarray, n_het: np.ndarray, hom_ref: np.ndarray, hom_var: np.ndarray,
                      sample: np.ndarray) -> None:
    """Count the side file's rows (:class:`~.unpacked_calls.SparseCalls`: the calls that are not all-reference)
    by the rules of :func:`count_general_rows`; ``n_alleles``, ``atype``, ``ac`` etc. are indexed like
    ``side.rows`` (C: ``ckernels/gt_counts.c``, which walks the listed calls only)."""
    samples = np.ascontiguousarray(side.samples)
    if samples.dtype not in (np.uint16, np.uint32):
        raise ValueError(f"sample indices of dtype {samples.dtype}, not uint16/uint32")
    calls = np.ascontiguousarray(side.calls, np.int8)
    atype = np.ascontiguousarray(atype, np.int8).reshape(len(atype), -1)
    code = ckernels.library().pmo_gt_sparse_rows(
        np.ascontiguousarray(side.ends, np.int64), samples.ctypes.data, samples.dtype.itemsize, calls,
        calls.shape[1], len(sample), len(side.rows), np.ascontiguousarray(n_alleles, np.int64), atype,
        atype.shape[1], ac, ac.shape[1], n_called, n_het, hom_ref, hom_var, sample)
    if code != 0:
        raise ValueError("the side file's entries do not fit its store (sample index or row ends out of range)")


@dataclass
class CallCounts:
    """Raw counts behind sample_qc and variant_qc.

    ``sample`` int64 [samples, 9] (columns ``SAMPLE_*``); per variant: ``ac`` int32 [variants, max alleles],
    ``n_called``, ``n_het`` (diploid het), ``n_hom_ref``/``n_hom_var`` (diploid 0/0 and 1/1) int64, and the
    ``n_alleles`` (int64) they were counted with.
    """

    sample: np.ndarray
    ac: np.ndarray
    n_called: np.ndarray
    n_het: np.ndarray
    n_hom_ref: np.ndarray
    n_hom_var: np.ndarray
    n_alleles: np.ndarray | None = None


def _fold_fast(scounts: np.ndarray, singles: np.ndarray, sample: np.ndarray) -> None:
    """Turn per-(allele type, class) counters [samples, 9 * 7] into the ``SAMPLE_*`` counters."""
    c = scounts.reshape(len(scounts), N_TYPES, N_SLOTS).astype(np.int64)
    alt = c[..., HET] + 2 * c[..., HOM_VAR] + c[..., HAP_ALT]  # alternate alleles [samples, type]
    sample[:, SAMPLE_CALLED] += c[..., :MISSING].sum(axis=(1, 2))
    sample[:, SAMPLE_NOT_CALLED] += c[..., MISSING].sum(axis=1)
    sample[:, SAMPLE_HOM_REF] += (c[..., HOM_REF] + c[..., HAP_REF]).sum(axis=1)
    sample[:, SAMPLE_HET] += c[..., HET].sum(axis=1)
    sample[:, SAMPLE_SINGLETON] += singles
    for col, kind in ((SAMPLE_TS, TRANSITION), (SAMPLE_TV, TRANSVERSION), (SAMPLE_INS, INSERTION),
                      (SAMPLE_DEL, DELETION)):
        sample[:, col] += alt[:, kind]


def _count_packed_rows(pool: ThreadPoolExecutor, words: np.ndarray, rows: np.ndarray, rtype: np.ndarray, ns: int,
                       hist: np.ndarray, het_acc: np.ndarray, hv_acc: np.ndarray, miss_acc: np.ndarray,
                       singles: np.ndarray) -> None:
    """Count the listed rows of 2-bit packed calls ``words`` uint64 [rows, words per row] with the C kernel.

    The rows are split into one contiguous run per thread; thread ``t`` adds to ``het_acc[t]``, ``hv_acc[t]``
    (int32 [types, samples]), ``miss_acc[t]`` and ``singles[t]`` ([samples]); ``hist`` [rows, 3] gets each
    row's het, hom-var and missing calls.
    """
    count = ckernels.library().pmo_count_packed_rows
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    rtype = np.ascontiguousarray(rtype, dtype=np.int64)
    bounds = np.linspace(0, len(rows), len(het_acc) + 1).astype(np.int64)

    def run(t: int) -> int:
        a, b = int(bounds[t]), int(bounds[t + 1])
        if a == b:
            return 0
        return count(words, words.shape[1], rows[a:b], b - a, rtype[a:b], N_TYPES, ns, hist[a:b], het_acc[t],
                     hv_acc[t], miss_acc[t], singles[t])

    codes = list(pool.map(run, range(len(het_acc))))
    if -1 in codes:
        raise MemoryError("out of memory in the packed-call counts")
    if -2 in codes:
        raise ValueError(f"allele type outside 0..{N_TYPES - 1} in the packed-call counts")


def _count_packed_chunks(g, pool: ThreadPoolExecutor, packable: np.ndarray, fast_type: np.ndarray, out: CallCounts,
                         het_acc: np.ndarray, hv_acc: np.ndarray, miss_acc: np.ndarray, singles: np.ndarray,
                         start: int = 0) -> bool:
    """Count the store's 2-bit copy straight from its chunk files (C: ``pmo_count_packed_chunks``, one call per
    thread of ``pool``, each decoding Blosc/LZ4 blocks into a small buffer of its own and counting their rows at
    once); the per-variant counts of the packable rows go to ``out``, the per-sample ones to thread ``t``'s
    ``het_acc[t]`` etc. as :func:`_count_packed_rows` adds them. The rows counted are ``start`` onwards, as many
    as ``packable`` has (``packable``, ``fast_type`` and ``out`` hold those rows only): only their chunks are
    read.

    Returns False, having counted nothing that matters, when the copy is compressed in a way the C decoder does
    not read (:func:`~.packed_calls.packed_layout`: a shuffle, another codec or typesize, or such a chunk): the
    caller then reads it through numcodecs (:func:`_count_packed_runs`).

    Raises
    ------
    ValueError
        A chunk file that is truncated or corrupt (the store, the array and the chunk named).
    OSError
        A chunk file that cannot be read.
    """
    ns = g.n_samples
    layout = packed_calls.packed_layout(g.store_path, g.n_variants, ns) if hasattr(g, "store_path") else None
    if layout is None:
        return False
    packed_calls.load_liblz4()
    lib = ckernels.library()
    stop = start + len(packable)
    n_chunks = -(-stop // layout.chunk_rows)  # the chunk after the last row's
    shared = np.array([start // layout.chunk_rows], np.int64)  # the next chunk to take
    status = np.zeros(4, np.int64)  # the first failure: code, chunk, errno, failed
    ok = np.ascontiguousarray(packable, dtype=bool).view(np.uint8)
    rtype = np.ascontiguousarray(fast_type, dtype=np.int64)
    directory = os.fsencode(layout.directory)
    fill = -1 if layout.fill is None else layout.fill
    nw = packed_calls.row_bytes(ns) // 8

    def run(t: int) -> int:
        return lib.pmo_count_packed_chunks(directory, ord(layout.separator), n_chunks, layout.chunk_rows, start,
                                           stop, nw, ok, rtype, N_TYPES, ns, fill, shared, status, out.n_called,
                                           out.n_het, out.n_hom_ref, out.n_hom_var, out.ac, out.ac.shape[1],
                                           het_acc[t], hv_acc[t], miss_acc[t], singles[t])

    list(pool.map(run, range(len(het_acc))))
    if not status[3]:
        return True
    code, chunk, err = (int(x) for x in status[:3])
    if code == packed_calls.BLOSC_UNSUPPORTED:
        return False
    where = f"{g.store_path}: {packed_calls.PACKED_NAME} chunk {chunk}{layout.separator}0"
    if code == -10:
        raise OSError(err, f"{where}: cannot be read ({os.strerror(err)})")
    if code == -11:
        raise MemoryError("out of memory in the packed-call counts")
    if code == -12:
        raise ValueError(f"allele type outside 0..{N_TYPES - 1} in the packed-call counts")
    message = packed_calls.BLOSC_ERRORS.get(code, f"decoder error {code}")
    raise ValueError(f"{where}: {message} (a corrupt store: delete it from the cache to import the input again)")


def _count_packed_runs(g, pool: ThreadPoolExecutor, packable: np.ndarray, fast_type: np.ndarray, chunk_size: int,
                       out: CallCounts, het_acc: np.ndarray, hv_acc: np.ndarray, miss_acc: np.ndarray,
                       singles: np.ndarray, first: int = 0) -> None:
    """:func:`_count_packed_chunks` for a copy it does not read: runs of rows decoded by numcodecs
    (:meth:`~.store.Genotypes.iter_packed`) and counted by :func:`_count_packed_rows` (the rows ``first``
    onwards, as many as ``packable`` has)."""
    ns = g.n_samples
    for start, stop, packed in g.iter_packed(chunk_size, reuse=True, rows=(first, first + len(packable))):
        start, stop = start - first, stop - first
        ok = packable[start:stop]
        every = bool(ok.all())
        rows = np.arange(stop - start) if every else np.flatnonzero(ok)
        if not len(rows):
            continue
        hist = np.zeros((len(rows), 3), np.int64)
        _count_packed_rows(pool, packed.view(np.uint64), rows, fast_type[start:stop][rows], ns, hist, het_acc, hv_acc,
                           miss_acc, singles)
        v = slice(start, stop) if every else rows + start
        het, hv, miss = hist[:, 0], hist[:, 1], hist[:, 2]
        out.n_called[v] = ns - miss
        out.n_het[v] = het
        out.n_hom_var[v] = hv
        out.n_hom_ref[v] = ns - miss - het - hv
        out.ac[v, 0] = 2 * (ns - miss - hv) - het
        out.ac[v, 1] = het + 2 * hv


def _fold_packed(het_acc: np.ndarray, hv_acc: np.ndarray, miss_acc: np.ndarray, singles: np.ndarray,
                 n_rows: int, sample: np.ndarray) -> None:
    """Add the packed-path counters (per thread, allele type and sample) to the ``SAMPLE_*`` counters."""
    het = het_acc.sum(axis=0, dtype=np.int64)  # [types, samples]
    hv = hv_acc.sum(axis=0, dtype=np.int64)
    miss = miss_acc.sum(axis=0, dtype=np.int64)
    n_het, n_hv = het.sum(axis=0), hv.sum(axis=0)
    sample[:, SAMPLE_CALLED] += n_rows - miss
    sample[:, SAMPLE_NOT_CALLED] += miss
    sample[:, SAMPLE_HOM_REF] += n_rows - miss - n_het - n_hv
    sample[:, SAMPLE_HET] += n_het
    sample[:, SAMPLE_SINGLETON] += singles.sum(axis=0)
    alt = het + 2 * hv
    for col, kind in ((SAMPLE_TS, TRANSITION), (SAMPLE_TV, TRANSVERSION), (SAMPLE_INS, INSERTION),
                      (SAMPLE_DEL, DELETION)):
        sample[:, col] += alt[kind]


def _count_gt_rows(pool: ThreadPoolExecutor, gt: np.ndarray, index: np.ndarray, rows: np.ndarray,
                   n_alleles: np.ndarray, atype: np.ndarray, fast_type: np.ndarray, fast_ok: bool, width: int,
                   out: CallCounts, scounts: np.ndarray, singles: np.ndarray) -> None:
    """Count the listed rows (indices into ``gt``) of decoded ``call_genotype`` rows ``gt`` (those of the
    variants ``index``) into ``out``; the fast path's rows are split over the threads of ``pool``, thread ``t``
    adding to ``scounts[t]`` and ``singles[t]``."""
    ns = gt.shape[1]
    sl = np.asarray(index, dtype=np.int64)
    biallelic = np.zeros(len(gt), dtype=bool)
    biallelic[rows] = n_alleles[sl][rows] == 2
    chosen = np.zeros(len(gt), dtype=bool)
    chosen[rows] = True
    general = np.flatnonzero(chosen & ~biallelic) if fast_ok else rows
    if fast_ok and biallelic.any():
        fast = np.flatnonzero(biallelic)
        hist = np.zeros((len(fast), N_CLASS), np.int64)
        flagged = np.zeros(len(fast), np.bool_)
        codes = gt.view(np.uint16).reshape(len(gt), ns)
        types = fast_type[sl]
        bounds = np.linspace(0, len(fast), len(scounts) + 1).astype(np.int64)
        list(pool.map(lambda t, a, b: count_fast_rows(codes, fast[a:b], types, _LUT, hist[a:b], flagged[a:b], scounts[t],
                                                 singles[t]), range(len(scounts)), bounds[:-1], bounds[1:]))
        ok = ~flagged
        v = sl[fast[ok]]
        h = hist[ok]
        out.n_called[v] = h[:, :MISSING].sum(axis=1)
        out.n_het[v] = h[:, HET]
        out.n_hom_ref[v] = h[:, HOM_REF]
        out.n_hom_var[v] = h[:, HOM_VAR]
        an = 2 * (h[:, HOM_REF] + h[:, HET] + h[:, HOM_VAR]) + h[:, HAP_REF] + h[:, HAP_ALT]
        ac1 = h[:, HET] + 2 * h[:, HOM_VAR] + h[:, HAP_ALT]
        out.ac[v, 0] = an - ac1
        out.ac[v, 1] = ac1
        general = np.sort(np.concatenate([general, fast[flagged]]))
    if len(general):
        ac = np.zeros((len(general), width), np.int32)
        vals = [np.zeros(len(general), np.int64) for _ in range(4)]
        count_general_rows(gt, general, n_alleles[sl], atype[sl], ac, *vals, out.sample)
        v = sl[general]
        out.ac[v] = ac
        out.n_called[v], out.n_het[v], out.n_hom_ref[v], out.n_hom_var[v] = vals
    if scounts.max(initial=0) > 2**30:  # fold before an int32 counter could overflow
        _fold_fast(scounts.sum(axis=0), np.zeros(ns, np.int64), out.sample)
        scounts[:] = 0


def read_n_alleles(g, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Alleles per variant (int64), from an embedded store's array without loading the variant table (the
    variants ``[start, stop)`` of ``rows``, or all)."""
    arr = g.read_array("variant_n_alleles", rows) if hasattr(g, "read_array") else None
    if arr is None:
        arr = g.variants["n_alleles"].to_numpy()
        arr = arr if rows is None else arr[rows[0]:rows[1]]
    return arr.astype(np.int64)


def classify_variant_alleles(g, n_alleles: np.ndarray, rows: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`~.alleles.classify_alt_alleles` of every variant of ``g``, REF and ALT read as Arrow strings and
    typed by a C loop over their bytes (``ckernels/gt_counts.c``, the rules of :func:`~.alleles.classify_allele`).

    Examples
    --------
    >>> kinds = classify_variant_alleles(g, read_n_alleles(g))  # g: the doctests' simulated set
    >>> from pmo_workbench.genotypes.alleles import classify_alt_alleles
    >>> ref, alt = read_variant_strings(g, "ref"), read_variant_strings(g, "alt")
    >>> bool((kinds == classify_alt_alleles(ref.to_numpy(zero_copy_only=False), alt.to_numpy(zero_copy_only=False),
    ...                                     read_n_alleles(g))).all())
    True
    """
    ref = read_variant_strings(g, "ref", rows)
    alt = read_variant_strings(g, "alt", rows)
    n = len(n_alleles)
    width = max(int(n_alleles.max()) - 1 if n else 0, 1)
    out = np.full((n, width), -1, dtype=np.int8)
    if n == 0:
        return out
    (ref_data, ref_off), (alt_data, alt_off) = string_buffers(ref), string_buffers(alt)
    ckernels.library().pmo_classify_alleles(ref_data, ref_off, alt_data, alt_off,
                                            np.ascontiguousarray(n_alleles, np.int64), n, out, width)
    return out


def _count_side_file(g, n_alleles: np.ndarray, atype: np.ndarray, width: int, out: CallCounts,
                     start: int = 0) -> None:
    """Count the rows of the store's side file (:mod:`.unpacked_calls`) into ``out`` (their variants' entries
    and ``out.sample``, which nothing else may change meanwhile): those from ``start`` on, as many as ``out``
    holds (for a pass in batches, read from the file batch by batch: :func:`~.unpacked_calls.read_side_rows`)."""
    stop = start + len(n_alleles)
    if start == 0 and stop == g.n_variants:
        side = load_unpacked_calls(g)
    else:  # only this batch's entries (a file to rebuild is loaded whole once)
        side = read_side_rows(g, start, stop)
        if side is None:
            whole = load_unpacked_calls(g)
            side = read_side_rows(g, start, stop) or (None if whole is None else whole.between(start, stop))
    if side is None or not len(side.rows):
        return
    v = side.rows
    ac = np.zeros((len(v), width), np.int32)
    vals = [np.zeros(len(v), np.int64) for _ in range(4)]
    count_sparse_rows(side, n_alleles[v], atype[v], ac, *vals, out.sample)
    out.ac[v] = ac
    out.n_called[v], out.n_het[v], out.n_hom_ref[v], out.n_hom_var[v] = vals


def _has_side_file(g) -> bool:
    """Whether the store's rows outside the 2-bit copy go to a side file (the whole store decides; kept on ``g``
    for a pass in batches)."""
    derived = getattr(g, "_derived", {})
    if "has_side_file" not in derived:
        derived["has_side_file"] = wanted_rows(g) is not None
    return derived["has_side_file"]


def compute_call_counts(g, chunk_size: int = 20_000, rows: tuple[int, int] | None = None) -> CallCounts:
    """Count calls per sample and per variant over the whole store (cached on ``g``), or over its variants
    ``[start, stop)`` of ``rows`` (not cached; per-variant arrays of those rows only, per-sample counts of those
    rows: a pass in batches adds them up).

    Rows in the store's 2-bit copy (:mod:`.packed_calls`) are counted from it without decoding
    ``call_genotype``; the other rows (multi-allelic, haploid, polyploid) from ``call_genotype``.

    Example
    -------
    >>> part = compute_call_counts(g, rows=(100, 300))
    >>> bool((part.n_het == compute_call_counts(g).n_het[100:300]).all())
    True
    """
    whole = rows is None or (rows[0] == 0 and rows[1] == g.n_variants)
    if whole:
        cached = getattr(g, "_derived", {}).get("call_counts")
        if cached is not None:
            return cached
        rows = None
    elif not 0 <= rows[0] <= rows[1] <= g.n_variants:
        raise IndexError(f"rows {rows[0]}:{rows[1]} outside the store's 0:{g.n_variants}")
    first = 0 if rows is None else rows[0]
    n_alleles = read_n_alleles(g, rows)
    atype = classify_variant_alleles(g, n_alleles, rows)
    ns, nv = g.n_samples, len(n_alleles)
    width = max(int(n_alleles.max()) if nv else 1, 2)
    out = CallCounts(np.zeros((ns, N_SAMPLE), np.int64), np.zeros((nv, width), np.int32),
                     np.zeros(nv, np.int64), np.zeros(nv, np.int64), np.zeros(nv, np.int64), np.zeros(nv, np.int64),
                     n_alleles)
    fast_ok = g.ploidy == 2 and ns > 0
    fast_type = np.where(atype[:, 0] >= 0, atype[:, 0], 0).astype(np.int64)
    k = ckernels.n_threads()
    gt_counters: list[np.ndarray] = []  # per-thread counters of the call_genotype path, made on first use

    def count_gt_rows(gt: np.ndarray, index: np.ndarray, rows: np.ndarray) -> None:
        if not gt_counters:
            gt_counters.extend([np.zeros((k, ns, N_TYPES * N_SLOTS), np.int32), np.zeros((k, ns), np.int64)])
        _count_gt_rows(pool, gt, index, rows, n_alleles, atype, fast_type, fast_ok, width, out, *gt_counters)

    use_packed = fast_ok and getattr(g, "has_packed", lambda: False)()
    with ThreadPoolExecutor(max_workers=k) as pool:
        if use_packed:
            packable = g.packable()[first:first + nv]
            het_acc = np.zeros((k, N_TYPES, ns), np.int32)
            hv_acc = np.zeros((k, N_TYPES, ns), np.int32)
            miss_acc = np.zeros((k, ns), np.int32)
            p_singles = np.zeros((k, ns), np.int64)
            have_side = not packable.all() and _has_side_file(g)
            # a few multi-allelic rows, from the side file: read and counted while the packed rows are counted
            side_pool = ThreadPoolExecutor(max_workers=1) if have_side else None
            try:
                side_done = side_pool.submit(_count_side_file, g, n_alleles, atype, width, out,
                                             first) if side_pool else None
                if not _count_packed_chunks(g, pool, packable, fast_type, out, het_acc, hv_acc, miss_acc, p_singles,
                                            first):
                    for acc in (het_acc, hv_acc, miss_acc, p_singles):
                        acc[:] = 0
                    _count_packed_runs(g, pool, packable, fast_type, chunk_size, out, het_acc, hv_acc, miss_acc,
                                       p_singles, first)
                if not have_side and not packable.all():  # many rows outside the copy: their Blosc blocks only
                    rest = np.flatnonzero(~packable)
                    for part in np.split(rest, np.flatnonzero(np.diff((rest + first) // chunk_size)) + 1):
                        count_gt_rows(g.read_gt_rows(part + first), part, np.arange(len(part)))
                if side_done is not None:
                    side_done.result()  # its per-sample counts are in out.sample from here on
            finally:
                if side_pool is not None:
                    side_pool.shutdown()
            _fold_packed(het_acc, hv_acc, miss_acc, p_singles, int(packable.sum()), out.sample)
        else:
            mask = None
            if rows is not None:
                mask = np.zeros(g.n_variants, bool)
                mask[first:first + nv] = True
            for chunk in g.iter_chunks(chunk_size, variant_mask=mask):
                gt = np.ascontiguousarray(chunk.gt)
                count_gt_rows(gt, chunk.index - first, np.arange(len(gt)))
    if gt_counters:
        _fold_fast(gt_counters[0].sum(axis=0), gt_counters[1].sum(axis=0), out.sample)
    if hasattr(g, "_derived") and rows is None:
        g._derived["call_counts"] = out
    return out
