"""Small VCF files for tests and doctests: the one writer every test uses, and the doctests' simulated cohort.

:func:`write_vcf` writes record lines (from :func:`format_record`, or ready-made) under a header made by
:func:`format_header` (or given as text); :func:`write_doctest_cohort` writes the simulated cohort the package's
docstring examples run on (offered to them as ``g``, ``manifest`` and ``pedigree`` by the root ``conftest.py``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = {
    "GT": 'Number=1,Type=String,Description="Genotype"',
    "DP": 'Number=1,Type=Integer,Description="Read depth"',
    "GQ": 'Number=1,Type=Integer,Description="Genotype quality"',
    "AD": 'Number=R,Type=Integer,Description="Allelic depths"',
}
"""FORMAT definitions :func:`format_header` can declare."""

COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def format_header(samples: Sequence[str], *, contigs: Iterable[str] | Mapping[str, int | None] = (),
               formats: Sequence[str] = ("GT",), filters: Mapping[str, str] | None = None,
               meta: Sequence[str] = ()) -> str:
    """Header text (ending in a newline): ``##fileformat``, ``meta`` lines, contigs (names, or names to
    lengths; None: no length), FILTER and FORMAT definitions, and the ``#CHROM`` line with ``samples``."""
    lines = ["##fileformat=VCFv4.2", *meta]
    items = contigs.items() if isinstance(contigs, Mapping) else ((c, None) for c in contigs)
    lines += [f"##contig=<ID={c}>" if n is None else f"##contig=<ID={c},length={n}>" for c, n in items]
    lines += [f'##FILTER=<ID={k},Description="{v}">' for k, v in (filters or {}).items()]
    lines += [f"##FORMAT=<ID={f},{FORMATS[f]}>" for f in formats]
    lines.append("\t".join([*COLUMNS, *samples]))
    return "\n".join(lines) + "\n"


def format_record(chrom: str, pos: int, ref: str, alt: str, calls: Iterable[str], *, id: str = ".",  # noqa: A002
               qual: str = ".", filter: str = "PASS", info: str = ".", format: str = "GT") -> str:  # noqa: A002
    """One record line (without newline) with the calls of every sample."""
    return "\t".join([chrom, str(pos), id, ref, alt, qual, filter, info, format, *calls])


def write_vcf(path: Path, records: Iterable[str], *, header: str | None = None,
              samples: Sequence[str] | None = None, compress: bool = False, **header_options) -> Path:
    """Write ``records`` (lines) under ``header`` (text) or ``format_header(samples, **header_options)``; gzip
    when ``compress``. Returns ``path``.

    Example
    -------
    >>> import tempfile
    >>> p = write_vcf(Path(tempfile.mkdtemp()) / "a.vcf", [format_record("1", 100, "A", "G", ["0/1", "1"])],
    ...               samples=["S1", "S2"], contigs=["1"])
    >>> p.read_text().splitlines()[-1]
    '1\\t100\\t.\\tA\\tG\\t.\\tPASS\\t.\\tGT\\t0/1\\t1'
    """
    if header is None:
        if samples is None:
            raise ValueError("give the header text or the samples")
        header = format_header(samples, **header_options)
    body = "".join(f"{r}\n" for r in records)
    text = header + body
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def format_calls(gt: np.ndarray) -> list[list[str]]:
    """Calls int [variants, samples, 2] (-1 missing, -2 no allele: haploid) as VCF GT strings."""
    def one(a: int, b: int) -> str:
        if b == -2:
            return "." if a < 0 else str(a)
        return "./." if a < 0 or b < 0 else f"{a}/{b}"

    return [[one(int(a), int(b)) for a, b in row] for row in gt]


DOCTEST_SAMPLES = [f"S{i:02d}" for i in range(1, 41)]
"""The doctest cohort's samples: population A is S01-S20, B is S21-S40; odd-numbered samples are male except
S40, a second sequencing of S38 (female). S03 is the son of S01 and S02; S05 has a low call rate; S06 is
female but reported male."""


