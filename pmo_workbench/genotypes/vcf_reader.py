"""Import a VCF/BCF into a VCF Zarr store with the compiled parser of :mod:`.vcf_kernels`.

Per block of lines, Python does only whole-array work (finding newlines, gathering the fixed columns into
numpy byte arrays); every genotype is decoded by numba. Bad input raises
:class:`~pmo_workbench.errors.InputError` naming the file, the line and the field; readable oddities
(undeclared keys, IUPAC REF, POS 0, AD of the wrong length, ...) give one :class:`VcfWarning` each.

Example
-------
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

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import vcf_kernels as K
from pmo_workbench.genotypes.contigs import guess_build
from pmo_workbench.genotypes.store_writer import StoreWriter
from pmo_workbench.genotypes.vcf_header import VcfHeader, VcfWarning, parse_vcf_header
from pmo_workbench.genotypes.vcf_source import iter_line_blocks, open_text_chunks

CHUNK_ROWS = 10_000

_ERR_TEXT = {
    K.ERR_FEW_COLUMNS: ("CHROM..INFO", "the record has {aux} tab-separated columns, a VCF record needs at least 8"),
    K.ERR_POS: ("POS", "POS is not a non-negative integer"),
    K.ERR_SAMPLE_COLUMNS: ("sample columns", "the header names {n_samples} samples but the record has {aux}"),
    K.ERR_GT_CHAR: ("GT", "sample {sample}: GT is not of the form a/b or a|b with integer alleles or '.'"),
    K.ERR_GT_ALLELE: ("GT", "sample {sample}: allele index {aux} but the record has {n_alleles} alleles"),
    K.ERR_GT_BIG: ("GT", "sample {sample}: allele index {aux} is above 127 (not supported)"),
    K.ERR_NO_FORMAT: ("FORMAT", "the header names {n_samples} samples but the record has no FORMAT column"),
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


def _read_header(blocks, path: Path) -> tuple[VcfHeader, bytes]:
    """Consume blocks until the ``#CHROM`` line; return the header and the body bytes that follow."""
    data = b""
    for block in blocks:
        data += bytes(block)
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
    return header, data[head_end:]


def _declared_hashes(ids: list[str]) -> np.ndarray:
    return np.sort(np.array([K.hash_key(i) for i in ids], dtype=np.uint64))


def _raise(path: Path, buf: np.ndarray, err: np.ndarray, line_of: np.ndarray, n_samples: int,
           samples: list[str], n_alleles: np.ndarray) -> None:
    code, rec, sample, aux, offset = (int(x) for x in err[:5])
    if code == K.ERR_PLOIDY:
        raise _PloidyRestart(aux)
    field, text = _ERR_TEXT[code]
    name = samples[sample] if 0 <= sample < len(samples) else str(sample)
    text = text.format(aux=aux, n_samples=n_samples, sample=name, n_alleles=int(n_alleles[rec]))
    if field == "GT":
        token = bytes(buf[offset:offset + 40]).split(b"\t")[0].split(b":")[0].decode(errors="replace")
        text += f" (GT is {token[:20]!r})"
    raise InputError(text, file=path, line=int(line_of[rec]), field=field)


def import_vcf(path: str | Path, root: str | Path, *, chunk_rows: int = CHUNK_ROWS,
               progress: bool = False) -> dict[str, Any]:
    """Import a VCF/BCF (plain, gzip or BGZF) into a new VCF Zarr store at ``root``; return its attributes.

    Raises
    ------
    InputError
        Bad header or record (file, line and field named). ``root`` is then left half-written: callers
        build into a temporary directory (see :func:`.cache.build_store_atomically`).
    """
    path = Path(path)
    ploidy = 2
    while True:
        try:
            return _import(path, Path(root), ploidy, chunk_rows, progress)
        except _PloidyRestart as restart:
            shutil.rmtree(root, ignore_errors=True)
            ploidy = restart.ploidy


