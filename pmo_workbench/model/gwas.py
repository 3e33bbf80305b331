"""Genome-wide association: ``run_gwas(g, phenotype, covariates, model) -> DataFrame``, λGC, lead variants.

:func:`run_gwas` regresses the phenotype on each biallelic variant's ALT-allele dosage with covariates (e.g. age,
sex and the ancestry PCs of the WGS QC run), on the samples that have the phenotype and every covariate (and,
with ``samples``, are among those: by default the caller passes the QC-passing, unrelated samples, see
:func:`select_analysis_samples`). ``model="linear"`` for a quantitative trait, ``"logistic"`` (0/1) for a
binary one, with Firth's penalised regression where the ordinary fit fails (``firth="fallback"``, plink2's
``firth-fallback``), always (``"always"``, plink2's ``firth``) or never.

**Missing genotypes** (``missing``): ``"drop"`` (default; plink2) leaves a sample out of the regression of a
variant it has no call for, so ``n`` varies by variant; ``"mean"`` (Hail) replaces the missing call by the mean
dosage of the called samples, so every variant uses the same samples. Haploid calls (males on non-PAR chrX) are
coded 0/2, as plink2's default chrX model.

The table has one row per tested variant, in file order: ``contig, position, id, alleles (REF,ALT), beta, se,
t_stat`` (linear) or ``z_stat`` (logistic, plus ``firth`` and ``converged``), ``p_value, n, AF`` (ALT allele
frequency among the called analysed samples) and ``variant_index`` (row of ``g.variants``). Embedded and Hail
backends give the same table (``tests/hail``); tests hold β and SE equal to plink2 ``--glm`` and statsmodels.

Bad input raises :class:`~pmo_workbench.errors.InputError` naming the problem and the column: IDs that match no
sample, a phenotype with one value (or, for logistic, no cases or no controls, or values other than 0/1), a
covariate that is not numeric, has no variance or is a combination of the others.

Examples
--------
>>> res = run_gwas(g, pheno["ldl"], covariates=pheno[["age", "sex", "PC1", "PC2"]])  # doctest: +SKIP
>>> compute_lambda_gc(res["p_value"])  # doctest: +SKIP
>>> select_lead_variants(res, p_threshold=5e-8, window_kb=500)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from pmo_workbench.errors import InputError
from pmo_workbench.model.gwas_kernels import Design, select_gwas_kernel
from pmo_workbench.model.regression import orthonormal_covariates

GWAS_COLUMNS = ["contig", "position", "id", "alleles", "beta", "se", "t_stat", "z_stat", "p_value", "n", "AF",
                "variant_index"]
"""Columns of a GWAS table (``t_stat`` for linear, ``z_stat`` plus ``firth``/``converged`` for logistic)."""
GENOME_WIDE = 5e-8


def _align(g: Any, phenotype: pd.Series, covariates: pd.DataFrame | None, samples: Any, model: str
           ) -> tuple[Design, dict[str, int]]:
    if not isinstance(phenotype, pd.Series):
        raise InputError("the phenotype must be a pandas Series indexed by sample_id", field="phenotype")
    name = str(phenotype.name or "phenotype")
    sample_id = pd.Index(np.asarray(g.sample_id, dtype=str))
    pheno = phenotype.copy()
    pheno.index = pheno.index.astype(str)
    if pheno.index.duplicated().any():
        raise InputError("a sample appears twice in the phenotype", field=name)
    overlap = sample_id.isin(pheno.index)
    if not overlap.any():
        raise InputError("the phenotype's IDs match no sample of the genotypes (index by sample_id, not "
                         "person_id)", field=name)
    keep = overlap.copy()
    counts = {"samples in genotypes": len(sample_id), "with phenotype": int(overlap.sum())}
    if samples is not None:
        chosen = sample_id.isin(pd.Index(list(map(str, samples))))
        if not chosen.any():
            raise InputError("the samples given match no sample of the genotypes", field="samples")
        keep &= chosen
        counts["in the chosen samples"] = int(keep.sum())
    values = pd.to_numeric(pheno.reindex(sample_id), errors="coerce")
    if pheno.reindex(sample_id[keep]).notna().sum() != values[keep].notna().sum():
        raise InputError("phenotype values are not numeric", field=name)
    keep &= values.notna().to_numpy()
    cov = None
    cov_names: list[str] = []
    if covariates is not None and len(covariates.columns):
        cov_frame = covariates.copy()
        cov_frame.index = cov_frame.index.astype(str)
        if cov_frame.index.duplicated().any():
            raise InputError("a sample appears twice in the covariates", field="covariates")
        cov_frame = cov_frame.reindex(sample_id)
        for col in cov_frame.columns:
            if cov_frame[col].dtype == bool:
                cov_frame[col] = cov_frame[col].astype(float)
            if not pd.api.types.is_numeric_dtype(cov_frame[col]):
                raise InputError("covariate is not numeric (encode categories as 0/1 columns)", field=str(col))
        keep &= cov_frame.notna().all(axis=1).to_numpy()
        cov = cov_frame.to_numpy(dtype=float)
        cov_names = [str(c) for c in cov_frame.columns]
    counts["with phenotype and covariates"] = int(keep.sum())
    cols = np.flatnonzero(keep)
    y = values.to_numpy(dtype=float)[cols]
    if len(cols) == 0:
        raise InputError("no sample has the phenotype and every covariate", field=name)
    if model == "logistic":
        if not np.isin(y, (0.0, 1.0)).all():
            raise InputError("a logistic model needs a 0/1 phenotype (1 = case)", field=name)
        if y.sum() == 0:
            raise InputError("no cases (phenotype 1) among the analysed samples", field=name)
        if y.sum() == len(y):
            raise InputError("no controls (phenotype 0) among the analysed samples", field=name)
    elif np.ptp(y) == 0:
        raise InputError("the phenotype has one value only among the analysed samples", field=name)
    C = np.ones((len(cols), 1))
    if cov is not None:
        X = cov[cols]
        for j, col in enumerate(cov_names):
            if np.ptp(X[:, j]) == 0:
                raise InputError("covariate has no variance among the analysed samples", field=col)
        C = np.column_stack([C, X])
        rank = np.linalg.matrix_rank(C)
        if rank < C.shape[1]:
            for j in range(C.shape[1] - 1, 0, -1):  # name the last column that the others explain
                if np.linalg.matrix_rank(np.delete(C, j, axis=1)) == rank:
                    raise InputError("covariate is a linear combination of the others (collinear)",
                                     field=cov_names[j - 1])
    if len(cols) <= C.shape[1] + 1:
        raise InputError(f"{len(cols)} samples are too few for {C.shape[1] - 1} covariates", field=name)
    Q = orthonormal_covariates(C)
    y_r = y - Q @ (Q.T @ y)
    return Design(cols, y, C, Q, y_r), counts


def run_gwas(g: Any, phenotype: pd.Series, covariates: pd.DataFrame | None = None,
             model: Literal["linear", "logistic"] = "linear", samples: Any = None, *,
             missing: Literal["drop", "mean"] = "drop", firth: Literal["fallback", "always", "never"] = "fallback",
             variant_mask: np.ndarray | None = None, min_mac: int = 1) -> pd.DataFrame:
    """Per-variant regression of ``phenotype`` on each biallelic variant with ``covariates``.

    Parameters
    ----------
    g
        Genotypes (embedded or Hail backend).
    phenotype
        Values indexed by ``sample_id`` (0/1 for ``logistic``).
    covariates
        Numeric columns indexed by ``sample_id`` (an intercept is added).
    model
        ``"linear"`` or ``"logistic"``.
    samples
        Restrict to these sample IDs (e.g. QC-passing, unrelated: :func:`select_analysis_samples`).
    missing
        ``"drop"`` (plink2) or ``"mean"`` (Hail) for missing genotype calls.
    firth
        Logistic only: ``"fallback"``, ``"always"`` or ``"never"``.
    variant_mask
        Test only these variants (bool per row of ``g.variants``), e.g. the QC-passing ones.
    min_mac
        Skip variants whose minor allele count among the analysed samples is below this (they get no row).

    Returns
    -------
    DataFrame
        :data:`GWAS_COLUMNS` (see the module docstring); ``attrs`` hold the sample counts and settings.
    """
    if model not in ("linear", "logistic"):
        raise InputError(f"unknown model {model!r} (linear or logistic)", field="model")
    if missing not in ("drop", "mean"):
        raise InputError(f"unknown missing-genotype policy {missing!r} (drop or mean)", field="missing")
    design, counts = _align(g, phenotype, covariates, samples, model)
    variants = g.variants
    mask = (variants["n_alleles"].to_numpy() == 2)
    if variant_mask is not None:
        vm = np.asarray(variant_mask, dtype=bool)
        if vm.shape != mask.shape:
            raise InputError(f"variant_mask has {vm.shape[0]} elements, the genotypes {mask.shape[0]} variants",
                             field="variant_mask")
        mask &= vm
    index = np.flatnonzero(mask)
    kernel = select_gwas_kernel(g, model)
    res = kernel(g, design, index, missing=missing, firth=firth)
    if not res:
        table = pd.DataFrame(columns=GWAS_COLUMNS)
    else:
        vi = res["variant_index"]
        v = variants.iloc[vi]
        table = pd.DataFrame({
            "contig": v["contig"].to_numpy(), "position": v["position"].to_numpy(np.int64),
            "id": v["id"].to_numpy(), "alleles": (v["ref"].astype(str) + "," + v["alt"].astype(str)).to_numpy(),
            **{c: res[c] for c in res if c != "variant_index"}, "variant_index": vi})
        mac = np.minimum(table["AF"], 1 - table["AF"]) * 2 * table["n"]
        table = table[(mac.round() >= min_mac) & table["AF"].notna()].reset_index(drop=True)
    order = [c for c in GWAS_COLUMNS if c in table.columns] + [c for c in table.columns if c not in GWAS_COLUMNS]
    table = table[order]
    table.attrs.update({"model": model, "missing": missing, "firth": firth if model == "logistic" else None,
                        "samples": counts, "n_analysed": design.n,
                        "covariates": [] if covariates is None else [str(c) for c in covariates.columns],
                        "backend": getattr(g, "backend", "embedded")})
    return table


def compute_lambda_gc(p_values: pd.Series | np.ndarray) -> float:
    """Genomic inflation λGC: median χ²(1) of the p-values over its expected median (0.4549).

    Examples
    --------
    >>> round(compute_lambda_gc(np.linspace(0.0005, 0.9995, 1000)), 3)
    1.0
    """
    p = np.asarray(p_values, dtype=float)
    p = p[np.isfinite(p) & (p > 0)]
    if len(p) == 0:
        return float("nan")
    return float(np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1))


def select_lead_variants(gwas: pd.DataFrame, *, p_threshold: float = GENOME_WIDE, window_kb: float = 500,
                         genotypes: Any = None, r2_threshold: float = 0.1, samples: Any = None) -> pd.DataFrame:
    """Lead variants: the most significant variant, then every variant within ``window_kb`` of it is clumped
    into it; repeat. With ``genotypes`` (an LD source) a variant in the window is clumped only when its r² with
    the lead exceeds ``r2_threshold`` (LD clumping, as plink ``--clump``); otherwise by distance alone.

    Returns the leads (rows of ``gwas``) with ``n_clumped`` and ``clump_start``/``clump_end`` positions.
    """
    sig = gwas[gwas["p_value"] <= p_threshold].sort_values("p_value", kind="stable")
    if sig.empty:
        return sig.assign(n_clumped=pd.Series(dtype=int), clump_start=pd.Series(dtype=int),
                          clump_end=pd.Series(dtype=int))
    window = int(window_kb * 1000)
    remaining = sig.copy()
    leads = []
    ld = _LdSource(genotypes, samples) if genotypes is not None else None
    while not remaining.empty:
        lead = remaining.iloc[0]
        near = remaining[(remaining["contig"] == lead["contig"])
                         & ((remaining["position"] - lead["position"]).abs() <= window)]
        if ld is not None and len(near) > 1:
            r2 = ld.r2(int(lead["variant_index"]), near["variant_index"].to_numpy(np.int64))
            near = near[(r2 > r2_threshold) | (near.index == lead.name)]
        leads.append({**lead.to_dict(), "n_clumped": len(near) - 1, "clump_start": int(near["position"].min()),
                      "clump_end": int(near["position"].max())})
        remaining = remaining.drop(near.index)
    return pd.DataFrame(leads).reset_index(drop=True)


class _LdSource:
    """r² between variants from the genotypes' dosages (missing calls left out pairwise)."""

    def __init__(self, g: Any, samples: Any) -> None:
        self.g = g
        ids = np.asarray(g.sample_id, dtype=str)
        self.cols = np.flatnonzero(np.isin(ids, list(map(str, samples)))) if samples is not None else \
            np.arange(len(ids))

    def _dosage(self, index: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.g.n_variants, dtype=bool)
        mask[index] = True
        rows, out = [], []
        for variants, d, pl in self.g.dosage_chunks(4096, variant_mask=mask):
            rows.append(self.g.variants.index.get_indexer(variants.index))
            out.append(np.where(pl[:, self.cols] > 0, d[:, self.cols], -1).astype(float))
        order = np.concatenate(rows)
        data = np.concatenate(out)
        pos = {int(r): i for i, r in enumerate(order)}
        return data[[pos[int(i)] for i in index]]

    def r2(self, lead: int, others: np.ndarray) -> np.ndarray:
        x = self._dosage(np.concatenate([[lead], others]))
        a = x[0]
        out = np.empty(len(others))
        for j in range(len(others)):
            b = x[j + 1]
            ok = (a >= 0) & (b >= 0)
            if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
                out[j] = 0.0
            else:
                out[j] = np.corrcoef(a[ok], b[ok])[0, 1] ** 2
        return out


