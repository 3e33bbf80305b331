"""Import a VCF/BCF into a VCF Zarr store with the C record parser of :mod:`.vcf_kernels`.

The text comes in units of a few MiB (:mod:`.vcf_source`); worker threads inflate each BGZF unit and parse its
complete lines in C (GT, and DP/GQ/AD where present and wanted, straight into int8 calls and the 2-bit copy),
while this thread joins the lines cut by unit boundaries, hands the records in file order to the
:class:`~.store_writer.StoreWriter` (whose worker threads compress and write whole chunks) and keeps the
variant columns as bytes. No numba and no compilation at run time. Bad input raises
:class:`~pmo_workbench.errors.InputError` naming the file, the line and the field; readable oddities
(undeclared keys, IUPAC REF, POS 0, AD of the wrong length, ...) give one :class:`VcfWarning` each.

Examples
--------
>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "x.vcf").write_text("##fileformat=VCFv4.2\\n##contig=<ID=1>\\n"
...     '##FORMAT=<ID=GT,Number=1,Type=String,Description="g">\\n'
...     "#CHROM\\tPOS\\tID\\tREF\\tALT\\tQUAL\\tFILTER\\tINFO\\tFORMAT\\ta\\tb\\n1\\t5\\t.\\tA\\tG\\t.\\t.\\t.\\tGT\\t0/.\\t1|1\\n")
>>> attrs = import_vcf(d / "x.vcf", d / "x.vcz")
>>> attrs["n_variants"], attrs["ploidy"]
(1, 2)
"""

from __future__ import annotations

import gc
import shutil
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pmo_workbench import ckernels
from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import packed_calls
from pmo_workbench.genotypes import vcf_kernels as K
from pmo_workbench.genotypes.contigs import guess_build
from pmo_workbench.genotypes.store_writer import StoreWriter
from pmo_workbench.genotypes.unpacked_calls import SparseCalls, UnpackedRowsGatherer
from pmo_workbench.genotypes.vcf_header import VcfHeader, VcfWarning, parse_vcf_header
from pmo_workbench.genotypes.vcf_source import FileDigest, TextUnit, open_text_units

CHUNK_ROWS = 10_000
FORMAT_FIELDS = ("DP", "GQ", "AD")
"""The FORMAT fields a store can hold (each where the header declares it as Integer)."""

_ERR_TEXT = {
    K.ERR_FEW_COLUMNS: ("CHROM..INFO", "the record has {aux} tab-separated columns, a VCF record needs at least 8"),
    K.ERR_POS: ("POS", "POS is not a non-negative integer"),
    K.ERR_SAMPLE_COLUMNS: ("sample columns", "the header names {n_samples} samples but the record has {aux}"),
    K.ERR_GT_CHAR: ("GT", "sample {sample}: GT is not of the form a/b or a|b with integer alleles or '.'"),
    K.ERR_GT_ALLELE: ("GT", "sample {sample}: allele index {aux} but the record has {n_alleles} alleles"),
    K.ERR_GT_BIG: ("GT", "sample {sample}: allele index {aux} is above 127 (not supported)"),
    K.ERR_NO_FORMAT: ("FORMAT", "the header names {n_samples} samples but the record has no FORMAT column"),
    K.ERR_HEADER_LINE: ("header", "a header line (#...) after the #CHROM line"),
    K.ERR_EXTRA_COLUMNS: ("sample columns", "the header names no samples but the record has sample columns"),
    K.ERR_MANY_ALLELES: ("ALT", "more than 127 alleles (not supported)"),
}

_WARN_TEXT = {
    K.W_REF: "REF {token!r} has characters other than A, C, G, T, N",
    K.W_INFO_KEY: "INFO key {token!r} is not declared in the header",
    K.W_FORMAT_KEY: "FORMAT key {token!r} is not declared in the header",
    K.W_POS_ZERO: "POS is 0",
    K.W_POS_BIG: "POS {token} is above 2^31-1 (not representable in BCF or PLINK)",
    K.W_AD_LENGTH: "AD has more values than the record has alleles (extra values ignored)",
    K.W_BAD_NUMBER: "a DP/GQ/AD value is not an integer (read as missing)",
    K.W_NEGATIVE: "a DP/GQ/AD value is negative (read as missing)",
}


