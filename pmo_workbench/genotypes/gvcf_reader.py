"""Read one single-sample gVCF into two column tables: its reference blocks and its variant calls.

A gVCF (GATK HaplotypeCaller ``-ERC GVCF``, DRAGEN, DeepVariant) holds, for one sample, *reference blocks*
(records whose only ALT is the symbolic ``<NON_REF>`` or ``<*>``, or ``.``, spanning ``POS..INFO/END``, with the block's
GQ and MIN_DP) and *variant records* (an ALT other than the symbolic one, with GT, GQ, DP, AD, PL over the
record's alleles plus the symbolic allele). :func:`read_gvcf` splits them the way Hail's VDS combiner does
(``hl.vds.new_combiner``: reference data apart from variant data):

- ``blocks``: ``contig`` (the contig's name), ``start``, ``end`` (1-based, inclusive), ``gq`` (int16, the
  block's GQ; -1 where the file gives none, e.g. DRAGEN's somatic-style chrM blocks), ``dp`` (int32, MIN_DP, or
  DP, -1 missing) and ``ploidy`` (int8: 1 for a haploid ``0`` block, e.g. male chrX outside the PARs). Blocks
  whose GT is not hom-ref (DeepVariant's ``./.`` GQ-0 bands) carry no genotype and are left out: such a
  position reads as missing, as if not covered.
- ``calls``: one row per variant record: ``contig``, ``pos``, ``ref``, ``alts`` (comma-joined, the symbolic
  allele dropped), ``a0``/``a1`` (int8 allele indices into ``[ref] + alts``; -1 for a missing allele or one that
  calls the symbolic allele, -2 for the absent second allele of a haploid call), ``phased``, ``gq``, ``dp``
  (-1 missing), ``ad`` (Arrow list, the symbolic allele's depth dropped), ``pl`` (Arrow list, the record's PL
  *with* the
  symbolic allele, so a combiner can fill the likelihoods of alleles this sample lacks from it, as GATK does),
  ``filters`` and ``qual``. A record with GT ``0/0`` stays a call (Hail keeps it in the variant data, GATK
  keeps it in the combined gVCF); DeepVariant's ``RefCall`` records keep their ``./.``.

The text is parsed column-wise with Arrow's CSV reader (multi-threaded) and vectorised Arrow/numpy steps, not
line by line: a whole-genome gVCF has tens of millions of blocks. A truncated or corrupt gzip stream, a second
sample column, a non-integer POS/END/GQ/DP, or a GT naming an allele the record does not have is an
:class:`~pmo_workbench.errors.InputError` naming the file, the line and the field.

Examples
--------
>>> g = read_gvcf("../shared/data/gvcf_small/glnexus_deepvariant/derived/dv_1000G_chr17_2517459/NA12878.gvcf")
>>> g.sample, len(g.blocks), len(g.calls)
('NA12878', 3, 1)
>>> g.calls[["pos", "ref", "alts", "a0", "a1", "gq"]].to_dict("records")
[{'pos': 2517459, 'ref': 'A', 'alts': 'G', 'a0': 0, 'a1': 1, 'gq': 38}]
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.contigs import guess_build

SYMBOLIC_ALTS = ("<NON_REF>", "<*>")
"""The gVCF's "any other allele": a record whose only ALT is one of these is a reference block."""

_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", "SAMPLE"]
_CONTIG_RE = re.compile(r"^##contig=<ID=([^,>]+)(?:.*?[,<]length=(\d+))?", re.MULTILINE)
_END_RE = r"(?:^|;)END=(?P<end>[^;]*)"
_ROW_RE = re.compile(r"Row #(\d+)")


@dataclass
class GvcfData:
    """One gVCF, read: the sample named in its header, its contigs and its two tables (see the module)."""

    path: Path
    sample: str
    contigs: list[str]
    contig_lengths: dict[str, int]
    reference_build: str | None
    source: str
    blocks: pd.DataFrame
    calls: pd.DataFrame
    n_records: int = 0
    header_lines: int = 0
    extra: dict = field(default_factory=dict)


