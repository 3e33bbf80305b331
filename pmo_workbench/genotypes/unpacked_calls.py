"""A side file next to a genotype store: the calls of the rows outside its 2-bit copy, uncompressed.

A store's 2-bit copy (:mod:`.packed_calls`) holds nearly every row of a WGS call set; the few others
(multi-allelic sites, ~2 % at 2,500 x 1M) must be read from Blosc blocks of ``call_genotype``, and decoding
them cost a QC pass on the store about half its CPU. The store itself must not change (it stays byte-identical
for the same input), so those rows are written once, at import or on the first QC of a store imported before,
to ``<store>.unpacked.npz`` in the store's cache folder: an uncompressed ``.npz`` holding ``rows`` (int64
variant indices), ``gt`` (int8 [rows, samples, ploidy]) and ``identity`` (JSON of the store it was made from).

The file is written atomically (temporary file, then rename) and used only when

* it reads back whole: zip keeps a CRC-32 of each array, checked as the array is read, so a truncated or
  altered file raises instead of giving other calls;
* its identity equals the store's: the store's name, its source checksum and reader version, its shape, and the
  inode, size and modification time of the store's completion marker and ``call_genotype/.zarray`` (a store
  rebuilt in place gets new ones);
* its rows are exactly the store's rows outside the 2-bit copy.

Otherwise it is rebuilt from the store (or, where the cache folder is not writable, the rows are read from the
store for this pass only). A store with many rows outside the 2-bit copy (more than
:data:`MAX_FRACTION` of them or :data:`MAX_BYTES` of calls) gets no side file: its rows are read as before.

Examples
--------
>>> rows, gt = load_unpacked_calls(g)  # g: the doctests' simulated set (12 % multi-allelic rows)
>>> bool((gt == g.call_genotype.get_orthogonal_selection((rows, slice(None), slice(None)))).all())
True
>>> side_file_path(g.store_path).name.endswith(".unpacked.npz")
True
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from pmo_workbench.files import replace_atomically

FORMAT_VERSION = 1
MAX_FRACTION = 0.25
"""Largest share of a store's rows kept in a side file (beyond it the store is not mostly 2-bit anyway)."""
MAX_BYTES = 1 << 30
"""Largest side file (calls bytes)."""


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


def store_identity(g) -> dict:
    """What a side file must have been made from: the store's name, source, shape and file stamps."""
    store = Path(g.store_path)
    return {"format": FORMAT_VERSION, "store": store.name, "source_sha256": g.attrs.get("source_sha256"),
            "reader_version": g.attrs.get("reader_version"),
            "shape": [int(g.n_variants), int(g.n_samples), int(g.ploidy)],
            "complete": _file_stamp(store / ".complete"),
            "call_genotype": _file_stamp(store / "call_genotype" / ".zarray")}


def wanted_rows(g) -> np.ndarray | None:
    """Variant indices outside the 2-bit copy, or None when the store should have no side file."""
    if not g.has_packed():
        return None
    rows = np.flatnonzero(~g.packable())
    n_bytes = len(rows) * g.n_samples * g.ploidy
    if len(rows) > MAX_FRACTION * g.n_variants or n_bytes > MAX_BYTES:
        return None
    return rows


def read_side_file(g, rows: np.ndarray) -> np.ndarray | None:
    """The side file's calls when it is whole, made from this very store and holds ``rows``; else None."""
    path = side_file_path(g.store_path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            identity = json.loads(npz["identity"].tobytes().decode())
            if identity != store_identity(g):
                return None
            if not np.array_equal(npz["rows"], rows):
                return None
            gt = npz["gt"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        return None  # missing, truncated or altered (zip's CRC-32 does not match)
    if gt.dtype != np.int8 or gt.shape != (len(rows), g.n_samples, g.ploidy):
        return None
    return gt


def write_side_file(g, rows: np.ndarray) -> np.ndarray:
    """Read ``rows`` from the store and write them to its side file atomically; returns their calls.

    A cache folder that cannot be written leaves no file (the calls are still returned).
    """
    gt = np.ascontiguousarray(g.read_gt_rows(rows), dtype=np.int8)
    identity = np.frombuffer(json.dumps(store_identity(g)).encode(), dtype=np.uint8)
    try:
        with replace_atomically(side_file_path(g.store_path)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, rows=np.asarray(rows, np.int64), gt=gt, identity=identity)
    except OSError:
        pass
    return gt


def load_unpacked_calls(g) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows, gt)``: the rows outside the store's 2-bit copy and their calls int8 [rows, samples, ploidy], from
    the side file, which is (re)built when missing, stale or damaged; None when the store has no side file."""
    rows = wanted_rows(g)
    if rows is None:
        return None
    gt = read_side_file(g, rows) if len(rows) else np.zeros((0, g.n_samples, g.ploidy), np.int8)
    if gt is None:
        gt = write_side_file(g, rows)
    return rows, gt
