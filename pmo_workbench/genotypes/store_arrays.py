"""Whole arrays of a VCF Zarr store read without zarr and numcodecs: what a QC pass on a store needs.

Importing zarr and numcodecs (which scans the installed packages' entry points for codecs) costs a QC pass on a
store about 0.1 s of CPU, a tenth of plink2's whole run of the same tables, while the arrays it reads are few
and simple: 1-D or row-chunked arrays of numbers, booleans or VLenUTF8 strings, each chunk one Blosc 1 frame
(zstd or LZ4, no shuffle: ``store_writer.COMPRESSOR``). Their metadata is JSON (``.zarray``, ``.zattrs``); the
frames are decoded by the C decoder of ``ckernels/blosc_lz4.c`` (zstd streams by the system's libzstd, LZ4 by
liblz4 or that file's own decoder), the strings turned into Arrow arrays by a C loop (:func:`strings_from_chunks`,
which :mod:`.arrow_strings` uses for arrays read through zarr too).

Every reader returns None where it cannot read the array so (no such array, another compressor, a shuffle or
filter, a chunk never written, no libzstd): the caller then reads it through zarr, as before.

Examples
--------
>>> read_attrs(g.store_path)["n_samples"]  # g: the doctests' simulated set
40
>>> bool((read_array(g.store_path, "variant_position") == g.variants["position"].to_numpy()).all())
True
>>> read_strings(g.store_path, "sample_id").to_pylist()[:2]
['S01', 'S02']
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.genotypes.packed_calls import BLOSC_ERRORS, BLOSC_SLACK, BLOSC_UNSUPPORTED, load_liblz4

if TYPE_CHECKING:  # imported where Arrow strings are built: an import of a VCF needs no pyarrow (~30 ms)
    import pyarrow as pa


@functools.cache
def load_libzstd() -> bool:
    """Whether the C Blosc decoder found libzstd (Debian's libzstd1, which numcodecs' c-blosc bundles a copy of)."""
    lib = ckernels.library()
    return any(lib.pmo_zstd_load(name) == 0 for name in (b"libzstd.so.1", b"libzstd.dylib"))


def read_attrs(store_path: str | Path) -> dict[str, Any]:
    """The store's attributes (``.zattrs``; empty when it has none), as zarr reads them."""
    try:
        return json.loads((Path(store_path) / ".zattrs").read_text())
    except FileNotFoundError:
        return {}


