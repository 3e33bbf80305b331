"""Per-variant QC metrics with Hail's ``hl.variant_qc`` names, from the backend's variant counts.

The counts come from the genotype set's backend (the ``variant_counts`` kernel of
:mod:`pmo_workbench.genotypes.backends`); the table (locus, alleles, frequencies, HWE tests, filters) is made
here, for every backend alike. List-valued columns (``alleles``, ``AC``, ``AF``, ``filters``) are Arrow list columns
(``pd.ArrowDtype``): built without a Python loop, written to Parquet as lists, and each element reads as a
Python list.

Examples
--------
>>> row = variant_qc(g).iloc[0]  # g: the doctests' simulated set
>>> row["locus"], row["alleles"], row["AC"], int(row["AN"]), row["filters"]
('1:10000', ['A', 'G'], [64, 16], 80, [])
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pmo_workbench import ckernels
from pmo_workbench.genotypes.arrow_strings import read_variant_strings, string_buffers
from pmo_workbench.genotypes.backends import GenotypeSet, get_kernel
from pmo_workbench.qc.hwe import hardy_weinberg_p
from pmo_workbench.qc.tables import VARIANT_QC, returns_table


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


def _list_column(offsets: np.ndarray, flat: np.ndarray, arrow_type: pa.DataType) -> pd.Series:
    """An Arrow list column of the values ``flat``, row ``i`` being ``flat[offsets[i]:offsets[i + 1]]``."""
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=arrow_type))
    return pd.Series(arr, dtype=pd.ArrowDtype(arr.type))


def _alleles_column(ref: pa.Array, alt: pa.Array) -> pd.Series:
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
        alleles = pa.ListArray.from_arrays(pa.array(lists.astype(np.int32)), values)
    else:
        values = pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets[:m + 1]), pa.py_buffer(data))
        alleles = pa.LargeListArray.from_arrays(pa.array(lists), values)
    return pd.Series(alleles, dtype=pd.ArrowDtype(alleles.type))


def _filters_column(raw: pa.Array) -> pd.Series:
    """Hail's ``filters``: PASS -> [], '.' -> missing, 'a;b' -> ['a', 'b'] (worked out once per distinct value;
    a column of PASS only, the usual case, without a dictionary encoding of a million strings).

    Examples
    --------
    >>> _filters_column(pa.array(["PASS", "PASS"])).tolist(), _filters_column(pa.array(["PASS", "q10;s50", "."])).tolist()
    ([[], []], [[], ['q10', 's50'], <NA>])
    """
    data, offsets = string_buffers(raw)
    n = len(raw)
    if n and int(offsets[-1] - offsets[0]) == 4 * n and (np.diff(offsets) == 4).all() and \
            (data[offsets[0]:offsets[-1]].view("<u4") == int.from_bytes(b"PASS", "little")).all():
        empty = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], type=pa.string()))
        return pd.Series(empty, dtype=pd.ArrowDtype(empty.type))
    encoded = pc.dictionary_encode(raw)
    distinct = encoded.dictionary
    split = pc.split_pattern(distinct, ";")
    empty = pa.scalar([], type=pa.list_(pa.string()))
    split = pc.if_else(pc.equal(distinct, "PASS"), empty, split)
    split = pc.if_else(pc.equal(distinct, "."), pa.scalar(None, type=pa.list_(pa.string())), split)
    split = split.take(encoded.indices)
    return pd.Series(split, dtype=pd.ArrowDtype(split.type))


def _locus_column(g: GenotypeSet) -> np.ndarray:
    """``"contig:position"`` per variant (object array of str), written by a C loop into Arrow buffers."""
    codes = g.read_array("variant_contig") if hasattr(g, "read_array") else None
    if codes is None:
        contig = g.variants["contig"].to_numpy(dtype=object)
        names, codes = np.unique(contig.astype(str), return_inverse=True) if len(contig) else ([], contig)
        position = g.variants["position"].to_numpy()
    else:
        names = [str(c) for c in (g.attrs["contig_id"] or [""])]
        position = g.read_array("variant_position")
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
        locus = pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data[:k]))
    else:
        locus = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data[:k]))
    return locus.to_numpy(zero_copy_only=False).astype(object, copy=False)


@returns_table(VARIANT_QC)
def variant_qc(g: GenotypeSet, *, chunk_size: int = 20_000) -> pd.DataFrame:
    """Per-variant QC metrics, as Hail's ``hl.variant_qc`` (one row per variant, in file order).

    A haploid call adds one allele to ``AN``. ``n_het`` and the Hardy-Weinberg tests use diploid calls only
    (as Hail's documentation states; Hail's implementation derives the het count from ``AC[1]``, which
    would count haploid ALT calls on chrX as heterozygotes). The tests are for biallelic sites; they are
    NaN at multi-allelic sites and where no diploid call exists. Where the backend does not compute them
    itself (the embedded backend), they are :func:`pmo_workbench.qc.hwe.hardy_weinberg_p` of the diploid
    counts, run while the text columns are built.

    Parameters
    ----------
    g
        An opened genotype set (:func:`pmo_workbench.genotypes.open_genotypes`), of any backend.
    chunk_size
        Variants per chunk read from the store (embedded backend).

    Returns
    -------
    pandas.DataFrame
        One row per variant, in file order; the columns of :data:`~pmo_workbench.qc.tables.VARIANT_QC`
        (listed below).
    """
    nv = g.n_variants
    counts = get_kernel("variant_counts", g)(g, chunk_size=chunk_size)
    n_alleles, ac = counts.n_alleles, counts.ac
    an, offsets, flat_ac, flat_af = _allele_lists(ac, n_alleles)
    biallelic = n_alleles == 2
    with ThreadPoolExecutor(max_workers=1) as pool:  # the compiled HWE tests run while the text columns are built
        hwe = None
        if counts.p_value_hwe is None or counts.p_value_excess_het is None:
            hwe = pool.submit(hardy_weinberg_p, np.where(biallelic, counts.n_hom_ref, -1), counts.n_het,
                              counts.n_hom_var)
        columns = {
            "locus": _locus_column(g),
            "alleles": _alleles_column(read_variant_strings(g, "ref"), read_variant_strings(g, "alt")),
            "call_rate": counts.n_called / g.n_samples if g.n_samples else np.full(nv, np.nan),
            "AC": _list_column(offsets, flat_ac, pa.int32()),
            "AF": _list_column(offsets, flat_af, pa.float64()),
            "AN": an,
            "n_het": counts.n_het.copy(),  # the counts may be cached on g: the table must not share them
            "p_value_hwe": counts.p_value_hwe,
            "p_value_excess_het": counts.p_value_excess_het,
            "filters": _filters_column(read_variant_strings(g, "filters")),
        }
        if hwe is not None:
            columns["p_value_hwe"], columns["p_value_excess_het"] = hwe.result()
    return pd.DataFrame(columns, copy=False)  # fresh arrays: no copy into 2-D blocks (0.15 s at 1 M variants)


def compute_female_chrx_hwe(g: GenotypeSet, females: np.ndarray, *, chunk_size: int = 20_000
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hardy-Weinberg mid-p tests of the biallelic non-PAR chrX sites over the female samples only:
    ``(sites, p_value_hwe, p_value_excess_het)`` (a boolean mask of the sites tested and the two tests at them).

    Men carry one X: counted as diploid (a set that writes them ``0/0``/``1/1``), they are homozygotes that
    no HWE model of two alleles expects, and they make every chrX site look deficient in heterozygotes. Over the
    women alone, the test is plink2's ``--keep-females --hardy midp`` (its ``.hardy.x`` file; plink2's
    default chrX test, Graffelman-Weir, adds the men's allele counts instead). Genotypes come from the backend's
    ``dosage_blocks`` kernel, so every backend gives the same.

    Example
    -------
    >>> sites, p, _ = compute_female_chrx_hwe(g, np.arange(g.n_samples) >= 20)  # the last 20 samples as women
    >>> int(sites.sum()), bool(np.isfinite(p[sites]).all())
    (80, True)
    """
    from pmo_workbench.qc.sites import select_sex_sites

    sites, _ = select_sex_sites(g)
    p = np.full(g.n_variants, np.nan)
    excess = np.full(g.n_variants, np.nan)
    females = np.asarray(females, dtype=bool)
    if not sites.any() or not females.any():
        return sites, p, excess
    counts = []
    for _, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0, chunk_size=chunk_size):
        d = dosage[:, females]
        counts.append(np.stack([(d == 0).sum(axis=1), (d == 1).sum(axis=1), (d == 2).sum(axis=1)], axis=1))
    c = np.concatenate(counts) if counts else np.zeros((0, 3), dtype=np.int64)
    p[sites], excess[sites] = hardy_weinberg_p(c[:, 0], c[:, 1], c[:, 2])
    return sites, p, excess


