"""PGS Catalog scoring files (format 2.0): header, genome build, harmonised columns, normalised variants.

The header is parsed by the PGS Catalog's own library (``pgscatalog.core``: ``CatalogScoreHeader``, or the looser
``ScoreHeader`` of custom files), so the genome-build names (``GRCh37``, ``hg19``, ``NR``, ...) and the
harmonisation fields mean exactly what they mean in pgsc_calc. The variant rows -- up to millions -- are read
column-wise with pyarrow and normalised by the rules of ``pgscatalog.core``'s ``ScoringFile.normalise()``
(tests hold the two equal on every scoring file in ``../shared/data/pgs_catalog``):

- a harmonised file (``#HmPOS_build`` and ``#HmPOS_date`` in the header) is placed by ``hm_chr``/``hm_pos``
  (empty where harmonisation failed: such rows cannot match), and a file without an ``other_allele`` column
  takes it from ``hm_inferOtherAllele``;
- an ``other_allele`` naming several alleles (``A/G``) becomes missing;
- a repeated ``chr:pos:effect_allele:other_allele`` is flagged ``is_duplicated`` (all but the first);
- the files of pygscatalog's *normalised* layout (``chr_name, chr_position, effect_allele, other_allele,
  effect_weight, effect_type, is_duplicated, accession, row_nr``, no header) are read as they are.

Unlike ``normalise()``, which warns, rows the workbench cannot score are refused with one clear
:class:`~pmo_workbench.errors.InputError` naming the file, the line and the column: non-additive weights
(``dosage_0/1/2_weight``, ``is_dominant``/``is_recessive`` true), haplotypes, diplotypes, interactions and
complex alleles (HLA, APOE, CYP: anything not made of A/C/G/T), and files without positions (rsID only).
The genome build must be known (header, harmonised build, or ``hmPOS_GRCh3x`` in the file name) and equal to
the genotypes' build; otherwise the error names both builds.

Examples
--------
>>> sf = read_scoring_file("../shared/data/pgs_catalog/PGS000001_hmPOS_GRCh38.txt.gz")
>>> sf.pgs_id, sf.genome_build, sf.harmonised, len(sf.variants)
('PGS000001', 'GRCh38', True, 77)
>>> sf.variants.loc[0, ["chr_name", "effect_allele", "other_allele"]].tolist(), int(sf.variants.loc[0, "chr_position"])
(['11', 'T', 'C'], 69516650)
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pmo_workbench.errors import InputError

NORMALISED_COLUMNS = ["chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "effect_type",
                      "is_duplicated", "accession", "row_nr"]
"""Columns of a normalised scoring table (pygscatalog's layout), one row per scoring-file variant."""

_ACGT = re.compile(r"^[ACGT]+$")
_BUILD_IN_NAME = re.compile(r"hmPOS_(GRCh3[78])", re.IGNORECASE)
_TRUE = {"true", "t", "1", "yes"}
_COMPLEX_FLAGS = ("is_haplotype", "is_diplotype", "is_interaction")


@dataclass
class ScoringFile:
    """One scoring file: ``pgs_id``, ``genome_build`` (``GRCh37``/``GRCh38``/None), ``harmonised``, the header
    fields as text, and ``variants`` (:data:`NORMALISED_COLUMNS`; ``effect_weight`` float)."""

    path: Path
    pgs_id: str
    genome_build: str | None
    harmonised: bool
    header: dict[str, str]
    variants: pd.DataFrame
    layout: str = "pgs_catalog"
    notes: list[str] = field(default_factory=list)

    @property
    def trait(self) -> str:
        """The reported trait (empty when the file does not say)."""
        return self.header.get("trait_reported", "")


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt", encoding="utf-8", errors="replace") if magic == b"\x1f\x8b" else \
        open(path, encoding="utf-8", errors="replace")


def _read_head(path: Path) -> tuple[list[str], list[str], int]:
    """(header lines without '#', column names, number of lines before the data)."""
    header: list[str] = []
    with _open_text(path) as fh:
        n = 0
        for line in fh:
            n += 1
            if line.startswith("#"):
                header.append(line.rstrip("\r\n"))
                continue
            return header, line.rstrip("\r\n").split("\t"), n
    raise InputError("no column header line (the file is empty or holds only comments)", file=path)


_BUILDS = {"GRCh37": "GRCh37", "hg19": "GRCh37", "GRCh38": "GRCh38", "hg38": "GRCh38", "NCBI36": "NCBI36",
           "hg18": "NCBI36", "NCBI35": "NCBI35", "hg17": "NCBI35", "NR": None, "": None}
"""pgscatalog.core's ``GenomeBuild.from_string``: build names and their aliases (``NR``: not reported)."""
_HM_BUILDS = ("GRCh37", "GRCh38")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _header_fields(lines: list[str]) -> dict[str, str]:
    """``#key=value`` header lines as a dict (``##`` comment lines and lines without ``=`` skipped)."""
    fields = {}
    for line in lines:
        if line.startswith("##") or "=" not in line:
            continue
        key, _, value = line[1:].partition("=")
        fields[key.strip()] = value.strip()
    return fields


def header_summary(fields: dict[str, str]) -> tuple[str | None, bool, str | None] | None:
    """(genome build, harmonised, score id) of a header as pgscatalog.core's ``ScoreHeader`` reads it, without
    importing that library (pydantic, httpx: half a second), for the headers whose reading is plain: a score id
    (``pgs_id``, ``omicspred_id`` or ``score_id``), ``trait_reported``, a ``genome_build`` that
    ``GenomeBuild.from_string`` knows, and, if given, ``HmPOS_build`` GRCh37/GRCh38 and an ISO ``HmPOS_date``.
    None for any other header: :func:`_parse_header` then asks pgscatalog.core, which also words the error.
    ``tests/unit/test_model_pgs.py`` holds the two equal.

    Examples
    --------
    >>> header_summary({"pgs_id": "PGS000001", "trait_reported": "Breast cancer", "genome_build": "NR",
    ...                 "HmPOS_build": "GRCh38", "HmPOS_date": "2022-07-29"})
    ('GRCh38', True, 'PGS000001')
    >>> header_summary({"pgs_id": "X", "trait_reported": "t", "genome_build": "pangenome"}) is None
    True
    """
    pgs_id = next((fields[k] for k in ("pgs_id", "omicspred_id", "score_id") if k in fields), None)
    if pgs_id is None or "trait_reported" not in fields or fields.get("genome_build") not in _BUILDS:
        return None
    hm_build, hm_date = fields.get("HmPOS_build"), fields.get("HmPOS_date")
    if hm_build is not None and hm_build not in _HM_BUILDS:
        return None
    if hm_date is not None:
        if not _ISO_DATE.match(hm_date):
            return None
        try:
            date.fromisoformat(hm_date)
        except ValueError:
            return None
    harmonised = hm_build is not None and hm_date is not None
    return (hm_build if harmonised else _BUILDS[fields["genome_build"]]), harmonised, pgs_id


def _parse_header(path: Path, lines: list[str]) -> tuple[dict[str, str], str | None, bool, str]:
    """Header fields, genome build, harmonised flag and score id, as pgscatalog.core's header models read them
    (:func:`header_summary` for plain headers; the models themselves otherwise)."""
    fields = _header_fields(lines)
    if not fields:
        return fields, None, False, path.name.split(".")[0]
    plain = header_summary(fields)
    if plain is not None:
        build, harmonised, pgs_id = plain
        return fields, build, harmonised, pgs_id or path.name.split(".")[0]
    logging.getLogger("pgscatalog").setLevel(logging.ERROR)  # its import configures logging; keep it quiet
    from pgscatalog.core.lib import models
    from pydantic import ValidationError

    try:
        try:
            head = models.CatalogScoreHeader(**fields)
        except ValidationError:
            head = models.ScoreHeader(**fields)
    except (ValidationError, ValueError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        loc = exc.errors()[0]["loc"] if isinstance(exc, ValidationError) else ()
        raise InputError(f"bad scoring-file header: {msg}", file=path,
                         field="#" + str(loc[0]) if loc else None) from None
    build = head.HmPOS_build if head.is_harmonised else head.genome_build
    return fields, (str(build) if build is not None else None), bool(head.is_harmonised), \
        head.pgs_id or path.name.split(".")[0]


_USED_COLUMNS = frozenset(["chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "hm_chr",
                           "hm_pos", "hm_inferOtherAllele", "is_dominant", "is_recessive", "variant_type",
                           *_COMPLEX_FLAGS, *NORMALISED_COLUMNS])
"""The columns read from a scoring file's rows (rsIDs, sources, odds ratios, ... are skipped, not converted)."""


def _read_body(path: Path, skip: int, columns: list[str]) -> pa.Table:
    # 4 MiB blocks: decompression and parsing overlap and stay in cache (16 MiB blocks took 1.6x the CPU)
    opts = pacsv.ReadOptions(skip_rows=skip, column_names=columns, block_size=1 << 22)
    parse = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    conv = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False,
                                null_values=[], quoted_strings_can_be_null=False,
                                include_columns=[c for c in dict.fromkeys(columns) if c in _USED_COLUMNS])
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    source = pa.CompressedInputStream(pa.OSFile(str(path)), "gzip") if gz else pa.OSFile(str(path))
    try:
        table = pacsv.read_csv(source, read_options=opts, parse_options=parse, convert_options=conv)
    except pa.ArrowInvalid as exc:
        raise InputError(f"cannot read the variant rows: {exc}", file=path) from None
    return pa.table({c: table.column(c).combine_chunks() for c in table.column_names})


def _empty_to_none(a: pa.Array) -> pa.Array:
    """Empty strings as nulls."""
    return pc.if_else(pc.greater(pc.utf8_length(a), 0), a, pa.scalar(None, pa.string()))


def _is_true(a: pa.Array) -> np.ndarray:
    return pc.is_in(pc.utf8_lower(a), value_set=pa.array(sorted(_TRUE))).to_numpy(zero_copy_only=False)


def _nonempty(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.greater(pc.utf8_length(a), 0), False).to_numpy(zero_copy_only=False)


def _to_float(a: pa.Array) -> np.ndarray:
    """Numbers from text (NaN where not a number), as ``pd.to_numeric(errors="coerce")``; Arrow's parser first,
    pandas' only when a value does not parse."""
    try:
        return pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False).astype(float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(pd.Series(a.to_numpy(zero_copy_only=False), dtype=object), errors="coerce").to_numpy(float)


def _to_position(a: pa.Array) -> np.ndarray:
    """Positions from text (NaN where empty or not a number)."""
    values = _empty_to_none(a)
    try:
        return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False).astype(float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(pd.Series(values.to_numpy(zero_copy_only=False), dtype=object),
                             errors="coerce").to_numpy(float)


def _text_column(a: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas column without copying (missing values are NA)."""
    return pd.Series(pd.arrays.ArrowExtensionArray(a))


def _first_line(mask: np.ndarray, first_data_line: int) -> int:
    return int(first_data_line + np.flatnonzero(mask)[0])


def read_scoring_file(path: str | Path, *, allow_complex: bool = False) -> ScoringFile:
    """Read and normalise a scoring file (see the module docstring).

    Parameters
    ----------
    path
        A PGS Catalog scoring file (``.txt`` or ``.txt.gz``; plain or harmonised) or a normalised table.
    allow_complex
        Drop haplotype/diplotype/interaction/complex-allele rows (noted in ``notes``) instead of refusing.

    Raises
    ------
    InputError
        Missing columns, non-additive weights, complex rows, unreadable weights or positions (file, line,
        column named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("scoring file not found", file=path)
    lines, columns, n_head = _read_head(path)
    fields, build, harmonised, pgs_id = _parse_header(path, lines)
    first_data_line = n_head + 1
    body = _read_body(path, n_head, columns)
    cols = set(columns)
    n_rows = body.num_rows
    notes: list[str] = []
    if set(NORMALISED_COLUMNS) <= cols and not fields:
        return _read_normalised(path, body, first_data_line)
    for needed in ("effect_allele",):
        if needed not in cols:
            raise InputError("missing column", file=path, line=n_head, field=needed)
    dosage_cols = [c for c in ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight") if c in cols]
    if "effect_weight" not in cols:
        if dosage_cols:
            raise InputError("non-additive weights (dosage_0/1/2_weight) are not supported: the workbench scores "
                             "additive effect weights only", file=path, line=first_data_line, field=dosage_cols[0])
        raise InputError("missing column", file=path, line=n_head, field="effect_weight")
    column = body.column
    for flag in ("is_dominant", "is_recessive"):
        if flag in cols:
            bad = _is_true(column(flag))
            if bad.any():
                raise InputError(f"{int(bad.sum())} row(s) with non-additive ({flag[3:]}) effects; the workbench "
                                 "scores additive effect weights only", file=path,
                                 line=_first_line(bad, first_data_line), field=flag)
    complex_mask = np.zeros(n_rows, dtype=bool)
    complex_field = None
    for flag in _COMPLEX_FLAGS:
        if flag in cols:
            m = _is_true(column(flag))
            if m.any() and complex_field is None:
                complex_field = flag
            complex_mask |= m
    if "variant_type" in cols:
        m = _nonempty(column("variant_type"))
        if m.any() and complex_field is None:
            complex_field = "variant_type"
        complex_mask |= m
    from pmo_workbench.model.variant_matching import is_acgt

    effect_allele = column("effect_allele").combine_chunks()
    allele_ok = is_acgt(effect_allele)
    if (~allele_ok).any() and complex_field is None:
        complex_field = "effect_allele"
    complex_mask |= ~allele_ok
    if complex_mask.any():
        if not allow_complex:
            raise InputError(f"{int(complex_mask.sum())} row(s) are haplotypes, diplotypes, interactions or complex "
                             "alleles (HLA/APOE/CYP); the workbench scores SNV and indel rows only (allow_complex "
                             "drops them)", file=path, line=_first_line(complex_mask, first_data_line),
                             field=complex_field)
        notes.append(f"{int(complex_mask.sum())} complex row(s) dropped")
    empty = pa.array([""] * n_rows, type=pa.string())
    if harmonised:
        for c in ("hm_chr", "hm_pos"):
            if c not in cols:
                raise InputError("harmonised header but no harmonised column", file=path, line=n_head, field=c)
        chrom, pos = column("hm_chr"), column("hm_pos")
        # as pgscatalog.core: the inferred other allele stands in only when the file has no other_allele column
        other = column("other_allele") if "other_allele" in cols else \
            column("hm_inferOtherAllele") if "hm_inferOtherAllele" in cols else empty
    else:
        if "chr_name" not in cols or "chr_position" not in cols:
            missing = "chr_name" if "chr_name" not in cols else "chr_position"
            raise InputError("no positions (rsID-only scoring file): use the PGS Catalog's harmonised file "
                             "(PGSxxxxxx_hmPOS_GRCh38.txt.gz)", file=path, line=n_head, field=missing)
        chrom, pos = column("chr_name"), column("chr_position")
        other = column("other_allele") if "other_allele" in cols else empty
    chrom, pos, other = (_strings(a) for a in (chrom, pos, other))
    weight = _to_float(_strings(column("effect_weight")))
    bad_weight = np.isnan(weight) & ~complex_mask
    if bad_weight.any():
        raise InputError("effect weight is not a number", file=path, line=_first_line(bad_weight, first_data_line),
                         field="effect_weight")
    position = _to_position(pos)
    bad_pos = np.isnan(position) & _nonempty(pos)
    if bad_pos.any():
        raise InputError("position is not a whole number", file=path, line=_first_line(bad_pos, first_data_line),
                         field="hm_pos" if harmonised else "chr_position")
    other = _empty_to_none(other)
    several = pc.fill_null(pc.match_substring(other, "/"), False)
    other = pc.if_else(several, pa.scalar(None, pa.string()), other)  # several other alleles: none
    keep = ~complex_mask
    take = pa.array(np.flatnonzero(keep)) if complex_mask.any() else None

    def subset(a: pa.Array) -> pa.Array:
        return a if take is None else a.take(take)

    pos_kept = position[keep]
    chrom, effect_allele, other = subset(_empty_to_none(chrom)), subset(effect_allele), subset(other)
    variants = pd.DataFrame({
        "chr_name": _text_column(chrom),
        "chr_position": pd.arrays.IntegerArray(np.nan_to_num(pos_kept).astype(np.int64), np.isnan(pos_kept)),
        "effect_allele": _text_column(effect_allele), "other_allele": _text_column(other),
        "effect_weight": weight[keep], "effect_type": "additive", "is_duplicated": False,
        "accession": pd.Categorical.from_codes(np.zeros(int(keep.sum()), dtype=np.int8), [pgs_id]),
        "row_nr": np.flatnonzero(keep).astype(np.int64) if take is not None else np.arange(n_rows, dtype=np.int64)})
    variants["is_duplicated"] = _flag_duplicates(chrom, pos_kept, effect_allele, other)
    if build is None:
        found = _BUILD_IN_NAME.search(path.name)
        build = found.group(1).replace("grch", "GRCh") if found else None
    return ScoringFile(path, pgs_id, build, harmonised, fields, variants, notes=notes)


def _strings(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _flag_duplicates(chrom: pa.Array, position: np.ndarray, effect_allele: pa.Array, other_allele: pa.Array
                     ) -> np.ndarray:
    """Rows repeating an earlier ``chr:pos:effect_allele:other_allele`` (missing parts equal each other)."""
    from pmo_workbench.model.variant_matching import duplicated_keys

    def codes(a: pa.Array) -> np.ndarray:
        return pc.fill_null(pc.dictionary_encode(a).indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    return duplicated_keys(codes(chrom), np.where(np.isnan(position), -1, position).astype(np.int64),
                           codes(effect_allele), codes(other_allele), keep="first")


def _read_normalised(path: Path, body: pa.Table, first_data_line: int) -> ScoringFile:
    column = body.column
    weight = _to_float(_strings(column("effect_weight")))
    if np.isnan(weight).any():
        raise InputError("effect weight is not a number", file=path,
                         line=_first_line(np.isnan(weight), first_data_line), field="effect_weight")
    bad = ~pc.is_in(pc.utf8_lower(column("effect_type")), value_set=pa.array(["additive"])).to_numpy(
        zero_copy_only=False)
    if bad.any():
        raise InputError(f"{int(bad.sum())} row(s) with effect type other than additive; the workbench scores "
                         "additive effect weights only", file=path, line=_first_line(bad, first_data_line),
                         field="effect_type")
    position = _to_position(_strings(column("chr_position")))
    accession = _text_column(_strings(column("accession")))
    variants = pd.DataFrame({
        "chr_name": _text_column(_empty_to_none(_strings(column("chr_name")))),
        "chr_position": pd.arrays.IntegerArray(np.nan_to_num(position).astype(np.int64), np.isnan(position)),
        "effect_allele": _text_column(_strings(column("effect_allele"))),
        "other_allele": _text_column(_empty_to_none(_strings(column("other_allele")))),
        "effect_weight": weight, "effect_type": "additive", "is_duplicated": _is_true(column("is_duplicated")),
        "accession": accession.astype(object),
        "row_nr": pc.cast(column("row_nr"), pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)})
    found = _BUILD_IN_NAME.search(path.name)
    build = found.group(1).replace("grch", "GRCh") if found else None
    ids = variants["accession"].unique()
    return ScoringFile(path, str(ids[0]) if len(ids) == 1 else ",".join(map(str, ids)), build, True, {}, variants,
                       layout="normalised")


def check_build(sf: ScoringFile, target_build: str | None, *, assume_build: str | None = None) -> str:
    """The scoring file's build, checked against the genotypes' build.

    Raises
    ------
    InputError
        Unknown build (and no ``assume_build``), or a build different from ``target_build``.
    """
    build = sf.genome_build or assume_build
    if build is None:
        raise InputError("the genome build is not reported (#genome_build=NR and not harmonised); use the "
                         "harmonised file for your build, e.g. PGSxxxxxx_hmPOS_GRCh38.txt.gz", file=sf.path,
                         field="#genome_build")
    if target_build is not None and build not in ("GRCh37", "GRCh38"):
        raise InputError(f"genome build {build} cannot be matched to genotypes on {target_build}; use the "
                         f"harmonised file (_hmPOS_{target_build})", file=sf.path, field="#genome_build")
    if target_build is not None and build != target_build:
        raise InputError(f"genome build {build} differs from the genotypes' {target_build}; use the harmonised "
                         f"file PGS..._hmPOS_{target_build}.txt.gz", file=sf.path,
                         field="#HmPOS_build" if sf.harmonised else "#genome_build")
    return build


def check_scoring_file(path: str | Path, target_build: str | None) -> ScoringFile:
    """Cheap pre-flight check of a scoring file: readable header, the needed columns, a known build equal to the
    genotypes' (the variant rows are not read). Returns a :class:`ScoringFile` without variants.

    Raises
    ------
    InputError
        As :func:`read_scoring_file` and :func:`check_build`, for the header and columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("scoring file not found", file=path)
    lines, columns, n_head = _read_head(path)
    fields, build, harmonised, pgs_id = _parse_header(path, lines)
    cols = set(columns)
    if not (set(NORMALISED_COLUMNS) <= cols and not fields):
        weights = "effect_weight" in cols or {"dosage_0_weight", "dosage_1_weight", "dosage_2_weight"} & cols
        for needed, ok in (("effect_allele", "effect_allele" in cols), ("effect_weight", bool(weights))):
            if not ok:
                raise InputError("missing column", file=path, line=n_head, field=needed)
        if not harmonised and not {"chr_name", "chr_position"} <= cols:
            raise InputError("no positions (rsID-only scoring file): use the PGS Catalog's harmonised file "
                             "(PGSxxxxxx_hmPOS_GRCh38.txt.gz)", file=path, line=n_head, field="chr_position")
    if build is None:
        found = _BUILD_IN_NAME.search(path.name)
        build = found.group(1).replace("grch", "GRCh") if found else None
    sf = ScoringFile(path, pgs_id, build, harmonised, fields, pd.DataFrame(columns=NORMALISED_COLUMNS))
    check_build(sf, target_build)
    return sf