def select_analysis_samples(project: Any, *, unrelated: bool = True) -> tuple[list[str], dict[str, Any]]:
    """QC-passing (and, by default, unrelated) sample IDs from the project's latest succeeded WGS QC run.

    Unrelated: a greedy maximal set with no pair closer than third degree in the run's ``kinship.parquet``
    (each pair loses the sample with more relatives, ties broken by ID).

    Returns the samples and a summary (run folder, counts).

    Raises
    ------
    ConfigError
        The project has no WGS QC run with ``qc_decisions.parquet``.
    """
    from pmo_workbench.catalogue import latest_run_dir
    from pmo_workbench.errors import ConfigError
    from pmo_workbench.project import as_project

    proj = as_project(project)
    run = latest_run_dir(proj, "wgs_qc", "qc_decisions.parquet")
    if run is None:
        raise ConfigError("no WGS QC run with qc_decisions.parquet: run `pmo run wgs_qc` first",
                          file=proj.runs_dir / "wgs_qc", field="qc_run")
    return select_samples_from_run(run, unrelated=unrelated)


def select_samples_from_run(run: str | Path, *, unrelated: bool = True) -> tuple[list[str], dict[str, Any]]:
    """QC-passing (and unrelated) samples of one WGS QC run folder (see :func:`select_analysis_samples`)."""
    run = Path(run)
    decisions = pd.read_parquet(run / "qc_decisions.parquet")
    passing = decisions.loc[decisions["pass"].fillna(False).astype(bool), "sample_id"].astype(str).tolist()
    summary: dict[str, Any] = {"qc_run": run.name, "samples": len(decisions), "passing": len(passing)}
    chosen = set(passing)
    kin_path = run / "kinship.parquet"
    if unrelated and kin_path.exists():
        kin = pd.read_parquet(kin_path)
        rel = kin[(kin["relationship"].astype(str) != "unrelated") & kin["sample_i"].astype(str).isin(chosen)
                  & kin["sample_j"].astype(str).isin(chosen)]
        pairs = list(zip(rel["sample_i"].astype(str), rel["sample_j"].astype(str), strict=True))
        degree: dict[str, int] = {}
        for a, b in pairs:
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
        removed: set[str] = set()
        for a, b in sorted(pairs, key=lambda p: (-max(degree[p[0]], degree[p[1]]), p)):
            if a in removed or b in removed:
                continue
            drop = a if (degree[a], a) > (degree[b], b) else b
            removed.add(drop)
        chosen -= removed
        summary["removed as related"] = len(removed)
    summary["analysed"] = len(chosen)
    return sorted(chosen), summary
