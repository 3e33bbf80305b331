"""GWAS: per-variant regressions equal to statsmodels (both missing-call policies), Firth at the penalised
likelihood's maximum, bad inputs named, λGC and clumping."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.model import regression as reg
from pmo_workbench.model.gwas import compute_lambda_gc, run_gwas, select_lead_variants

sm = pytest.importorskip("statsmodels.api")


@pytest.fixture(scope="module")
def g(small_project: Path, tmp_path_factory: pytest.TempPathFactory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(small_project / "data" / "genotypes" / "cohort.vcf.gz",
                              cache_dir=tmp_path_factory.mktemp("gwas-cache"))


@pytest.fixture(scope="module")
def data(g):
    ids = np.asarray(g.sample_id)
    rng = np.random.default_rng(11)
    cov = pd.DataFrame({"age": rng.normal(60, 8, len(ids)), "male": rng.integers(0, 2, len(ids)).astype(float)},
                       index=ids)
    y = pd.Series(0.05 * cov["age"] + rng.normal(size=len(ids)), index=ids, name="trait")
    case = pd.Series((rng.random(len(ids)) < 0.45).astype(float), index=ids, name="case")
    return cov, y, case


def _dosage(g, vi: int) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros(g.n_variants, dtype=bool)
    mask[vi] = True
    for _, d, pl in g.dosage_chunks(4, variant_mask=mask):
        return np.where(pl[0] == 1, 2 * d[0], d[0]).astype(float), pl[0] > 0
    raise AssertionError("variant not found")


def test_linear_equals_statsmodels_with_both_missing_policies(g, data) -> None:
    cov, y, _ = data
    drop = run_gwas(g, y, cov)
    mean = run_gwas(g, y, cov, missing="mean")
    assert drop["n"].min() < len(y) and (mean["n"] == len(y)).all()
    with_missing = drop.index[drop["n"] < len(y)][:15].tolist() + drop.index[:5].tolist()
    for i in with_missing:
        vi = int(drop.loc[i, "variant_index"])
        x, called = _dosage(g, vi)
        X = np.column_stack([np.ones(len(x)), cov.to_numpy(), x])
        fit = sm.OLS(y.to_numpy()[called], X[called]).fit()
        assert drop.loc[i, "beta"] == pytest.approx(fit.params[-1], rel=1e-9)
        assert drop.loc[i, "se"] == pytest.approx(fit.bse[-1], rel=1e-9)
        assert drop.loc[i, "p_value"] == pytest.approx(fit.pvalues[-1], rel=1e-6)
        assert drop.loc[i, "n"] == called.sum()
        imputed = np.where(called, x, x[called].mean())
        Xm = np.column_stack([np.ones(len(x)), cov.to_numpy(), imputed])
        fm = sm.OLS(y.to_numpy(), Xm).fit()
        row = mean[mean["variant_index"] == vi].iloc[0]
        assert row["beta"] == pytest.approx(fm.params[-1], rel=1e-9)
        assert row["se"] == pytest.approx(fm.bse[-1], rel=1e-9)


def test_logistic_equals_statsmodels_and_firth_reaches_the_penalised_maximum(g, data) -> None:
    cov, _, case = data
    res = run_gwas(g, case, cov, model="logistic", firth="fallback")
    common = res[(res["AF"] > 0.1) & (res["AF"] < 0.9) & ~res["firth"]].head(8)
    assert len(common) == 8 and common["converged"].all()
    for _, row in common.iterrows():
        x, called = _dosage(g, int(row["variant_index"]))
        X = np.column_stack([np.ones(len(x)), cov.to_numpy(), x])[called]
        fit = sm.Logit(case.to_numpy()[called], X).fit(disp=0, tol=1e-12, maxiter=100)
        assert row["beta"] == pytest.approx(fit.params[-1], rel=1e-7)
        assert row["se"] == pytest.approx(fit.bse[-1], rel=1e-6)
        assert row["z_stat"] == pytest.approx(fit.tvalues[-1], rel=1e-6)
    firth = res[res["firth"]].head(6)
    assert len(firth) >= 3
    for _, row in firth.iterrows():
        x, called = _dosage(g, int(row["variant_index"]))
        D = np.column_stack([np.ones(len(x)), cov.to_numpy(), x])[called]
        yy = case.to_numpy()[called]

        def negative_penalised(b: np.ndarray, D: np.ndarray = D, yy: np.ndarray = yy) -> float:
            eta = D @ b
            p = special.expit(eta)
            info = D.T @ (D * (p * (1 - p))[:, None])
            return -(np.sum(yy * eta - np.logaddexp(0, eta)) + 0.5 * np.linalg.slogdet(info)[1])

        opt = optimize.minimize(negative_penalised, np.zeros(D.shape[1]), method="BFGS",
                                options={"gtol": 1e-9, "maxiter": 2000})
        assert row["beta"] == pytest.approx(opt.x[-1], abs=2e-5 * max(1, abs(opt.x[-1])))
        assert -negative_penalised(opt.x) <= -negative_penalised(np.r_[opt.x[:-1], row["beta"]]) + 1e-6


def test_firth_batch_equals_single_fits() -> None:
    rng = np.random.default_rng(2)
    n = 200
    C = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = (rng.random(n) < 0.2).astype(float)
    X = rng.binomial(2, [[0.003], [0.05], [0.3]], size=(3, n)).astype(float)
    X[0, :] = 0
    X[0, np.flatnonzero(y == 1)[0]] = 1  # one carrier, a case: separation
    W = np.ones_like(X)
    W[2, :10] = 0
    batch = reg.fit_firth_batch(C, y, X, W)
    for i in range(3):
        single = reg.fit_firth(C, y, X[i], W[i])
        assert single.converged and batch.converged[i]
        assert batch.beta[i] == pytest.approx(single.beta, rel=1e-6)
        assert batch.se[i] == pytest.approx(single.se, rel=1e-6)
    plain = reg.fit_logistic(C, y, X, W)
    assert not plain.converged[0] and plain.converged[1:].all()


@pytest.mark.parametrize(("kind", "message", "field"), [
    ("ids", "IDs match no sample of the genotypes", "trait"),
    ("constant", "phenotype has one value only", "trait"),
    ("no_cases", "no cases", "case"),
    ("not_binary", "needs a 0/1 phenotype", "trait"),
    ("flat_covariate", "covariate has no variance", "flat"),
    ("text_covariate", "covariate is not numeric", "region"),
    ("collinear", "linear combination of the others", "age2"),
])
def test_bad_inputs_name_the_problem_and_the_column(g, data, kind, message, field) -> None:
    cov, y, case = data
    model = "linear"
    if kind == "ids":
        y = y.set_axis([f"person{i}" for i in range(len(y))])
    elif kind == "constant":
        y = y * 0 + 2
    elif kind == "no_cases":
        y, model = case * 0, "logistic"
    elif kind == "not_binary":
        model = "logistic"
    elif kind == "flat_covariate":
        cov = cov.assign(flat=1.0)
    elif kind == "text_covariate":
        cov = cov.assign(region="Region Sjælland")
    elif kind == "collinear":
        cov = cov.assign(age2=2 * cov["age"])
    with pytest.raises(InputError, match=f"field {field}: .*{message}"):
        run_gwas(g, y, cov, model=model)


def test_haploid_calls_are_coded_0_2_and_samples_restrict(g, data) -> None:
    cov, y, _ = data
    x_rows = (g.variants["contig"] == "chrX").to_numpy()
    res = run_gwas(g, y, cov, variant_mask=x_rows)
    assert len(res) > 0 and res["contig"].eq("chrX").all()
    vi = int(res["variant_index"].iloc[0])
    x, called = _dosage(g, vi)
    fit = sm.OLS(y.to_numpy()[called], np.column_stack([np.ones(len(x)), cov.to_numpy(), x])[called]).fit()
    assert res["beta"].iloc[0] == pytest.approx(fit.params[-1], rel=1e-9)
    half = list(np.asarray(g.sample_id)[::2])
    sub = run_gwas(g, y, cov, samples=half)
    assert sub.attrs["n_analysed"] == len(half) and sub["n"].max() <= len(half)


def test_lambda_gc_and_clumping() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=20000)
    assert compute_lambda_gc(p) == pytest.approx(1.0, abs=0.03)
    inflated = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(rng.normal(size=20000) * 1.2)))
    assert compute_lambda_gc(inflated) == pytest.approx(1.44, abs=0.05)
    gwas = pd.DataFrame({"contig": ["1"] * 5 + ["2"], "position": [100_000, 150_000, 900_000, 1_000_000,
                                                                  2_000_000, 100_000],
                         "p_value": [1e-10, 1e-9, 1e-3, 1e-12, 1e-8, 4e-8], "variant_index": range(6)})
    leads = select_lead_variants(gwas, p_threshold=5e-8, window_kb=500)
    assert leads["position"].tolist() == [1_000_000, 100_000, 2_000_000, 100_000]
    assert leads["contig"].tolist() == ["1", "1", "1", "2"]
    assert leads["n_clumped"].tolist() == [0, 1, 0, 0]  # 2 Mb is outside 1 Mb's window; 150 kb joins 100 kb
    assert select_lead_variants(gwas, p_threshold=1e-20).empty