def _decompress(path: Path, raw: bytes) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        from isal import igzip

        return igzip.decompress(raw)
    except ImportError:  # pragma: no cover - isal is a dependency
        import gzip

        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"corrupt or truncated gzip stream ({type(exc).__name__})", file=path) from None
    except (EOFError, OSError, zlib.error, ValueError) as exc:
        raise InputError(f"corrupt or truncated gzip stream ({type(exc).__name__})", file=path) from None


def _split_header(path: Path, text: bytes) -> tuple[str, bytes, str, int]:
    """(meta-information text, body bytes, the sample's name, number of header lines)."""
    if text.startswith(b"#CHROM"):
        at = 0
    else:
        at = text.find(b"\n#CHROM")
        if at < 0:
            raise InputError("no #CHROM header line: not a VCF", file=path, field="header")
        at += 1
    end = text.find(b"\n", at)
    end = len(text) if end < 0 else end
    chrom_line = text[at:end].decode("utf-8", errors="replace").rstrip("\r").split("\t")
    meta = text[:at].decode("utf-8", errors="replace")
    n_header = meta.count("\n") + 1
    if chrom_line[:9] != ["#CHROM", *_COLUMNS[1:9]]:
        raise InputError("the #CHROM line does not name the 9 fixed VCF columns", file=path, line=n_header,
                         field="header")
    if len(chrom_line) != 10:
        raise InputError(f"a single-sample gVCF has one sample column, this one has {len(chrom_line) - 9}",
                         file=path, line=n_header, field="header")
    return meta, text[end + 1:], chrom_line[9], n_header


def _read_body(path: Path, body: bytes, n_header: int) -> pa.Table:
    bad: list[int | None] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(row.number)
        return "skip"

    types = {c: pa.string() for c in _COLUMNS}
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=_COLUMNS, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                             newlines_in_values=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        m = _ROW_RE.search(str(exc))
        line = n_header + int(m.group(1)) if m else None
        raise InputError("POS is not an integer" if "int64" in str(exc) else "unreadable record",
                         file=path, line=line, field="POS" if "int64" in str(exc) else "record") from None
    if bad:
        line = n_header + bad[0] if bad[0] is not None else None
        raise InputError("the record does not have 10 tab-separated columns (truncated file?)", file=path,
                         line=line, field="record")
    return table


def _format_values(fmt: pa.Array, values: pa.ListArray, key: str) -> pa.Array:
    """The ``key`` sub-field of each sample column (null where the FORMAT lacks it or the value is cut short)."""
    enc = pc.dictionary_encode(fmt).combine_chunks() if isinstance(fmt, pa.ChunkedArray) else \
        pc.dictionary_encode(fmt)
    keys = [str(f).split(":") for f in enc.dictionary.to_pylist()]
    where = np.array([k.index(key) if key in k else -1 for k in keys] + [-1], dtype=np.int64)
    idx = where[enc.indices.to_numpy(zero_copy_only=False)]
    offsets = values.offsets.to_numpy()
    lengths = np.diff(offsets)
    ok = (idx >= 0) & (idx < lengths)
    take = np.where(ok, offsets[:-1] + np.maximum(idx, 0), 0)
    flat = values.values
    if len(flat) == 0:
        return pa.nulls(len(idx), pa.string())
    return pc.if_else(pa.array(ok), flat.take(pa.array(take)), pa.scalar(None, pa.string()))


