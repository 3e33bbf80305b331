"""Read a store's VLenUTF8 string array straight into an Arrow string array, without Python str objects.

A chunk of a zarr string array is the numcodecs VLenUTF8 encoding (a uint32 item count, then per item a uint32
byte length and the UTF-8 bytes) under the array's compressor; a C loop (:mod:`pmo_workbench.ckernels`) turns
it into Arrow's offsets and data buffers, and reports a chunk shorter than its recorded lengths. At a million
variants this is several times faster than decoding to an object array (one str per value) and converting that. Arrays with other codecs, and chunks never written, are read the
ordinary way.

Examples
--------
>>> import tempfile, zarr, numcodecs
>>> root = zarr.open_group(zarr.DirectoryStore(tempfile.mkdtemp()), mode="w")
>>> arr = root.create("s", shape=3, chunks=2, dtype=object, object_codec=numcodecs.VLenUTF8())
>>> arr[:] = np.array(["A", "", "TTG"], dtype=object)
>>> read_string_array(arr).to_pylist()
['A', '', 'TTG']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from pmo_workbench.genotypes.store_arrays import read_strings, strings_from_chunks

if TYPE_CHECKING:
    import zarr


def _is_vlen_utf8(arr: zarr.Array) -> bool:
    import numcodecs

    filters = arr.filters or []
    return arr.dtype == object and arr.ndim == 1 and len(filters) == 1 and isinstance(filters[0], numcodecs.VLenUTF8)


def read_string_array(arr: zarr.Array) -> pa.Array:
    """The whole 1-D string array ``arr`` as ``pa.string()`` (``pa.large_string()`` beyond 2 GiB of text).

    Missing values (None) read as empty strings, as the VLenUTF8 codec stores them.
    """
    n = arr.shape[0]
    if not _is_vlen_utf8(arr) or n == 0:
        return pa.array(np.asarray(arr[:], dtype=object), type=pa.string())
    size = arr.chunks[0]
    n_chunks = -(-n // size)
    bufs: list[np.ndarray | None] = []
    for c in range(n_chunks):
        key = f"{arr.path}/{c}" if arr.path else str(c)
        try:
            raw = arr.store[key]
        except KeyError:  # a chunk never written: read below through zarr (its fill value)
            bufs.append(None)
            continue
        bufs.append(np.frombuffer(arr.compressor.decode(raw) if arr.compressor else raw, dtype=np.uint8))
    return strings_from_chunks(bufs, n, size, arr.path, lambda start, stop: arr[start:stop])


def read_variant_strings(g, name: str, rows: tuple[int, int] | None = None) -> pa.Array:
    """The variant column ``name`` (``"ref"``, ``"alt"``, ``"filters"``, ``"id"``) of a store as Arrow strings.

    Read from an embedded store's ``variant_<name>`` array (the variant table's object columns cost more than
    a whole QC pass at a million variants; its chunk files straight, :mod:`.store_arrays`, where they allow),
    else from the ``variants`` table of ``g``; kept on ``g``. With ``rows=(start, stop)`` only those variants,
    read from the chunks holding them; only the last batch's are kept (a pass in batches holds one at a time).
    """
    derived = getattr(g, "_derived", {})  # read once per opened store (sample_qc and variant_qc both need them)
    key = f"variant_strings_{name}"
    if rows is not None and key not in derived and hasattr(g, "store_path") and hasattr(g, "_array"):
        batch = derived.get("variant_strings_batch")  # the current batch's columns (counts and table read both)
        if batch is None or batch[0] != tuple(rows):
            batch = derived["variant_strings_batch"] = (tuple(rows), {})
        if name not in batch[1]:
            got = read_strings(g.store_path, f"variant_{name}", rows)
            if got is None:
                arr = g._array(f"variant_{name}")
                values = arr[rows[0]:rows[1]] if arr is not None else g.variants[name].to_numpy(dtype=object)[
                    rows[0]:rows[1]]
                got = pa.array(["" if v is None else str(v) for v in values], type=pa.string())
            batch[1][name] = got
        return batch[1][name]
    if rows is not None:
        return read_variant_strings(g, name).slice(rows[0], rows[1] - rows[0])
    if key not in derived:
        if hasattr(g, "store_path") and hasattr(g, "_array"):  # the store's files, without zarr where they allow
            derived[key] = read_strings(g.store_path, f"variant_{name}")
            if derived[key] is not None:
                return derived[key]
        arr = g._array(f"variant_{name}") if hasattr(g, "_array") else None
        if arr is None:
            derived[key] = pa.array(g.variants[name].to_numpy(dtype=object), type=pa.string())
        else:
            derived[key] = read_string_array(arr)
    return derived[key]


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)`` of an Arrow string array, for a C loop: its bytes (uint8, at least one) and int64
    offsets into them [n + 1].

    Examples
    --------
    >>> data, offsets = string_buffers(pa.array(["A", "", "TTG"]).slice(1))
    >>> bytes(data[offsets[0]:offsets[-1]]), offsets.tolist()
    (b'TTG', [1, 1, 4])
    """
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32 if strings.type == pa.string() else np.int64)
    offsets = offsets[strings.offset:strings.offset + len(strings) + 1].astype(np.int64)
    data = strings.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    return data, offsets
