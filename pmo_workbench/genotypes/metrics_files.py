"""Every value of a pipeline metrics file, as written: the values MultiQC does not keep.

MultiQC (:mod:`pmo_workbench.genotypes.delivery_metrics`) keeps the per-sample summary a report needs and drops
the rest: DRAGEN's per-read-group rows and its PREFILTER section, per-contig coverage and the raw fragment-length
histogram (it keeps a thinned one), Picard's FIRST_OF_PAIR/SECOND_OF_PAIR rows and the libraries it merges,
mosdepth's per-chromosome distributions, VerifyBamID2's ancestry PCs and the files' headers. For an audit of a
delivery (what exactly did the centre send?) :func:`read_metric_values` reads one file into ``{locator: value}``
with every value as the exact text of the file (``0.00``, ``inf``, ``NA`` and empty strings kept).

Locators (as in ``../shared/data/sequencing_metrics/README.md``):

- DRAGEN section files (``*.mapping_metrics.csv``, ``*.vc_metrics.csv``, ``*.gvcf_metrics.csv``,
  ``*wgs_coverage_metrics*.csv``, ``*.ploidy_estimation_metrics.csv``): ``SECTION | RG-or-'-' | metric | value``
  and ``... | pct``;
- DRAGEN ``*contig_mean_cov*.csv``: ``'contig' | aligned bases``, ``'contig' | mean coverage``, ``number of rows``;
  ``*overall_mean_cov*.csv``: ``label | raw value``; ``*fragment_length_hist.csv``: ``sample blocks (#Sample:)``
  (``;``-joined), ``sample | rows``, ``sample | sum of Count``, ``sample | modal FragmentLength (Count)``;
- Picard: ``block N | METRICS CLASS`` and ``block N | KEY='row key' | COLUMN`` (KEY: CATEGORY,
  PAIR_ORIENTATION or LIBRARY, else ``row='row k'``);
- mosdepth ``*.global.dist.txt``: ``number of lines``, ``chrom=C | fraction >= Nx``; ``*.summary.txt``:
  ``chrom=C | column``;
- samtools stats: ``line 1``, ``SN name:``; VerifyBamID ``*.selfSM``: ``row k | column``; VerifyBamID2
  ``*.Ancestry``: ``PC=k | column``; somalier ``*.samples.tsv``/``*-ancestry.tsv``: ``sample_id=S | column``
  (``#sample_id=`` for the ancestry file), ``*.pairs.tsv``: ``a x b | column``.

Example
-------
>>> v = read_metric_values("../shared/data/sequencing_metrics/verifybamid2_upstream/result.Ancestry")
>>> v["PC=1 | ContaminatingSample"], v["PC=2 | IntendedSample"]
('0.0992534', '0.0193')
"""

from __future__ import annotations

import re
from pathlib import Path

from pmo_workbench.errors import InputError

_DRAGEN_SECTIONS = re.compile(r"(mapping_metrics|vc_metrics|gvcf_metrics|wgs_coverage_metrics.*|ploidy_estimation_"
                              r"metrics)\.csv$")
_PICARD_KEYS = ("CATEGORY", "PAIR_ORIENTATION", "LIBRARY")


