"""A side file next to a genotype store: the calls of the rows outside its 2-bit copy, as sparse lists.

A store's 2-bit copy (:mod:`.packed_calls`) holds nearly every row of a WGS call set; the few others
(multi-allelic sites, ~2 % at 2,500 x 1M) must be read from Blosc blocks of ``call_genotype``, and decoding
them cost a QC pass on the store about half its CPU. The store itself must not change (it stays byte-identical
for the same input), so those rows are written once, at import or on the first QC of a store imported before,
to ``<store>.unpacked.npz`` in the store's cache folder: an uncompressed ``.npz`` holding ``rows`` (int64
variant indices), for each row the calls that are not all-reference (``0/0``): ``ends`` (int64, the end of
each row's entries), ``samples`` (uint16, or uint32 beyond 65,535 samples) and ``calls`` (int8 [entries,
ploidy]), and ``identity`` (JSON of the store it was made from). Every call not listed is all-reference, so a
row costs its non-reference and missing calls only (at 2,500 x 1M 40 % of the dense calls'
bytes, and their counting, :func:`pmo_workbench.genotypes.call_counts.count_sparse_rows`, touches only those).

The file is written atomically (temporary file, then rename) and used only when

* it reads back whole: zip keeps a CRC-32 of each array, checked as the array is read, so a truncated or
  altered file raises instead of giving other calls;
* its identity equals the store's: the side file's format version, the store's name, its source checksum and
  reader version, its shape, and the inode, size and modification time of the store's completion marker and
  ``call_genotype/.zarray`` (a store rebuilt in place gets new ones); a side file of an older format is
  rebuilt;
* its rows are exactly the store's rows outside the 2-bit copy, and its entries fit them (``ends``
  non-decreasing, ending at the number of entries; each row's samples within the store's).

An import gathers those rows as it writes them (:class:`UnpackedRowsGatherer`, fed by the VCF reader), and
the side file of a new store is written from them: the store is not read back (at 2,500 x 250k that read-back
took 0.34 s of CPU, a tenth of the import's). Otherwise it is rebuilt from the store (or, where the cache folder is not writable, the rows are read from the
store for this pass only). A store with many rows outside the 2-bit copy (more than
:data:`MAX_FRACTION` of them or :data:`MAX_BYTES` of calls) gets no side file: its rows are read as before.

Examples
--------
>>> side = load_unpacked_calls(g)  # g: the doctests' simulated set (12 % multi-allelic rows)
>>> bool((side.dense(g.n_samples) == g.call_genotype.get_orthogonal_selection((side.rows, slice(None),
...                                                                            slice(None)))).all())
True
>>> side_file_path(g.store_path).name.endswith(".unpacked.npz")
True
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pmo_workbench.files import replace_atomically

if TYPE_CHECKING:  # the store module imports this one
    from pmo_workbench.genotypes.store import Genotypes

FORMAT_VERSION = 2  # 1: dense int8 calls [rows, samples, ploidy]
MAX_FRACTION = 0.25
"""Largest share of a store's rows kept in a side file (beyond it the store is not mostly 2-bit anyway)."""
MAX_BYTES = 1 << 30
"""Largest side file (calls bytes)."""
_WRITE_ROWS = 2048  # rows read from the store at a time while a side file is written


@dataclass
class SparseCalls:
    """Calls of ``rows`` (int64 variant indices) as lists of the calls that are not all-reference: row ``j``'s
    entries are ``ends[j - 1]:ends[j]`` (``ends[-1]`` read as 0) of ``samples`` (uint16 or uint32) and ``calls``
    (int8 [entries, ploidy]); every other call of the row is all-reference."""

    rows: np.ndarray
    ends: np.ndarray
    samples: np.ndarray
    calls: np.ndarray

    def dense(self, n_samples: int) -> np.ndarray:
        """The rows' calls int8 [rows, samples, ploidy] (for tests and small stores)."""
        out = np.zeros((len(self.rows), n_samples, self.calls.shape[1]), np.int8)
        row_of = np.repeat(np.arange(len(self.rows)), np.diff(self.ends, prepend=0))
        out[row_of, self.samples.astype(np.int64)] = self.calls
        return out

    def between(self, start: int, stop: int) -> SparseCalls:
        """The rows ``start <= row < stop``, numbered from ``start`` (``self`` when that is all of them)."""
        a, b, lo, hi = _entry_bounds(self.rows, self.ends, start, stop)
        if a == 0 and b == len(self.rows) and start == 0:
            return self
        return SparseCalls(self.rows[a:b] - start, self.ends[a:b] - lo, self.samples[lo:hi], self.calls[lo:hi])

    def fits(self, n_samples: int, ploidy: int) -> bool:
        """Whether the arrays are consistent with each other and with a store of ``n_samples`` x ``ploidy``."""
        ends, m = self.ends, len(self.samples)
        return (self.rows.dtype == np.int64 and ends.dtype == np.int64 and len(ends) == len(self.rows)
                and self.samples.dtype == sample_dtype(n_samples) and self.calls.dtype == np.int8
                and self.calls.shape == (m, ploidy) and (len(ends) == 0 or int(ends[-1]) == m)
                and bool((np.diff(ends, prepend=0) >= 0).all()) and bool((np.diff(ends, prepend=0) <= n_samples).all())
                and (m == 0 or int(self.samples.max()) < n_samples))