def write_doctest_cohort(folder: Path, seed: int = 20) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Write the doctests' simulated cohort: ``(vcf, manifest, pedigree)``.

    40 samples (:data:`DOCTEST_SAMPLES`), GRCh37 contig lengths; 300 sites on each of chromosomes 1 and 2
    (among them a multi-allelic SNV, an insertion and a deletion on chromosome 2) and 80 non-PAR chrX sites
    (male calls haploid); FORMAT GT:DP:GQ; about 0.3 % missing calls (10 % for S05). The manifest has
    ``sample_id``, ``reported_sex`` and ``batch``; the pedigree is the trio S01 x S02 -> S03.
    """
    rng = np.random.default_rng(seed)
    n = len(DOCTEST_SAMPLES)
    pop = np.array([0] * 20 + [1] * 20)
    male = np.array([i % 2 == 0 for i in range(n)])  # S01 (index 0), S03, ... are male
    male[39] = False  # S40 copies S38
    contigs = {"1": 249250621, "2": 243199373, "X": 155270560}
    sites = [("1", 10_000 + 600_000 * k) for k in range(300)] + [("2", 20_000 + 600_000 * k) for k in range(300)]
    sites += [("X", 3_000_000 + 50_000 * k) for k in range(80)]
    alleles = [("A", "G"), ("C", "T"), ("A", "C"), ("G", "T")]
    records = []
    for k, (chrom, pos) in enumerate(sites):
        base = rng.uniform(0.05, 0.6)
        shift = rng.normal(0, 0.12) if chrom != "X" else 0.0  # chrX alike in both: F is not inflated
        freq = np.clip(base + np.array([-1, 1]) * shift, 0.02, 0.95)[pop]
        ref, alt = alleles[k % len(alleles)]
        n_alt = 1
        if chrom == "2" and k == 400:
            ref, alt, n_alt = "A", "G,C", 2
        elif chrom == "2" and k == 410:
            ref, alt = "AT", "A"
        elif chrom == "2" and k == 420:
            ref, alt = "A", "AT"
        gt = (rng.random((n, 2)) < freq[:, None]).astype(np.int64)
        if n_alt == 2:
            gt *= rng.integers(1, 3, (n, 2))
        gt[2] = [gt[0, rng.integers(2)], gt[1, rng.integers(2)]]  # S03: one allele from each parent
        if chrom == "X":
            gt[2] = [gt[1, rng.integers(2)], -2]  # a son's X is his mother's
            gt[male, 1] = -2
        gt[39] = gt[37]
        missing = rng.random(n) < np.where(np.arange(n) == 4, 0.10, 0.003)
        gt[missing] = [-1, -1] if chrom != "X" else [-1, -2]
        gt[missing & ~male] = [-1, -1]
        calls = []
        for call in format_calls(gt[None])[0]:
            if call.startswith("."):
                calls.append(f"{call}:.:.")
            else:
                calls.append(f"{call}:{rng.poisson(30)}:{min(99, 20 + rng.poisson(20))}")
        calls[39] = calls[37]
        records.append(format_record(chrom, pos, ref, alt, calls, format="GT:DP:GQ"))
    vcf = write_vcf(folder / "cohort.vcf", records, samples=DOCTEST_SAMPLES, contigs=contigs,
                    formats=("GT", "DP", "GQ"))
    reported = np.where(male, "M", "F").astype(object)
    reported[5] = "M"  # S06
    manifest = pd.DataFrame({"sample_id": DOCTEST_SAMPLES, "reported_sex": reported,
                             "batch": ["B1" if (i // 10) % 2 == 0 else "B2" for i in range(n)]})
    pedigree = pd.DataFrame({"family_id": ["F1"] * 3, "sample_id": ["S01", "S02", "S03"],
                             "father_id": [None, None, "S01"], "mother_id": [None, None, "S02"],
                             "sex": ["M", "F", "M"], "phenotype": [None] * 3})
    return vcf, manifest, pedigree