def _dragen_sections(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        parts = line.split(",")
        if len(parts) < 4:
            continue
        section, rg, metric = parts[0], parts[1] or "-", parts[2]
        out[f"{section} | {rg} | {metric} | value"] = parts[3]
        if len(parts) > 4:
            out[f"{section} | {rg} | {metric} | pct"] = parts[4]
    return out


def _fragment_lengths(lines: list[str]) -> dict[str, str]:
    blocks: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in lines:
        if line.startswith("#Sample:"):
            current = line.split(":", 1)[1].strip()
            blocks[current] = []
        elif current is not None and line and not line.startswith("FragmentLength"):
            length, count = line.split(",")[:2]
            blocks[current].append((length, count))
    out = {"sample blocks (#Sample:)": ";".join(blocks)}
    for sample, rows in blocks.items():
        out[f"{sample} | rows"] = str(len(rows))
        out[f"{sample} | sum of Count"] = str(sum(int(c) for _, c in rows))
        if rows:
            length, count = max(rows, key=lambda r: int(r[1]))  # the first of the most frequent lengths
            out[f"{sample} | modal FragmentLength (Count)"] = f"{length} ({count})"
    return out


def _picard(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    block = 0
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("## METRICS CLASS"):
            block += 1
            out[f"block {block} | METRICS CLASS"] = line.split("\t", 1)[1].strip() if "\t" in line else ""
            header = lines[k + 1].split("\t")
            key = next((c for c in _PICARD_KEYS if c in header), None)
            k += 2
            row = 0
            while k < len(lines) and lines[k].strip() and not lines[k].startswith("#"):
                row += 1
                values = lines[k].split("\t")
                values += [""] * (len(header) - len(values))
                name = f"{key}='{values[header.index(key)]}'" if key else f"row='row {row}'"
                for col, value in zip(header, values, strict=False):
                    out[f"block {block} | {name} | {col}"] = value
                k += 1
            continue
        k += 1
    return out


def _table(lines: list[str], key: str | tuple[str, str], prefix: str) -> dict[str, str]:
    """A tab-separated table with a header: ``<prefix><key value> | column`` for every cell."""
    header = lines[0].split("\t")
    out = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        values = line.split("\t")
        if isinstance(key, tuple):
            name = f"{values[header.index(key[0])]} x {values[header.index(key[1])]}"
        else:
            name = f"{prefix}{values[header.index(key)]}"
        for col, value in zip(header, values, strict=False):
            out[f"{name} | {col}"] = value
    return out


def read_metric_values(path: str | Path) -> dict[str, str]:
    """Every value of one metrics file as its exact text, by locator (see the module docstring).

    Raises
    ------
    InputError
        An unreadable file, or one of a kind not listed in the module docstring.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read metrics file ({exc.__class__.__name__})", file=path) from None
    lines = text.splitlines()
    name = path.name
    if name.endswith(".csv") and _DRAGEN_SECTIONS.search(name):
        return _dragen_sections(lines)
    if "contig_mean_cov" in name:
        out = {"number of rows": str(sum(1 for x in lines if x.strip()))}
        for line in lines:
            parts = line.split(",")
            if len(parts) >= 3:
                out[f"'{parts[0]}' | aligned bases"] = parts[1]
                out[f"'{parts[0]}' | mean coverage"] = parts[2]
        return out
    if "overall_mean_cov" in name:
        return {f"{line.split(',', 1)[0]} | raw value": line.split(",", 1)[1] for line in lines if "," in line}
    if name.endswith("fragment_length_hist.csv"):
        return _fragment_lengths(lines)
    if any(line.startswith("## METRICS CLASS") for line in lines[:40]):
        return _picard(lines)
    if name.endswith(".global.dist.txt"):
        out = {"number of lines": str(len(lines))}
        for line in lines:
            chrom, cov, frac = line.split("\t")[:3]
            out[f"chrom={chrom} | fraction >= {cov}x"] = frac
        return out
    if name.endswith(".summary.txt") and lines and lines[0].startswith("chrom\t"):
        return _table(lines, "chrom", "chrom=")
    if lines and lines[0].startswith("# This file was produced by samtools stats"):
        out = {"line 1": lines[0]}
        for line in lines:
            if line.startswith("SN\t"):
                parts = line.split("\t")
                out[f"SN {parts[1]}"] = parts[2]
        return out
    if name.endswith(".selfSM"):
        header = lines[0].split("\t")
        return {f"row {k} | {col}": value for k, line in enumerate(lines[1:], start=1) if line.strip()
                for col, value in zip(header, line.split("\t"), strict=False)}
    if name.endswith(".Ancestry"):
        return _table(lines, "PC", "PC=")
    if name.endswith("-ancestry.tsv"):
        return _table(lines, "#sample_id", "#sample_id=")
    if name.endswith(".pairs.tsv"):
        return _table(lines, ("#sample_a", "sample_b"), "")
    if name.endswith(".samples.tsv"):
        return _table(lines, "sample_id", "sample_id=")
    raise InputError("not a metrics file of a known kind", file=path)


__all__ = ["read_metric_values"]
