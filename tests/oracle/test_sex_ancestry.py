"""Sex check against the 1000 Genomes panel and PLINK's ``--check-sex``; ancestry against panel
super-populations."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.qc.ancestry import ancestry, load_population_labels
from pmo_workbench.qc.sex import impute_sex

pytestmark = pytest.mark.oracle

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PHASE3 = SHARED / "1kg_phase3_subset_1126"
ANNOT = PHASE3 / "1KG_phase3_subset_annot.tsv"
PANEL = SHARED / "1kg_sample_labels" / "integrated_call_samples_v3.20130502.ALL.panel"
TINY = SHARED / "1kg_nygc30x_3202_tiny" / "tiny1000G.vcf.gz"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def phase3_manifest() -> pd.DataFrame:
    ann = pd.read_csv(ANNOT, sep="\t")
    return pd.DataFrame({"sample_id": ann["sample.id"], "reported_sex": ann["sex"]})


@pytest.fixture(scope="module")
def phase3_x(cache: Path):
    return open_genotypes(PHASE3 / "1KG_phase3_subset_chrX.vcf.gz", cache_dir=cache)


def test_sex_of_1126_phase3_samples_matches_panel(phase3_x, phase3_manifest: pd.DataFrame) -> None:
    sex = impute_sex(phase3_x, phase3_manifest)
    assert len(sex) == 1126
    rep = sex.set_index("sample_id")["reported_sex"]
    assert rep.value_counts().to_dict() == {"F": 575, "M": 551}
    males = sex[sex.reported_sex == "M"]
    # padded `0/.` male calls are haploid, hence homozygous: F is exactly 1 for every male
    assert (males["f_stat"] == 1.0).all() and (males["genetic_sex"] == "M").all()
    females = sex[sex.reported_sex == "F"]
    # Hail's thresholds (0.2/0.8) never call a panel female male, except NA19332 (below)
    assert set(females.loc[females.genetic_sex == "M", "sample_id"]) == {"NA19332"}
    assert (sex["n_called_x"] == 1006).all()  # the biallelic, polymorphic non-PAR sites
    # This panel has ~1000 X sites and mixes 5 continental groups, so female F is spread (pooled
    # frequencies); with a female bound suited to that spread every female but NA19332 is female.
    wide = impute_sex(phase3_x, phase3_manifest, female_threshold=0.65)
    wrong = set(wide.loc[wide.genetic_sex != wide.reported_sex, "sample_id"])
    assert wrong == {"NA19332"}
    # NA19332 is diploid but strongly homozygous on X in both this call set and the independent NYGC 30x
    # set (see the tiny1000G test): a real discordance that a sex check should flag, not a software error.
    assert wide.set_index("sample_id").loc["NA19332", "f_stat"] > 0.8
    assert bool(wide.set_index("sample_id").loc["NA19332", "mismatch"])


@pytest.mark.skipif(shutil.which("plink2") is None or shutil.which("plink1.9") is None, reason="needs plink")
def test_f_stat_matches_plink_check_sex(phase3_x, phase3_manifest: pd.DataFrame, tmp_path: Path) -> None:
    ann = pd.read_csv(ANNOT, sep="\t")
    (tmp_path / "sex.txt").write_text(
        "".join(
            f"{s}\t{s}\t{1 if x == 'M' else 2}\n" for s, x in zip(ann["sample.id"], ann["sex"], strict=True)
        )
    )
    run = lambda *a: subprocess.run(a, cwd=tmp_path, check=True, capture_output=True, text=True)  # noqa: E731
    run(
        "plink2",
        "--vcf",
        str(PHASE3 / "1KG_phase3_subset_chrX.vcf.gz"),
        "--vcf-half-call",
        "haploid",
        "--double-id",
        "--update-sex",
        "sex.txt",
        "--split-par",
        "b37",
        "--max-alleles",
        "2",
        "--output-chr",
        "26",
        "--make-bed",
        "--out",
        "x0",
    )
    run("plink1.9", "--bfile", "x0", "--make-bed", "--out", "x")  # plink1.9 wants the PAR split sorted
    run("plink1.9", "--bfile", "x", "--check-sex", "--out", "x")
    plink = pd.read_csv(tmp_path / "x.sexcheck", sep=r"\s+")
    ours = impute_sex(phase3_x, phase3_manifest)
    m = ours.merge(plink, left_on="sample_id", right_on="IID")
    assert len(m) == 1126
    # plink prints F with 4 significant digits
    assert np.abs(m["f_stat"] - m["F"]).max() < 1e-4
    # PLINK's default thresholds are 0.2/0.8 too: the same calls
    ours_code = m["genetic_sex"].map({"M": 1, "F": 2, "ambiguous": 0})
    assert (ours_code == m["SNPSEX"]).all()


def test_tiny1000g_flags_hg03511_against_panel(cache: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(TINY, cache_dir=cache, reference_build="GRCh38")
    panel = pd.read_csv(PANEL, sep="\t", usecols=[0, 3], names=["sample_id", "reported_sex"], header=0)
    sex = impute_sex(g, panel).set_index("sample_id")
    assert sex.loc["HG03511", "reported_sex"] == "F"
    assert sex.loc["HG03511", "genetic_sex"] == "M" and bool(sex.loc["HG03511", "mismatch"])
    assert sex.loc["NA19332", "f_stat"] > 0.8  # the same strongly homozygous X as in phase 3
    in_panel = sex[sex.reported_sex.notna()]
    assert len(in_panel) == 2514  # README: 2514 of the 3202 samples are in the panel
    # every panel male is haploid on non-PAR X, so male
    assert (in_panel.loc[in_panel.reported_sex == "M", "genetic_sex"] == "M").all()
    # samples outside the panel have no reported sex and no mismatch verdict
    assert sex.loc[sex.reported_sex.isna(), "mismatch"].isna().all()


@pytest.fixture(scope="module")
def phase3_autosomes(tmp_path_factory: pytest.TempPathFactory, cache: Path):
    if shutil.which("bcftools") is None:
        pytest.skip("needs bcftools")
    d = tmp_path_factory.mktemp("phase3")
    files = [str(PHASE3 / f"1KG_phase3_subset_chr{i}.vcf.gz") for i in range(1, 23)]
    subprocess.run(
        ["bcftools", "concat", "-Oz", "-o", str(d / "auto.vcf.gz"), *files], check=True, capture_output=True
    )
    return open_genotypes(d / "auto.vcf.gz", cache_dir=cache)


def test_ancestry_assigns_held_out_superpopulations(phase3_autosomes) -> None:
    g = phase3_autosomes
    labels = load_population_labels(PANEL)  # super-populations
    ids = np.asarray(g.sample_id).astype(str)
    truth = labels.set_index("sample_id")["population"].reindex(ids).to_numpy()
    train = np.random.default_rng(7).random(len(ids)) < 0.5
    reference = labels[labels.sample_id.isin(ids[train])]
    out = ancestry(g, reference=reference, k=10, min_probability=0.0)
    test = ~train
    accuracy = (out["assigned_population"].to_numpy()[test] == truth[test]).mean()
    assert accuracy > 0.95
    # gnomAD's 0.9 probability bound leaves some samples "other" but those assigned are right
    strict = ancestry(g, reference=reference, k=10)
    assigned = test & (strict["assigned_population"] != "other").to_numpy()
    assert (strict["assigned_population"].to_numpy()[assigned] == truth[assigned]).mean() > 0.98
    assert assigned.sum() / test.sum() > 0.8
    # PC1 separates Africans from the rest (the largest axis of human variation)
    afr = truth == "AFR"
    pc1 = out["PC1"].to_numpy()
    assert abs(pc1[afr].mean() - pc1[~afr].mean()) > 3 * pc1[~afr].std()
    assert out.attrs["n_sites"] > 1000
    assert list(out.columns[:11]) == ["sample_id"] + [f"PC{i}" for i in range(1, 11)]


def test_related_samples_are_projected_not_fitted(phase3_autosomes) -> None:
    g = phase3_autosomes
    ids = np.asarray(g.sample_id).astype(str)
    held = ids[:50]
    full = ancestry(g, k=4)
    proj = ancestry(g, k=4, related=held)
    assert proj["projected"].sum() == 50 and not full["projected"].any()
    # projecting 50 of 1126 barely moves the axes: projected scores track the fitted ones (up to sign)
    for pc in ("PC1", "PC2"):
        r = np.corrcoef(full[pc], proj[pc])[0, 1]
        assert abs(r) > 0.99
