"""The columns of the per-sample and per-variant QC tables (:data:`~pmo_workbench.qc.tables.SAMPLE_QC`,
:data:`~pmo_workbench.qc.tables.VARIANT_QC`), as numpy and Arrow arrays, from a genotype set's counts: one
definition for :func:`~pmo_workbench.qc.sample_qc.sample_qc` and :func:`~pmo_workbench.qc.variant_qc.variant_qc`
(pandas tables of the whole set) and :func:`~pmo_workbench.qc.qc_files.write_qc_tables` (Parquet files written a
batch of variants at a time). No pandas here: a QC pass written in batches does not load it.

Text columns are written by C loops into Arrow buffers (``ckernels/loci.c``, ``gt_counts.c``); list-valued
columns (``alleles``, ``AC``, ``AF``, ``filters``) are Arrow list arrays, built without a Python loop.

Example
-------
>>> from pmo_workbench.genotypes.backends import get_kernel
>>> cols = variant_qc_columns(g, get_kernel("variant_counts", g)(g))  # g: the doctests' simulated set
>>> cols["locus"][0].as_py(), cols["alleles"][0].as_py(), cols["AC"][0].as_py(), int(cols["AN"][0])
('1:10000', ['A', 'G'], [64, 16], 80)
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from pmo_workbench import ckernels
from pmo_workbench.genotypes.arrow_strings import read_variant_strings, string_buffers
from pmo_workbench.genotypes.backends import GenotypeSet
from pmo_workbench.genotypes.counts import SampleCounts, VariantCounts
from pmo_workbench.genotypes.store_arrays import strings_from_buffers
from pmo_workbench.qc.hwe import hardy_weinberg_p


def numbers_to_arrow(values: np.ndarray, arrow_type: pa.DataType | None = None) -> pa.Array:
    """A 1-D numpy array of numbers as an Arrow array over the same memory (NaN stays NaN, not null).

    ``pa.array`` of any Python or numpy object loads pandas (pyarrow looks for pandas types), ~50 MB that a
    pass in batches does not otherwise need.

    Example
    -------
    >>> numbers_to_arrow(np.array([1, 2], np.int32)).to_pylist()
    [1, 2]
    """
    a = np.ascontiguousarray(values)
    if a.dtype == bool:
        raise TypeError("booleans are bit-packed in Arrow: not converted here")
    return pa.Array.from_buffers(arrow_type or pa.from_numpy_dtype(a.dtype), len(a), [None, pa.py_buffer(a)])


def text_to_arrow(values: list[str]) -> pa.Array:
    """Python strings as ``pa.string()``, without ``pa.array`` (see :func:`numbers_to_arrow`).

    Example
    -------
    >>> text_to_arrow(["S01", "", "æ"]).to_pylist()
    ['S01', '', 'æ']
    """
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return strings_from_buffers(offsets, np.frombuffer(b"".join(encoded), np.uint8))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def sample_qc_columns(sample_id: list[str] | np.ndarray, n_variants: int, c: SampleCounts
                      ) -> dict[str, np.ndarray]:
    """The columns of :data:`~pmo_workbench.qc.tables.SAMPLE_QC` (in its order, then ``dp_mean``/``gq_mean``
    where the counts have them) from the per-sample counts ``c`` over ``n_variants`` variants.

    Example
    -------
    >>> from pmo_workbench.genotypes.backends import get_kernel
    >>> cols = sample_qc_columns(g.sample_id, g.n_variants, get_kernel("sample_counts", g)(g))
    >>> cols["sample_id"][0], int(cols["n_called"][0]), round(float(cols["dp_mean"][0]), 2)
    ('S01', 677, 29.81)
    """
    n_hom_var = c.n_called - c.n_hom_ref - c.n_het
    n = len(c.n_called)
    columns = {
        "sample_id": np.asarray(sample_id).astype(object),
        "call_rate": _ratio(c.n_called.astype(float), np.full(n, n_variants, dtype=float)),
        "n_called": c.n_called,
        "n_not_called": c.n_not_called,
        "n_hom_ref": c.n_hom_ref,
        "n_het": c.n_het,
        "n_hom_var": n_hom_var,
        "n_non_ref": c.n_het + n_hom_var,
        "n_singleton": c.n_singleton,
        "n_snp": c.n_transition + c.n_transversion,
        "n_insertion": c.n_insertion,
        "n_deletion": c.n_deletion,
        "n_transition": c.n_transition,
        "n_transversion": c.n_transversion,
        "r_ti_tv": _ratio(c.n_transition.astype(float), c.n_transversion),
        "r_het_hom_var": _ratio(c.n_het.astype(float), n_hom_var),
        "r_insertion_deletion": _ratio(c.n_insertion.astype(float), c.n_deletion),
    }
    return {**columns, **c.field_means}


def _allele_lists(ac: np.ndarray, n_alleles: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(an, offsets, flat_ac, flat_af)``: AN (int32, the sum of each row of ``ac``), and each variant's first
    ``n_alleles`` counts and AC / AN (float64; NaN where AN is 0) one variant after the other, variant ``i``'s
    from ``offsets[i]`` (int32 [n + 1]): one C pass (``ckernels/gt_counts.c``), no temporaries of a million rows.

    Examples
    --------
    >>> an, offsets, flat_ac, flat_af = _allele_lists(np.array([[3, 1, 0], [0, 0, 0], [2, 1, 1]]), np.array([2, 2, 3]))
    >>> an.tolist(), offsets.tolist(), flat_ac.tolist(), flat_af.round(3).tolist()[:2]
    ([4, 0, 4], [0, 2, 4, 7], [3, 1, 0, 0, 2, 1, 1], [0.75, 0.25])
    """
    ac = np.ascontiguousarray(ac, dtype=np.int32)
    n_alleles = np.ascontiguousarray(n_alleles, dtype=np.int64)
    n = len(n_alleles)
    total = int(n_alleles.sum())
    an, offsets = np.empty(n, np.int32), np.empty(n + 1, np.int32)
    flat_ac, flat_af = np.empty(total, np.int32), np.empty(total, np.float64)
    got = ckernels.library().pmo_allele_lists(ac, ac.shape[1] if ac.ndim == 2 else 0, n_alleles, n, an, offsets,
                                              flat_ac, flat_af)
    if got != total:
        raise ValueError("allele counts per variant outside the AC table's width (or over 2^31 values)")
    return an, offsets, flat_ac, flat_af


