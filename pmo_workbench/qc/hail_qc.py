"""The QC methods on the Hail backend: sample and variant QC, sex, kinship, ancestry, common heterozygosity.

Each function takes a :class:`~pmo_workbench.genotypes.hail_backend.HailGenotypes` and returns the same
pandas table as its embedded twin (:func:`pmo_workbench.qc.sample_qc.sample_qc`,
:func:`pmo_workbench.qc.variant_qc.variant_qc`, :func:`pmo_workbench.qc.sex.impute_sex`,
:func:`pmo_workbench.qc.kinship.kinship`, :func:`pmo_workbench.qc.ancestry.ancestry`,
:func:`pmo_workbench.qc.decisions.compute_common_heterozygosity`): same columns, dtypes, units and row order
(samples and variants in file order); the public functions dispatch here when ``g.backend == "hail"``, so
:func:`~pmo_workbench.qc.decisions.run_qc` runs on either backend. The counts come from ``hl.sample_qc``,
``hl.variant_qc``/``hl.agg.call_stats``, ``hl.hardy_weinberg_test``, ``hl.agg.inbreeding``'s sums (the
aggregator behind ``hl.impute_sex``), and ``hl.king``'s block-matrix products; a few conventions are pinned to
the embedded definitions (see each function). What is not a count — the sex classes, the kinship table with
its pedigree columns, LD pruning, PCA and population assignment — is the embedded code, run on what Hail
computed.

Example
-------
>>> from pmo_workbench.genotypes.hail_backend import open_hail_genotypes
>>> g = open_hail_genotypes("../shared/data/hail_1kg_chr20_100/sample.vcf.gz")  # doctest: +SKIP
>>> sample_qc(g)[["sample_id", "call_rate", "dp_mean"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pmo_workbench.genotypes.contigs import PAR_INTERVALS, classify_contig
from pmo_workbench.genotypes.hail_backend import HailGenotypes, collect_cols, collect_rows, init_hail
from pmo_workbench.qc.ancestry import compute_ancestry_table, prune_pca_blocks, thin_pca_candidates
from pmo_workbench.qc.kinship import KingCounts, select_kinship_sites, tabulate_kinship
from pmo_workbench.qc.sample_qc import SAMPLE_QC_COLUMNS
from pmo_workbench.qc.sex import SEX_CHECK_COLUMNS, assign_genetic_sex, load_reported_sex
from pmo_workbench.qc.variant_qc import VARIANT_QC_COLUMNS

_COUNTS = ["n_called", "n_not_called", "n_hom_ref", "n_het", "n_hom_var", "n_non_ref", "n_singleton", "n_snp",
           "n_insertion", "n_deletion", "n_transition", "n_transversion"]
_RATIOS = ["r_ti_tv", "r_het_hom_var", "r_insertion_deletion"]


def _hl() -> Any:
    return init_hail()


def _float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _collect_samples(g: HailGenotypes, mt: Any, **fields: Any) -> pd.DataFrame:
    """:func:`collect_cols`, checked to hold ``g``'s samples in ``g``'s order."""
    df = collect_cols(mt, **fields)
    if df["s"].astype(str).tolist() != [str(x) for x in g.sample_id]:
        raise RuntimeError(f"Hail returned other samples than those of {g.path.name}")
    return df


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
    fields = {c: mt.qc[c] for c in ["call_rate", *_COUNTS, *_RATIOS]}
    for f in extra:
        fields[f"{f.lower()}_mean"] = mt.qc[f"{f.lower()}_stats"].mean
    df = _collect_samples(g, mt, **fields)
    out = pd.DataFrame({"sample_id": df["s"].astype(str).to_numpy(dtype=object)})
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
    F is computed from Hail's sums as the embedded backend computes it, and the classes and mismatches come
    from the shared :func:`~pmo_workbench.qc.sex.assign_genetic_sex`. Parameters and the returned table are
    those of the embedded function.

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
        ib = _collect_samples(g, x, ib=x.ib)
        n_called = ib["ib.n_called"].astype("int64").to_numpy()
        e_homs = _float(ib["ib.expected_homs"])
        o_homs = ib["ib.observed_homs"].astype("int64").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):  # F as the embedded backend computes it
            f = np.where(n_called > 0, (o_homs - e_homs) / (n_called - e_homs), np.nan)
    y_rate = np.full(n, np.nan)
    _, y_nonpar = _nonpar_expr(hl, g, "Y")
    if "Y" in kinds.values():
        y = mt.filter_rows(y_nonpar)
        n_y = y.count_rows()
        if n_y:
            y_called = _collect_samples(g, y, n=hl.agg.count_where(hl.is_defined(y.GT)))["n"]
            y_rate = y_called.astype("int64").to_numpy() / n_y
    sample_id = np.asarray(g.sample_id).astype(str)
    reported = pd.Series([None] * n, index=sample_id, dtype=object)
    if manifest is not None:
        reported = load_reported_sex(manifest).reindex(sample_id)
        reported = reported.astype(object).where(reported.notna(), None)
    rep = reported.to_numpy(dtype=object)
    genetic, mismatch = assign_genetic_sex(f, rep, female_threshold, male_threshold)
    return pd.DataFrame({"sample_id": sample_id, "f_stat": f, "n_called_x": n_called, "expected_homs": e_homs,
                         "observed_homs": o_homs, "y_call_rate": y_rate, "genetic_sex": genetic,
                         "reported_sex": rep, "mismatch": mismatch}, columns=SEX_CHECK_COLUMNS)


def _filter_common(mt: Any, min_maf: float) -> Any:
    """Rows with minor allele frequency >= ``min_maf`` (none dropped when it is 0), the frequency computed
    as :func:`pmo_workbench.qc.kinship.iter_dosage_blocks` does: ALT alleles over called alleles (a haploid
    call counts once), 0 where nothing is called."""
    if min_maf <= 0:
        return mt
    hl = _hl()
    gt = mt.GT
    mt = mt.annotate_rows(_pmo_an=hl.agg.filter(hl.is_defined(gt), hl.agg.sum(gt.ploidy)),
                          _pmo_ac=hl.agg.filter(hl.is_defined(gt), hl.agg.sum(gt.n_alt_alleles())))
    af = hl.if_else(mt._pmo_an > 0, mt._pmo_ac / mt._pmo_an, 0.0)
    return mt.filter_rows(hl.min(af, 1.0 - af) >= min_maf).drop("_pmo_an", "_pmo_ac")


def _autosomal_sites(g: HailGenotypes, variant_mask: np.ndarray | None) -> np.ndarray:
    sites = select_kinship_sites(g.variants, g.contig_kind)
    if variant_mask is not None:
        sites &= np.asarray(variant_mask, dtype=bool)
    return sites


def compute_king_counts(g: HailGenotypes, variant_mask: np.ndarray | None = None, *, min_maf: float = 0.0
                        ) -> KingCounts:
    """KING pair counts of :class:`~pmo_workbench.qc.kinship.KingCounts` from Hail block-matrix products.

    The products are those of ``hl.king`` (``ref.T @ var``, ``het.T @ het``, ``het.T @ defined`` over 0/1
    indicator matrices [sites, samples]) plus ``defined.T @ defined`` for the jointly called sites: ``hl.king``
    returns only the kinship, while the table also needs IBS0 and the site counts. The kinship that
    :func:`~pmo_workbench.qc.kinship.compute_king_kinship` computes from these counts is ``hl.king``'s ``phi``
    (the same between-family formula). The calls leave the MatrixTable once, as one block matrix of ALT allele
    counts ``c`` (-1 missing); the indicators are polynomials in ``c`` that are 1 at one of the four values
    -1, 0, 1, 2 and 0 at the others (exact in floating point), evaluated block by block. This is ~5x faster
    than ``hl.king``, which builds each indicator matrix from the MatrixTable anew.

    Sites: autosomal biallelic, selected by ``variant_mask`` and ``min_maf`` as in the embedded
    :func:`~pmo_workbench.qc.kinship.kinship`. As there, a call's class is its ALT allele count (0 hom-ref,
    1 het, 2 hom-alt).

    Example
    -------
    >>> c = compute_king_counts(g)  # doctest: +SKIP
    >>> c.n_snp[0, 1] <= c.n_sites  # doctest: +SKIP
    True
    """
    hl = _hl()
    from hail.linalg import BlockMatrix

    n = g.n_samples
    sites = _autosomal_sites(g, variant_mask)
    mt = _filter_common(g.select_variants(sites), min_maf)
    n_sites = int(sites.sum()) if min_maf <= 0 else mt.count_rows()
    if n_sites == 0:
        zero = np.zeros((n, n), dtype=np.int64)
        return KingCounts(zero, zero.copy(), zero.copy(), zero.copy(), n_sites=0)
    c = BlockMatrix.from_entry_expr(hl.float64(hl.or_else(mt.GT.n_alt_alleles(), -1)))  # written once
    # Lagrange basis on the nodes -1, 0, 1, 2
    ref = (c + 1) * (c - 1) * (c - 2) / 2
    het = -(c + 1) * c * (c - 2) / 2
    var = (c + 1) * c * (c - 1) / 6
    defined = 1 + c * (c - 1) * (c - 2) / 6

    def product(a: Any, b: Any) -> np.ndarray:
        return np.rint((a.T @ b).to_numpy()).astype(np.int64)

    hethet = product(het, het)
    ref_var = product(ref, var)
    het_hom = product(het, defined) - hethet  # [i, j]: i het, j called and not het
    both_called = product(defined, defined)
    return KingCounts(hethet=hethet, het_hom=het_hom, homhom=both_called - hethet - het_hom - het_hom.T,
                      ibs0=ref_var + ref_var.T, n_sites=n_sites)


def kinship(g: HailGenotypes, pedigree: str | Path | pd.DataFrame | None = None, *, min_maf: float = 0.0,
            min_kinship: float = 0.0442, variant_mask: np.ndarray | None = None, po_max_ibs0: float = 0.005,
            tolerate_third_degree: bool = True) -> pd.DataFrame:
    """KING-robust kinship on the Hail backend: the table of :func:`pmo_workbench.qc.kinship.kinship`.

    The pair counts come from Hail (:func:`compute_king_counts`, ``hl.king``'s block-matrix algorithm); the
    table — pairs above ``min_kinship`` and every pedigree pair, classes, parent-offspring/sibling split,
    expected relationships — is made by the shared :func:`~pmo_workbench.qc.kinship.tabulate_kinship`.
    Parameters as in the embedded function.

    Example
    -------
    >>> kinship(g, "trio.ped").query("unexpected")  # doctest: +SKIP
    """
    counts = compute_king_counts(g, variant_mask, min_maf=min_maf)
    return tabulate_kinship(counts, np.asarray(g.sample_id).astype(str), pedigree, min_kinship=min_kinship,
                            po_max_ibs0=po_max_ibs0, tolerate_third_degree=tolerate_third_degree)


def collect_dosage(mt: Any) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele counts of a MatrixTable from :meth:`HailGenotypes.select_variants` as numpy:
    ``(variant_index int64 [sites], dosage int8 [sites, samples])``, sites in file order, -1 missing.

    The calls leave Hail as one block matrix (a binary file), not as Python objects.
    """
    hl = _hl()
    from hail.linalg import BlockMatrix

    index = np.asarray(mt.variant_index.collect(), dtype=np.int64)  # key order, as the block matrix rows
    if len(index) == 0:
        return index, np.zeros((0, mt.count_cols()), dtype=np.int8)
    code = hl.float64(hl.or_else(mt.GT.n_alt_alleles(), -1))
    dosage = np.rint(BlockMatrix.from_entry_expr(code).to_numpy()).astype(np.int8)
    order = np.argsort(index, kind="stable")
    return index[order], dosage[order]


def ancestry(g: HailGenotypes, reference: pd.DataFrame | str | Path | None = None, k: int = 10, *,
             related: Iterable[str] | None = None, variant_mask: np.ndarray | None = None, min_maf: float = 0.05,
             ld_window_bp: int = 500_000, ld_r2: float = 0.1,
             max_sites: int = 50_000, min_probability: float = 0.9, n_classifier_pcs: int | None = None,
             n_estimators: int = 100, seed: int = 0, chunk_size: int = 20_000) -> pd.DataFrame:
    """Ancestry PCA on the Hail backend: the table of :func:`pmo_workbench.qc.ancestry.ancestry`.

    Hail selects the candidate sites (autosomal biallelic, ``variant_mask``, evenly thinned as the embedded
    backend does, minor allele frequency >= ``min_maf``) and hands their calls over as numpy
    (:func:`collect_dosage`); LD pruning, PCA on the unrelated samples, projection and population assignment
    are the embedded code (:func:`~pmo_workbench.qc.ancestry.prune_pca_blocks`,
    :func:`~pmo_workbench.qc.ancestry.compute_ancestry_table`), with sites grouped into the same
    ``chunk_size`` runs of the variant table as the embedded store reads them (pruning runs within a run), so
    the result is the embedded one. Parameters as in the embedded function.

    Example
    -------
    >>> ancestry(g, reference="labels.tsv", k=4)[["sample_id", "assigned_population"]]  # doctest: +SKIP
    """
    sites = thin_pca_candidates(_autosomal_sites(g, variant_mask), max_sites)
    index, dosage = collect_dosage(_filter_common(g.select_variants(sites), min_maf))
    variants = g.variants
    blocks = ((variants.iloc[index[sel]], dosage[sel])
              for run in np.unique(index // chunk_size) for sel in [index // chunk_size == run])
    _, pca_dosage = prune_pca_blocks(blocks, ld_window_bp=ld_window_bp, ld_r2=ld_r2, max_sites=max_sites,
                                     source=str(g.path))
    return compute_ancestry_table(np.asarray(g.sample_id).astype(str), pca_dosage, reference, k, related=related,
                                  min_probability=min_probability, n_classifier_pcs=n_classifier_pcs,
                                  n_estimators=n_estimators, seed=seed)


def compute_common_heterozygosity(g: HailGenotypes, variant_mask: np.ndarray | None, min_maf: float
                                  ) -> pd.DataFrame:
    """Heterozygous and called genotypes per sample over autosomal biallelic sites with MAF >= ``min_maf``,
    counted by Hail: the table of :func:`pmo_workbench.qc.decisions.compute_common_heterozygosity`.

    Example
    -------
    >>> compute_common_heterozygosity(g, None, 0.05).head()  # doctest: +SKIP
    """
    hl = _hl()
    mt = _filter_common(g.select_variants(_autosomal_sites(g, variant_mask)), min_maf)
    df = _collect_samples(g, mt, n_het=hl.agg.count_where(mt.GT.n_alt_alleles() == 1),
                          n_called=hl.agg.count_where(hl.is_defined(mt.GT)))
    return pd.DataFrame({"sample_id": np.asarray(g.sample_id).astype(str),
                         "n_het_common": df["n_het"].astype("int64").to_numpy(),
                         "n_called_common": df["n_called"].astype("int64").to_numpy()})
