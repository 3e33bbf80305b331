"""The model track's Hail kernels give the embedded backend's GWAS and PGS tables (same rows, same numbers).

Data: hail_1kg_chr20_100 (100 samples, missing calls, GATK FILTERs; simulated phenotypes and covariates on all
samples, as the Hail developers' annotation covers only 22 unprefixed IDs), and tiny1000G (3202 samples) with
PGS001229.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.model.gwas import run_gwas
from pmo_workbench.model.pgs import score_pgs

HAIL_VCF = "hail_1kg_chr20_100/sample.vcf.gz"


@pytest.fixture(scope="module")
def pheno(opened) -> tuple[pd.DataFrame, pd.DataFrame]:
    h, e = opened(HAIL_VCF)
    ids = pd.Index(np.asarray(e.sample_id))
    rng = np.random.default_rng(3)
    cov = pd.DataFrame({"c1": rng.normal(size=len(ids)), "c2": rng.normal(size=len(ids))}, index=ids)
    ann = pd.DataFrame({"qPhen": cov["c1"] + rng.normal(size=len(ids)),
                        "case": (rng.random(len(ids)) < 1 / (1 + np.exp(-cov["c1"]))).astype(float)}, index=ids)
    return ann, cov


def _same(a: pd.DataFrame, b: pd.DataFrame, cols: list[str], rtol: float, atol: float = 1e-10) -> None:
    a = a.set_index("variant_index")
    b = b.set_index("variant_index")
    assert a.index.equals(b.index) and len(a) > 100
    for c in cols:
        np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=c)


@pytest.mark.parametrize("missing", ["mean", "drop"])
def test_linear_gwas_hail_equals_embedded(opened, pheno, missing: str) -> None:
    h, e = opened(HAIL_VCF)
    ann, cov = pheno
    y = ann["qPhen"].rename("qPhen")
    a = run_gwas(e, y, cov, missing=missing)
    b = run_gwas(h, y, cov, missing=missing)
    assert b.attrs["backend"] == "hail"
    if missing == "drop":
        assert (a["n"] < a.attrs["n_analysed"]).any()  # missing calls matter here
    _same(a, b, ["beta", "se", "t_stat", "p_value", "n", "AF"], 1e-6)


def test_logistic_gwas_hail_equals_embedded(opened, pheno) -> None:
    h, e = opened(HAIL_VCF)
    ann, cov = pheno
    y = ann["case"]
    a = run_gwas(e, y, cov, model="logistic", missing="mean", firth="never")
    b = run_gwas(h, y, cov, model="logistic", missing="mean", firth="never")
    ok = a["converged"].to_numpy() & b["converged"].to_numpy()
    # rare variants in 100 samples do not converge (separation) in either backend
    assert ok.sum() > 100 and (a["converged"].to_numpy() == b["converged"].to_numpy()).mean() > 0.9
    # Hail stops Newton at a parameter change of 1e-6: tiny estimates agree to ~1e-7 absolute
    _same(a[ok], b[ok], ["beta", "se", "z_stat", "p_value"], 1e-5, atol=1e-6)
    from pmo_workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="missing='mean'"):
        run_gwas(h, y, cov, model="logistic", missing="drop")


@pytest.mark.parametrize("missing", ["mean", "zero"])
def test_pgs_hail_equals_embedded(opened, shared: Path, missing: str) -> None:
    h, e = opened("1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz")
    path = shared / "pgs_catalog" / "PGS001229_hmPOS_GRCh38.normalised.txt.gz"
    a = score_pgs(e, path, min_overlap=0, missing=missing).scores.set_index("sample_id")
    b = score_pgs(h, path, min_overlap=0, missing=missing).scores.set_index("sample_id")
    assert a.index.equals(b.index) and len(a) == 3202
    np.testing.assert_allclose(a["score_sum"], b["score_sum"], rtol=1e-10, atol=1e-12)
    assert (a["n_variants"] == b["n_variants"]).all()
