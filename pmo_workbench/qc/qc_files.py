"""The sample and variant QC tables written to Parquet in one pass over a store, a batch of variants at a time.

:func:`~pmo_workbench.qc.variant_qc.variant_qc` holds its whole table in memory: about 150 bytes per variant
(150 MB at a million variants, 15 GB at a whole genome's 100 million), where plink2 writes its ``.vmiss``,
``.hardy`` and ``.afreq`` files as it reads. :func:`write_qc_tables` counts the calls of one batch of variants
(:func:`~pmo_workbench.genotypes.call_counts.compute_call_counts` over its rows: only the chunks of the store that
hold them are read), writes the batch's rows of ``variant_qc.parquet`` as one row group, and adds up its
per-sample counts; ``sample_qc.parquet`` is written at the end. Memory holds one batch, not the table, and the
pass loads no pandas (the columns come from :mod:`.qc_columns`).

Both files have the columns of :data:`~pmo_workbench.qc.tables.SAMPLE_QC` and
:data:`~pmo_workbench.qc.tables.VARIANT_QC` with their types; :func:`read_qc_table` reads one back as the
tables :func:`~pmo_workbench.qc.sample_qc.sample_qc` and :func:`~pmo_workbench.qc.variant_qc.variant_qc` return.
Each file is written to a temporary name and renamed when whole, after a CPR check of its text (sample IDs,
contig, allele and filter names): a failed pass leaves no file and the previous files as they were.

Example
-------
>>> import tempfile
>>> from pmo_workbench.qc.variant_qc import variant_qc
>>> files = write_qc_tables(g, tempfile.mkdtemp(), batch_variants=300)  # g: the doctests' simulated set
>>> files.n_batches, read_qc_table(files.variant_qc).equals(variant_qc(g))
(3, True)
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pmo_workbench.files import replace_atomically
from pmo_workbench.genotypes.arrow_strings import string_buffers
from pmo_workbench.genotypes.backends import GenotypeSet
from pmo_workbench.genotypes.counts import SampleCounts, VariantCounts
from pmo_workbench.privacy.cpr_text import (
    check_ints_no_cpr,
    check_packed_strings_no_cpr,
    check_strings_no_cpr,
)
from pmo_workbench.qc.qc_columns import (
    numbers_to_arrow,
    sample_qc_columns,
    text_to_arrow,
    variant_qc_columns,
    warn_fields_not_imported,
)

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_QC_FILE = "sample_qc.parquet"
VARIANT_QC_FILE = "variant_qc.parquet"

VARIANT_QC_SCHEMA = pa.schema([
    ("locus", pa.string()), ("alleles", pa.list_(pa.string())), ("call_rate", pa.float64()),
    ("AC", pa.list_(pa.int32())), ("AF", pa.list_(pa.float64())), ("AN", pa.int32()), ("n_het", pa.int64()),
    ("p_value_hwe", pa.float64()), ("p_value_excess_het", pa.float64()), ("filters", pa.list_(pa.string())),
])
"""Arrow types of ``variant_qc.parquet`` (:data:`~pmo_workbench.qc.tables.VARIANT_QC`'s columns, in order)."""

_FIELD_MEANS = ("DP", "GQ")

# Dictionary pages where values repeat (allele and filter names), statistics where readers filter (DuckDB, Arrow
# datasets skip row groups by them): a fifth less time than pyarrow's defaults at 1M variants (0.38 vs 0.48 s),
# the same file size. Snappy throughout: it halves the floating-point columns.
_WRITE_OPTIONS: dict[str, Any] = {
    "use_dictionary": ["alleles", "filters"],
    "write_statistics": ["locus", "call_rate", "AN", "n_het", "p_value_hwe", "p_value_excess_het"],
}


@dataclass(frozen=True)
class QcFiles:
    """What :func:`write_qc_tables` wrote.

    Attributes
    ----------
    sample_qc, variant_qc : pathlib.Path
        The two Parquet files.
    n_samples, n_variants : int
        Their rows.
    n_batches : int
        Batches of variants counted (row groups of ``variant_qc.parquet``).
    """

    sample_qc: Path
    variant_qc: Path
    n_samples: int
    n_variants: int
    n_batches: int


def _is_embedded_store(g: GenotypeSet) -> bool:
    return hasattr(g, "store_path") and hasattr(g, "read_array") and hasattr(g, "packable")


def _batch_rows(g: GenotypeSet, batch_variants: int, chunk_size: int) -> int:
    """Rows per batch: ``batch_variants`` rounded down to whole chunks of the store's 2-bit copy (a chunk split
    between two batches is decoded for each), unless it is less than one chunk."""
    from pmo_workbench.genotypes import packed_calls

    step = chunk_size
    if g.has_packed():
        layout = packed_calls.packed_layout(g.store_path, g.n_variants, g.n_samples)
        if layout is not None:
            step = layout.chunk_rows
    return batch_variants if batch_variants < step else batch_variants // step * step


def _variant_counts(g: GenotypeSet, rows: tuple[int, int], chunk_size: int) -> tuple[VariantCounts, np.ndarray]:
    """The per-variant counts of the variants ``rows`` and their per-sample counts (``SAMPLE_*`` columns)."""
    from pmo_workbench.genotypes import call_counts as cc

    c = cc.compute_call_counts(g, chunk_size, rows=rows)
    return VariantCounts(n_alleles=c.n_alleles, ac=c.ac, n_called=c.n_called, n_het=c.n_het,
                         n_hom_ref=c.n_hom_ref, n_hom_var=c.n_hom_var), c.sample


def _add_field_sums(g: GenotypeSet, rows: tuple[int, int], chunk_size: int, sums: dict[str, np.ndarray],
                    nobs: dict[str, np.ndarray]) -> None:
    """Add each sample's FORMAT DP/GQ values (those present: >= 0) over the variants ``rows`` to ``sums`` and
    their number to ``nobs`` (the means of sample_qc's ``dp_mean``/``gq_mean``), ``chunk_size`` rows at a time."""
    from pmo_workbench.genotypes.backends.embedded import sum_field

    for field in sums:
        arr = g.call_DP if field == "DP" else g.call_GQ
        for start in range(rows[0], rows[1], chunk_size):
            sum_field(arr[start:min(start + chunk_size, rows[1])], sums[field], nobs[field])


def _check_batch(columns: dict[str, Any], position: np.ndarray | None) -> None:
    """The CPR check of a batch's text: positions (the contig names are checked once), allele and filter
    names."""
    where = VARIANT_QC_FILE + ", column "
    if position is not None:
        check_ints_no_cpr(position, where + "locus")
    for name in ("alleles", "filters"):
        values = columns[name].flatten()
        check_packed_strings_no_cpr(*string_buffers(values), where + name)


def _sample_table(g: GenotypeSet, sample: np.ndarray, field_means: dict[str, np.ndarray]) -> pa.Table:
    from pmo_workbench.genotypes import call_counts as cc

    counts = SampleCounts(
        n_called=sample[:, cc.SAMPLE_CALLED], n_not_called=sample[:, cc.SAMPLE_NOT_CALLED],
        n_hom_ref=sample[:, cc.SAMPLE_HOM_REF], n_het=sample[:, cc.SAMPLE_HET],
        n_singleton=sample[:, cc.SAMPLE_SINGLETON], n_transition=sample[:, cc.SAMPLE_TS],
        n_transversion=sample[:, cc.SAMPLE_TV], n_insertion=sample[:, cc.SAMPLE_INS],
        n_deletion=sample[:, cc.SAMPLE_DEL], field_means=field_means)
    columns = sample_qc_columns(g.sample_id, g.n_variants, counts)
    ids = [str(s) for s in columns.pop("sample_id")]
    check_strings_no_cpr(ids, f"{SAMPLE_QC_FILE}, column sample_id")
    arrays = [text_to_arrow(ids)] + [numbers_to_arrow(v) for v in columns.values()]
    return pa.Table.from_arrays(arrays, names=["sample_id", *columns])


def _write_in_memory(g: GenotypeSet, out: Path, chunk_size: int) -> QcFiles:
    """Another backend (Hail): its tables, made whole, written as the batches would be."""
    from pmo_workbench.qc.sample_qc import sample_qc
    from pmo_workbench.qc.variant_qc import variant_qc

    sqc, vqc = sample_qc(g, chunk_size=chunk_size), variant_qc(g, chunk_size=chunk_size)
    samples = pa.Table.from_pandas(sqc, preserve_index=False).replace_schema_metadata(None)
    variants = pa.Table.from_pandas(vqc, preserve_index=False).replace_schema_metadata(None)
    variants = variants.cast(VARIANT_QC_SCHEMA)
    check_strings_no_cpr(samples.column("sample_id").to_pylist(), f"{SAMPLE_QC_FILE}, column sample_id")
    _check_batch({c: variants.column(c).combine_chunks() for c in ("alleles", "filters")}, None)
    check_strings_no_cpr(sorted({str(c) for c in vqc["locus"].str.rsplit(":", n=1).str[0].unique()}),
                         f"{VARIANT_QC_FILE}, column locus")
    with replace_atomically(out / VARIANT_QC_FILE) as v_tmp, replace_atomically(out / SAMPLE_QC_FILE) as s_tmp:
        pq.write_table(variants, v_tmp, **_WRITE_OPTIONS)
        pq.write_table(samples, s_tmp)
    return QcFiles(out / SAMPLE_QC_FILE, out / VARIANT_QC_FILE, len(sqc), len(vqc), 1)


def write_qc_tables(g: GenotypeSet, out_dir: str | Path, *, batch_variants: int = 65_536,
                    chunk_size: int = 20_000) -> QcFiles:
    """Write the sample and variant QC tables of ``g`` as ``out_dir/sample_qc.parquet`` and
    ``out_dir/variant_qc.parquet``, counting a batch of ``batch_variants`` variants at a time.

    The tables are those of :func:`~pmo_workbench.qc.sample_qc.sample_qc` and
    :func:`~pmo_workbench.qc.variant_qc.variant_qc` (same columns, types and values; :func:`read_qc_table` reads
    them back so), without holding either: at 2,500 samples x 1M variants the pass peaks at 130 MB resident, the
    imports included (plink2 computing the same tables: 135 MB; sample_qc and variant_qc: 370 MB), and the peak
    does not grow with the variants. Use it for a whole genome, where the in-memory variant table would not fit,
    and for scheduled QC tables.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`). A set of the embedded backend is
        counted batch by batch; another backend's tables are made whole and written the same way.
    out_dir
        Folder of the two files (made if missing). Existing files of those names are replaced only once the new
        ones are whole.
    batch_variants
        Variants per batch (rounded down to whole chunks of the store; one row group each).
    chunk_size
        Variants per chunk read from ``call_genotype`` (rows outside the store's 2-bit copy, FORMAT DP/GQ).

    Returns
    -------
    QcFiles
        The paths, their rows and the batches counted.

    Raises
    ------
    PrivacyError
        A sample ID, contig, allele or filter name holds a CPR-like value (named by file and column, never the
        value); nothing is written.

    Example
    -------
    >>> import tempfile
    >>> files = write_qc_tables(g, tempfile.mkdtemp(), batch_variants=500)
    >>> files.n_batches, files.variant_qc.name, pq.read_metadata(files.variant_qc).num_row_groups
    (2, 'variant_qc.parquet', 2)
    """
    if batch_variants < 1:
        raise ValueError(f"batch_variants must be at least 1, not {batch_variants}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not _is_embedded_store(g):
        return _write_in_memory(g, out, chunk_size)
    ns, nv = g.n_samples, g.n_variants
    contigs = [str(c) for c in (g.attrs.get("contig_id") or [])]
    check_strings_no_cpr(contigs, f"{VARIANT_QC_FILE}, column locus")
    fields = [f for f in _FIELD_MEANS if g.has_field(f)]
    sums = {f: np.zeros(ns, np.int64) for f in fields}
    nobs = {f: np.zeros(ns, np.int64) for f in fields}
    step = _batch_rows(g, batch_variants, chunk_size)
    sample: np.ndarray | None = None
    n_batches = 0
    with contextlib.ExitStack() as stack:
        v_tmp = stack.enter_context(replace_atomically(out / VARIANT_QC_FILE))
        s_tmp = stack.enter_context(replace_atomically(out / SAMPLE_QC_FILE))
        writer = stack.enter_context(pq.ParquetWriter(os.fspath(v_tmp), VARIANT_QC_SCHEMA, **_WRITE_OPTIONS))
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))  # HWE tests beside the text columns
        # each batch is written (pyarrow, without the GIL) while the next one is counted: one write in flight
        write_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        written = None
        for start in range(0, nv, step):
            rows = (start, min(start + step, nv))
            counts, batch_sample = _variant_counts(g, rows, chunk_size)
            sample = batch_sample if sample is None else sample + batch_sample
            if fields:
                _add_field_sums(g, rows, chunk_size, sums, nobs)
            columns = variant_qc_columns(g, counts, rows, pool)
            _check_batch(columns, g.read_array("variant_position", rows))
            arrays = [numbers_to_arrow(columns[f.name], f.type) if isinstance(columns[f.name], np.ndarray)
                      else columns[f.name] for f in VARIANT_QC_SCHEMA]
            if written is not None:
                written.result()
            written = write_pool.submit(writer.write_batch, pa.RecordBatch.from_arrays(arrays,
                                                                                     schema=VARIANT_QC_SCHEMA))
            n_batches += 1
            del counts, columns, arrays  # the batch being written holds its own arrays
        if written is not None:
            written.result()
        if sample is None:  # no variants
            writer.write_table(VARIANT_QC_SCHEMA.empty_table())
            sample = np.zeros((ns, 9), np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = {f"{f.lower()}_mean": np.where(nobs[f] > 0, sums[f] / np.maximum(nobs[f], 1), np.nan)
                     for f in fields}
        pq.write_table(_sample_table(g, sample, means), s_tmp)
    warn_fields_not_imported(g)
    return QcFiles(out / SAMPLE_QC_FILE, out / VARIANT_QC_FILE, ns, nv, n_batches)


def read_qc_table(path: str | Path) -> pd.DataFrame:
    """A QC table written by :func:`write_qc_tables` as a pandas table: text as str, list columns as Arrow list
    columns (``pd.ArrowDtype``), as :func:`~pmo_workbench.qc.sample_qc.sample_qc` and
    :func:`~pmo_workbench.qc.variant_qc.variant_qc` return them.

    Example
    -------
    >>> import tempfile
    >>> files = write_qc_tables(g, tempfile.mkdtemp())
    >>> read_qc_table(files.sample_qc)["sample_id"].head(2).tolist()
    ['S01', 'S02']
    """
    import pandas as pd

    def mapper(t: pa.DataType) -> Any:
        return pd.ArrowDtype(t) if pa.types.is_list(t) or pa.types.is_large_list(t) else None

    table = pq.read_table(path)
    return table.to_pandas(types_mapper=mapper)


__all__ = ["SAMPLE_QC_FILE", "VARIANT_QC_FILE", "VARIANT_QC_SCHEMA", "QcFiles", "read_qc_table", "write_qc_tables"]
