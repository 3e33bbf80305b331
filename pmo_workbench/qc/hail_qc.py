"""Sample QC, variant QC and sex imputation on the Hail backend, with Hail's own methods.

Each function takes a :class:`~pmo_workbench.genotypes.hail_backend.HailGenotypes` and returns the same
pandas table as its embedded twin (:func:`pmo_workbench.qc.sample_qc.sample_qc`,
:func:`pmo_workbench.qc.variant_qc.variant_qc`, :func:`pmo_workbench.qc.sex.impute_sex`): same columns,
dtypes, units and row order (samples and variants in file order). The counts come from ``hl.sample_qc``,
``hl.variant_qc``/``hl.agg.call_stats``, ``hl.hardy_weinberg_test`` and ``hl.agg.inbreeding`` (the aggregator
behind ``hl.impute_sex``); two conventions are pinned to the embedded definitions (see each function).

Example
-------
>>> from pmo_workbench.genotypes.hail_backend import open_hail_genotypes
>>> g = open_hail_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz")  # doctest: +SKIP
>>> sample_qc(g)[["sample_id", "call_rate", "dp_mean"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.genotypes.contigs import PAR_INTERVALS, classify_contig
from pmo_workbench.genotypes.hail_backend import HailGenotypes, collect_rows, init_hail
from pmo_workbench.qc.sample_qc import SAMPLE_QC_COLUMNS
from pmo_workbench.qc.sex import SEX_CHECK_COLUMNS, load_reported_sex
from pmo_workbench.qc.variant_qc import VARIANT_QC_COLUMNS

_COUNTS = ["n_called", "n_not_called", "n_hom_ref", "n_het", "n_hom_var", "n_non_ref", "n_singleton", "n_snp",
           "n_insertion", "n_deletion", "n_transition", "n_transversion"]
_RATIOS = ["r_ti_tv", "r_het_hom_var", "r_insertion_deletion"]


def _hl() -> Any:
    return init_hail()


def _float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def sample_qc(g: HailGenotypes) -> pd.DataFrame:
    """Per-sample QC metrics from ``hl.sample_qc``: the table of :func:`pmo_workbench.qc.sample_qc.sample_qc`.

    Hail counts a haploid call as called, ``0`` as hom-ref and a haploid ALT as hom-var; allele types count
    alternate alleles (so ``r_ti_tv`` is an allele ratio). ``dp_mean``/``gq_mean`` are ``dp_stats.mean``
    and ``gq_stats.mean`` when the input has DP/GQ.

    Example
    -------
    >>> sample_qc(g).n_called.sum() == g.n_samples * g.n_variants - sample_qc(g).n_not_called.sum()  # doctest: +SKIP
    True
    """
    hl = _hl()
    mt = hl.sample_qc(g.mt, name="qc")
    extra = [f for f in ("DP", "GQ") if g.has_field(f)]
    cols = mt.cols()
    fields = {c: cols.qc[c] for c in ["call_rate", *_COUNTS, *_RATIOS]}
    for f in extra:
        fields[f"{f.lower()}_mean"] = cols.qc[f"{f.lower()}_stats"].mean
    df = cols.select(**fields).to_pandas()
    out = pd.DataFrame({"sample_id": df["s"].astype(str).to_numpy(dtype=object)})
    if list(out["sample_id"]) != list(g.sample_id):
        raise RuntimeError("Hail returned samples in another order than the file's")
    out["call_rate"] = _float(df["call_rate"])
    for c in _COUNTS:
        out[c] = df[c].astype("int64").to_numpy()
    for c in _RATIOS:
        out[c] = _float(df[c])
    for f in extra:
        out[f"{f.lower()}_mean"] = _float(df[f"{f.lower()}_mean"])
    return out[SAMPLE_QC_COLUMNS + [f"{f.lower()}_mean" for f in extra]]


def _list_series(values: list, arrow_type: pa.DataType) -> pd.Series:
    arr = pa.array(values, type=pa.list_(arrow_type))
    return pd.Series(arr, dtype=pd.ArrowDtype(arr.type))


def variant_qc(g: HailGenotypes) -> pd.DataFrame:
    """Per-variant QC metrics from ``hl.variant_qc`` and ``hl.hardy_weinberg_test``, in file order.

    ``call_rate``, ``AC``, ``AF`` and ``AN`` are ``hl.variant_qc``'s. ``n_het`` and the Hardy-Weinberg
    counts use **diploid calls only** (``GT.is_het()``, diploid ``is_hom_ref``/``is_hom_var``), as the
    embedded backend and Hail's documentation define them; ``hl.variant_qc`` itself takes ``n_het`` as
    ``n_called`` minus the (diploid) homozygote counts and so counts every haploid call (a male on chrX) as a
    heterozygote, and feeds ``AC[1]``-based counts to its HWE test. The tests
    (``hl.hardy_weinberg_test``, two-sided and ``one_sided=True``, both mid-p) are NaN at multi-allelic sites
    and where no diploid call exists. ``filters`` lists a record's FILTER names sorted (Hail keeps a set).

    Example
    -------
    >>> variant_qc(g).loc[0, ["locus", "AN"]].tolist()  # doctest: +SKIP
    ['20:10019093', 200]
    """
    hl = _hl()
    mt = hl.variant_qc(g.mt, name="vqc")
    gt = mt.GT
    diploid = hl.is_defined(gt) & (gt.ploidy == 2)
    mt = mt.annotate_rows(
        d_het=hl.int32(hl.agg.count_where(diploid & gt.is_het())),
        d_hom_ref=hl.int32(hl.agg.count_where(diploid & gt.is_hom_ref())),
        d_hom_var=hl.int32(hl.agg.count_where(diploid & gt.is_hom_var())))
    testable = (hl.len(mt.alleles) == 2) & (mt.d_het + mt.d_hom_ref + mt.d_hom_var > 0)
    mt = mt.annotate_rows(
        hwe=hl.or_missing(testable, hl.hardy_weinberg_test(mt.d_hom_ref, mt.d_het, mt.d_hom_var)),
        hwe_excess=hl.or_missing(testable, hl.hardy_weinberg_test(mt.d_hom_ref, mt.d_het, mt.d_hom_var,
                                                                  one_sided=True)))
    df = collect_rows(mt, call_rate=mt.vqc.call_rate, AC=mt.vqc.AC, AN=mt.vqc.AN, n_het=mt.d_het,
                      p_value_hwe=mt.hwe.p_value, p_value_excess_het=mt.hwe_excess.p_value, filters=mt.filters)
    v = g.variants
    n_alleles = v["n_alleles"].to_numpy()
    an = df["AN"].astype("int64").to_numpy()
    ac = [list(map(int, a)) for a in df["AC"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        af = [list(np.asarray(a, dtype=np.float64) / n) if n else [np.nan] * k
              for a, n, k in zip(ac, an, n_alleles, strict=True)]
    filters = [None if f is None or f is pd.NA else sorted(f) for f in df["filters"]]
    return pd.DataFrame({
        "locus": (v["contig"].astype(str) + ":" + v["position"].astype(str)).to_numpy(dtype=object),
        "alleles": _list_series([list(a) for a in df["alleles"]], pa.string()),
        "call_rate": _float(df["call_rate"]),
        "AC": _list_series(ac, pa.int32()),
        "AF": _list_series(af, pa.float64()),
        "AN": an.astype(np.int32),
        "n_het": df["n_het"].astype("int64").to_numpy(),
        "p_value_hwe": _float(df["p_value_hwe"]),
        "p_value_excess_het": _float(df["p_value_excess_het"]),
        "filters": _list_series(filters, pa.string()),
    }, columns=VARIANT_QC_COLUMNS)


def _nonpar_expr(hl: Any, g: HailGenotypes, kind: str) -> tuple[Any, Any]:
    """Row expressions: the locus is on a ``kind`` ("X"/"Y") contig; and, in addition, outside the PARs of
    ``g``'s build (both builds' PARs when it is unknown)."""
    mt = g.mt
    names = {c for c in hl.get_reference(g.reference_genome).contigs if classify_contig(c) == kind}
    on = hl.literal(names).contains(mt.locus.contig)
    builds = [g.reference_build] if g.reference_build in PAR_INTERVALS else list(PAR_INTERVALS)
    pos = mt.locus.position
    in_par = hl.literal(False)
    for b in builds:
        for lo, hi in PAR_INTERVALS[b][kind]:
            in_par = in_par | ((pos >= lo) & (pos <= hi))
    return on, on & ~in_par


def impute_sex(g: HailGenotypes, manifest: str | Path | pd.DataFrame | None = None, *, aaf_threshold: float = 0.0,
               include_par: bool = False, female_threshold: float = 0.2, male_threshold: float = 0.8
               ) -> pd.DataFrame:
    """Genetic sex from the chrX inbreeding coefficient, computed as ``hl.impute_sex`` does.

    The computation is ``hl.impute_sex``'s (biallelic X sites, alternate allele frequency from
    ``hl.agg.call_stats``, ``aaf_threshold < AAF < 1 - aaf_threshold``, then ``hl.agg.inbreeding``'s sums
    N, E and O written out as Hail aggregations, because ``hl.agg.inbreeding`` stops with an error on a
    haploid call; here a haploid call is homozygous, as in PLINK and the embedded backend), with the
    X/Y and PAR definitions of :mod:`pmo_workbench.genotypes.contigs` so that it matches the embedded
    :func:`pmo_workbench.qc.sex.impute_sex` exactly (with an unknown build both builds' PARs are left out).
    Parameters and the returned table are those of the embedded function.

    Example
    -------
    >>> impute_sex(g).genetic_sex.value_counts()  # doctest: +SKIP
    """
    if not 0.0 <= aaf_threshold <= 1.0:
        raise ValueError("aaf_threshold must be in [0, 1]")
    hl = _hl()
    mt = g.mt
    kinds = {c: g.contig_kind(c) for c in g.variants["contig"].unique()}
    x_any, x_nonpar = _nonpar_expr(hl, g, "X")
    on_x = x_any if include_par else x_nonpar
    n = g.n_samples
    f = np.full(n, np.nan)
    n_called = np.zeros(n, dtype=np.int64)
    e_homs = np.zeros(n)
    o_homs = np.zeros(n, dtype=np.int64)
    if "X" in kinds.values():
        x = mt.filter_rows(on_x & (hl.len(mt.alleles) == 2))
        x = x.annotate_rows(aaf=hl.agg.call_stats(x.GT, x.alleles).AF[1])
        x = x.filter_rows((x.aaf > aaf_threshold) & (x.aaf < 1.0 - aaf_threshold))
        # hl.agg.inbreeding's sums, with a haploid call counted as homozygous (Hail's aggregator rejects it)
        x = x.annotate_cols(ib=hl.agg.filter(hl.is_defined(x.aaf) & hl.is_defined(x.GT), hl.struct(
            n_called=hl.agg.count(), expected_homs=hl.agg.sum(1.0 - 2.0 * x.aaf * (1.0 - x.aaf)),
            observed_homs=hl.agg.count_where(~x.GT.is_het()))))
        x = x.annotate_cols(ib=x.ib.annotate(f_stat=(x.ib.observed_homs - x.ib.expected_homs)
                                             / (x.ib.n_called - x.ib.expected_homs)))
        ib = x.cols().to_pandas()
        f = _float(ib["ib.f_stat"])
        n_called = ib["ib.n_called"].astype("int64").to_numpy()
        e_homs = _float(ib["ib.expected_homs"])
        o_homs = ib["ib.observed_homs"].astype("int64").to_numpy()
        f = np.where(n_called > 0, f, np.nan)
    y_rate = np.full(n, np.nan)
    _, y_nonpar = _nonpar_expr(hl, g, "Y")
    if "Y" in kinds.values():
        y = mt.filter_rows(y_nonpar)
        n_y = y.count_rows()
        if n_y:
            y = y.annotate_cols(n=hl.agg.count_where(hl.is_defined(y.GT)))
            y_rate = y.cols().to_pandas()["n"].astype("int64").to_numpy() / n_y
    genetic = np.where(f < female_threshold, "F", np.where(f > male_threshold, "M", "ambiguous")).astype(object)
    genetic[np.isnan(f)] = "ambiguous"
    sample_id = np.asarray(g.sample_id).astype(str)
    reported = pd.Series([None] * n, index=sample_id, dtype=object)
    if manifest is not None:
        reported = load_reported_sex(manifest).reindex(sample_id)
        reported = reported.astype(object).where(reported.notna(), None)
    rep = reported.to_numpy(dtype=object)
    has_rep = np.array([r is not None for r in rep], dtype=bool)
    known = has_rep & np.isin(genetic, ["F", "M"])
    mismatch = pd.array([None] * n, dtype="boolean")
    mismatch[has_rep] = False
    mismatch[known] = genetic[known] != rep[known]
    return pd.DataFrame({"sample_id": sample_id, "f_stat": f, "n_called_x": n_called, "expected_homs": e_homs,
                         "observed_homs": o_homs, "y_call_rate": y_rate, "genetic_sex": genetic,
                         "reported_sex": rep, "mismatch": mismatch}, columns=SEX_CHECK_COLUMNS)
