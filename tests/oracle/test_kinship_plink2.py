"""KING-robust kinship against plink2 ``--make-king-table`` on real 1000 Genomes and GIAB data, plus pedigree
checks.

The tiny 1000 Genomes set (3202 samples) is cut to ~300 samples that contain the five verified trios and the
six
CEPH 1463 members, to keep the test fast.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.qc.kinship import kinship
from pmo_workbench.qc.rules import select_pedigree_culprits

pytestmark = pytest.mark.oracle

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TINY = SHARED / "1kg_nygc30x_3202_tiny" / "tiny1000G.vcf.gz"
GIAB = SHARED / "giab_ashkenazi_trio" / "ashk-trio.vcf.gz"
CEPH = SHARED / "ceph1463_pedigree"

TRIOS = [  # child, father, mother (README of the shared data: zero Mendelian errors)
    ("NA12878", "NA12891", "NA12892"),
    ("NA12877", "NA12889", "NA12890"),
    ("NA19240", "NA19239", "NA19238"),
    ("HG00733", "HG00731", "HG00732"),
    ("HG00405", "HG00403", "HG00404"),
]
TRIO_SAMPLES = sorted({s for t in TRIOS for s in t})

needs_tools = pytest.mark.skipif(
    shutil.which("plink2") is None or shutil.which("bcftools") is None, reason="plink2/bcftools not installed"
)


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tiny_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 samples of tiny1000G: every 12th sample plus the trio members, as a bgzipped VCF."""
    d = tmp_path_factory.mktemp("tiny_subset")
    names = subprocess.run(["bcftools", "query", "-l", str(TINY)], capture_output=True, text=True, check=True)
    samples = names.stdout.split()
    keep = sorted(set(samples[::12]) | set(TRIO_SAMPLES))
    (d / "samples.txt").write_text("\n".join(keep) + "\n")
    _run(["bcftools", "view", "-S", "samples.txt", "-Oz", "-o", "subset.vcf.gz", str(TINY)], d)
    return d / "subset.vcf.gz"


def _plink2_king(vcf: Path, workdir: Path) -> pd.DataFrame:
    """All pairs from plink2 --make-king-table over autosomal biallelic sites."""
    _run(
        [
            "plink2",
            "--vcf",
            str(vcf),
            "--max-alleles",
            "2",
            "--autosome",
            "--make-king-table",
            "--king-table-filter",
            "-1",
            "--threads",
            "2",
            "--out",
            "king",
            "--allow-extra-chr",
        ],
        workdir,
    )
    table = pd.read_csv(workdir / "king.kin0", sep="\t")
    return table.rename(columns=lambda c: c.lstrip("#"))


def _merge_with_plink(ours: pd.DataFrame, plink: pd.DataFrame) -> pd.DataFrame:
    ours = ours.assign(key=[frozenset(p) for p in zip(ours.sample_i, ours.sample_j, strict=True)])
    plink = plink.assign(key=[frozenset(p) for p in zip(plink.IID1, plink.IID2, strict=True)])
    return ours.merge(
        plink[["key", "KINSHIP", "IBS0", "HETHET", "NSNP"]], on="key", how="outer", indicator=True
    )


