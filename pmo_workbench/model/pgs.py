"""Polygenic scores from PGS Catalog scoring files: ``score_pgs(g, scoring_file) -> PgsResult``.

One call reads one or several scoring files (:mod:`.scoring_file`), matches their variants to the genotypes by
pgsc_calc's rules (:mod:`.variant_matching`), refuses a score whose match rate is below ``min_overlap`` (naming
the rate), and computes all scores in one pass over the genotypes with the backend's kernel
(:mod:`.pgs_kernels`). The score of a sample is the sum over matched variants of effect weight × effect-allele
dosage (``score_sum``, as plink2 ``--score ... cols=+scoresums``) and its average per allele (``score_avg``:
plink2's ``SCORE1_AVG``, the sum over twice the number of matched variants, or, without mean imputation, over
twice the sample's ``n_variants``, the matched variants it has a call for); missing calls are mean-imputed by
default (plink2's default) or left out (``missing="zero"``, plink2's ``no-mean-imputation``). Haploid calls
(male chrX) count their one allele.

With ancestry principal components (``pcs``), :meth:`PgsResult.normalise` adds pgsc_calc's ancestry-adjusted
scores: ``z_norm1`` (the residual of the score regressed on the PCs, in SD units) and ``z_norm2`` (that residual
divided by a standard deviation that also depends on the PCs, fitted by a gamma GLM with log link on the squared
residuals, as Khera et al. 2019 and pgsc_calc do).

Examples
--------
>>> from pmo_workbench.genotypes import open_genotypes
>>> g = open_genotypes("../shared/data/1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz", cache_dir="/tmp/pmo-doctest")  # doctest: +SKIP
>>> res = score_pgs(g, "../shared/data/pgs_catalog/PGS001229_hmPOS_GRCh38.normalised.txt.gz",
...                 keep_ambiguous=True)  # doctest: +SKIP
>>> res.match_report[["accession", "matched", "matched after flip", "absent", "match_rate"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pmo_workbench.errors import InputError
from pmo_workbench.model.pgs_kernels import select_score_kernel
from pmo_workbench.model.scoring_file import ScoringFile, check_build, read_scoring_file
from pmo_workbench.model.variant_matching import match_variants, target_variants

SCORE_COLUMNS = ["sample_id", "pgs_id", "score_sum", "score_avg", "n_variants"]
"""Columns of :attr:`PgsResult.scores` (long: one row per sample and score)."""


@dataclass
class PgsResult:
    """Scores and how they were matched.

    Attributes
    ----------
    scores
        :data:`SCORE_COLUMNS`: per sample and score, the weighted sum, its average per allele and the number of
        matched variants with a call for that sample.
    match_report
        Per score (``accession``): counts of scoring-file rows by outcome -- matched, matched after flip,
        strand-ambiguous dropped, absent, multi-allelic, duplicate -- with ``total`` and ``match_rate``.
    variants
        Per scoring-file row: the match (status, match_type, target variant, effect allele is ALT, weight).
    scoring_files
        The scoring files as read (header, build).
    settings
        min_overlap, keep_ambiguous, keep_multiallelic, missing, backend.
    """

    scores: pd.DataFrame
    match_report: pd.DataFrame
    variants: pd.DataFrame
    scoring_files: list[ScoringFile] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def wide(self, column: str = "score_sum") -> pd.DataFrame:
        """One row per sample, one column per score."""
        return self.scores.pivot(index="sample_id", columns="pgs_id", values=column)

    def normalise(self, pcs: pd.DataFrame, *, pc_columns: Sequence[str] | None = None,
                  reference: Sequence[str] | None = None) -> pd.DataFrame:
        """Ancestry-adjusted scores (``z_norm1``, ``z_norm2``) from principal components.

        Parameters
        ----------
        pcs
            ``sample_id`` and PC columns (e.g. the WGS QC run's ``ancestry.parquet``).
        pc_columns
            PCs to use (default: every ``PC<n>`` column, at most 10).
        reference
            Samples the adjustment is fitted on (default: all scored samples with PCs).
        """
        cols = list(pc_columns) if pc_columns is not None else \
            [c for c in pcs.columns if str(c).startswith("PC")][:10]
        if not cols:
            raise InputError("no principal-component columns (PC1, PC2, ...)", field="pcs")
        out = []
        for pgs_id, part in self.scores.groupby("pgs_id", sort=False):
            frame = part.merge(pcs[["sample_id", *cols]], on="sample_id", how="left")
            z1, z2 = adjust_for_ancestry(frame["score_sum"].to_numpy(float), frame[cols].to_numpy(float),
                                         None if reference is None else frame["sample_id"].isin(reference).to_numpy())
            out.append(frame[["sample_id"]].assign(pgs_id=pgs_id, z_norm1=z1, z_norm2=z2))
        return self.scores.merge(pd.concat(out, ignore_index=True), on=["sample_id", "pgs_id"], how="left")


def adjust_for_ancestry(score: np.ndarray, pcs: np.ndarray, fit_rows: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """pgsc_calc's two ancestry adjustments of a score on PCs (rows with missing PCs give NaN).

    ``z_norm1 = (score − Xβ) / sd(residual)``; ``z_norm2 = (score − Xβ) / sqrt(exp(Xγ))`` with γ from a gamma GLM
    (log link) of the squared residuals on the PCs.

    Examples
    --------
    >>> rng = np.random.default_rng(0); pc = rng.normal(size=(500, 2))
    >>> s = 2 * pc[:, 0] + rng.normal(size=500) * np.exp(0.3 * pc[:, 1])
    >>> z1, z2 = adjust_for_ancestry(s, pc)
    >>> abs(round(float(np.corrcoef(z1, pc[:, 0])[0, 1]), 6)), round(float(np.std(z2)), 1)
    (0.0, 1.0)
    """
    ok = np.isfinite(score) & np.isfinite(pcs).all(axis=1)
    fit = ok if fit_rows is None else ok & np.asarray(fit_rows, dtype=bool)
    X = np.column_stack([np.ones(len(score)), pcs])
    beta, *_ = np.linalg.lstsq(X[fit], score[fit], rcond=None)
    resid = score - X @ beta
    z1 = np.where(ok, resid / resid[fit].std(ddof=X.shape[1]), np.nan)
    r2 = resid[fit] ** 2
    gamma = np.zeros(X.shape[1])
    gamma[0] = np.log(r2.mean())
    Xf = X[fit]
    for _ in range(100):  # IRLS of a gamma GLM with log link: weights 1, working response eta + (y − mu)/mu
        eta = Xf @ gamma
        mu = np.exp(eta)
        z = eta + (r2 - mu) / mu
        new, *_ = np.linalg.lstsq(Xf, z, rcond=None)
        if np.max(np.abs(new - gamma)) < 1e-10:
            gamma = new
            break
        gamma = new
    z2 = np.where(ok, resid / np.sqrt(np.exp(X @ gamma)), np.nan)
    return z1, z2


def _accessions(variants: pd.DataFrame) -> list[str]:
    """The score ids of a scoring file's rows, in order of first appearance."""
    acc = variants["accession"]
    if isinstance(acc.dtype, pd.CategoricalDtype):
        codes = pd.unique(acc.cat.codes.to_numpy())  # in order of appearance (a hash table: no sort)
        return [str(acc.cat.categories[c]) for c in codes if c >= 0]
    return [str(x) for x in pd.unique(acc.astype(str))]


def _genotype_build(g: Any) -> str | None:
    return getattr(g, "reference_build", None)


def score_pgs(g: Any, scoring_file: str | Path | Sequence[str | Path], min_overlap: float = 0.75, *,
              keep_ambiguous: bool = False, keep_multiallelic: bool = False, skip_flip: bool = False,
              missing: Literal["mean", "zero"] = "mean", assume_build: str | None = None,
              allow_complex: bool = False, samples: Sequence[str] | None = None) -> PgsResult:
    """Score the samples of ``g`` with one or several PGS Catalog scoring files in one pass.

    Parameters
    ----------
    g
        Genotypes from :func:`~pmo_workbench.genotypes.open_genotypes` (embedded or Hail backend).
    scoring_file
        One path or a list (several scores in one pass). PGS Catalog format 2.0, plain or harmonised, or
        pygscatalog's normalised layout.
    min_overlap
        Smallest share of a score's rows that must match; below it the call fails naming the share.
    keep_ambiguous, keep_multiallelic
        Keep A/T and C/G SNVs, and multi-allelic records (pgsc_calc drops both by default).
    skip_flip
        Do not match on the complementary strand.
    missing
        ``"mean"`` (impute the mean dosage, plink2's default) or ``"zero"`` (plink2 ``no-mean-imputation``).
    assume_build
        The scoring file's build when it does not say (e.g. a custom file); otherwise its header decides.
    allow_complex
        Drop complex rows (HLA/APOE haplotypes, ...) instead of refusing the file.
    samples
        Keep only these samples in :attr:`PgsResult.scores` (all are scored; mean imputation uses all).

    Raises
    ------
    InputError
        A bad scoring file (column, row and file named), a build other than the genotypes', a match rate below
        ``min_overlap``, or ``samples`` naming no sample of ``g``.
    """
    if not 0 <= min_overlap <= 1:
        raise InputError(f"min_overlap must lie in [0, 1], not {min_overlap}", field="min_overlap")
    if missing not in ("mean", "zero"):
        raise InputError(f"missing must be 'mean' or 'zero', not {missing!r}", field="missing")
    paths = [scoring_file] if isinstance(scoring_file, str | Path) else list(scoring_file)
    files = [read_scoring_file(p, allow_complex=allow_complex) for p in paths]
    build = _genotype_build(g)
    for sf in files:
        check_build(sf, build, assume_build=assume_build)
    score_rows = files[0].variants if len(files) == 1 else \
        pd.concat([sf.variants for sf in files], ignore_index=True)
    per_file = [list(dict.fromkeys(_accessions(sf.variants))) for sf in files]
    ids = list(dict.fromkeys(a for file_ids in per_file for a in file_ids))
    if len(ids) < sum(len(file_ids) for file_ids in per_file):
        raise InputError("two scoring files carry the same score id; score them in separate calls",
                         file=paths[-1], field="pgs_id")
    match = match_variants(score_rows, target_variants(g), keep_ambiguous=keep_ambiguous,
                           keep_multiallelic=keep_multiallelic, skip_flip=skip_flip)
    report = match.report.copy()
    low = report[report["match_rate"] < min_overlap]
    if len(low):
        r = low.iloc[0]
        sf = next((f for f, file_ids in zip(files, per_file, strict=True) if r["accession"] in file_ids), files[0])
        raise InputError(f"score {r['accession']}: only {r['match_rate']:.1%} of its {int(r['total'])} variants "
                         f"match the genotypes (min_overlap {min_overlap:.0%}); {int(r['absent'])} absent, "
                         f"{int(r['strand-ambiguous dropped'])} strand-ambiguous, {int(r['multi-allelic'])} "
                         f"multi-allelic, {int(r['duplicate'])} duplicate", file=sf.path)
    rows = match.rows
    scored = np.flatnonzero(rows["status"].isin(["matched", "matched after flip"]).to_numpy())
    target_index = rows["target_index"].to_numpy()[scored]
    index = np.flatnonzero(np.bincount(target_index, minlength=g.n_variants))  # sorted, unique
    col_of = {a: k for k, a in enumerate(ids)}
    pos = np.searchsorted(index, target_index)
    acc = rows["accession"].cat
    k = np.array([col_of[a] for a in acc.categories.astype(str)], dtype=np.int64)[acc.codes.to_numpy()[scored]]
    w = rows["effect_weight"].to_numpy(float)[scored]
    alt = rows["effect_is_alt"].to_numpy(bool)[scored]
    cell, size = pos * len(ids) + k, len(index) * len(ids)  # a variant may carry several rows of one score
    a = np.bincount(cell, weights=np.where(alt, w, -w), minlength=size).reshape(len(index), len(ids))
    c = np.bincount(cell, weights=np.where(alt, 0.0, w), minlength=size).reshape(len(index), len(ids))
    member = np.zeros(a.shape, dtype=bool)
    member[pos, k] = True
    n_matched = member.sum(axis=0)
    kernel = select_score_kernel(g)
    total, n_used = kernel(g, index, a, c, member, missing=missing)
    sample_id = np.asarray(g.sample_id, dtype=object)
    frames = []
    for j, pgs_id in enumerate(ids):
        # plink2's denominator: all scored alleles with mean imputation, the called ones without
        denom = 2.0 * (n_matched[j] if missing == "mean" else n_used[:, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = np.where(denom > 0, total[:, j] / denom, np.nan)
        frames.append(pd.DataFrame({"sample_id": sample_id, "pgs_id": pgs_id, "score_sum": total[:, j],
                                    "score_avg": avg, "n_variants": n_used[:, j].astype(np.int64)}))
    scores = pd.concat(frames, ignore_index=True)
    if samples is not None:
        wanted = set(map(str, samples))
        scores = scores[scores["sample_id"].astype(str).isin(wanted)].reset_index(drop=True)
        if scores.empty:
            raise InputError("none of the requested samples is in the genotypes", field="samples")
    settings = {"min_overlap": min_overlap, "keep_ambiguous": keep_ambiguous,
                "keep_multiallelic": keep_multiallelic, "skip_flip": skip_flip, "missing": missing,
                "backend": getattr(g, "backend", "embedded"), "genome_build": build}
    return PgsResult(scores, report, match.rows, files, settings)