def compute_hwe_by_group(g: GenotypeSet, groups: pd.Series | np.ndarray, *, variant_mask: np.ndarray | None = None,
                         min_group_size: int = 20, chunk_size: int = 20_000) -> pd.DataFrame:
    """Hardy-Weinberg mid-p test of each autosomal biallelic site within each group of samples (e.g. the
    ``assigned_population`` of :func:`~pmo_workbench.qc.ancestry.ancestry`): pooling ancestries makes a
    heterozygote deficit of every site whose frequency differs between them (a Wahlund effect), so a site
    filter on the pooled test removes ancestry-informative sites rather than bad ones.

    Parameters
    ----------
    g
        An opened genotype set, of any backend (genotypes from its ``dosage_blocks`` kernel).
    groups
        One label per sample, in file order (None/NaN: in no group).
    variant_mask
        Boolean [n_variants] restricting the sites.
    min_group_size
        Smaller groups get no column.

    Returns
    -------
    pandas.DataFrame
        One row per tested site (``variant_index``: its row in the variant table), one column
        ``p_value_hwe_<group>`` per group, in the order the groups first appear.

    Example
    -------
    >>> by = compute_hwe_by_group(g, np.where(np.arange(g.n_samples) < 20, "A", "B"))
    >>> by.columns.tolist()
    ['variant_index', 'p_value_hwe_A', 'p_value_hwe_B']
    """
    from pmo_workbench.qc.sites import select_autosomal_sites

    labels = pd.Series(np.asarray(groups, dtype=object)).where(pd.notna(groups), None)
    names = [x for x in pd.unique(labels.dropna()) if (labels == x).sum() >= min_group_size]
    sites = select_autosomal_sites(g.variants, g.contig_kind, variant_mask)
    masks = {x: (labels == x).to_numpy() for x in names}
    counts: dict[str, list[np.ndarray]] = {x: [] for x in names}
    for _, dosage in get_kernel("dosage_blocks", g)(g, sites, min_maf=0.0, chunk_size=chunk_size):
        for x, m in masks.items():
            d = dosage[:, m]
            counts[x].append(np.stack([(d == 0).sum(axis=1), (d == 1).sum(axis=1), (d == 2).sum(axis=1)], axis=1))
    out = pd.DataFrame({"variant_index": np.flatnonzero(sites)})
    for x in names:
        c = np.concatenate(counts[x]) if counts[x] else np.zeros((0, 3), dtype=np.int64)
        out[f"p_value_hwe_{x}"] = hardy_weinberg_p(c[:, 0], c[:, 1], c[:, 2])[0]
    return out
