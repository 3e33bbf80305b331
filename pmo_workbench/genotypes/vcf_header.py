"""VCF header: meta-information lines and the ``#CHROM`` line, checked with the file and line named.

Examples
--------
>>> lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
...          "#CHROM\\tPOS\\tID\\tREF\\tALT\\tQUAL\\tFILTER\\tINFO\\tFORMAT\\tS1\\tS2"]
>>> h = parse_vcf_header(lines, "x.vcf")
>>> h.samples, h.format_types["GT"]
(['S1', 'S2'], 'String')
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pmo_workbench.errors import InputError

FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
_STRUCTURED = re.compile(r"^##(INFO|FORMAT|FILTER|contig)=<(.*)>\s*$")
_VALID_ID = re.compile(r"^([A-Za-z_][0-9A-Za-z_.]*|1000G)$")
_VERSION = re.compile(r"^##fileformat=VCFv(\d+)\.(\d+)")


class VcfWarning(UserWarning):
    """A VCF that is readable but not quite valid (undeclared keys, IUPAC REF, POS 0, ...)."""


@dataclass
class VcfHeader:
    """What the reader needs from a VCF header."""

    version: str
    samples: list[str]
    n_lines: int
    info_ids: list[str] = field(default_factory=list)
    format_types: dict[str, str] = field(default_factory=dict)
    filter_ids: list[str] = field(default_factory=list)
    contig_lengths: dict[str, int] = field(default_factory=dict)
    contig_order: list[str] = field(default_factory=list)
    text: str = ""


def _split_attributes(body: str) -> dict[str, str]:
    """``ID=DP,Number=1,Description="a, b"`` -> dict (quotes respected)."""
    out: dict[str, str] = {}
    key, value, in_quotes, reading_key = "", "", False, True
    for ch in body + ",":
        if reading_key:
            if ch == "=":
                reading_key = False
            elif ch == ",":
                key = ""
            else:
                key += ch
        elif ch == '"':
            in_quotes = not in_quotes
            value += ch
        elif ch == "," and not in_quotes:
            out[key.strip()] = value.strip().strip('"')
            key, value, reading_key = "", "", True
        else:
            value += ch
    return out


def parse_vcf_header(lines: list[str], file: str | Path) -> VcfHeader:
    """Parse the header lines (``##...`` and ``#CHROM``), raising InputError for unusable headers.

    Raises
    ------
    InputError
        No ``##fileformat`` line, a VCF version before 4.0, a malformed ``#CHROM`` line, an empty or
        duplicated sample name.

    Warns
    -----
    VcfWarning
        Header IDs that are not valid VCF identifiers, a Flag with Number other than 0, no ``##contig`` lines.
    """
    if not lines or not lines[0].startswith("##fileformat="):
        raise InputError("not a VCF: the first line must be ##fileformat=VCFv4.x", file=file, line=1,
                         field="fileformat")
    m = _VERSION.match(lines[0])
    if not m or int(m.group(1)) < 4:
        raise InputError(f"unsupported VCF version {lines[0].split('=', 1)[1].strip()!r} (need VCFv4.x)",
                         file=file, line=1, field="fileformat")
    header = VcfHeader(version=f"{m.group(1)}.{m.group(2)}", samples=[], n_lines=len(lines))
    notes: list[str] = []
    for lineno, line in enumerate(lines[1:-1], start=2):
        sm = _STRUCTURED.match(line)
        if not sm:
            continue
        kind, attrs = sm.group(1), _split_attributes(sm.group(2))
        ident = attrs.get("ID")
        if ident is None:
            raise InputError(f"##{kind} line without ID", file=file, line=lineno, field=kind)
        if kind in ("INFO", "FORMAT") and not _VALID_ID.match(ident):
            notes.append(f"line {lineno}: {kind} ID {ident!r} is not a valid VCF identifier")
        if kind == "INFO":
            header.info_ids.append(ident)
            if attrs.get("Type") == "Flag" and attrs.get("Number") != "0":
                notes.append(f"line {lineno}: INFO Flag {ident!r} has Number={attrs.get('Number')} (must be 0)")
        elif kind == "FORMAT":
            header.format_types[ident] = attrs.get("Type", "String")
        elif kind == "FILTER":
            header.filter_ids.append(ident)
        else:
            header.contig_order.append(ident)
            if attrs.get("length", "").isdigit():
                header.contig_lengths[ident] = int(attrs["length"])
    header.text = "\n".join(lines[:-1])
    chrom_line = lines[-1].rstrip("\r\n")
    lineno = len(lines)
    if not chrom_line.startswith("#CHROM"):
        raise InputError("header does not end with a #CHROM line", file=file, line=lineno, field="#CHROM")
    cols = chrom_line.split("\t")
    if cols[:8] != FIXED_COLUMNS:
        raise InputError(f"#CHROM line must start with {' '.join(FIXED_COLUMNS)} separated by tabs",
                         file=file, line=lineno, field="#CHROM")
    if len(cols) > 8:
        if cols[8] != "FORMAT":
            raise InputError(f"9th column of the #CHROM line is {cols[8]!r}, expected FORMAT", file=file,
                             line=lineno, field="#CHROM")
        samples = cols[9:]
        for k, name in enumerate(samples):
            if not name.strip():
                raise InputError(f"empty sample name in column {k + 10} (a trailing tab or space?)", file=file,
                                 line=lineno, field="#CHROM")
        dups = sorted(n for n, c in Counter(samples).items() if c > 1)
        if dups:
            raise InputError(f"duplicated sample names: {', '.join(dups[:10])}", file=file, line=lineno,
                             field="#CHROM")
        header.samples = samples
    if not header.contig_order:
        notes.append("no ##contig lines: contig lengths and the reference build are unknown")
    for note in notes:
        warnings.warn(f"{file}: {note}", VcfWarning, stacklevel=3)
    return header