class _PloidyRestart(Exception):
    def __init__(self, ploidy: int) -> None:
        self.ploidy = ploidy


@dataclass
class _Parsed:
    """What a worker hands back for one unit: the parsed records of its complete lines, the text before its
    first line end (``head``, the end of a line cut by the unit boundary) and after its last (``tail``), the
    warning tokens and the error's text (the unit's text is not kept)."""

    head: bytes
    block: K.RecordBlock | None
    tail: bytes
    tokens: dict[int, str] = field(default_factory=dict)
    err_text: bytes = b""


def _parse_text(text: bytes | np.ndarray, spec: K.RecordSpec, ad_width: int,
                pool: K.BufferPool | None = None) -> _Parsed:
    block = K.parse_records(text, spec, ad_width=ad_width, pool=pool)
    tokens = {int(slot): bytes(text[int(block.warn[slot, 2]):int(block.warn[slot, 3])]).decode(errors="replace")
              for slot in np.flatnonzero(block.warn[:, 0])}
    off = int(block.err[4])
    err_text = bytes(text[off:off + 40]) if block.err[0] else b""
    return _Parsed(b"", block, b"", tokens, err_text)


_local = threading.local()


def _parse_unit(unit: TextUnit, spec: K.RecordSpec, ad_width: int, at_line_start: bool,
                pool: K.BufferPool) -> _Parsed:
    """Inflate and parse one unit (on a worker thread, into its reused text buffer): the lines between the
    unit's first and last line end (from its start when it starts a line; to its end, a line end added, when
    it is the file's last)."""
    buffer = getattr(_local, "text", None)
    if buffer is None or len(buffer) < unit.size + 1:
        buffer = _local.text = np.empty(unit.size + unit.size // 4 + 1, np.uint8)
    text = unit.text(buffer)
    arr = text if isinstance(text, np.ndarray) else np.frombuffer(text, np.uint8)
    find = ckernels.library().pmo_find_byte
    size = len(arr)
    if unit.last and size and arr[size - 1] != 10:
        arr = np.concatenate([arr, np.array([10], np.uint8)])
        size += 1
    first = -1 if at_line_start else find(arr.ctypes.data, size, 10, 0)
    last = find(arr.ctypes.data, size, 10, 1)
    if last < 0 or last <= first:  # no complete line of its own: all of it continues the pending line
        return _Parsed(arr.tobytes(), None, b"")
    parsed = _parse_text(arr[first + 1:last + 1], spec, ad_width, pool)
    parsed.head = arr[:first + 1].tobytes()
    parsed.tail = arr[last + 1:].tobytes()
    return parsed


def _read_header(units: Iterator[TextUnit], path: Path) -> tuple[VcfHeader, bytes, bool]:
    """Consume units until the ``#CHROM`` line; return the header, the body bytes that follow, and whether the
    consumed units were the whole file."""
    data = b""
    last = False
    for unit in units:
        text = unit.text()
        data += text.tobytes() if isinstance(text, np.ndarray) else bytes(text)
        last = unit.last
        if not data.startswith(b"#"):
            break
        idx = data.find(b"\n#CHROM")
        if idx >= 0 or data.startswith(b"#CHROM"):
            start = 0 if data.startswith(b"#CHROM") else idx + 1
            end = data.find(b"\n", start)
            if end < 0:
                continue
            break
    head_end = 0
    lines: list[str] = []
    for raw in data.split(b"\n"):
        if not raw.startswith(b"#"):
            break
        lines.append(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        head_end += len(raw) + 1
        if raw.startswith(b"#CHROM"):
            break
    if not lines or not lines[-1].startswith("#CHROM"):
        if lines and lines[0].startswith("##fileformat=VCFv4"):
            raise InputError("the header has no #CHROM line", file=path, line=len(lines) + 1, field="#CHROM")
    if not lines:
        lines = [data.split(b"\n", 1)[0].decode("utf-8", errors="replace")]
    header = parse_vcf_header(lines, path)
    return header, data[head_end:], last


def import_vcf(path: str | Path, root: str | Path, *, chunk_rows: int = CHUNK_ROWS, progress: bool = False,
               fields: Sequence[str] = (), checksum: bool = False,
               on_unpacked: Callable[[SparseCalls | None], None] | None = None) -> dict[str, Any]:
    """Import a VCF/BCF (plain, gzip or BGZF) into a new VCF Zarr store at ``root``; return its attributes.

    ``fields`` names the FORMAT fields to keep beside GT, of :data:`FORMAT_FIELDS` (default none: GT only);
    each is kept where the header declares it as Integer, and parsed only then (the parser skips the others
    without reading their values). The attribute ``fields`` lists the fields kept; ``fields_not_imported``,
    written only when not empty, those the header declares as Integer that were not asked for (a store without
    it holds every such field: stores imported before fields were chosen, and those imported with all of them).

    With ``checksum`` the returned attributes (not the store's) also hold ``source_sha256``, the sha256 of the
    file's bytes, hashed as the import reads them (a reader thread hashes while the workers parse, so the cache
    key of a new input costs no second pass over the file); it is left out where the reader did not read the file
    itself (BCF, read through bcftools) or the file changed size meanwhile.

    ``on_unpacked``, when given, is called once the store's calls are written, with the calls of the rows
    outside its 2-bit copy as the import gathered them (None when there were too many for a side file): the
    caller writes the store's side file from them (:func:`.unpacked_calls.load_unpacked_calls`) without reading
    the store back.

    Raises
    ------
    InputError
        Bad header or record (file, line and field named). ``root`` is then left half-written: callers
        build into a temporary directory (see :func:`.cache.build_store_atomically`).
    """
    path = Path(path)
    wanted = tuple(fields)
    unknown = sorted(set(wanted) - set(FORMAT_FIELDS))
    if unknown:
        raise ValueError(f"unknown FORMAT field(s) {unknown}: a store holds {', '.join(FORMAT_FIELDS)}")
    ploidy = 2
    collecting = gc.isenabled()
    gc.disable()  # the import makes no reference cycles; collections would walk every module's objects
    try:
        while True:
            try:
                return _import(path, Path(root), ploidy, chunk_rows, progress, wanted, checksum, on_unpacked)
            except _PloidyRestart as restart:
                shutil.rmtree(root, ignore_errors=True)
                ploidy = restart.ploidy
    finally:
        if collecting:
            gc.enable()


class _Columns:
    """The variant columns, block by block: POS, allele counts, line numbers and the string columns' bytes."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.n_alleles: list[np.ndarray] = []
        self.line: list[np.ndarray] = []
        self.strings: list[np.ndarray] = []
        self.string_len: list[np.ndarray] = []

    def add(self, block: K.RecordBlock, lines: np.ndarray) -> None:
        self.pos.append(block.pos)
        self.n_alleles.append(block.n_alleles)
        self.line.append(lines)
        self.strings.append(block.strings)
        self.string_len.append(block.string_len)

    def finish(self) -> tuple[np.ndarray, ...]:
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype)

        string_len = np.concatenate(self.string_len) if self.string_len else np.zeros((0, 6), np.int32)
        start = (np.cumsum(string_len.ravel(), dtype=np.int64) - string_len.ravel()).reshape(-1, 6)
        return (cat(self.pos, np.int64), cat(self.n_alleles, np.int32), cat(self.line, np.int64),
                cat(self.strings, np.uint8), start, string_len)


def _import(path: Path, root: Path, ploidy: int, chunk_rows: int, progress: bool,
            wanted: tuple[str, ...], checksum: bool = False,
            on_unpacked: Callable[[SparseCalls | None], None] | None = None) -> dict[str, Any]:
    digest = FileDigest() if checksum else None
    kind, units = open_text_units(path, digest=digest)
    header, body, body_is_all = _read_header(units, path)
    samples = header.samples
    n_samples = len(samples)
    fields = [f for f in FORMAT_FIELDS if f in wanted and header.format_types.get(f) == "Integer"]
    spec = K.RecordSpec(
        n_samples=n_samples, ploidy=ploidy, fields=tuple(fields), packed=True,
        info_keys=K.hash_keys(header.info_ids) if header.info_ids else K.hash_keys(["__none__"]),
        format_keys=K.hash_keys(list(header.format_types)) if header.format_types else K.hash_keys(["__none__"]))
    threads = ckernels.n_threads()
    pool = ThreadPoolExecutor(max_workers=threads)
    writer = StoreWriter(root, n_samples=n_samples, ploidy=ploidy, chunk_rows=chunk_rows, fields=fields, pool=pool)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit=" records", desc=f"import {path.name}")
    try:
        # (only diploid stores have a 2-bit copy and a side file)
        gather = UnpackedRowsGatherer(n_samples, ploidy) if on_unpacked is not None and ploidy == 2 else None
        state = _ImportState(path, header, spec, writer, bar, gather)
        first = TextUnit(path, body, len(body), last=body_is_all)
        inflight: deque = deque([pool.submit(_parse_unit, first, spec, 2, True, state.buffers)])
        pending = b""
        for unit in units:
            inflight.append(pool.submit(_parse_unit, unit, spec, state.ad_width, False, state.buffers))
            while len(inflight) > 2 * threads:
                pending = state.consume(inflight.popleft().result(), pending)
        while inflight:
            pending = state.consume(inflight.popleft().result(), pending)
        if pending:
            state.take(_parse_text(pending + b"\n" if not pending.endswith(b"\n") else pending, spec,
                                   state.ad_width))
        n_variants = writer.finish_calls()
        if on_unpacked is not None:
            on_unpacked(state.unpacked.result() if state.unpacked is not None else None)
        state.warn()
        attrs = _write_variants(path, writer, header, state.columns, n_variants, ploidy, fields, kind)
        skipped = [f for f in FORMAT_FIELDS if f not in fields and header.format_types.get(f) == "Integer"]
        if skipped:
            attrs["fields_not_imported"] = skipped
            writer.group.attrs["fields_not_imported"] = skipped
        writer.wait()
        if digest is not None and digest.n_bytes and digest.n_bytes == path.stat().st_size:
            return {**attrs, "source_sha256": digest.hexdigest()}
        return attrs
    finally:
        if bar is not None:
            bar.close()
        pool.shutdown(wait=True, cancel_futures=True)


class _ImportState:
    """The main thread's side of an import: records in file order, line numbers, warnings, errors."""

    def __init__(self, path: Path, header: VcfHeader, spec: K.RecordSpec, writer: StoreWriter, bar,
                 unpacked: UnpackedRowsGatherer | None = None) -> None:
        self.path, self.header, self.spec, self.writer, self.bar = path, header, spec, writer, bar
        self.lines_before = header.n_lines  # lines before the next block
        self.n_blank = 0
        self.ad_width = 2
        self.warn_count = np.zeros(K.N_WARN, dtype=np.int64)
        self.warn_first: dict[int, tuple[int, str]] = {}
        self.columns = _Columns()
        self.buffers = K.BufferPool()
        self.n_records = 0  # records handed to the writer
        self.unpacked = unpacked  # gathers the side file's rows, when given

    def consume(self, parsed: _Parsed, pending: bytes) -> bytes:
        """Take a unit's records after the line its head completes; return the new pending text."""
        if parsed.block is None:
            return pending + parsed.head
        if pending or parsed.head:
            self.take(_parse_text(pending + parsed.head, self.spec, self.ad_width))
        self.take(parsed)
        return parsed.tail

    def take(self, parsed: _Parsed) -> None:
        block = parsed.block
        lines = block.line + (self.lines_before + 1)
        if block.err[0]:
            self._raise(block, lines, parsed.err_text)
        for slot in np.flatnonzero(block.warn[:, 0]):
            self.warn_count[slot] += block.warn[slot, 0]
            if slot not in self.warn_first:
                self.warn_first[slot] = (int(lines[block.warn[slot, 1]]), parsed.tokens[int(slot)])
        self.lines_before += block.n_lines
        self.n_blank += block.n_blank
        if block.n == 0:
            block.release(self.buffers)
            return
        if block.ad is not None:
            self.ad_width = max(self.ad_width, block.ad.shape[2])
        if self.unpacked is not None and block.packable is not None:
            self.unpacked.add(self.n_records, block.gt, packed_calls.in_packed_copy(block.packable, block.n_alleles))
        self.writer.add_calls(block.gt, block.dp, block.gq, block.ad, block.packed, block.packable)
        self.n_records += block.n
        block.release(self.buffers)
        self.columns.add(block, lines)
        if self.bar is not None:
            self.bar.update(block.n)

    def _raise(self, block: K.RecordBlock, lines: np.ndarray, err_text: bytes) -> None:
        code, rec, sample, aux = (int(x) for x in block.err[:4])
        if code == K.ERR_PLOIDY:
            raise _PloidyRestart(aux)
        field_name, text = _ERR_TEXT[code]
        samples = self.header.samples
        name = samples[sample] if 0 <= sample < len(samples) else str(sample)
        n_alleles = int(block.n_alleles[rec]) if code == K.ERR_GT_ALLELE else 0
        text = text.format(aux=aux, n_samples=len(samples), sample=name, n_alleles=n_alleles)
        if field_name == "GT":
            token = err_text.split(b"\t")[0].split(b":")[0].decode(errors="replace")
            text += f" (GT is {token[:20]!r})"
        raise InputError(text, file=self.path, line=int(lines[rec]), field=field_name)

    def warn(self) -> None:
        if self.n_blank:
            warnings.warn(f"{self.path}: {self.n_blank} empty line(s) ignored", VcfWarning, stacklevel=4)
        for slot, count in enumerate(self.warn_count):
            if count:
                line, token = self.warn_first[slot]
                warnings.warn(f"{self.path}: {count} record(s): {_WARN_TEXT[slot].format(token=token)} "
                              f"(first at line {line})", VcfWarning, stacklevel=4)


def _column_bytes(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Items of a short string column as a fixed-width numpy bytes array (``S<width>``)."""
    n = len(start)
    width = max(int(length.max()) if n else 1, 1)
    idx = start[:, None] + np.arange(width)[None, :]
    valid = np.arange(width)[None, :] < length[:, None]
    out = np.where(valid, data[np.minimum(idx, max(len(data) - 1, 0))] if len(data) else 0, 0).astype(np.uint8)
    return out.view(f"S{width}").reshape(n)


def _distinct(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
    """Run starts of a column and their values (adjacent equal items are one run)."""
    runs = np.empty(max(len(start), 1), np.int64)
    k = ckernels.library().pmo_string_runs(data, np.ascontiguousarray(start), np.ascontiguousarray(length), 1,
                                           len(start), runs)
    runs = runs[:k]
    return runs, [data[start[i]:start[i] + length[i]].tobytes() for i in runs]


def _check_utf8(path: Path, data: np.ndarray, start: np.ndarray, length: np.ndarray, lines: np.ndarray) -> None:
    """Raise for a string column item that is not UTF-8 (stores hold text); only items with a non-ASCII byte
    are decoded."""
    high = np.flatnonzero(data >= 128) if len(data) else np.zeros(0, np.int64)
    if not len(high):
        return
    flat_start, flat_len = start.ravel(), length.ravel()
    for item in np.unique(np.searchsorted(flat_start, high, side="right") - 1):
        raw = data[flat_start[item]:flat_start[item] + flat_len[item]].tobytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            name = K.STRING_COLUMNS[item % 6]
            raise InputError(f"{name} is not UTF-8 text", file=path, line=int(lines[item // 6]),
                             field=name) from None


def _write_numeric(writer: StoreWriter, arrays: list[tuple[str, np.ndarray, int | None]]) -> None:
    for name, values, rows in arrays:
        writer.write_array(name, values, rows)


def _write_variants(path: Path, writer: StoreWriter, header: VcfHeader, columns: _Columns, n_variants: int,
                    ploidy: int, fields: list[str], kind: str) -> dict[str, Any]:
    pos, n_alleles, lines, data, start, length = columns.finish()
    _check_utf8(path, data, start, length, lines)
    col = {name: (start[:, k], length[:, k]) for k, name in enumerate(K.STRING_COLUMNS)}
    # contigs: header order where known, then order of first appearance
    runs, values = _distinct(data, *col["CHROM"])
    first_seen: list[str] = []
    code_of: dict[str, int] = {}
    for v in values:
        name = v.decode()
        if name not in code_of:
            code_of[name] = len(first_seen)
            first_seen.append(name)
    contig_names = set(first_seen)
    ordered = [c for c in header.contig_order if c in contig_names]
    ordered += [c for c in first_seen if c not in set(ordered)]
    rank = np.array([ordered.index(c) for c in first_seen], dtype=np.int16)
    run_codes = rank[[code_of[v.decode()] for v in values]] if values else np.zeros(0, np.int16)
    variant_contig = np.repeat(run_codes, np.diff(np.append(runs, n_variants))).astype(np.int16) if n_variants \
        else np.zeros(0, np.int16)
    if header.contig_order:
        undeclared = sorted(contig_names - set(header.contig_order))
        if undeclared:
            warnings.warn(f"{path}: contig(s) {', '.join(undeclared[:5])} not declared in the header",
                          VcfWarning, stacklevel=4)
    _, filter_values = _distinct(data, *col["FILTER"])
    declared = set(header.filter_ids) | {"PASS", "."}
    used = {f for raw in set(filter_values) for f in raw.decode().split(";")}
    undeclared_f = sorted(used - declared - {""})
    if undeclared_f:
        warnings.warn(f"{path}: FILTER value(s) {', '.join(undeclared_f[:5])} not declared in the header",
                      VcfWarning, stacklevel=4)
    qual = _parse_qual(path, data, *col["QUAL"], lines)
    rows = max(writer.chunk_rows * 10, 1)
    # numeric arrays through zarr on a worker thread (Blosc then runs single-threaded: the same bytes each time)
    writer.submit(_write_numeric, writer, [
        ("sample_id", np.array(header.samples, dtype=object), None), ("variant_contig", variant_contig, rows),
        ("variant_position", pos, rows), ("variant_n_alleles", n_alleles.astype(np.int16), rows),
        ("variant_quality", qual, rows)])
    writer.write_strings("variant_id", data, *col["ID"], dot_empty=True, chunk_rows=rows)
    writer.write_strings("variant_ref", data, *col["REF"], chunk_rows=rows)
    writer.write_strings("variant_alt", data, *col["ALT"], dot_empty=True, chunk_rows=rows)
    writer.write_strings("variant_filters", data, *col["FILTER"], chunk_rows=rows)
    attrs = {
        "source_format": "vcf",
        "source_kind": kind,
        "vcf_version": header.version,
        "contig_id": ordered,
        "contig_length": [header.contig_lengths.get(c) for c in ordered],
        "filter_id": header.filter_ids,
        "fields": fields,
        "reference_build": guess_build(header.contig_lengths, header.text),
        "ploidy": ploidy,
        "n_variants": n_variants,
        "n_samples": len(header.samples),
        "n_header_lines": header.n_lines,
    }
    writer.group.attrs.update(attrs)
    return attrs


def _parse_qual(path: Path, data: np.ndarray, start: np.ndarray, length: np.ndarray,
                lines: np.ndarray) -> np.ndarray:
    """QUAL as float32 (NaN for '.' or empty), parsed as numpy parses text."""
    qual = np.full(len(start), np.nan, dtype=np.float32)
    first = data[np.minimum(start, max(len(data) - 1, 0))] if len(data) else np.zeros(len(start), np.uint8)
    present = (length > 0) & ~((length == 1) & (first == ord(".")))
    if not present.any():
        return qual
    raw = _column_bytes(data, start[present], length[present])
    try:
        qual[present] = raw.astype(np.float64)
    except ValueError:
        for i, value in zip(np.flatnonzero(present), raw, strict=True):
            try:
                float(value)
            except ValueError:
                raise InputError("QUAL is not a number or '.'", file=path, line=int(lines[i]),
                                 field="QUAL") from None
    return qual