@needs_tools
def test_kinship_matches_plink2_on_tiny1000g_subset(tiny_subset: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(tiny_subset, cache_dir=tmp_path / "cache")
    ours = kinship(g, min_kinship=-1.0)  # every pair
    n = g.n_samples
    assert len(ours) == n * (n - 1) // 2
    m = _merge_with_plink(ours, _plink2_king(tiny_subset, tmp_path))
    assert (m["_merge"] == "both").all()
    assert np.abs(m["kinship"] - m["KINSHIP"]).max() < 1e-3
    assert np.abs(m["ibs0"] - m["IBS0"]).max() < 1e-4
    assert np.abs(m["hethet"] - m["HETHET"]).max() < 1e-4
    assert (m["n_snp"] == m["NSNP"]).all()
    # the estimator matches to plink2's print precision, not just within the 1e-3 tolerance
    assert np.abs(m["kinship"] - m["KINSHIP"]).quantile(0.99) < 1e-5


@needs_tools
def test_kinship_matches_plink2_on_giab_trio(tmp_path: Path) -> None:
    g = open_genotypes(GIAB, cache_dir=tmp_path / "cache")
    ours = kinship(g, min_kinship=-1.0)
    m = _merge_with_plink(ours, _plink2_king(GIAB, tmp_path))
    assert len(m) == 3 and (m["_merge"] == "both").all()
    assert np.abs(m["kinship"] - m["KINSHIP"]).max() < 1e-3
    for parent in ("HG003", "HG004"):
        row = _pair(ours, "HG002", parent)
        assert row["relationship"] == "first"
        assert row["relationship_detail"] == "parent-offspring"
        assert 0.2 < row["kinship"] < 0.3
    assert _pair(ours, "HG003", "HG004")["relationship"] == "unrelated"


@pytest.fixture(scope="module")
def tiny_store(tiny_subset: Path, tmp_path_factory: pytest.TempPathFactory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(tiny_subset, cache_dir=tmp_path_factory.mktemp("cache"))


def _pair(table: pd.DataFrame, a: str, b: str) -> pd.Series:
    sel = ((table.sample_i == a) & (table.sample_j == b)) | ((table.sample_i == b) & (table.sample_j == a))
    assert sel.sum() == 1, f"pair {a}-{b} not reported"
    return table[sel].iloc[0]


def test_known_trios_are_parent_offspring_and_ceph_spouses_unrelated(tiny_store) -> None:
    table = kinship(tiny_store)
    for child, father, mother in TRIOS:
        for parent in (father, mother):
            row = _pair(table, child, parent)
            assert row["relationship"] == "first", (child, parent, row["kinship"])
            assert row["relationship_detail"] == "parent-offspring"
            assert row["ibs0"] == 0.0  # zero Mendelian errors: never opposite homozygotes
        spouses = table[
            ((table.sample_i == father) & (table.sample_j == mother))
            | ((table.sample_i == mother) & (table.sample_j == father))
        ]
        assert spouses.empty or (spouses["relationship"].isin(["unrelated", "third"])).all()
    # NA12877 x NA12878 (the CEPH 1463 parents) are unrelated: below the reporting floor
    reported = {frozenset(p) for p in zip(table.sample_i, table.sample_j, strict=True)}
    assert frozenset(("NA12877", "NA12878")) not in reported
    # no pair of different trios is first degree
    first = table[table.relationship == "first"]
    trio_of = {s: k for k, t in enumerate(TRIOS) for s in t}
    for a, b in zip(first.sample_i, first.sample_j, strict=True):
        if a in trio_of and b in trio_of:
            assert trio_of[a] == trio_of[b]


def test_correct_ceph_pedigree_has_no_unexpected_pairs(tiny_store) -> None:
    table = kinship(tiny_store, CEPH / "ceph1463.ped")
    six = {"NA12877", "NA12878", "NA12889", "NA12890", "NA12891", "NA12892"}
    ped_rows = table[table.expected_relationship.notna()]
    # every pair of the six genotyped CEPH members is listed with its expected relationship
    assert {frozenset(p) for p in zip(ped_rows.sample_i, ped_rows.sample_j, strict=True)} == {
        frozenset((a, b)) for a in six for b in six if a < b
    }
    po = _pair(table, "NA12877", "NA12889")
    assert po["expected_relationship"] == "first" and po["expected_detail"] == "parent-offspring"
    spouses = _pair(table, "NA12877", "NA12878")
    assert spouses["expected_relationship"] == "unrelated" and spouses["relationship"] == "unrelated"
    assert not table["unexpected"].any()


def test_wrong_pedigree_yields_unexpected_pairs_both_ways(tiny_store) -> None:
    table = kinship(tiny_store, CEPH / "ceph1463.bad.ped")
    bad = table[table.unexpected]
    unexpected = {frozenset(p) for p in zip(bad.sample_i, bad.sample_j, strict=True)}
    # bad.ped makes NA12878 the mother of NA12877: the pedigree claims, the genomes deny
    assert frozenset(("NA12877", "NA12878")) in unexpected
    row = _pair(table, "NA12877", "NA12878")
    assert row["expected_relationship"] == "first" and row["relationship"] == "unrelated"
    # ... and NA12877's true parents become his grandparents: the genomes say first degree, the pedigree
    # second
    for gp in ("NA12889", "NA12890"):
        row = _pair(table, "NA12877", gp)
        assert (
            row["unexpected"] and row["relationship"] == "first" and row["expected_relationship"] == "second"
        )
    # NA12878's parents are right in bad.ped too
    assert not _pair(table, "NA12878", "NA12891")["unexpected"]
    # the QC decision blames NA12877 alone (bad.ped's "was-NA12880" entry), not its would-be relatives
    assert select_pedigree_culprits(table) == {"NA12877"}
