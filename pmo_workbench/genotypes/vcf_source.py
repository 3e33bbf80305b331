"""Decompressed VCF text in units of work: plain text, plain gzip, BGZF, or BCF (through bcftools).

:func:`open_text_units` cuts a file into :class:`TextUnit` s of about :data:`BLOCK_SIZE` bytes of text each.
A BGZF unit is a run of compressed blocks that :meth:`TextUnit.text` inflates where it is called, so the
callers (the import's worker threads) inflate units in parallel: in C with libdeflate (``ckernels/bgzf.c``;
Debian's ``libdeflate0``, a dependency of htslib), or, where that library is missing, block by block with ISA-L
(PyPI ``isal``). Plain gzip, plain text and BCF are decompressed (or converted by ``bcftools view -Ov``) in a
background thread, in order. BGZF and plain gzip are told apart by the ``BC`` extra subfield in the gzip header.

Examples
--------
>>> detect_compression(b"\\x1f\\x8b\\x08\\x04\\x00\\x00\\x00\\x00\\x00\\xff\\x06\\x00BC\\x02\\x00")
'bgzf'
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import shutil
import subprocess
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.errors import InputError
from pmo_workbench.read_ahead import read_ahead

try:  # ISA-L inflate is 2-3x faster than zlib's; optional (PyPI package "isal")
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - depends on the environment
    _inflate_lib = zlib

READ_SIZE = 4 << 20
BLOCK_SIZE = 4 << 20
"""Text bytes per unit of work (units end at a BGZF block or read boundary, not at a line end)."""
_MAX_BLOCKS = 1 << 16


class FileDigest:
    """sha256 of the raw bytes a reader reads, in file order (fed where the file is read anyway, so an import
    needs no second pass over the file to find its cache key); ``n_bytes`` counts them, so a caller can tell
    that the whole file went through.

    Examples
    --------
    >>> d = FileDigest()
    >>> d.update(b"hello")
    >>> d.n_bytes, d.hexdigest()[:12]
    (5, '2cf24dba5fb0')
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.n_bytes = 0
        # hashed on a thread of its own, in order, so the reader reads the next piece meanwhile (hashlib
        # releases the GIL); at most _DEPTH pieces wait
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmo-sha256")
        self._jobs: deque[Future] = deque()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` (``bytes``: it is hashed later, so it must not change)."""
        self._jobs.append(self._pool.submit(self._hash.update, data))
        self.n_bytes += len(data)
        while len(self._jobs) > self._DEPTH:
            self._jobs.popleft().result()

    def hexdigest(self) -> str:
        while self._jobs:
            self._jobs.popleft().result()
        self._pool.shutdown()
        return self._hash.hexdigest()

    _DEPTH = 4


def detect_compression(head: bytes) -> str:
    """``"bgzf"``, ``"gzip"`` or ``"none"`` from the first bytes of a file."""
    if len(head) >= 2 and head[:2] == b"\x1f\x8b":
        if len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
            return "bgzf"
        return "gzip"
    return "none"


@functools.cache
def has_libdeflate() -> bool:
    """True when the C inflater found libdeflate (else BGZF blocks are inflated through Python with ISA-L)."""
    name = ctypes.util.find_library("deflate") or "libdeflate.so.0"
    return ckernels.library().pmo_inflate_load(name.encode()) == 0


@dataclass
class TextUnit:
    """A stretch of a file's text: ``data`` is the text itself, or (with ``offsets``) bytes holding the BGZF
    blocks that start at ``offsets`` and inflate to ``size`` bytes. ``position`` is the file offset of
    ``data[0]`` (for messages); ``last`` marks the file's last unit."""

    path: Path
    data: bytes | bytearray | memoryview
    size: int
    offsets: np.ndarray | None = None
    position: int = 0
    last: bool = False

    def text(self, out: np.ndarray | None = None) -> bytes | np.ndarray:
        """The unit's text: ``data`` itself, or a BGZF unit inflated here (into ``out[:size]`` when ``out``, a
        uint8 array, is large enough; the C inflater releases the GIL).

        Raises
        ------
        InputError
            A corrupt BGZF block (its file offset named).
        """
        if self.offsets is None:
            return self.data
        if out is None or len(out) < self.size:
            out = np.empty(self.size, np.uint8)
        out = out[:self.size]
        if has_libdeflate():
            src = np.frombuffer(self.data, dtype=np.uint8)
            got = ckernels.library().pmo_bgzf_inflate(src.ctypes.data, self.offsets, len(self.offsets), out,
                                                      self.size)
            if got < 0:
                bad = self.position + int(self.offsets[min(-got - 1, len(self.offsets) - 1)])
                raise InputError(f"corrupt BGZF block at byte {bad} (inflate or CRC32 check failed)",
                                 file=self.path)
            return out
        view, k = memoryview(self.data), 0
        ends = list(self.offsets[1:]) + [None]
        for a, b in zip(self.offsets, ends, strict=True):
            try:
                piece = _inflate_lib.decompress(view[int(a):None if b is None else int(b)], wbits=31)
            except zlib.error as exc:
                raise InputError(f"corrupt BGZF block at byte {self.position + int(a)} ({exc})",
                                 file=self.path) from exc
            out[k:k + len(piece)] = np.frombuffer(piece, np.uint8)
            k += len(piece)
        return out


def _bgzf_units(path: Path, block_size: int, digest: FileDigest | None = None) -> Iterator[TextUnit]:
    """Units of whole BGZF blocks of about ``block_size`` text bytes each."""
    lib = ckernels.library()
    offsets = np.empty(_MAX_BLOCKS, np.int64)
    isize = np.empty(_MAX_BLOCKS, np.int64)
    used = ctypes.c_int64(0)
    with open(path, "rb") as fh:
        rest, base = b"", 0
        while True:
            more = fh.read(READ_SIZE)
            if digest is not None:
                digest.update(more)
            window = rest + more if rest else more
            arr = np.frombuffer(window, dtype=np.uint8)
            pos = 0
            while True:
                n = lib.pmo_bgzf_scan(arr[pos:].ctypes.data if pos < len(arr) else 0, len(arr) - pos, offsets,
                                      isize, _MAX_BLOCKS, ctypes.byref(used))
                if n == -1:
                    raise InputError(f"corrupt BGZF block at byte {base + pos + used.value}", file=path)
                if n == -2:
                    raise InputError(f"gzip member without a BGZF block size at byte {base + pos + used.value}",
                                     file=path)
                if n == 0:
                    break
                sizes = np.cumsum(isize[:n])
                cuts = np.searchsorted(sizes, np.arange(block_size, int(sizes[-1]) + block_size, block_size))
                first = 0
                for cut in np.unique(np.minimum(cuts + 1, n)):
                    cut = int(cut)
                    if cut <= first:
                        continue
                    a = int(offsets[first])
                    b = int(offsets[cut]) if cut < n else used.value
                    text = int(sizes[cut - 1] - (sizes[first - 1] if first else 0))
                    yield TextUnit(path, memoryview(window)[pos + a:pos + b], text, offsets[first:cut] - a,
                                   base + pos + a)
                    first = cut
                pos += used.value
            rest = window[pos:]
            base += pos
            if not more:
                break
        if rest:
            raise InputError(f"truncated BGZF data at byte {base}", file=path)


def _raw_chunks(path: Path, compression: str, digest: FileDigest | None = None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        if compression == "none":
            while chunk := fh.read(READ_SIZE):
                if digest is not None:
                    digest.update(chunk)
                yield chunk
            return
        d = zlib.decompressobj(wbits=47)
        while True:
            data = fh.read(READ_SIZE // 4)
            if not data:
                break
            if digest is not None:
                digest.update(data)
            while data:
                out = d.decompress(data)
                if out:
                    yield out
                if d.eof:
                    data = d.unused_data
                    d = zlib.decompressobj(wbits=47)
                else:
                    data = b""
        tail = d.flush()
        if tail:
            yield tail


def _bcf_chunks(path: Path) -> Iterator[bytes]:
    exe = shutil.which("bcftools")
    if exe is None:
        raise InputError("reading BCF needs bcftools on PATH (apt-get install bcftools)", file=path)
    proc = subprocess.Popen([exe, "view", "-Ov", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(READ_SIZE):
            yield chunk
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        raise InputError(f"bcftools could not read the BCF: {stderr.strip()[:300]}", file=path)


def _text_units(path: Path, chunks: Iterator[bytes], block_size: int) -> Iterator[TextUnit]:
    """Units of text of at least ``block_size`` bytes (the last one shorter) from text chunks."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= block_size:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            yield TextUnit(path, data, len(data))
            pending, size = [], 0
    if size:
        data = b"".join(pending)
        yield TextUnit(path, data, len(data))


def _mark_last(units: Iterator[TextUnit]) -> Iterator[TextUnit]:
    previous = None
    for unit in units:
        if previous is not None:
            yield previous
        previous = unit
    if previous is not None:
        previous.last = True
        yield previous


def open_text_units(path: str | Path, block_size: int | None = None,
                    digest: FileDigest | None = None) -> tuple[str, Iterator[TextUnit]]:
    """Return ``(format, units)``: format is one of ``vcf``, ``vcf.gz``, ``vcf.bgz``, ``bcf``; units are
    :class:`TextUnit` s in file order (the last one marked). ``digest``, when given, is fed the file's bytes as
    they are read (all of them once the units are consumed; not for BCF, which bcftools reads).

    Raises
    ------
    InputError
        An empty or unreadable file, or corrupt compressed data (also while iterating).
    """
    path = Path(path)
    block_size = block_size or BLOCK_SIZE
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", file=path) from exc
    if not head:
        raise InputError("the file is empty (0 bytes)", file=path, line=1)
    compression = detect_compression(head)
    if compression != "none":
        try:
            first = zlib.decompressobj(wbits=47).decompress(head, 16)
        except zlib.error as exc:
            raise InputError(f"corrupt gzip data: {exc}", file=path) from exc
    else:
        first = head[:16]
    if first.startswith(b"BCF"):
        return "bcf", _mark_last(_text_units(path, read_ahead(_bcf_chunks(path)), block_size))
    kind = {"none": "vcf", "gzip": "vcf.gz", "bgzf": "vcf.bgz"}[compression]
    if compression == "bgzf":
        return kind, _mark_last(_bgzf_units(path, block_size, digest))

    def guarded() -> Iterator[bytes]:
        try:
            yield from _raw_chunks(path, compression, digest)
        except zlib.error as exc:
            raise InputError(f"corrupt or truncated gzip data: {exc}", file=path) from exc

    return kind, _mark_last(_text_units(path, read_ahead(guarded()), block_size))