def sample_dtype(n_samples: int) -> np.dtype:
    """The dtype of a side file's sample indices: uint16 up to 65,536 samples, else uint32."""
    return np.dtype(np.uint16 if n_samples <= 1 << 16 else np.uint32)


def sparsify(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, samples, calls)`` of dense calls int8 [rows, samples, ploidy]: per row the number of calls that
    are not all-reference, their sample indices (:func:`sample_dtype`) and the calls, row by row in sample order.

    Examples
    --------
    >>> n, s, c = sparsify(np.array([[[0, 0], [0, 1], [-1, -1]], [[0, 0], [0, 0], [2, 2]]], np.int8))
    >>> n.tolist(), s.tolist(), c.tolist()
    ([2, 1], [1, 2, 2], [[0, 1], [-1, -1], [2, 2]])
    """
    ploidy = gt.shape[2] if gt.ndim == 3 else 1
    if ploidy in (1, 2, 4, 8) and gt.flags.c_contiguous:  # one comparison per call: the call read as one integer
        listed = gt.view(f"<u{ploidy}").reshape(gt.shape[:2]) != 0
    else:
        listed = (gt != 0).any(axis=2)
    rows, samples = np.nonzero(listed)
    return listed.sum(axis=1).astype(np.int64), samples.astype(sample_dtype(gt.shape[1])), gt[rows, samples]


class UnpackedRowsGatherer:
    """The calls of the rows outside a new store's 2-bit copy, gathered block by block as the import writes them
    (:meth:`add`), so that its side file needs no read-back; :meth:`result` gives them as :class:`SparseCalls`,
    or None once they pass :data:`MAX_BYTES` of dense calls (such a store gets no side file anyway).

    Examples
    --------
    >>> gt = np.array([[[0, 1], [0, 0]], [[2, 0], [1, 1]], [[0, 0], [0, 0]]], np.int8)
    >>> gatherer = UnpackedRowsGatherer(n_samples=2, ploidy=2)
    >>> gatherer.add(100, gt, np.array([True, False, False]))  # rows 100-102: 101, 102 outside the 2-bit copy
    >>> side = gatherer.result()
    >>> side.rows.tolist(), side.ends.tolist(), side.samples.tolist(), side.calls.tolist()
    ([101, 102], [2, 2], [0, 1], [[2, 0], [1, 1]])
    """

    def __init__(self, n_samples: int, ploidy: int) -> None:
        self.n_samples, self.ploidy = n_samples, ploidy
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] | None = []
        self._n_rows = 0

    def add(self, first_row: int, gt: np.ndarray, in_copy: np.ndarray) -> None:
        """Take the rows of ``gt`` (int8 [rows, samples, ploidy], variant ``first_row`` onwards) that are not
        ``in_copy`` (:func:`.packed_calls.in_packed_copy`)."""
        if self._parts is None:
            return
        unpacked = np.flatnonzero(~np.asarray(in_copy, dtype=bool))
        if len(unpacked):
            self.add_rows(unpacked + first_row, gt[unpacked])

    def add_rows(self, rows: np.ndarray, gt: np.ndarray) -> None:
        """Take the calls ``gt`` (int8 [len(rows), samples, ploidy]) of the variants ``rows`` (after those added
        before)."""
        if self._parts is None or len(rows) == 0:
            return
        self._n_rows += len(rows)
        if self._n_rows * self.n_samples * self.ploidy > MAX_BYTES:
            self._parts = None  # too many to keep: the store gets no side file
            return
        counts, samples, calls = sparsify(np.ascontiguousarray(gt, dtype=np.int8))
        self._parts.append((np.asarray(rows, np.int64), counts, samples, calls))

    def result(self) -> SparseCalls | None:
        """The rows gathered, in the order added (file order), or None when there were too many."""
        if self._parts is None:
            return None
        parts = self._parts
        return SparseCalls(
            np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64),
            np.cumsum(np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64), dtype=np.int64),
            np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, sample_dtype(self.n_samples)),
            np.concatenate([p[3] for p in parts]) if parts else np.zeros((0, self.ploidy), np.int8))


def side_file_path(store_path: str | Path) -> Path:
    """The side file of the store at ``store_path``: ``<store>.unpacked.npz`` next to it."""
    store_path = Path(store_path)
    return store_path.parent / f"{store_path.name}.unpacked.npz"


def _file_stamp(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def store_identity(g: Genotypes) -> dict:
    """What a side file must have been made from: the format, the store's name, source, shape and file stamps."""
    store = Path(g.store_path)
    return {"format": FORMAT_VERSION, "store": store.name, "source_sha256": g.attrs.get("source_sha256"),
            "reader_version": g.attrs.get("reader_version"),
            "shape": [int(g.n_variants), int(g.n_samples), int(g.ploidy)],
            "complete": _file_stamp(store / ".complete"),
            "call_genotype": _file_stamp(store / "call_genotype" / ".zarray")}