def _list_column(offsets: np.ndarray, flat: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """An Arrow list array of the values ``flat``, row ``i`` being ``flat[offsets[i]:offsets[i + 1]]``."""
    return pa.ListArray.from_arrays(numbers_to_arrow(offsets), numbers_to_arrow(flat, arrow_type))


def _alleles_column(ref: pa.Array, alt: pa.Array) -> pa.Array:
    """REF then the comma-separated ALT alleles (none when ALT is empty), as an Arrow list column (split by a C
    loop over the strings' bytes)."""
    n = len(ref)
    (ref_data, ref_off), (alt_data, alt_off) = string_buffers(ref), string_buffers(alt)
    n_bytes = int(ref_off[-1] - ref_off[0] + alt_off[-1] - alt_off[0])
    commas = int(np.count_nonzero(ref_data[ref_off[0]:ref_off[-1]] == ord(","))
                 + np.count_nonzero(alt_data[alt_off[0]:alt_off[-1]] == ord(",")))
    max_values = 2 * n + commas
    lists = np.empty(n + 1, np.int64)
    offsets = np.empty(max_values + 1, np.int64)
    data = np.empty(n_bytes + 1, np.uint8)
    m = ckernels.library().pmo_split_alleles(ref_data, ref_off, alt_data, alt_off, n, lists, offsets, max_values,
                                             data)
    if m < 0:  # cannot happen: max_values counts every value
        raise RuntimeError("allele lists overflow their buffer")
    k = int(offsets[m])
    if k < 2**31 and m < 2**31:
        values = pa.StringArray.from_buffers(m, pa.py_buffer(offsets[:m + 1].astype(np.int32)), pa.py_buffer(data))
        alleles = pa.ListArray.from_arrays(numbers_to_arrow(lists.astype(np.int32)), values)
    else:
        values = pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets[:m + 1]), pa.py_buffer(data))
        alleles = pa.LargeListArray.from_arrays(numbers_to_arrow(lists), values)
    return alleles


def _filters_column(raw: pa.Array) -> pa.Array:
    """Hail's ``filters``: PASS -> [], '.' -> missing, 'a;b' -> ['a', 'b'] (worked out once per distinct value;
    a column of PASS only, the usual case, without a dictionary encoding of a million strings).

    Examples
    --------
    >>> _filters_column(pa.array(["PASS", "PASS"])).to_pylist(), _filters_column(pa.array(["PASS", "q10;s50", "."])).to_pylist()
    ([[], []], [[], ['q10', 's50'], None])
    """
    data, offsets = string_buffers(raw)
    n = len(raw)
    if n and int(offsets[-1] - offsets[0]) == 4 * n and (np.diff(offsets) == 4).all() and \
            (data[offsets[0]:offsets[-1]].view("<u4") == int.from_bytes(b"PASS", "little")).all():
        return pa.ListArray.from_arrays(numbers_to_arrow(np.zeros(n + 1, np.int32)), text_to_arrow([]))
    import pyarrow.compute as pc  # only for FILTER columns other than all PASS (its import: ~30 ms)

    encoded = pc.dictionary_encode(raw)
    distinct = encoded.dictionary
    split = pc.split_pattern(distinct, ";")
    empty = pa.scalar([], type=pa.list_(pa.string()))
    split = pc.if_else(pc.equal(distinct, "PASS"), empty, split)
    split = pc.if_else(pc.equal(distinct, "."), pa.scalar(None, type=pa.list_(pa.string())), split)
    return split.take(encoded.indices)


