"""Decompressed VCF text as blocks of whole lines: plain text, plain gzip, BGZF, or BCF (through bcftools).

BGZF and plain gzip are told apart by the ``BC`` extra subfield in the gzip header (both decompress the same
way); BGZF blocks are inflated in parallel, with ISA-L (PyPI ``isal``) when it is installed. BCF is converted to VCF text by ``bcftools view -Ov`` (bcftools is a Debian dependency of the
embedded backend for BCF input only). Decompression runs in a background thread (zlib releases the GIL),
so it overlaps with the compiled parser.

Example
-------
>>> detect_compression(b"\\x1f\\x8b\\x08\\x04\\x00\\x00\\x00\\x00\\x00\\xff\\x06\\x00BC\\x02\\x00")
'bgzf'
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

from pmo_workbench.errors import InputError

try:  # ISA-L inflate is 2-3x faster than zlib's; optional (PyPI package "isal")
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - depends on the environment
    _inflate_lib = zlib

READ_SIZE = 4 << 20
BLOCK_SIZE = 32 << 20


def detect_compression(head: bytes) -> str:
    """``"bgzf"``, ``"gzip"`` or ``"none"`` from the first bytes of a file."""
    if len(head) >= 2 and head[:2] == b"\x1f\x8b":
        if len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC":
            return "bgzf"
        return "gzip"
    return "none"


def _raw_chunks(path: Path, compression: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        if compression == "none":
            while chunk := fh.read(READ_SIZE):
                yield chunk
            return
        d = zlib.decompressobj(wbits=47)
        while True:
            data = fh.read(READ_SIZE)
            if not data:
                break
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


def _bgzf_blocks(data: memoryview, path: Path, base: int) -> tuple[list[tuple[int, int]], int]:
    """Deflate payload spans of the complete BGZF blocks in ``data``; returns (spans, bytes consumed)."""
    spans = []
    pos = 0
    n = len(data)
    while n - pos >= 18:
        if data[pos] != 0x1F or data[pos + 1] != 0x8B or not data[pos + 3] & 4:
            raise InputError(f"corrupt BGZF block at byte {base + pos}", file=path)
        xlen = data[pos + 10] | (data[pos + 11] << 8)
        bsize = None
        x = pos + 12
        while x + 4 <= min(n, pos + 12 + xlen):
            slen = data[x + 2] | (data[x + 3] << 8)
            if data[x] == 66 and data[x + 1] == 67 and x + 6 <= n:
                bsize = data[x + 4] | (data[x + 5] << 8)
            x += 4 + slen
        if bsize is None:
            if pos + 12 + xlen > n:
                break
            raise InputError(f"gzip member without a BGZF block size at byte {base + pos}", file=path)
        if pos + bsize + 1 > n:
            break
        spans.append((pos + 12 + xlen, pos + bsize + 1 - 8))
        pos += bsize + 1
    return spans, pos


def _bgzf_chunks(path: Path, workers: int = 2, group: int = 64) -> Iterator[list[bytes]]:
    """Decompress a BGZF file with ``workers`` threads (``group`` blocks per task), yielding each task's
    inflated blocks in order (as a list: :func:`iter_line_blocks` joins them once, into its block)."""
    from concurrent.futures import ThreadPoolExecutor

    def inflate(data: memoryview, task: list[tuple[int, int]]) -> list[bytes]:
        return [_inflate_lib.decompress(data[a:b], wbits=-15) for a, b in task]

    with open(path, "rb") as fh, ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list = []
        rest = b""
        base = 0
        while True:
            more = fh.read(READ_SIZE * 4)
            window = memoryview(rest + more)
            spans, used = _bgzf_blocks(window, path, base)
            for i in range(0, len(spans), group):
                pending.append(pool.submit(inflate, window, spans[i:i + group]))
                while len(pending) > 2 * workers:
                    yield pending.pop(0).result()
            rest = bytes(window[used:])
            base += used
            if not more:
                break
        for fut in pending:
            yield fut.result()
        if rest:
            raise InputError(f"truncated BGZF data at byte {base}", file=path)


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


def _threaded(it: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """Run a chunk iterator in a background thread (errors are re-raised in the consumer)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
            q.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def open_text_chunks(path: str | Path) -> tuple[str, Iterator[bytes | list[bytes]]]:
    """Return ``(format, chunks)``: format is one of ``vcf``, ``vcf.gz``, ``vcf.bgz``, ``bcf``; each chunk is
    bytes or a list of consecutive bytes pieces (BGZF blocks), as :func:`iter_line_blocks` takes them.

    Raises
    ------
    InputError
        An empty or unreadable file, or a corrupt gzip stream.
    """
    path = Path(path)
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
        return "bcf", _threaded(_bcf_chunks(path))
    kind = {"none": "vcf", "gzip": "vcf.gz", "bgzf": "vcf.bgz"}[compression]

    def guarded() -> Iterator[bytes]:
        try:
            if compression == "bgzf":
                yield from _bgzf_chunks(path)
            else:
                yield from _raw_chunks(path, compression)
        except zlib.error as exc:
            raise InputError(f"corrupt or truncated gzip data: {exc}", file=path) from exc

    return kind, _threaded(guarded())


def iter_line_blocks(chunks: Iterator[bytes | list[bytes]], block_size: int | None = None
                     ) -> Iterator[bytes | memoryview]:
    """Regroup byte chunks (bytes, or lists of consecutive pieces) into blocks of about ``block_size`` bytes
    that end with a newline.

    Blocks are bytes or memoryviews (read-only; valid until the next block is requested). The last block gets
    a newline appended if the file did not end with one.
    """
    block_size = block_size or BLOCK_SIZE
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if isinstance(chunk, list):
            pending.extend(chunk)
            size += sum(len(c) for c in chunk)
        else:
            pending.append(chunk)
            size += len(chunk)
        if size >= block_size:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            cut = data.rfind(b"\n")
            if cut < 0:
                pending, size = [data], len(data)
                continue
            rest = data[cut + 1:]
            yield memoryview(data)[: cut + 1]
            pending, size = ([rest], len(rest)) if rest else ([], 0)
    if size:
        data = b"".join(pending)
        if not data.endswith(b"\n"):
            data += b"\n"
        yield data
