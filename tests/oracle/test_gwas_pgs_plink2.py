"""GWAS against plink2 --glm (linear; logistic without and with Firth) and PGS against plink2 --score.

Real data: 1000 Genomes phase 3 chr22 (1126 samples, 12 populations) with UW-GAC's simulated ``outcome`` and
``status`` phenotypes; synthetic data with missing calls (the session's small project) for the missing-genotype
policy. plink2 prints six significant digits: β and SE are compared at 1e-4 relative (well above that), and
PGS sums with integer weights, which plink2 prints exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.model.gwas import run_gwas
from pmo_workbench.model.pgs import score_pgs

REL = 1e-4
bcftools_subset = plink2 = read_plink_table = None  # bound by _bind_tools


@pytest.fixture(autouse=True, scope="module")
def _bind_tools(tools) -> None:
    """Bind the conftest helpers to module names (conftest cannot be imported by name)."""
    global bcftools_subset, plink2, read_plink_table
    bcftools_subset, plink2, read_plink_table = tools.bcftools_subset, tools.plink2, tools.read_plink_table


def _open(path: Path, cache: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(path, cache_dir=cache)


def _ids(table: pd.DataFrame) -> pd.Series:
    return (table["contig"].astype(str).str.replace("chr", "") + ":" + table["position"].astype(str) + ":"
            + table["alleles"].str.replace(",", ":"))


@pytest.fixture(scope="module")
def phase3(shared: Path, oracle_dir: Path, genotype_cache: Path):
    src = shared / "1kg_phase3_subset_1126" / "1KG_phase3_subset_chr22.vcf.gz"
    vcf = bcftools_subset(src, oracle_dir / "gwas_chr22.vcf.gz", "-m2", "-M2")
    annot = pd.read_csv(shared / "1kg_phase3_subset_1126" / "1KG_phase3_subset_annot.tsv", sep="\t")
    annot = annot.set_index("sample.id")
    cov = pd.DataFrame({"male": (annot["sex"] == "M").astype(float),
                        **{f"pop_{p}": (annot["Population"] == p).astype(float) for p in ("YRI", "CHB", "GIH")}},
                       index=annot.index)
    pheno = pd.DataFrame({"#IID": annot.index, "outcome": annot["outcome"], "status": annot["status"] + 1})
    pheno_file = oracle_dir / "gwas_pheno.txt"
    pheno.to_csv(pheno_file, sep="\t", index=False)
    cov_file = oracle_dir / "gwas_cov.txt"
    cov.rename_axis("#IID").reset_index().to_csv(cov_file, sep="\t", index=False)
    pfile = plink2(["--vcf", str(vcf), "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "--make-pgen"], oracle_dir / "gwas22")
    return {"g": _open(vcf, genotype_cache), "annot": annot, "cov": cov, "pheno": pheno_file, "cov_file": cov_file,
            "pfile": pfile, "dir": oracle_dir}


def _glm(ph, name: str, modifiers: list[str]) -> pd.DataFrame:
    out = plink2(["--pfile", str(ph["pfile"]), "--glm", "hide-covar", "omit-ref", "cols=+beta,+firth,+a1freq",
                  *modifiers, "--pheno", str(ph["pheno"]), "--pheno-name", name, "--covar", str(ph["cov_file"])],
                 ph["dir"] / f"glm_{name}_{'_'.join(modifiers) or 'default'}")
    path = next(Path(out).parent.glob(f"{Path(out).name}.{name}.glm.*"))
    t = read_plink_table(path)
    return t[t["TEST"] == "ADD"].set_index("ID")


def test_linear_gwas_equals_plink2(phase3) -> None:
    ours = run_gwas(phase3["g"], phase3["annot"]["outcome"], phase3["cov"])
    ref = _glm(phase3, "outcome", [])
    m = ours.assign(ID=_ids(ours)).set_index("ID").join(ref, how="inner")
    # plink2 lists monomorphic variants with an error code; run_gwas leaves them out (min_mac=1)
    assert len(m) == len(ours) == ref["ERRCODE"].eq(".").sum() > 1000
    np.testing.assert_allclose(m["beta"], m["BETA"], rtol=REL)
    np.testing.assert_allclose(m["se"], m["SE"], rtol=REL)
    np.testing.assert_allclose(m["t_stat"], m["T_STAT"], rtol=REL, atol=1e-5)
    np.testing.assert_allclose(m["p_value"], m["P"], rtol=1e-3)
    assert (m["n"] == m["OBS_CT"]).all()
    np.testing.assert_allclose(m["AF"], m["A1_FREQ"], atol=1e-6)


def test_logistic_gwas_without_firth_equals_plink2(phase3) -> None:
    ours = run_gwas(phase3["g"], phase3["annot"]["status"], phase3["cov"], model="logistic", firth="never")
    ref = _glm(phase3, "status", ["no-firth"])
    m = ours.assign(ID=_ids(ours)).set_index("ID").join(ref, how="inner")
    # rare variants: plink2 reports separation where our fit does not converge (no estimate either way)
    separated = m["ERRCODE"].str.startswith("SEPARATION")
    assert separated.sum() > 100 and not m.loc[separated, "converged"].any()
    good = m["ERRCODE"].eq(".") & m["converged"]
    assert good.sum() >= 0.97 * m["ERRCODE"].eq(".").sum() > 300
    np.testing.assert_allclose(m.loc[good, "beta"], m.loc[good, "BETA"], rtol=REL, atol=1e-6)
    np.testing.assert_allclose(m.loc[good, "se"], m.loc[good, "SE"], rtol=REL)
    np.testing.assert_allclose(m.loc[good, "z_stat"], m.loc[good, "Z_STAT"], rtol=REL, atol=1e-5)


@pytest.mark.parametrize(("firth", "modifier"), [("fallback", "firth-fallback"), ("always", "firth")])
def test_firth_gwas_equals_plink2(phase3, firth: str, modifier: str) -> None:
    """plink2 2.00a3.5 converges its Firth fits less tightly than its ordinary ones: its estimates sit up to 7e-4
    from the penalised-likelihood maximum, which ours reach (tests/unit/test_model_gwas.py checks that against a
    general-purpose optimiser). So β is compared within 0.2 % of its standard error, SE within 0.2 %."""
    status = phase3["annot"]["status"].copy()
    # a rarer outcome so that many variants have an empty allele-count cell
    status[:] = 0
    status.iloc[::15] = 1
    ph = dict(phase3)
    pheno = pd.read_csv(phase3["pheno"], sep="\t")
    pheno["rare"] = status.reindex(pheno["#IID"]).to_numpy() + 1
    ph["pheno"] = phase3["dir"] / "gwas_pheno_rare.txt"
    pheno.to_csv(ph["pheno"], sep="\t", index=False)
    ours = run_gwas(phase3["g"], status.rename("rare"), phase3["cov"], model="logistic", firth=firth)
    ref = _glm(ph, "rare", [modifier])
    m = ours.assign(ID=_ids(ours)).set_index("ID").join(ref, how="inner")
    good = m["ERRCODE"].eq(".") & m["beta"].notna()
    if firth == "fallback":
        # Firth for the same variants (an empty allele-count cell, or a failed ordinary fit), except a few where
        # every carrier is a case and plink2 keeps an ordinary "estimate" (that likelihood has no maximum)
        same = m["firth"] == m["FIRTH?"].eq("Y")
        assert same.mean() > 0.95 and m["firth"].sum() > 20
        differ = m[~same]
        assert (differ["firth"] & differ["FIRTH?"].eq("N")).all()
        carriers_all_cases = differ["AF"] * 2 * differ["n"] <= 4  # one or two carriers, all cases here
        assert carriers_all_cases.all()
        good &= same
    g = m[good]
    assert (np.abs(g["beta"] - g["BETA"]) <= 2e-3 * g["SE"]).all()  # within 0.2 % of a standard error
    np.testing.assert_allclose(g["se"], g["SE"], rtol=2e-3)
    np.testing.assert_allclose(g["beta"], g["BETA"], rtol=0.02, atol=1e-3)


def test_missing_calls_are_dropped_per_variant_as_plink2(small_project: Path, oracle_dir: Path,
                                                        genotype_cache: Path) -> None:
    vcf = bcftools_subset(small_project / "data" / "genotypes" / "cohort.vcf.gz", oracle_dir / "small_bi.vcf.gz",
                          "-m2", "-M2", "-t", "^chrX")
    g = _open(vcf, genotype_cache)
    ids = np.asarray(g.sample_id)
    rng = np.random.default_rng(4)
    cov = pd.DataFrame({"c1": rng.normal(size=len(ids)), "c2": rng.normal(size=len(ids))}, index=ids)
    y = pd.Series(cov["c1"] + rng.normal(size=len(ids)), index=ids, name="y")
    ours = run_gwas(g, y, cov)
    pd.DataFrame({"#IID": ids, "y": y.to_numpy()}).to_csv(oracle_dir / "small_y.txt", sep="\t", index=False)
    cov.rename_axis("#IID").reset_index().to_csv(oracle_dir / "small_cov.txt", sep="\t", index=False)
    pfile = plink2(["--vcf", str(vcf), "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "--make-pgen"], oracle_dir / "small_bi")
    out = plink2(["--pfile", str(pfile), "--glm", "hide-covar", "omit-ref", "cols=+beta", "--pheno",
                  str(oracle_dir / "small_y.txt"), "--covar", str(oracle_dir / "small_cov.txt")],
                 oracle_dir / "small_glm")
    ref = read_plink_table(Path(f"{out}.y.glm.linear")).set_index("ID")
    m = ours.assign(ID=_ids(ours)).set_index("ID").join(ref, how="inner")
    assert (m["n"] < len(ids)).mean() > 0.2  # many variants have missing calls
    assert (m["n"] == m["OBS_CT"]).all()
    ok = m["ERRCODE"].eq(".")
    np.testing.assert_allclose(m.loc[ok, "beta"], m.loc[ok, "BETA"], rtol=REL)
    np.testing.assert_allclose(m.loc[ok, "se"], m.loc[ok, "SE"], rtol=REL)


def test_pgs_sums_equal_plink2_score(small_project: Path, oracle_dir: Path, genotype_cache: Path) -> None:
    """Integer weights (exact in plink2's output), effect alleles on both REF and ALT, missing calls: sums with
    and without mean imputation, averages and allele counts."""
    vcf = bcftools_subset(small_project / "data" / "genotypes" / "cohort.vcf.gz", oracle_dir / "small_bi.vcf.gz",
                          "-m2", "-M2", "-t", "^chrX")
    g = _open(vcf, genotype_cache)
    pfile = plink2(["--vcf", str(vcf), "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "--make-pgen"], oracle_dir / "small_bi")
    v = g.variants.sample(1500, random_state=3)
    rng = np.random.default_rng(5)
    effect = np.where(rng.random(len(v)) < 0.5, v["ref"], v["alt"])
    other = np.where(effect == v["ref"], v["alt"], v["ref"])
    weight = rng.integers(-3, 4, len(v))
    ids = v["contig"].str.replace("chr", "") + ":" + v["position"].astype(str) + ":" + v["ref"] + ":" + v["alt"]
    pd.DataFrame({"ID": ids, "A1": effect, "W": weight}).to_csv(oracle_dir / "score.txt", sep="\t", index=False)
    score_file = oracle_dir / "INT_hmPOS_GRCh38.txt"
    with open(score_file, "w") as fh:
        fh.write("#pgs_id=INT1\n#trait_reported=test\n#genome_build=GRCh38\n")
        pd.DataFrame({"chr_name": v["contig"].str.replace("chr", ""), "chr_position": v["position"],
                      "effect_allele": effect, "other_allele": other, "effect_weight": weight}).to_csv(
            fh, sep="\t", index=False)
    for missing, extra in (("zero", ["no-mean-imputation"]), ("mean", [])):
        out = plink2(["--pfile", str(pfile), "--score", str(oracle_dir / "score.txt"), "1", "2", "3", "header",
                      "cols=+scoresums,+denom", *extra], oracle_dir / f"score_{missing}")
        ref = read_plink_table(Path(f"{out}.sscore")).set_index("IID")
        res = score_pgs(g, score_file, keep_ambiguous=True, missing=missing).scores.set_index("sample_id")
        m = res.join(ref, how="inner")
        assert len(m) == g.n_samples
        assert (m["n_variants"] * 2 == m["ALLELE_CT"]).all()
        if missing == "zero":
            np.testing.assert_array_equal(m["score_sum"].round(9), m["SCORE1_SUM"])
        else:
            np.testing.assert_allclose(m["score_sum"], m["SCORE1_SUM"], rtol=5e-6, atol=5e-6)
        np.testing.assert_allclose(m["score_avg"], m["SCORE1_AVG"], rtol=5e-6, atol=1e-9)