def read_meta(store_path: str | Path, name: str) -> dict[str, Any] | None:
    """The ``.zarray`` metadata of the store's array ``name``; None when it has no such array."""
    try:
        return json.loads((Path(store_path) / name / ".zarray").read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _chunk_range(meta: dict[str, Any], rows: tuple[int, int] | None) -> tuple[int, int]:
    """The chunks ``[first, stop)`` holding the rows ``[start, stop)`` of ``rows`` (all chunks for None)."""
    n, size = meta["shape"][0], meta["chunks"][0]
    if rows is None:
        return 0, -(-n // size) if n else 0
    start, stop = rows
    if not 0 <= start <= stop <= n:
        raise IndexError(f"rows {start}:{stop} outside 0:{n}")
    return (start // size, -(-stop // size)) if stop > start else (0, 0)


def _chunks(store_path: Path, name: str, meta: dict[str, Any], want: str, rows: tuple[int, int] | None = None
            ) -> tuple[np.ndarray, int] | None:
    """The decoded bytes of the chunks of array ``name`` one after the other (uint8, with the decoder's slack at
    the end) and the bytes per chunk; only the chunks holding ``rows`` (``(start, stop)``; all for None). None when
    this reader does not read the array (see the module)."""
    shape, chunks, comp = meta.get("shape"), meta.get("chunks"), meta.get("compressor")
    if (meta.get("zarr_format") != 2 or meta.get("order") != "C" or not shape or not chunks
            or len(shape) != len(chunks) or list(chunks[1:]) != list(shape[1:]) or chunks[0] < 1
            or not isinstance(comp, dict) or comp.get("id") != "blosc" or comp.get("cname") not in ("zstd", "lz4")
            or comp.get("shuffle") != 0):
        return None
    filters = meta.get("filters") or []
    if want == "strings":
        if meta.get("dtype") != "|O" or filters != [{"id": "vlen-utf8"}] or len(shape) != 1:
            return None
    elif filters or meta.get("dtype") == "|O":
        return None
    if comp["cname"] == "zstd" and not load_libzstd():
        return None
    load_liblz4()
    first, stop = _chunk_range(meta, rows)
    n_chunks = stop - first
    sep = meta.get("dimension_separator") or "."
    tail = sep.join("0" * (len(shape) - 1))
    frames = []
    for c in range(first, stop):
        key = f"{c}{sep}{tail}" if tail else str(c)
        try:
            with open(store_path / name / key, "rb") as fh:
                frames.append(np.frombuffer(fh.read(), np.uint8))
        except FileNotFoundError:  # never written: zarr fills it
            return None
    lib = ckernels.library()
    info = np.zeros(5, np.int64)
    sizes = []
    for c, frame in enumerate(frames, first):
        code = lib.pmo_blosc_info(frame.ctypes.data, len(frame), info)
        if code == BLOSC_UNSUPPORTED:
            return None
        if code != 0:
            raise ValueError(f"{store_path}: {name} chunk {c}: {BLOSC_ERRORS.get(code, code)} (a corrupt store: "
                             "delete it from the cache to import the input again)")
        sizes.append(int(info[0]))
    if want == "strings":  # VLenUTF8 chunks differ in size
        out = [np.empty(size + BLOSC_SLACK, np.uint8) for size in sizes]
        targets = [(o, o.ctypes.data, len(o)) for o in out]
        per_chunk = -1
    else:
        per_chunk = int(np.prod(chunks)) * np.dtype(meta["dtype"]).itemsize
        if any(size != per_chunk for size in sizes):
            raise ValueError(f"{store_path}: {name}: a chunk of the wrong size (a corrupt store: delete it from the "
                             "cache to import the input again)")
        whole = np.empty(per_chunk * n_chunks + BLOSC_SLACK, np.uint8)
        targets = [(whole, whole.ctypes.data + c * per_chunk, len(whole) - c * per_chunk) for c in range(n_chunks)]
        out = whole
    for c, (frame, (_, address, cap)) in enumerate(zip(frames, targets, strict=True), first):
        got = lib.pmo_blosc_decode(frame.ctypes.data, len(frame), address, cap)
        if got == BLOSC_UNSUPPORTED:
            return None
        if got < 0:
            raise ValueError(f"{store_path}: {name} chunk {c}: {BLOSC_ERRORS.get(got, got)} (a corrupt store: "
                             "delete it from the cache to import the input again)")
    return out, per_chunk


def _decoded(store_path: Path, name: str, kind: str, rows: tuple[int, int] | None = None
             ) -> tuple[dict[str, Any], Any] | None:
    """``(meta, decoded chunks)`` of array ``name`` (:func:`_chunks`; those holding ``rows``); None when this
    reader does not read it."""
    meta = read_meta(store_path, name)
    if meta is None:
        return None
    got = _chunks(store_path, name, meta, kind, rows)
    return None if got is None else (meta, got)


def read_array(store_path: str | Path, name: str, rows: tuple[int, int] | None = None) -> np.ndarray | None:
    """The array ``name`` of numbers or booleans, as ``zarr`` reads it (``arr[:]``, or ``arr[start:stop]`` for
    ``rows=(start, stop)``: only the chunks holding them are read); None when this reader does not read it (the
    caller reads it through zarr).

    Example
    -------
    >>> read_array(g.store_path, "variant_position", rows=(2, 4)).tolist() == g.variants["position"][2:4].tolist()
    True
    """
    got = _decoded(Path(store_path), name, "numbers", rows)
    if got is None:
        return None
    meta, (whole, _) = got
    shape = meta["shape"]
    dtype = np.dtype(meta["dtype"])
    per_row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    if rows is None:
        n = int(np.prod(shape))
        return whole[:n * dtype.itemsize].view(dtype).reshape(shape)
    start, stop = rows
    skip = (start - _chunk_range(meta, rows)[0] * meta["chunks"][0]) * per_row * dtype.itemsize
    n = (stop - start) * per_row
    return whole[skip:skip + n * dtype.itemsize].view(dtype).reshape((stop - start, *shape[1:]))


def strings_from_chunks(bufs: list[np.ndarray | None], n: int, size: int, name: str,
                        read_values: Callable[[int, int], Any] | None = None) -> pa.Array:
    """Arrow strings (``pa.large_string()`` beyond 2 GiB of text) of ``n`` items from the decoded VLenUTF8 chunks
    ``bufs`` of ``size`` items each; a chunk that is None (never written) is read by ``read_values(start, stop)``.
    ``name`` names the array in errors."""
    return strings_from_buffers(*_unpack_strings(bufs, n, size, name, read_values))


def strings_from_buffers(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """The strings ``data[offsets[i]:offsets[i + 1]]`` as ``pa.string()`` (``pa.large_string()`` beyond 2 GiB).

    Example
    -------
    >>> strings_from_buffers(np.array([1, 3, 3]), np.frombuffer(b"xAB", np.uint8)).to_pylist()
    ['AB', '']
    """
    import pyarrow as pa

    n = len(offsets) - 1
    if int(offsets[-1]) < 2**31:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _unpack_strings(bufs: list[np.ndarray | None], n: int, size: int, name: str,
                    read_values: Callable[[int, int], Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)`` (int64 [n + 1], uint8) of the ``n`` strings of VLenUTF8 chunks (as
    :func:`strings_from_chunks`): item ``i`` is ``data[offsets[i]:offsets[i + 1]]``, UTF-8."""
    unpack = ckernels.library().pmo_unpack_vlen
    offsets = np.zeros(n + 1, dtype=np.int64)
    data = np.empty(sum(len(b) for b in bufs if b is not None) + 16, dtype=np.uint8)
    k = 0
    for c, buf in enumerate(bufs):
        start, stop = c * size, min(n, (c + 1) * size)
        if buf is None:
            if read_values is None:
                raise ValueError(f"{name}: chunk {c} was never written")
            values = [("" if v is None else str(v)).encode() for v in read_values(start, stop)]
            need = k + sum(len(v) for v in values)
            if need > len(data):
                data = np.concatenate([data, np.empty(need - len(data), np.uint8)])
            for i, v in enumerate(values):
                data[k:k + len(v)] = np.frombuffer(v, np.uint8)
                k += len(v)
                offsets[start + i + 1] = k
            continue
        if len(buf) < 4 or int(buf[:4].view("<u4")[0]) < stop - start:  # an edge chunk is stored whole (padded)
            raise ValueError(f"{name}: chunk {c} holds {int(buf[:4].view('<u4')[0]) if len(buf) >= 4 else 0} "
                             f"items, not {stop - start}")
        end = unpack(buf, len(buf), stop - start, offsets[start:stop + 1], data, len(data), k)
        if end < 0:
            raise ValueError(f"{name}: chunk {c} is shorter than the item lengths it records (corrupt store)")
        k = end
    return offsets, data[:k]


def _stored_strings(store_path: Path, name: str, rows: tuple[int, int] | None = None
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(offsets, data)`` of the 1-D VLenUTF8 array ``name`` (:func:`_unpack_strings`): all its items, or those
    of ``rows`` (read from the chunks holding them; the offsets then point into those chunks' text); None when this
    reader does not read it."""
    got = _decoded(store_path, name, "strings", rows)
    if got is None:
        return None
    meta, (bufs, _) = got
    n, size = meta["shape"][0], meta["chunks"][0]
    first = 0
    if rows is not None:
        first, stop = _chunk_range(meta, rows)
        n = min(n, stop * size) - first * size
    offsets, data = _unpack_strings([b[:len(b) - BLOSC_SLACK] for b in bufs], n, size,
                                    f"{os.fspath(store_path)}/{name}", None)
    if rows is not None:
        skip = rows[0] - first * size
        offsets = offsets[skip:skip + rows[1] - rows[0] + 1]
    return offsets, data


def read_strings(store_path: str | Path, name: str, rows: tuple[int, int] | None = None) -> pa.Array | None:
    """The 1-D VLenUTF8 array ``name`` as Arrow strings (as :func:`strings_from_chunks`): all its items, or those
    of ``rows=(start, stop)`` (only the chunks holding them are read); None when this reader does not read it (the
    caller reads it through zarr).

    Example
    -------
    >>> read_strings(g.store_path, "sample_id", rows=(1, 3)).to_pylist()
    ['S02', 'S03']
    """
    got = _stored_strings(Path(store_path), name, rows)
    return None if got is None else strings_from_buffers(*got)


def read_string_list(store_path: str | Path, name: str) -> list[str] | None:
    """The whole 1-D VLenUTF8 array ``name`` as a list of str, for short arrays (sample IDs), without Arrow;
    None when this reader does not read it (the caller reads it through zarr).

    Example
    -------
    >>> read_string_list(g.store_path, "sample_id") == read_strings(g.store_path, "sample_id").to_pylist()
    True
    """
    got = _stored_strings(Path(store_path), name)
    if got is None:
        return None
    offsets, data = got
    text = data.tobytes()
    ends = offsets.tolist()
    return [text[a:b].decode("utf-8") for a, b in zip(ends[:-1], ends[1:], strict=True)]
