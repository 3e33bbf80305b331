"""The synthetic cohort VCF, checked by independent tools: bcftools, tabix/htslib, plink2 and plink 1.9.

One simulation (120 samples x 15,000 variants) is shared by all tests of this module.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.synth.genomes import simulate_genomes

pytestmark = pytest.mark.oracle

TOOLS = ("bcftools", "tabix", "plink2", "plink1.9")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {missing} (make test installs them)")
    out = tmp_path_factory.mktemp("synth_oracle")
    return simulate_genomes(120, 15_000, 20261126, out)


@pytest.fixture(scope="module")
def truth(sim):
    s = sim.samples.merge(
        sim.individuals[["individual", "population", "sex", "role", "family_id", "father", "mother"]],
        left_on="true_individual",
        right_on="individual",
        suffixes=("", "_true"),
    )
    return s.set_index("sample_id")


@pytest.fixture(scope="module")
def king(sim):
    d = sim.vcf_path.parent
    _run("plink2", "--vcf", sim.vcf_path.name, "--chr", "1-22", "--make-king-table", "--out", "king",
         "--threads", "2", cwd=d)  # fmt: skip
    k = pd.read_csv(d / "king.kin0", sep="\t").rename(columns={"#IID1": "a", "IID2": "b"})
    return {frozenset((a, b)): v for a, b, v in zip(k["a"], k["b"], k["KINSHIP"], strict=True)}


def test_bcftools_reads_without_complaint_and_counts_match(sim):
    d = sim.vcf_path.parent
    view = subprocess.run(["bcftools", "view", "-Ou", "-o", "/dev/null", sim.vcf_path.name], cwd=d,
                          capture_output=True, text=True)  # fmt: skip
    assert view.returncode == 0
    assert view.stderr.strip() == ""
    stats = _run("bcftools", "stats", sim.vcf_path.name, cwd=d).stdout
    sn = {line.split("\t")[2]: int(line.split("\t")[3]) for line in stats.splitlines() if line.startswith("SN\t")}
    assert sn["number of samples:"] == len(sim.samples) == 120
    assert sn["number of records:"] == sim.variants_written == 15_000
    assert sn["number of SNPs:"] == 15_000
    assert sn["number of multiallelic sites:"] == 0
    tstv = next(line.split("\t") for line in stats.splitlines() if line.startswith("TSTV\t"))
    assert 1.8 <= float(tstv[4]) <= 2.3
    names = _run("bcftools", "query", "-l", sim.vcf_path.name, cwd=d).stdout.split()
    assert names == sim.samples["sample_id"].tolist()


def _parse_tbi(path: Path) -> tuple:
    data = gzip.decompress(path.read_bytes())
    p = 4
    n_ref, *cols, l_nm = struct.unpack_from("<8i", data, p)
    p += 32
    names = data[p : p + l_nm].split(b"\0")[:n_ref]
    p += l_nm
    refs = []
    for _ in range(n_ref):
        (n_bin,) = struct.unpack_from("<i", data, p)
        p += 4
        bins = {}
        for _ in range(n_bin):
            b, n_chunk = struct.unpack_from("<Ii", data, p)
            p += 8
            bins[b] = [struct.unpack_from("<QQ", data, p + 16 * i) for i in range(n_chunk)]
            p += 16 * n_chunk
        (n_intv,) = struct.unpack_from("<i", data, p)
        p += 4
        refs.append((bins, struct.unpack_from(f"<{n_intv}Q", data, p)))
        p += 8 * n_intv
    return names, cols, refs


def test_tabix_indexes_it_and_our_index_equals_htslibs(sim, tmp_path):
    copy = tmp_path / "copy.vcf.gz"
    shutil.copy(sim.vcf_path, copy)
    _run("tabix", "-p", "vcf", copy.name, cwd=tmp_path)  # fails unless the file is valid BGZF
    ours, theirs = _parse_tbi(sim.tbi_path), _parse_tbi(Path(str(copy) + ".tbi"))
    assert ours == theirs  # same contigs, bins, chunks and linear index (htslib orders bins by hash)
    region = _run("tabix", sim.vcf_path.name, "chrX:1-2781479", cwd=sim.vcf_path.parent).stdout.splitlines()
    assert len(region) > 0
    assert all(10_001 <= int(line.split("\t")[1]) <= 2_781_479 for line in region)


def test_king_kinship_matches_the_simulated_families(sim, truth, king):
    ind = sim.individuals
    primary = sim.samples.drop_duplicates("individual").set_index("individual")["sample_id"]
    po, sibs = [], []
    for child in ind.index[ind["role"] == "child"]:
        for parent in (ind.at[child, "father"], ind.at[child, "mother"]):
            if parent in primary.index:
                po.append((primary[child], primary[parent]))
    for _, fam in ind[ind["role"] == "child"].groupby("family_id"):
        for a, b in combinations(fam.index, 2):
            sibs.append((primary[a], primary[b]))
    swapped = set(truth.index[truth["problem"] == "sample_swap"])
    true_po = [p for p in po if not (set(p) & swapped)]
    assert len(true_po) >= 2 and len(sibs) >= 2
    for pair in true_po:
        assert 0.18 <= king[frozenset(pair)] <= 0.35, pair
    for pair in sibs:
        assert 0.18 <= king[frozenset(pair)] <= 0.35, pair
    dup = truth.index[truth["problem"] == "duplicate"].tolist()
    assert king[frozenset(dup)] > 0.45
    # the swapped child no longer looks like its labelled parents
    for pair in po:
        if set(pair) & swapped:
            assert king[frozenset(pair)] < 0.1, pair
    # unrelated pairs (different true individuals and families, within the majority population)
    fam = truth["family_id"].where(truth["family_id"].notna(), truth.index.to_series())
    # (problem samples excluded: a contaminated sample carries its contaminant's DNA too)
    neu = truth.index[(truth["population"] == "NEU") & truth["problem"].isna()]
    unrel = [
        v for k, v in king.items()
        if len(k) == 2 and all(x in neu for x in k) and len({fam[x] for x in k}) == 2
        and len({truth.at[x, "true_individual"] for x in k}) == 2
    ]  # fmt: skip
    unrel = np.array(unrel)
    assert len(unrel) > 3_000
    assert abs(np.median(unrel)) < 0.03
    # with 15k SNPs KING's sampling noise is ~0.02; no unrelated pair reaches KING's 2nd-degree cut-off
    assert np.quantile(unrel, 0.95) < 0.05
    assert unrel.max() < 0.0884


def test_plink_het_and_missing_show_the_injected_problems(sim, truth):
    d = sim.vcf_path.parent
    _run("plink2", "--vcf", sim.vcf_path.name, "--chr", "1-22", "--het", "--missing", "--out", "qc", "--threads",
         "2", cwd=d)  # fmt: skip
    het = pd.read_csv(d / "qc.het", sep="\t").set_index("#IID")
    smiss = pd.read_csv(d / "qc.smiss", sep="\t").set_index("#IID")
    problem = truth["problem"]
    contaminated = problem.index[problem == "contamination"]
    normal_neu = problem.index[problem.isna() & (truth["population"] == "NEU")]
    # excess heterozygosity: F far below every ordinary sample of the majority
    assert het.loc[contaminated, "F"].max() < het.loc[normal_neu, "F"].min() - 0.05
    low = problem.index[problem == "low_call_rate"]
    assert (smiss.loc[low, "F_MISS"] > 0.08).all()
    assert smiss.loc[problem.index[problem.isna()], "F_MISS"].max() < 0.06


def test_plink19_check_sex_finds_the_sex_problems(sim, truth):
    d = sim.vcf_path.parent
    ped = pd.read_csv(sim.ped_path, sep="\t", header=None, names=["FID", "IID", "PAT", "MAT", "SEX", "PHENO"])
    _run("plink1.9", "--vcf", sim.vcf_path.name, "--make-bed", "--out", "sexbed", "--allow-extra-chr",
         "--double-id", "--split-x", "hg38", "no-fail", "--vcf-half-call", "m", cwd=d)  # fmt: skip
    fam = pd.read_csv(d / "sexbed.fam", sep=r"\s+", header=None)
    fam[4] = fam[1].map(truth["reported_sex"].map({"M": 1, "F": 2}))
    fam.to_csv(d / "sexbed.fam", sep=" ", header=False, index=False)
    _run("plink1.9", "--bfile", "sexbed", "--maf", "0.05", "--check-sex", "--out", "sex", cwd=d)
    res = pd.read_csv(d / "sex.sexcheck", sep=r"\s+").set_index("IID")
    # ~750 chrX SNVs of which few are common: every male is called male; females are female or ambiguous
    male = truth["sex"] == "M"
    assert (res.loc[male[male].index, "SNPSEX"] == 1).all()
    assert (res.loc[male[~male].index, "SNPSEX"] != 1).all()
    assert (res.loc[male[~male].index, "SNPSEX"] == 2).mean() > 0.6
    flagged = set(res.index[res["STATUS"] == "PROBLEM"])
    expected = set(truth.index[truth["reported_sex"] != truth["sex"]])
    swapped = truth.index[truth["problem"] == "sample_swap"]
    assert expected == set(truth.index[truth["problem"] == "sex_mismatch"]) | set(swapped)  # swap crosses sexes
    assert expected <= flagged
    assert set(ped["IID"]) <= set(truth.index)


def test_pca_separates_the_minority_populations(sim, truth):
    d = sim.vcf_path.parent
    _run("plink2", "--vcf", sim.vcf_path.name, "--chr", "1-22", "--maf", "0.02", "--pca", "4", "--out", "pca",
         "--threads", "2", cwd=d)  # fmt: skip
    pcs = pd.read_csv(d / "pca.eigenvec", sep="\t").set_index("#IID")[["PC1", "PC2", "PC3", "PC4"]]
    pop = truth.loc[pcs.index, "population"]
    centroids = pcs.groupby(pop).mean()
    nearest = pcs.apply(lambda r: ((centroids - r) ** 2).sum(axis=1).idxmin(), axis=1)
    for p in ("AFR", "SAS", "MDE"):
        members = pop.index[pop == p]
        assert (nearest[members] == p).mean() >= 0.8, p
    assert (nearest[pop.index[pop == "NEU"]] == "NEU").mean() >= 0.95
    # on PC1/PC2 alone the African-like samples stand apart from the majority
    neu = pcs.loc[pop == "NEU", ["PC1", "PC2"]]
    afr = pcs.loc[pop == "AFR", ["PC1", "PC2"]]
    dist = np.linalg.norm(afr.mean() - neu.mean())
    assert dist > 5 * neu.std().max()