def wanted_rows(g: Genotypes) -> np.ndarray | None:
    """Variant indices outside the 2-bit copy, or None when the store should have no side file."""
    if not g.has_packed():
        return None
    rows = np.flatnonzero(~g.packable())
    n_bytes = len(rows) * g.n_samples * g.ploidy
    if len(rows) > MAX_FRACTION * g.n_variants or n_bytes > MAX_BYTES:
        return None
    return rows


def read_side_file(g: Genotypes, rows: np.ndarray) -> SparseCalls | None:
    """The side file's calls when it is whole, of the current format, made from this very store and holds
    ``rows``; else None."""
    path = side_file_path(g.store_path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            identity = json.loads(npz["identity"].tobytes().decode())
            if identity != store_identity(g):
                return None
            side = SparseCalls(npz["rows"], npz["ends"], npz["samples"], npz["calls"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        return None  # missing, truncated, altered (zip's CRC-32 does not match) or of another format
    if not np.array_equal(side.rows, rows) or not side.fits(g.n_samples, g.ploidy):
        return None
    return side


def write_side_file(g: Genotypes, rows: np.ndarray) -> SparseCalls:
    """Read ``rows`` from the store and write them to its side file atomically; returns their calls.

    The rows are read a few thousand at a time (the dense calls of all of them could be a gigabyte). A cache
    folder that cannot be written leaves no file (the calls are still returned).
    """
    rows = np.asarray(rows, np.int64)
    # groups of about _WRITE_ROWS rows that never split a chunk of call_genotype (each chunk's blocks decoded once)
    chunk = np.asarray(rows // g.call_genotype.chunks[0])
    firsts = np.flatnonzero(np.diff(chunk, prepend=-1))  # each chunk's first row in ``rows``
    cuts, last = [0], 0
    for f in firsts.tolist():
        if f - last >= _WRITE_ROWS:
            cuts.append(f)
            last = f
    cuts.append(len(rows))
    gatherer = UnpackedRowsGatherer(g.n_samples, g.ploidy)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        gatherer.add_rows(rows[a:b], g.read_gt_rows(rows[a:b]))
    side = gatherer.result()
    if side is None:  # cannot happen: wanted_rows() keeps the rows within MAX_BYTES
        raise ValueError(f"{len(rows)} rows are too many for a side file")
    return save_side_file(g, side)


def save_side_file(g: Genotypes, side: SparseCalls) -> SparseCalls:
    """Write ``side`` (the calls of the store's rows outside its 2-bit copy) to the store's side file atomically,
    with the store's identity; returns it. A cache folder that cannot be written leaves no file."""
    identity = np.frombuffer(json.dumps(store_identity(g)).encode(), dtype=np.uint8)
    try:
        with replace_atomically(side_file_path(g.store_path)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, rows=side.rows, ends=side.ends, samples=side.samples, calls=side.calls, identity=identity)
    except OSError:
        pass
    return side


def _entry_bounds(rows: np.ndarray, ends: np.ndarray, start: int, stop: int) -> tuple[int, int, int, int]:
    """``(a, b, lo, hi)``: the rows ``start <= row < stop`` are ``rows[a:b]``, their entries ``lo:hi``."""
    a, b = (int(x) for x in np.searchsorted(rows, [start, stop]))
    return a, b, (int(ends[a - 1]) if a else 0), (int(ends[b - 1]) if b else 0)


def _stored_member(path: Path, zf: zipfile.ZipFile, name: str, lo: int | None = None, hi: int | None = None
                   ) -> np.ndarray | None:
    """Rows ``lo:hi`` (all for None) of the array ``name`` of the npz file ``path`` (open as ``zf``), read from
    the file at their offset; None when the member is not stored uncompressed or not an array this reads."""
    info = zf.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            return None
        start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30],
                                                                                                  "little")
        fh.seek(start)
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            return None
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        if fortran or dtype.hasobject or not shape:
            return None
        lo, hi = (0, shape[0]) if lo is None else (lo, hi)
        if not 0 <= lo <= hi <= shape[0]:
            return None
        per_row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        data_start = fh.tell()
        if data_start + shape[0] * per_row > start + info.file_size:
            return None
        fh.seek(data_start + lo * per_row)
        raw = fh.read((hi - lo) * per_row)
    if len(raw) != (hi - lo) * per_row:
        return None
    return np.frombuffer(raw, dtype=dtype).reshape((hi - lo, *shape[1:]))


def read_side_rows(g: Genotypes, start: int, stop: int) -> SparseCalls | None:
    """The side file's rows ``start <= row < stop``, numbered from ``start``, reading only their entries from
    the file (a QC pass in batches holds one batch's rows, not the whole file: at 2,500 x 1M, 40 MB); None when
    the file is missing, of another store or format, or not stored as this reads it (the caller then loads it
    whole with :func:`load_unpacked_calls`, which rebuilds a bad one).

    Example
    -------
    >>> side = load_unpacked_calls(g)  # g: the doctests' simulated set
    >>> part = read_side_rows(g, 100, 700)
    >>> (part.rows + 100).tolist() == [r for r in side.rows.tolist() if 100 <= r < 700]
    True
    """
    path = side_file_path(g.store_path)
    try:
        with zipfile.ZipFile(path) as zf:
            stored = _stored_member(path, zf, "identity")
            if stored is None or json.loads(stored.tobytes().decode()) != store_identity(g):
                return None
            rows, ends = _stored_member(path, zf, "rows"), _stored_member(path, zf, "ends")
            if rows is None or ends is None or len(rows) != len(ends):
                return None
            a, b, lo, hi = _entry_bounds(rows, ends, start, stop)
            samples, calls = _stored_member(path, zf, "samples", lo, hi), _stored_member(path, zf, "calls", lo, hi)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    if samples is None or calls is None:
        return None
    part = SparseCalls(rows[a:b] - start, ends[a:b] - lo, samples, calls)
    return part if part.fits(g.n_samples, g.ploidy) and hi >= lo else None


def load_unpacked_calls(g: Genotypes, gathered: SparseCalls | None = None) -> SparseCalls | None:
    """The calls of the rows outside the store's 2-bit copy, from the side file, which is (re)built when missing,
    stale or damaged; None when the store has no side file.

    ``gathered``: those rows as the import that wrote the store gathered them (:class:`UnpackedRowsGatherer`);
    the side file is then written from them, and the store is not read, when they are exactly the store's rows
    outside the 2-bit copy and fit its shape.
    """
    rows = wanted_rows(g)
    if rows is None:
        return None
    if len(rows) == 0:
        return SparseCalls(rows, np.zeros(0, np.int64), np.zeros(0, sample_dtype(g.n_samples)),
                           np.zeros((0, g.ploidy), np.int8))
    side = read_side_file(g, rows)
    if side is not None:
        return side
    if gathered is not None and np.array_equal(gathered.rows, rows) and gathered.fits(g.n_samples, g.ploidy):
        return save_side_file(g, gathered)
    return write_side_file(g, rows)