def _import(path: Path, root: Path, ploidy: int, chunk_rows: int, progress: bool) -> dict[str, Any]:
    kind, chunks = open_text_chunks(path)
    blocks = iter_line_blocks(chunks)
    header, body = _read_header(blocks, path)
    samples = header.samples
    n_samples = len(samples)
    fields = [f for f in ("DP", "GQ", "AD") if header.format_types.get(f) == "Integer"]
    writer = StoreWriter(root, n_samples=n_samples, ploidy=ploidy, chunk_rows=chunk_rows, fields=fields)
    info_keys = _declared_hashes(header.info_ids) if header.info_ids else _declared_hashes(["__none__"])
    format_keys = _declared_hashes(list(header.format_types)) if header.format_types \
        else _declared_hashes(["__none__"])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("contig", "pos", "id", "ref", "alt", "qual", "filter",
                                                         "n_alleles", "line")}
    warn_count = np.zeros(K.N_WARN, dtype=np.int64)
    warn_first: dict[int, tuple[int, str]] = {}
    line_offset = header.n_lines  # lines before this block
    n_blank = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit=" records", desc=f"import {path.name}")

    def body_blocks():
        if body:
            yield body
        yield from blocks

    for block in body_blocks():
        buf = np.frombuffer(block, dtype=np.uint8)
        starts_all, ends_all = K.split_lines(buf)
        if len(starts_all) == 0:
            continue
        keep = ends_all > starts_all
        line_of = np.flatnonzero(keep) + line_offset + 1
        n_blank += int(len(keep) - len(line_of))
        line_offset += len(starts_all)
        starts, ends = starts_all[keep], ends_all[keep]
        if len(starts) == 0:
            continue
        hashes = buf[starts] == 35
        if hashes.any():
            bad = int(np.flatnonzero(hashes)[0])
            raise InputError("a header line (#...) after the #CHROM line", file=path, line=int(line_of[bad]),
                             field="header")
        fixed = K.scan_fixed_columns(buf, starts, ends, n_samples, info_keys, format_keys)
        if fixed["err"][0]:
            _raise(path, buf, fixed["err"], line_of, n_samples, samples, fixed["n_alleles"])
        if n_samples == 0:
            extra = fixed["sample_start"] < ends
            if extra.any():
                bad = int(np.flatnonzero(extra)[0])
                raise InputError("the header names no samples but the record has sample columns", file=path,
                                 line=int(line_of[bad]), field="sample columns")
        if (fixed["n_alleles"] > 127).any():
            bad = int(np.flatnonzero(fixed["n_alleles"] > 127)[0])
            raise InputError("more than 127 alleles (not supported)", file=path, line=int(line_of[bad]),
                             field="ALT")
        gt, dp, gq, ad, err, warn2 = K.parse_block_genotypes(
            buf, starts, ends, fixed, n_samples, ploidy,
            want_dp="DP" in fields, want_gq="GQ" in fields, want_ad="AD" in fields)
        if err[0]:
            _raise(path, buf, err, line_of, n_samples, samples, fixed["n_alleles"])
        for warn in (fixed["warn"], warn2):
            for slot in np.flatnonzero(warn[:, 0]):
                warn_count[slot] += warn[slot, 0]
                if slot not in warn_first:
                    a, b = int(warn[slot, 2]), int(warn[slot, 3])
                    warn_first[slot] = (int(line_of[warn[slot, 1]]), bytes(buf[a:b]).decode(errors="replace"))
        writer.add_calls(gt, dp if "DP" in fields else None, gq if "GQ" in fields else None,
                         ad if "AD" in fields else None)
        spans = fixed["spans"]
        cols["contig"].append(K.gather_strings(buf, spans, 0))
        cols["pos"].append(fixed["pos"])
        cols["id"].append(K.gather_strings(buf, spans, 2))
        cols["ref"].append(K.gather_strings(buf, spans, 3))
        cols["alt"].append(K.gather_strings(buf, spans, 4))
        cols["qual"].append(K.gather_strings(buf, spans, 5))
        cols["filter"].append(K.gather_strings(buf, spans, 6))
        cols["n_alleles"].append(fixed["n_alleles"])
        cols["line"].append(line_of)
        if bar is not None:
            bar.update(len(starts))
    if bar is not None:
        bar.close()
    n_variants = writer.finish_calls()
    if n_blank:
        warnings.warn(f"{path}: {n_blank} empty line(s) ignored", VcfWarning, stacklevel=3)
    for slot, count in enumerate(warn_count):
        if count:
            line, token = warn_first[slot]
            warnings.warn(f"{path}: {count} record(s): {_WARN_TEXT[slot].format(token=token)} "
                          f"(first at line {line})", VcfWarning, stacklevel=3)
    return _write_variants(path, writer, header, cols, n_variants, ploidy, fields, kind)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=dtype)
    width = max(p.dtype.itemsize for p in parts) if np.dtype(dtype).kind == "S" else None
    if width is not None:
        parts = [p.astype(f"S{max(width, 1)}") for p in parts]
    return np.concatenate(parts)