def _ints(path: Path, values: pa.Array, name: str, lines: np.ndarray, dtype: type) -> np.ndarray:
    """Integer sub-field values, -1 where null or '.'."""
    missing = pc.or_kleene(pc.is_null(values), pc.equal(values, ".")).fill_null(True)
    clean = pc.if_else(missing, pa.scalar("-1"), values)
    try:
        out = pc.cast(clean, pa.int64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        arr = clean.to_pylist()
        for i, v in enumerate(arr):
            try:
                int(v)
            except ValueError:
                raise InputError(f"{name} is not an integer", file=path, line=int(lines[i]), field=name) from None
        raise
    info = np.iinfo(dtype)
    return np.clip(out, -1, info.max).astype(dtype)


def _parse_gt(path: Path, gts: pa.Array, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alleles int16 [n, 2] with -1 missing and -2 absent, ploidy int8, phased bool) of each GT string."""
    enc = pc.dictionary_encode(pc.fill_null(gts, "."))
    parsed = []
    for k, text in enumerate(enc.dictionary.to_pylist()):
        parts = re.split(r"[/|]", text)
        if len(parts) > 2 or any(p != "." and not p.isdigit() for p in parts):
            row = int(np.flatnonzero(enc.indices.to_numpy(zero_copy_only=False) == k)[0])
            raise InputError("GT is not of the form a, a/b or a|b (integer alleles or '.'); polyploid calls are "
                             "not supported", file=path, line=int(lines[row]), field="GT")
        a = [int(p) if p != "." else -1 for p in parts] + [-2] * (2 - len(parts))
        parsed.append((a[0], a[1], len(parts), "|" in text))
    table = np.array(parsed, dtype=np.int64).reshape(-1, 4)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    rows = table[codes]
    return rows[:, :2].astype(np.int16), rows[:, 2].astype(np.int8), rows[:, 3].astype(bool)


def _floats(values: pa.Array) -> np.ndarray:
    """QUAL as float32, NaN where '.' or not a number."""
    ok = pc.match_substring_regex(values, r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
    clean = pc.if_else(ok, values, pa.scalar("nan"))
    return pc.cast(clean, pa.float32()).to_numpy(zero_copy_only=False)


def _int_lists(path: Path, values: pa.Array, lines: np.ndarray, name: str) -> pa.ListArray:
    """A comma-separated integer sub-field (AD, PL) as list<int32>: null where absent or '.', -1 for a '.'
    element."""
    absent = pc.or_kleene(pc.is_null(values), pc.equal(values, ".")).fill_null(True)
    text = pc.if_else(absent, pa.scalar(None, pa.string()), values)
    lists = pc.split_pattern(text, ",")
    flat = lists.values
    flat = pc.if_else(pc.equal(flat, "."), pa.scalar("-1"), flat)
    try:
        ints = pc.cast(flat, pa.int32())
    except pa.ArrowInvalid:
        bad = ~pc.match_substring_regex(flat, r"^-?[0-9]+$").to_numpy(zero_copy_only=False)
        offsets = lists.offsets.to_numpy()
        row = int(np.searchsorted(offsets, np.argmax(bad), side="right") - 1)
        raise InputError(f"{name} is not a list of integers", file=path, line=int(lines[row]), field=name) from None
    return pa.ListArray.from_arrays(lists.offsets, ints, mask=pc.is_null(lists))


def read_gvcf(path: str | Path) -> GvcfData:
    """Read a single-sample gVCF (plain, gzip or BGZF) into its reference blocks and variant calls.

    Parameters
    ----------
    path
        The gVCF.

    Returns
    -------
    GvcfData
        The header's sample name, contigs (header order, then order of appearance), build, the calling
        pipeline (``source``: the ``##source``/``##DRAGENCommandLine``/DeepVariant header line, first found)
        and the ``blocks`` and ``calls`` tables described in the module docstring.

    Raises
    ------
    InputError
        Missing, truncated or malformed file: the file, line and field are named.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    text = _decompress(path, path.read_bytes())
    meta, body, sample, n_header = _split_header(path, text)
    contig_lengths: dict[str, int] = {}
    contig_order: list[str] = []
    for m in _CONTIG_RE.finditer(meta):
        contig_order.append(m.group(1))
        if m.group(2):
            contig_lengths[m.group(1)] = int(m.group(2))
    source = "unknown"
    for pattern, name in ((r"^##DRAGENCommandLine=<ID=dragen,Version=\"?([^\",>]+)", "DRAGEN {}"),
                          (r"^##GATKCommandLine[^\n]*?ID=HaplotypeCaller[^\n]*?Version=\"?([^\",>]+)",
                           "GATK HaplotypeCaller {}"),
                          (r"^##DeepVariant_version=([^\n]+)", "DeepVariant {}"),
                          (r"^##source=([^\n]+)", "{}")):
        m = re.search(pattern, meta, re.MULTILINE)
        if m:
            source = name.format(m.group(1).strip())
            break
    table = _read_body(path, body, n_header)
    n = table.num_rows
    lines = n_header + 1 + np.arange(n, dtype=np.int64)
    chrom = table["CHROM"].combine_chunks()
    pos_text = table["POS"].combine_chunks()
    digits = pc.match_substring_regex(pos_text, r"^[0-9]{1,10}$").to_numpy(zero_copy_only=False)
    if not digits.all():
        raise InputError("POS is not a non-negative integer", file=path, line=int(lines[np.argmin(digits)]),
                         field="POS")
    pos = pc.cast(pos_text, pa.int64()).to_numpy(zero_copy_only=False)
    ref = table["REF"].combine_chunks()
    alt = table["ALT"].combine_chunks()
    fmt = table["FORMAT"].combine_chunks()
    sample_col = pc.split_pattern(table["SAMPLE"].combine_chunks(), ":")
    if n and int(pc.min(pc.list_value_length(sample_col)).as_py() or 0) == 0:
        raise InputError("empty sample column", file=path, field="sample")
    # a reference block: only the symbolic ALT, or no ALT at all ('.', Strelka's and some DRAGEN blocks)
    is_block = pc.is_in(alt, value_set=pa.array((*SYMBOLIC_ALTS, "."))).to_numpy(zero_copy_only=False)
    gt_text = _format_values(fmt, sample_col, "GT")
    no_gt = pc.is_null(gt_text).to_numpy(zero_copy_only=False)
    gt, ploidy, phased = _parse_gt(path, gt_text, lines)
    gt[no_gt & is_block] = 0  # a block without a GT field is a hom-ref block
    ploidy[no_gt & is_block] = 2
    gq = _ints(path, _format_values(fmt, sample_col, "GQ"), "GQ", lines, np.int16)
    dp = _ints(path, _format_values(fmt, sample_col, "DP"), "DP", lines, np.int32)
    min_dp = _ints(path, _format_values(fmt, sample_col, "MIN_DP"), "MIN_DP", lines, np.int32)
    seen = pd.unique(np.asarray(chrom.to_numpy(zero_copy_only=False), dtype=object)) if n else []
    contigs = contig_order + [c for c in seen if c not in set(contig_order)]

    # reference blocks: hom-ref GT (0/0, or haploid 0) only
    bsel = np.flatnonzero(is_block)
    end_struct = pc.extract_regex(table["INFO"].combine_chunks().take(pa.array(bsel)), _END_RE)
    end_text = pc.struct_field(end_struct, "end")
    end = _ints(path, end_text, "END", lines[bsel], np.int64)
    bpos = pos[bsel]
    end = np.where(end < 0, bpos, end)
    if (end < bpos).any():
        i = int(np.flatnonzero(end < bpos)[0])
        raise InputError("END is before POS", file=path, line=int(lines[bsel[i]]), field="END")
    bgt = gt[bsel]
    homref = (bgt[:, 0] == 0) & ((bgt[:, 1] == 0) | (bgt[:, 1] == -2))
    keep = bsel[homref]
    bdp = np.where(min_dp[keep] >= 0, min_dp[keep], dp[keep])
    blocks = pd.DataFrame({
        "contig": np.asarray(chrom.take(pa.array(keep)).to_numpy(zero_copy_only=False), dtype=object),
        "start": pos[keep], "end": end[homref], "gq": gq[keep], "dp": bdp.astype(np.int32),
        "ploidy": ploidy[keep]})

    # variant records, vectorised over the flattened ALT lists
    vsel = np.flatnonzero(~is_block)
    vlines = lines[vsel]
    alt_lists = pc.split_pattern(alt.take(pa.array(vsel)), ",")
    a_off = alt_lists.offsets.to_numpy().astype(np.int64)
    a_flat = alt_lists.values
    n_alt = np.diff(a_off)
    dot = pc.equal(a_flat, ".").to_numpy(zero_copy_only=False)
    sym = pc.is_in(a_flat, value_set=pa.array(SYMBOLIC_ALTS)).to_numpy(zero_copy_only=False) | dot
    n_all = n_alt + 1  # alleles of the record as written (REF + ALT, symbolic included)
    # allele k (1-based ALT index) of row i -> its index among the real alleles, -1 for the symbolic one
    cum = np.concatenate([[0], np.cumsum(~sym)])
    vgt = gt[vsel].astype(np.int64)
    a_out = np.empty((len(vsel), 2), dtype=np.int8)
    for c in (0, 1):
        v = vgt[:, c]
        if (v >= n_all).any():
            i = int(np.flatnonzero(v >= n_all)[0])
            raise InputError(f"GT allele {int(v[i])} but the record has {int(n_all[i])} alleles", file=path,
                             line=int(vlines[i]), field="GT")
        k = np.clip(a_off[:-1] + v - 1, 0, max(len(sym) - 1, 0))
        alt_ok = (v > 0) & ~sym[k] if len(sym) else np.zeros(len(v), bool)
        real_index = cum[k + 1] - cum[a_off[:-1]] if len(sym) else np.zeros(len(v), np.int64)
        a_out[:, c] = np.where(v <= 0, v, np.where(alt_ok, real_index, -1))
    real_lists = pa.ListArray.from_arrays(pa.array(cum[a_off]), a_flat.filter(pa.array(~sym)))
    alts_joined = pc.binary_join(real_lists, ",")
    ad = _int_lists(path, _format_values(fmt, sample_col, "AD").take(pa.array(vsel)), vlines, "AD")
    pl = _int_lists(path, _format_values(fmt, sample_col, "PL").take(pa.array(vsel)), vlines, "PL")
    # AD without the symbolic allele's depth; null when its length is not the record's allele count
    ad_off = ad.offsets.to_numpy().astype(np.int64)
    ad_len = np.diff(ad_off)
    ad_ok = ad.is_valid().to_numpy(zero_copy_only=False) & (ad_len == n_all)
    row_of = np.repeat(np.arange(len(vsel)), ad_len)
    pos_in = np.arange(len(row_of)) - ad_off[:-1][row_of]
    keep_el = ad_ok[row_of] & ((pos_in == 0) | ~sym[np.clip(a_off[:-1][row_of] + pos_in - 1, 0,
                                                              max(len(sym) - 1, 0))])
    new_len = np.bincount(row_of[keep_el], minlength=len(vsel))
    ad_values = ad.values.filter(pa.array(keep_el)) if len(keep_el) else pa.array([], pa.int32())
    ad_clean = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(new_len)]).astype(np.int32)),
                                       ad_values, mask=pa.array(~ad_ok))
    ref_v = ref.take(pa.array(vsel))
    calls = pd.DataFrame({
        "contig": np.asarray(chrom.take(pa.array(vsel)).to_numpy(zero_copy_only=False), dtype=object),
        "pos": pos[vsel],
        "ref": np.asarray(ref_v.to_numpy(zero_copy_only=False), dtype=object),
        "alts": np.asarray(alts_joined.to_numpy(zero_copy_only=False), dtype=object),
        "a0": a_out[:, 0], "a1": a_out[:, 1],
        "phased": phased[vsel],
        "gq": gq[vsel], "dp": dp[vsel],
        "ad": pd.arrays.ArrowExtensionArray(ad_clean), "pl": pd.arrays.ArrowExtensionArray(pl),
        "filters": np.asarray(table["FILTER"].combine_chunks().take(pa.array(vsel)).to_numpy(zero_copy_only=False),
                              dtype=object),
        "qual": _floats(table["QUAL"].combine_chunks().take(pa.array(vsel))),
    })
    return GvcfData(path=path, sample=sample, contigs=contigs, contig_lengths=contig_lengths,
                    reference_build=guess_build(contig_lengths, meta), source=source, blocks=blocks,
                    calls=calls, n_records=n, header_lines=n_header)