def _locus_column(g: GenotypeSet, rows: tuple[int, int] | None = None) -> pa.Array:
    """``"contig:position"`` per variant (of ``rows=(start, stop)``, or all) as Arrow strings, written by a C
    loop into Arrow buffers."""
    codes = g.read_array("variant_contig", rows) if hasattr(g, "read_array") else None
    if codes is None:
        part = slice(None) if rows is None else slice(*rows)
        contig = g.variants["contig"].to_numpy(dtype=object)[part]
        names, codes = np.unique(contig.astype(str), return_inverse=True) if len(contig) else ([], contig)
        position = g.variants["position"].to_numpy()[part]
    else:
        names = [str(c) for c in (g.attrs["contig_id"] or [""])]
        position = g.read_array("variant_position", rows)
    encoded = [str(name).encode() for name in names]
    name_ends = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=name_ends[1:])
    name_bytes = np.frombuffer(b"".join(encoded) + b"\0", dtype=np.uint8)
    n = len(position)
    offsets = np.zeros(n + 1, dtype=np.int64)
    data = np.empty(n * (int(np.diff(name_ends).max(initial=0)) + 22) + 1, dtype=np.uint8)
    k = ckernels.library().pmo_format_loci(np.ascontiguousarray(codes, dtype=np.int64),
                                           np.ascontiguousarray(position, dtype=np.int64), n, name_bytes,
                                           name_ends, len(encoded), offsets, data, len(data))
    if k < 0:
        raise ValueError("variant_contig holds a code outside the store's contig list (corrupt store)")
    if k < 2**31:
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data[:k].copy()))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data[:k].copy()))


def variant_qc_columns(g: GenotypeSet, counts: VariantCounts, rows: tuple[int, int] | None = None,
                       pool: ThreadPoolExecutor | None = None) -> dict[str, pa.Array | np.ndarray]:
    """The columns of :data:`~pmo_workbench.qc.tables.VARIANT_QC` for the variants of ``counts`` (those of
    ``rows=(start, stop)``, or all): Arrow arrays (``locus``, the list columns) and numpy arrays (the numbers).
    :func:`variant_qc` makes its table of them, :func:`pmo_workbench.qc.qc_files.write_qc_tables` its Parquet
    row groups.

    ``pool``: a thread to run the HWE tests on while the text columns are built.

    Example
    -------
    >>> from pmo_workbench.genotypes.backends import get_kernel
    >>> cols = variant_qc_columns(g, get_kernel("variant_counts", g)(g))
    >>> cols["locus"][:2].to_pylist(), cols["n_het"][:2].tolist(), cols["filters"][:1].to_pylist()
    (['1:10000', '1:610000'], [12, 19], [[]])
    """
    n_alleles, ac = counts.n_alleles, counts.ac
    an, offsets, flat_ac, flat_af = _allele_lists(ac, n_alleles)
    biallelic = n_alleles == 2
    hwe = None
    if counts.p_value_hwe is None or counts.p_value_excess_het is None:
        args = (np.where(biallelic, counts.n_hom_ref, -1), counts.n_het, counts.n_hom_var)
        hwe = pool.submit(hardy_weinberg_p, *args) if pool is not None else hardy_weinberg_p(*args)
    columns: dict[str, pa.Array | np.ndarray] = {
        "locus": _locus_column(g, rows),
        "alleles": _alleles_column(read_variant_strings(g, "ref", rows), read_variant_strings(g, "alt", rows)),
        "call_rate": counts.n_called / g.n_samples if g.n_samples else np.full(len(n_alleles), np.nan),
        "AC": _list_column(offsets, flat_ac, pa.int32()),
        "AF": _list_column(offsets, flat_af, pa.float64()),
        "AN": an,
        "n_het": counts.n_het.copy(),  # the counts may be cached on g: the table must not share them
        "p_value_hwe": counts.p_value_hwe,
        "p_value_excess_het": counts.p_value_excess_het,
        "filters": _filters_column(read_variant_strings(g, "filters", rows)),
    }
    if hwe is not None:
        columns["p_value_hwe"], columns["p_value_excess_het"] = hwe.result() if pool is not None else hwe
    return columns


def warn_fields_not_imported(g: GenotypeSet, stacklevel: int = 2) -> None:
    """One warning when the input has DP/GQ that the genotypes were opened without (their means are then left
    out of the sample QC table, as for an input without them).

    Example
    -------
    >>> warn_fields_not_imported(g)  # the doctests' set was opened with DP and GQ: nothing to warn about
    """
    skipped = [f for f in ("DP", "GQ") if f in getattr(g, "fields_not_imported", ())]
    if skipped:
        it = "them" if len(skipped) > 1 else "it"
        warnings.warn(f"sample_qc: the input has FORMAT {'/'.join(skipped)} but the genotypes were opened without "
                      f"{it}: no {', '.join(f.lower() + '_mean' for f in skipped)} (open_genotypes(..., "
                      f"format_fields={skipped!r}) keeps {it})", UserWarning, stacklevel=stacklevel + 1)