def _write_variants(path: Path, writer: StoreWriter, header: VcfHeader, cols: dict[str, list[np.ndarray]],
                    n_variants: int, ploidy: int, fields: list[str], kind: str) -> dict[str, Any]:
    contig_raw = _concat(cols["contig"], "S1")
    contig_ids, contig_code = np.unique(contig_raw, return_inverse=True)
    contig_names = [c.decode() for c in contig_ids]
    # keep header order where known, then order of first appearance
    uniq, first_idx = np.unique(contig_code, return_index=True)
    first_seen = [contig_names[u] for u in uniq[np.argsort(first_idx)]]
    ordered = [c for c in header.contig_order if c in set(contig_names)]
    ordered += [c for c in first_seen if c not in set(ordered)]
    remap = np.array([ordered.index(c) for c in contig_names], dtype=np.int16)
    variant_contig = remap[contig_code] if n_variants else np.zeros(0, np.int16)
    if header.contig_order:
        undeclared = sorted(set(contig_names) - set(header.contig_order))
        if undeclared:
            warnings.warn(f"{path}: contig(s) {', '.join(undeclared[:5])} not declared in the header",
                          VcfWarning, stacklevel=4)
    filters = _concat(cols["filter"], "S1")
    declared = set(header.filter_ids) | {"PASS", "."}
    used = {f for raw in np.unique(filters) for f in raw.decode().split(";")} if n_variants else set()
    undeclared_f = sorted(used - declared - {""})
    if undeclared_f:
        warnings.warn(f"{path}: FILTER value(s) {', '.join(undeclared_f[:5])} not declared in the header",
                      VcfWarning, stacklevel=4)
    qual_raw = _concat(cols["qual"], "S1")
    qual = np.full(len(qual_raw), np.nan, dtype=np.float32)
    present = (qual_raw != b".") & (qual_raw != b"")
    try:
        qual[present] = qual_raw[present].astype(np.float64)
    except ValueError:
        lines = np.concatenate(cols["line"])
        for i in np.flatnonzero(present):
            try:
                float(qual_raw[i])
            except ValueError:
                raise InputError("QUAL is not a number or '.'", file=path, line=int(lines[i]),
                                 field="QUAL") from None
    ids = _concat(cols["id"], "S1")
    ids = np.where(ids == b".", b"", ids)
    writer.write_array("sample_id", np.array(header.samples, dtype=object))
    rows = max(writer.chunk_rows * 10, 1)
    writer.write_array("variant_contig", variant_contig, rows)
    writer.write_array("variant_position", _concat(cols["pos"], np.int64), rows)
    writer.write_array("variant_id", ids, rows)
    writer.write_array("variant_ref", _concat(cols["ref"], "S1"), rows)
    alts = _concat(cols["alt"], "S1")
    writer.write_array("variant_alt", np.where(alts == b".", b"", alts), rows)
    writer.write_array("variant_n_alleles", _concat(cols["n_alleles"], np.int32).astype(np.int16), rows)
    writer.write_array("variant_filters", filters, rows)
    writer.write_array("variant_quality", qual, rows)
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
