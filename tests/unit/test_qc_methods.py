"""Sex, kinship, ancestry, outliers, pedigree and QC decisions on hand-made cases and synthetic ground
truth."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.ckernels.king import compute_king_counts, pack_genotype_indicators
from pmo_workbench.errors import ConfigError, InputError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.backends.embedded import compute_x_inbreeding
from pmo_workbench.qc.ancestry import compute_pca, select_pca_samples
from pmo_workbench.qc.kinship import compute_king_kinship, tabulate_kinship
from pmo_workbench.qc.ld import select_unlinked_sites
from pmo_workbench.qc.outliers import compute_mad_bounds, flag_mad_outliers, regress_out_pcs
from pmo_workbench.qc.pedigree import (
    classify_kinship,
    compute_expected_relationships,
    compute_pedigree_kinship,
    read_pedigree,
)
from pmo_workbench.qc.pipeline import run_qc
from pmo_workbench.qc.rules import (
    REASONS,
    decide_samples,
    select_duplicates_to_drop,
    select_pedigree_culprits,
    select_pedigree_disagreements,
)
from pmo_workbench.qc.sample_qc import compute_common_heterozygosity
from pmo_workbench.qc.sex import (
    assign_genetic_sex,
    classify_sex,
    compute_x_het_ratio,
    impute_sex,
)
from pmo_workbench.qc.thresholds import QcThresholds, as_thresholds
from tests.vcf_files import format_record, write_vcf

# ---------------------------------------------------------------- pedigree


def test_read_pedigree_header_extra_columns_and_missing_codes() -> None:
    text = "#family_id\tsample_id\tdad_id\tmom_id\tsex\tphenotype\told\nF1 A 0 -9 1 -9 x\n\nF1 B . 0 2 2\n"
    ped = read_pedigree(io.StringIO(text))
    assert ped.columns.tolist()[-1] == "old"
    assert ped["sample_id"].tolist() == ["A", "B"]
    assert ped["father_id"].isna().all() and ped["mother_id"].isna().all()
    assert ped["sex"].tolist() == ["M", "F"]
    assert ped["phenotype"].tolist() == [None, "2"]
    assert ped["old"].tolist() == ["x", None]


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("F1 A 0 0 1 -9\nF1 B 0 0\n", 2, None),
        ("F1 A 0 0 1 -9\nF1 A 0 0 1 -9\n", 2, "sample_id"),
        ("F1 A 0 0 7 -9\n", 1, "sex"),
        ("F1 A A 0 1 -9\n", 1, "father_id"),
    ],
)
def test_read_pedigree_rejects_bad_lines_naming_line_and_field(
    text: str, line: int, field: str | None
) -> None:
    with pytest.raises(InputError) as exc:
        read_pedigree(io.StringIO(text))
    assert exc.value.line == line and exc.value.field == field


def test_pedigree_relationships_over_three_generations() -> None:
    # G1 x G2 -> P1, P2 (full sibs); P1 x S1 -> C1; P2 x S2 -> C2; G1 x H -> HS (half-sib of P1, P2)
    text = """
fam G1 0 0 1 -9
fam G2 0 0 2 -9
fam H 0 0 2 -9
fam P1 G1 G2 1 -9
fam P2 G1 G2 2 -9
fam S1 0 0 2 -9
fam S2 0 0 1 -9
fam C1 P1 S1 1 -9
fam C2 S2 P2 2 -9
fam HS G1 H 1 -9
"""
    ped = read_pedigree(io.StringIO(text))
    phi = compute_pedigree_kinship(ped)
    assert phi[("C1", "P1")] == 0.25 and phi[("P1", "P2")] == 0.25
    assert phi[("C1", "G1")] == 0.125 and phi[("C1", "P2")] == 0.125 and phi[("HS", "P1")] == 0.125
    assert phi[("C1", "C2")] == 0.0625
    assert phi[("G1", "G2")] == 0.0
    rel = compute_expected_relationships(ped).set_index(["sample_i", "sample_j"])
    detail = rel["expected_detail"]
    assert detail[("C1", "P1")] == "parent-offspring"
    assert detail[("P1", "P2")] == "full-sibling"
    assert detail[("HS", "P1")] == "half-sibling"
    assert detail[("C1", "G1")] == "grandparent"
    assert detail[("C1", "P2")] == "avuncular"
    assert detail[("C1", "C2")] == "first-cousin"
    assert detail[("S1", "S2")] == "unrelated"
    assert rel.loc[("C1", "C2"), "expected_relationship"] == "third"
    assert rel.loc[("C1", "G1"), "expected_relationship"] == "second"
    # restricting to genotyped samples drops the others' pairs
    sub = compute_expected_relationships(ped, samples=["C1", "P1", "X9"])
    assert sub[["sample_i", "sample_j"]].values.tolist() == [["C1", "P1"]]


def test_inbred_child_of_siblings_has_higher_kinship_with_parent() -> None:
    ped = read_pedigree(io.StringIO("f A 0 0 1 -9\nf B 0 0 2 -9\nf C A B 1 -9\nf D A B 2 -9\nf E C D 1 -9\n"))
    # phi(E, C) = (phi(C, C) + phi(D, C)) / 2 = (0.5 + 0.25) / 2
    assert compute_pedigree_kinship(ped)[("C", "E")] == 0.375


def test_classify_kinship_uses_plink2_bounds() -> None:
    assert [classify_kinship(x) for x in (0.36, 0.354, 0.2, 0.1, 0.05, 0.0442, -0.1)] == [
        "duplicate/MZ",
        "first",
        "first",
        "second",
        "third",
        "unrelated",
        "unrelated",
    ]


# ---------------------------------------------------------------- kinship


def _king_by_hand(d: np.ndarray) -> np.ndarray:
    """KING-robust between-family estimator written from the paper (Manichaikul 2010, eq. for phi_ij)."""
    n = d.shape[1]
    phi = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            both = (d[:, i] >= 0) & (d[:, j] >= 0)
            gi, gj = d[both, i], d[both, j]
            n_hethet = np.sum((gi == 1) & (gj == 1))
            n_opp = np.sum(((gi == 0) & (gj == 2)) | ((gi == 2) & (gj == 0)))
            het_i, het_j = np.sum(gi == 1), np.sum(gj == 1)
            lo = min(het_i, het_j)
            if lo == 0:
                continue
            phi[i, j] = (n_hethet - 2 * n_opp) / (2 * lo) + 0.5 - (het_i + het_j) / (4 * lo)
    return phi


def test_king_counts_match_paper_formula_across_packing_blocks() -> None:
    rng = np.random.default_rng(3)
    n_sites, n_samples = 4096 + 150, 9  # crosses a packed block and leaves padding bits
    p = rng.uniform(0.05, 0.95, size=n_sites)
    d = rng.binomial(2, p[:, None], size=(n_sites, n_samples)).astype(np.int8)
    d[:, 1] = d[:, 0]  # a duplicate
    d[rng.random(d.shape) < 0.05] = -1
    counts = compute_king_counts([d[:1000], d[1000:]])  # two chunks accumulate
    ours = compute_king_kinship(counts)
    oracle = _king_by_hand(d)
    np.testing.assert_allclose(ours, oracle, atol=1e-12)
    assert ours[0, 1] > 0.45  # the duplicate (missingness differs between the copies)
    both = (d[:, 2] >= 0) & (d[:, 5] >= 0)
    assert counts.n_snp[2, 5] == both.sum()


def test_pack_genotype_indicators_sets_one_bit_per_genotype_class() -> None:
    d = np.array([[0, 1], [1, -1], [2, 2], [-1, 0]], dtype=np.int8)
    het, ref, alt = pack_genotype_indicators(d)
    assert het.shape == (2, 1)
    assert (int(het[0, 0]), int(ref[0, 0]), int(alt[0, 0])) == (0b0010, 0b0001, 0b0100)
    assert (int(het[1, 0]), int(ref[1, 0]), int(alt[1, 0])) == (0b0001, 0b1000, 0b0100)


def test_tabulate_kinship_splits_first_degree_by_ibs0_and_flags_pedigree_disagreements() -> None:
    rng = np.random.default_rng(11)
    n_sites = 3000
    p = rng.uniform(0.2, 0.8, size=n_sites)
    hap = lambda: rng.random(n_sites) < p  # noqa: E731
    dad, mom, other = (np.stack([hap(), hap()]) for _ in range(3))
    pick = lambda parent: parent[rng.integers(0, 2, n_sites), np.arange(n_sites)]  # noqa: E731
    kid1 = np.stack([pick(dad), pick(mom)])
    kid2 = np.stack([pick(dad), pick(mom)])
    geno = np.stack([x.sum(axis=0) for x in (dad, mom, kid1, kid2, other)], axis=1).astype(np.int8)
    ids = np.array(["dad", "mom", "kid1", "kid2", "other"])
    ped = read_pedigree(
        io.StringIO("f dad 0 0 1 -9\nf mom 0 0 2 -9\nf kid1 dad mom 1 -9\nf other dad mom 2 -9\n")
    )
    table = tabulate_kinship(compute_king_counts([geno]), ids, ped)
    rows = {
        frozenset((a, b)): r
        for a, b, r in zip(table.sample_i, table.sample_j, table.itertuples(), strict=True)
    }
    po = rows[frozenset(("dad", "kid1"))]
    assert po.relationship == "first" and po.relationship_detail == "parent-offspring" and po.ibs0 == 0
    sib = rows[frozenset(("kid1", "kid2"))]
    assert sib.relationship == "first" and sib.relationship_detail == "full-sibling" and sib.ibs0 > 0.005
    assert sib.expected_relationship is None  # kid2 is not in the pedigree
    # the pedigree claims "other" is a child of dad x mom: the genomes deny it
    claimed = rows[frozenset(("dad", "other"))]
    assert (
        claimed.expected_relationship == "first"
        and claimed.relationship == "unrelated"
        and claimed.unexpected
    )
    assert not rows[frozenset(("dad", "mom"))].unexpected  # spouses: expected and observed unrelated
    assert set(table.loc[table.unexpected, "sample_i"]) | set(table.loc[table.unexpected, "sample_j"]) == {
        "dad",
        "mom",
        "other",
        "kid1",
    }


# ---------------------------------------------------------------- sex


def test_x_inbreeding_counts_haploid_calls_as_homozygous() -> None:
    d = np.array([[0, 1, 1], [1, 0, -1], [2, 1, 0]], dtype=np.int8)
    ploidy = np.array([[2, 1, 2], [2, 1, 0], [2, 1, 2]], dtype=np.int8)
    aaf = np.array([0.5, 0.25, 0.5])
    st = compute_x_inbreeding(d, ploidy, aaf)
    e_site = 1 - 2 * aaf * (1 - aaf)  # 0.5, 0.625, 0.5
    assert st["n_called"].tolist() == [3, 3, 2]
    assert st["observed_homs"].tolist() == [2, 3, 1]
    np.testing.assert_allclose(st["expected_homs"], [1.625, 1.625, 1.0])
    np.testing.assert_allclose(st["f_stat"], [(2 - 1.625) / (3 - 1.625), 1.0, 0.0])
    assert e_site.sum() == 1.625


def _write_vcf(path: Path, samples: list[str], rows: list[tuple[str, int, list[str]]]) -> Path:
    records = [format_record(c, pos, "A", "G", gts, qual="50") for c, pos, gts in rows]
    return write_vcf(path, records, samples=samples, contigs={"1": 249250621, "2": 243199373, "X": 155270560})


def _synthetic_cohort(tmp_path: Path, seed: int = 5) -> tuple[Path, pd.DataFrame, dict[str, str]]:
    """60 samples, 2 populations, autosomes + non-PAR X; with injected problems (truth returned)."""
    rng = np.random.default_rng(seed)
    n = 60
    ids = [f"S{i:02d}" for i in range(n)]
    pop = np.array([0] * 30 + [1] * 30)
    male = np.arange(n) % 2 == 0
    n_auto, n_x = 3000, 400
    base = rng.uniform(0.1, 0.9, size=n_auto + n_x)
    shift = rng.normal(0, 0.12, size=n_auto + n_x)
    freq = np.clip(np.stack([base - shift, base + shift]), 0.02, 0.98)  # [pop, site]
    haps = rng.random((n, 2, n_auto + n_x)) < freq[pop][:, None, :]
    # a parent-offspring trio: S32 is the child of S30 x S31 (same population)
    for k in range(2):
        parent = haps[30 + k]
        haps[32, k] = parent[rng.integers(0, 2, n_auto + n_x), np.arange(n_auto + n_x)]
    male[32] = True
    geno = haps.sum(axis=1)  # [sample, site]
    gt = np.empty((n_auto + n_x, n), dtype=object)
    for s in range(n):
        a = haps[s].astype(int)
        diploid = np.char.add(np.char.add(a[0].astype(str), "/"), a[1].astype(str))
        gt[:, s] = diploid
        if male[s]:
            gt[n_auto:, s] = a[0, n_auto:].astype(str)  # haploid non-PAR X
    gt[:, 5] = gt[:, 3]  # S05 duplicates S03 (both female) ...
    gt[rng.random(n_auto + n_x) < 0.03, 5] = "./."  # ... with lower call rate
    gt[rng.random(n_auto + n_x) < 0.2, 10] = "./."  # S10: low call rate
    gt[gt[:, 10] == ".", 10] = "./."
    del geno
    rows = [("1" if i < n_auto // 2 else "2", 10_000 + 1000 * i, list(gt[i])) for i in range(n_auto)]
    rows += [("X", 5_000_000 + 1000 * i, list(gt[n_auto + i])) for i in range(n_x)]
    vcf = _write_vcf(tmp_path / "cohort.vcf", ids, rows)
    reported = np.where(male, "M", "F").astype(object)
    reported[21] = "M"  # S21 is female (diploid X) but reported male
    manifest = pd.DataFrame({"sample_id": ids, "reported_sex": reported, "batch": ["b1"] * 30 + ["b2"] * 30})
    truth = {"S05": "duplicate", "S10": "low_call_rate", "S21": "sex_mismatch"}
    return vcf, manifest, truth


def test_impute_sex_on_a_store_with_haploid_males(tmp_path: Path) -> None:
    vcf, manifest, _ = _synthetic_cohort(tmp_path)
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    sex = impute_sex(g, manifest)
    assert sex.columns.tolist()[:3] == ["sample_id", "f_stat", "n_called_x"]
    truth_male = [(i % 2 == 0) or i == 32 for i in range(60)]
    males = sex[truth_male]
    assert (males["f_stat"] == 1.0).all() and (males["genetic_sex"] == "M").all()
    females = sex[[not m for m in truth_male]]
    assert (females["f_stat"].abs() < 0.2).all() and (females["genetic_sex"] == "F").all()
    assert sex.loc[sex.mismatch.astype(bool), "sample_id"].tolist() == ["S21"]
    assert np.isnan(sex["y_call_rate"]).all()  # no chrY in the data
    no_manifest = impute_sex(g)
    assert no_manifest["reported_sex"].isna().all() and no_manifest["mismatch"].isna().all()


# ---------------------------------------------------------------- outliers


def test_mad_bounds_and_stratified_flags_by_hand() -> None:
    med, mad, lo, hi = compute_mad_bounds(np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan]), k=2.0)
    assert (med, mad) == (3.0, 1.4826) and lo == pytest.approx(3 - 2 * 1.4826) and hi == pytest.approx(5.9652)
    df = pd.DataFrame(
        {
            "x": [10, 11, 12, 13, 14, 30, 100, 101, 102, 103, 104, 60],
            "batch": ["a"] * 6 + ["b"] * 6,
        },
        dtype=object,
    ).astype({"x": float})
    flags = flag_mad_outliers(df, ["x"], k=3.0, strata=["batch"], min_stratum_size=5)
    # batch a: median 12.5, MAD 1.5*1.4826; batch b: median 101.5: 30 and 60 are outliers within their batch
    assert flags["x_outlier"].tolist() == [False] * 5 + [True] + [False] * 5 + [True]
    # pooled, the batch difference hides both (median 35.5 of all twelve)
    pooled = flag_mad_outliers(df, ["x"], k=3.0, min_stratum_size=5)
    assert not pooled["x_outlier"].any()
    upper_only = flag_mad_outliers(df, ["x"], k=3.0, strata=["batch"], direction="upper", min_stratum_size=5)
    assert upper_only["x_outlier"].tolist() == [False] * 5 + [True] + [False] * 6
    assert flags.loc[5, "outlier_metrics"] == ["x"] and flags.loc[0, "outlier_metrics"] == []


def test_small_strata_fall_back_to_all_samples_and_tiny_sets_flag_nothing() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.0, 50.0], "g": ["a", "a", "a", "a", "b"]})
    flags = flag_mad_outliers(df, ["x"], k=4.0, strata=["g"], min_stratum_size=3)
    assert flags["x_outlier"].tolist() == [False, False, False, False, True]  # "b" uses the pooled bounds
    assert not flag_mad_outliers(df, ["x"], k=4.0, min_stratum_size=6)["x_outlier"].any()


def test_pc_regression_reveals_an_outlier_hidden_by_ancestry() -> None:
    rng = np.random.default_rng(2)
    pc1 = rng.normal(0, 1, 200)
    metric = 1000 + 300 * pc1 + rng.normal(0, 5, 200)
    metric[7] += 60  # 12 residual SDs, but well inside the raw spread
    df = pd.DataFrame({"m": metric, "PC1": pc1})
    assert not flag_mad_outliers(df, ["m"], k=4.0)["m_outlier"][7]
    flags = flag_mad_outliers(df, ["m"], k=4.0, pcs=["PC1"])
    assert flags["m_outlier"][7] and flags["m_outlier"].sum() == 1
    res = regress_out_pcs(df, ["m"], ["PC1"])["m"]
    assert abs(res.mean()) < 1e-9


# ---------------------------------------------------------------- ancestry, LD


def test_ld_pruning_drops_correlated_sites_within_the_window_only() -> None:
    rng = np.random.default_rng(4)
    indep = rng.binomial(2, 0.4, size=(5, 300)).astype(np.int8)
    near_copy = indep[3].copy()
    near_copy[:30] = rng.binomial(2, 0.4, size=30)  # r² ~ 0.8 with site 3
    d = np.concatenate([indep[:1], indep[:1], indep[1:], near_copy[None, :], np.zeros((1, 300), np.int8)])
    pos = np.array([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000])
    keep = select_unlinked_sites(d, np.array(["1"] * 8), pos, window_bp=10_000, r2_threshold=0.2)
    # the copy of site 0 and the near copy of site 3 go; the monomorphic last site is uninformative
    assert keep.tolist() == [True, False, True, True, True, True, False, False]
    # r² is computed with mean-imputed missing calls: a copy with a few missing calls is still a copy
    d_missing = d.copy()
    d_missing[1, :10] = -1
    assert not select_unlinked_sites(d_missing, np.array(["1"] * 8), pos, r2_threshold=0.2)[1]
    # sites on different contigs, or farther apart than the window, are never compared
    contigs = np.array(["1", "2", "2", "2", "2", "2", "3", "3"])
    assert select_unlinked_sites(d, contigs, pos, r2_threshold=0.2)[:7].all()
    far = select_unlinked_sites(d, np.array(["1"] * 8), pos * 1000, window_bp=500_000, r2_threshold=0.2)
    assert far[:7].all()
    # an independent oracle for r: numpy's corrcoef on the same vectors
    r = np.corrcoef(indep[3].astype(float), near_copy.astype(float))[0, 1]
    assert r**2 > 0.2
    loose = select_unlinked_sites(d, np.array(["1"] * 8), pos, window_bp=10_000, r2_threshold=r**2 + 1e-6)
    assert loose[6] and not loose[1]


def test_pca_separates_two_simulated_populations_and_projects_consistently() -> None:
    rng = np.random.default_rng(8)
    n_sites = 1500
    base = rng.uniform(0.1, 0.9, n_sites)
    f = np.clip(np.stack([base - 0.15, base + 0.15]), 0.01, 0.99)
    pop = np.repeat([0, 1], 40)
    d = rng.binomial(2, f[pop].T).astype(np.int8)
    fit = np.ones(80, dtype=bool)
    fit[[3, 50]] = False
    scores, eig, loadings = compute_pca(d, fit, k=3)
    assert scores.shape == (80, 3) and eig[0] > 3 * eig[1]
    pc1 = scores[:, 0]
    assert (np.sign(pc1[pop == 0]) == np.sign(pc1[pop == 0][0])).all()
    assert (np.sign(pc1[pop == 1]) == -np.sign(pc1[pop == 0][0])).all()  # projected 3 and 50 included


def test_select_pca_samples_drops_the_most_connected_sample() -> None:
    pairs = pd.DataFrame(
        {
            "sample_i": ["p", "p", "p", "x"],
            "sample_j": ["c1", "c2", "c3", "y"],
            "kinship": [0.25, 0.25, 0.25, 0.05],
        }
    )
    keep = select_pca_samples(["p", "c1", "c2", "c3", "x", "y"], pairs, max_kinship=0.0884)
    assert keep.tolist() == [False, True, True, True, True, True]


# ---------------------------------------------------------------- decisions


def test_duplicates_keep_the_sample_with_the_higher_call_rate() -> None:
    pairs = pd.DataFrame(
        {"sample_i": ["a", "b", "c"], "sample_j": ["b", "c", "d"], "kinship": [0.49, 0.48, 0.2]}
    )
    cr = pd.Series({"a": 0.97, "b": 0.99, "c": 0.98, "d": 0.999})
    assert select_duplicates_to_drop(pairs, cr, 0.354) == {"a", "c"}
    tie = pd.Series({"a": 0.99, "b": 0.99, "c": 0.5, "d": 1.0})
    assert select_duplicates_to_drop(pairs, tie, 0.354) == {"b", "c"}


def _hand_tables() -> tuple[pd.DataFrame, ...]:
    n = 12
    ids = [f"s{i}" for i in range(n)]
    sqc = pd.DataFrame(
        {
            "sample_id": ids,
            "call_rate": [0.99] * n,
            "n_called": [1000] * n,
            "n_het": [300, 310, 305, 295, 300, 302, 298, 301, 299, 303, 297, 500],  # s11: het outlier
            "n_snp": [1000, 1010, 990, 1005, 995, 1000, 1002, 998, 1001, 999, 1003, 1000],
        }
    )
    sqc.loc[3, "call_rate"] = 0.90  # s3: low call rate
    sqc.loc[7, "call_rate"] = 0.98  # s7 duplicates s6 with a lower call rate
    sqc.loc[9, "n_snp"] = 2000  # s9: metric outlier
    sex = pd.DataFrame(
        {
            "sample_id": ids,
            "f_stat": [0.0] * n,
            "n_called_x": [500] * n,
            "genetic_sex": ["F"] * n,
            "reported_sex": ["F"] * n,
            "mismatch": pd.array([False] * n, dtype="boolean"),
        }
    )
    sex.loc[1, ["genetic_sex", "mismatch"]] = ["M", True]
    sex.loc[2, "genetic_sex"] = "ambiguous"
    kin = pd.DataFrame(
        {
            "sample_i": ["s6", "s4"],
            "sample_j": ["s7", "s5"],
            "kinship": [0.5, 0.0],
            "unexpected": [False, True],
        }
    )
    anc = pd.DataFrame({"sample_id": ids, "PC1": np.linspace(-1, 1, n), "assigned_population": ["EUR"] * n})
    anc["pc_distance"] = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.0, 1.02, 0.98, 25.0, 1.0]  # s10
    return sqc, sex, kin, anc


def test_decisions_give_each_injected_problem_its_reason() -> None:
    sqc, sex, kin, anc = _hand_tables()
    th = QcThresholds(outlier_metrics=["n_snp"], min_stratum_size=5, min_outlier_samples=5)
    decisions, outliers = decide_samples(sqc, sex, kin, anc, th)
    reasons = dict(zip(decisions.sample_id, decisions.reasons, strict=True))
    assert reasons == {
        "s0": [],
        "s1": ["sex_mismatch"],
        "s2": [],
        "s3": ["low_call_rate"],
        "s4": ["pedigree_mismatch"],
        "s5": ["pedigree_mismatch"],
        "s6": [],
        "s7": ["duplicate"],
        "s8": [],
        "s9": ["metric_outlier"],
        "s10": [],
        "s11": ["het_outlier"],
    }
    # ambiguous sex and an ancestry outlier are sent to review, not failed
    review = dict(zip(decisions.sample_id, decisions.review_reasons, strict=True))
    assert {s: r for s, r in review.items() if r} == {"s2": ["sex_ambiguous"], "s10": ["ancestry_outlier"]}
    assert decisions["pass"].tolist() == [not r for r in reasons.values()]
    verdict = dict(zip(decisions.sample_id, decisions.verdict, strict=True))
    assert verdict["s2"] == verdict["s10"] == "review" and verdict["s0"] == "pass" and verdict["s9"] == "fail"
    # every flag is explained with its numbers: metric, value, bound, stratum
    s9 = decisions.set_index("sample_id").loc["s9", "explanation"]
    # by hand: median of the 12 n_snp values 1000.5, MAD 2.5 * 1.4826 = 3.7065, upper fail bound + 5 MAD = 1019.03
    assert s9 == ["metric_outlier (fail): n_snp = 2000 > 1019 (median ± 5 MAD, stratum assigned_population=EUR)"]
    assert set(REASONS) >= {r for rs in reasons.values() for r in rs}
    assert outliers.loc[9, "outlier_metrics"] == ["n_snp"]
    # a stricter call-rate threshold also fails s7 for its call rate, listed before "duplicate"
    strict, _ = decide_samples(
        sqc, sex, kin, anc, QcThresholds(min_call_rate=0.985, outlier_metrics=["n_snp"])
    )
    assert "low_call_rate" in strict.set_index("sample_id").loc["s7", "reasons"]
    assert strict.set_index("sample_id").loc["s7", "reasons"][0] == "low_call_rate"  # REASONS order


def test_sex_ambiguous_needs_enough_x_sites() -> None:
    sqc, sex, kin, anc = _hand_tables()
    sex["n_called_x"] = 5
    decisions, _ = decide_samples(sqc, sex, kin, anc, QcThresholds(outlier_metrics=["n_snp"]))
    assert decisions.set_index("sample_id").loc["s2", "reasons"] == []


def test_thresholds_are_validated_with_the_key_named() -> None:
    assert as_thresholds(None) == QcThresholds()
    assert as_thresholds({"mad_k": 3}).mad_k == 3.0
    with pytest.raises(ConfigError) as exc:
        as_thresholds({"min_callrate": 0.9})
    assert exc.value.field == "min_callrate" and "unknown" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        as_thresholds({"min_call_rate": 1.5})
    assert exc.value.field == "min_call_rate"


def unexpected_pairs(kin: pd.DataFrame) -> set[frozenset[str]]:
    bad = kin[kin.unexpected]
    return {frozenset(p) for p in zip(bad.sample_i, bad.sample_j, strict=True)}


def test_run_qc_flags_every_injected_problem_in_a_synthetic_cohort(tmp_path: Path) -> None:
    vcf, manifest, truth = _synthetic_cohort(tmp_path)
    ped = tmp_path / "cohort.ped"
    # S30 x S31 -> S32 is true; the pedigree also claims S33 as their child (false)
    ped.write_text("f S30 0 0 1 -9\nf S31 0 0 2 -9\nf S32 S30 S31 1 -9\nf S33 S30 S31 2 -9\n")
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    result = run_qc(g, manifest=manifest, pedigree=ped, thresholds={"strata": ["batch"]})
    reasons = result.decisions.set_index("sample_id")["reasons"]
    for sample, reason in truth.items():
        assert reason in reasons[sample], (sample, reasons[sample])
    assert reasons["S03"] == []  # the better copy passes
    # S33 is in every unexpected pair (with S30, S31 and S32): it alone takes the blame
    assert reasons["S33"] == ["pedigree_mismatch"]
    assert unexpected_pairs(result.kinship) == {frozenset(("S33", s)) for s in ("S30", "S31", "S32")}
    kin = result.kinship
    trio = kin[(kin.sample_j == "S32") & kin.sample_i.isin(["S30", "S31"])]
    assert (trio["relationship_detail"] == "parent-offspring").all() and len(trio) == 2
    # nothing else fails: no false positives among the 52 untouched samples
    failing = set(result.decisions.loc[~result.decisions["pass"], "sample_id"])
    assert failing == {"S05", "S10", "S21", "S33"}
    assert result.passing_samples()[:3] == ["S00", "S01", "S02"]
    assert result.ancestry.shape[0] == 60 and "PC10" in result.ancestry.columns
    # the two simulated populations are split by PC1
    pc1 = result.ancestry.set_index("sample_id")["PC1"]
    first, second = pc1[[f"S{i:02d}" for i in range(30)]], pc1[[f"S{i:02d}" for i in range(34, 60)]]
    assert (np.sign(first) != np.sign(second.median())).mean() > 0.9
    assert result.parameters["thresholds"]["strata"] == ["batch"]
    assert result.parameters["manifest_check"] == {"missing_from_genotypes": [], "missing_from_manifest": []}
    # a manifest that misses a genotyped sample: a warning naming it, or with strict_manifest an InputError
    partial = manifest[manifest.sample_id != "S07"]
    with pytest.raises(InputError, match="S07"):
        run_qc(g, manifest=partial, strict_manifest=True)


def test_run_qc_takes_reported_sex_from_the_pedigree_without_a_manifest(tmp_path: Path) -> None:
    vcf, _, _ = _synthetic_cohort(tmp_path)
    ped = tmp_path / "sexes.ped"
    # S21 is genetically female; the PED says male. S22 (male) is listed correctly.
    ped.write_text("a S21 0 0 1 -9\nb S22 0 0 1 -9\n")
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    result = run_qc(g, pedigree=ped, thresholds=QcThresholds(min_samples_for_ancestry=1000))
    sex = result.sex_check.set_index("sample_id")
    assert sex.loc["S21", "reported_sex"] == "M" and bool(sex.loc["S21", "mismatch"])
    assert sex.loc["S22", "reported_sex"] == "M" and not bool(sex.loc["S22", "mismatch"])
    assert sex["reported_sex"].notna().sum() == 2
    reasons = result.decisions.set_index("sample_id")["reasons"]
    assert "sex_mismatch" in reasons["S21"] and "sex_mismatch" not in reasons["S22"]
    # too few samples for the PCA (by this threshold): no PCs, and no ancestry flags
    assert result.ancestry["assigned_population"].isna().all() and "PC1" not in result.ancestry.columns
    assert not any("ancestry_outlier" in r for r in reasons)


def test_assign_genetic_sex_applies_the_bounds_and_compares_with_the_reported_sex() -> None:
    f = [0.1, 0.2, 0.5, 0.79, 0.81, 1.0, np.nan, 0.95]
    reported = ["F", "female", "2", "M", None, "F", "M", "unknown"]
    sex, mismatch = assign_genetic_sex(f, reported, female_threshold=0.2, male_threshold=0.8)
    assert sex.tolist() == ["F", "ambiguous", "ambiguous", "ambiguous", "M", "M", "ambiguous", "M"]
    assert mismatch.tolist() == [False, False, False, False, pd.NA, True, False, pd.NA]
    # gnomAD's XX/XY split at 0.5: the F = 0.2 female is female, F = 0.5 stays ambiguous (not < 0.5)
    sex, mismatch = assign_genetic_sex(f, reported, female_threshold=0.5, male_threshold=0.8)
    assert sex.tolist()[:3] == ["F", "F", "ambiguous"]
    sex, mismatch = assign_genetic_sex([0.0, 1.0], None)
    assert sex.tolist() == ["F", "M"] and mismatch.isna().all()
    with pytest.raises(ValueError, match="2 F values but 1"):
        assign_genetic_sex([0.0, 1.0], ["F"])


def test_grey_zone_f_is_settled_by_the_x_to_genome_heterozygosity_ratio() -> None:
    # 200 called X sites; observed homs 200 - hets; genome-wide 20 % heterozygous
    hets_x = [40, 2, 14, 0, 40, 30]
    sc = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)],
                       "f_stat": [0.6, 0.6, 0.6, 0.95, 0.05, np.nan],
                       "n_called_x": [200, 200, 200, 200, 200, 0],
                       "observed_homs": [200 - h for h in hets_x],
                       "reported_sex": ["F", "F", "M", "F", None, "M"]})
    sq = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)][::-1], "n_het": [200] * 6, "n_called": [1000] * 6})
    ratio = compute_x_het_ratio(sc, sq)
    # hand-computed: (hets / 200) / 0.2; no X calls -> NaN
    np.testing.assert_allclose(ratio[:5], [1.0, 0.05, 0.35, 0.0, 1.0])
    assert np.isnan(ratio[5])
    out = classify_sex(sc.assign(x_het_ratio=ratio), female_threshold=0.5, male_threshold=0.8)
    # grey zone: ratio 1.0 -> F, 0.05 -> M (mismatch with reported F), 0.35 -> F (mismatch with M); outside the
    # grey zone F decides alone; no X calls stays ambiguous
    assert out["genetic_sex"].tolist() == ["F", "M", "F", "M", "F", "ambiguous"]
    assert out["mismatch"].tolist() == [False, True, True, True, pd.NA, False]
    # a ratio between the bounds leaves the grey zone ambiguous; without the column F alone decides
    mid = classify_sex(sc.assign(x_het_ratio=0.2), female_threshold=0.5, male_threshold=0.8)
    assert mid["genetic_sex"].tolist()[:3] == ["ambiguous"] * 3
    assert classify_sex(sc, female_threshold=0.5)["genetic_sex"].tolist()[:3] == ["ambiguous"] * 3


def test_pedigree_disagreements_count_at_the_chosen_degree() -> None:
    k = pd.DataFrame(
        {
            "relationship": ["second", "third", "unrelated", "first", "duplicate/MZ", "second", "first"],
            "expected_relationship": ["unrelated", "unrelated", "first", "unrelated", "first", "first", None],
            "unexpected": [True, False, True, True, True, True, False],
        }
    )
    assert select_pedigree_disagreements(k, "first").tolist() == [False, False, True, True, True, True, False]
    assert select_pedigree_disagreements(k, "second").tolist() == [True, False, True, True, True, True, False]
    assert select_pedigree_disagreements(k, "third").tolist() == [True, True, True, True, True, True, False]
    assert select_pedigree_disagreements(k, "duplicate/MZ").tolist() == [False, False, False, False, True,
                                                                          False, False]
    with pytest.raises(ValueError, match="degree"):
        select_pedigree_disagreements(k, "fourth")


def test_a_swapped_trio_child_is_blamed_not_its_parents() -> None:
    # trio P1 x P2 -> C, but C's column holds X's genome and X's column holds C's (a swap)
    k = pd.DataFrame(
        {
            "sample_i": ["C", "C", "P1", "P2", "P1"],
            "sample_j": ["P1", "P2", "X", "X", "P2"],
            "relationship": ["unrelated", "unrelated", "first", "first", "unrelated"],
            "expected_relationship": ["first", "first", "unrelated", "unrelated", "unrelated"],
        }
    )
    k["unexpected"] = k["relationship"] != k["expected_relationship"]
    # four pairs, each sample in two: the child has two denied relatives, each parent one; X none
    assert select_pedigree_culprits(k, degree="first") == {"C", "X"}
    # a sample already known to be mislabelled (sex mismatch) is blamed first
    assert select_pedigree_culprits(k, degree="first", suspects={"P1"}) == {"P1", "P2"}
    # second-degree noise between pedigree-unrelated samples blames nobody at the default degree
    noise = pd.DataFrame({"sample_i": ["A"], "sample_j": ["B"], "relationship": ["second"],
                          "expected_relationship": ["unrelated"], "unexpected": [True]})
    assert select_pedigree_culprits(noise, degree="first") == set()
    assert select_pedigree_culprits(noise) == {"A", "B"}


def test_common_heterozygosity_counts_only_common_autosomal_sites(tmp_path: Path) -> None:
    # 3 samples; sites: common (MAF 1/3), rare (MAF 1/6), monomorphic, and a common chrX site
    rows = [("1", 100, ["0/1", "0/0", "1/1"]), ("1", 200, ["0/1", "0/0", "0/0"]),
            ("2", 300, ["0/0", "0/0", "./."]), ("2", 400, ["0/1", "0/1", "0/0"]),
            ("X", 5_000_000, ["0/1", "0/1", "1"])]
    vcf = write_vcf(tmp_path / "h.vcf", [format_record(c, p, "A", "G", gt) for c, p, gt in rows],
                    samples=["a", "b", "c"], contigs=["1", "2", "X"])
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    common = compute_common_heterozygosity(g, None, 0.2).set_index("sample_id")
    # MAF >= 0.2: sites 100 (2/6) and 400 (2/6); site 200 (1/6) and the monomorphic site are left out
    assert common.loc[["a", "b", "c"], "n_het_common"].tolist() == [2, 1, 0]
    assert common.loc[["a", "b", "c"], "n_called_common"].tolist() == [2, 2, 2]
    everything = compute_common_heterozygosity(g, None, 0.0).set_index("sample_id")
    assert everything["n_het_common"].tolist() == [3, 1, 0] and everything["n_called_common"].tolist() == [4, 4, 3]
    masked = compute_common_heterozygosity(g, np.array([True, False, False, False, True]), 0.0)
    assert masked["n_called_common"].tolist() == [1, 1, 1]


def test_het_outlier_is_tested_on_pc_regressed_rates() -> None:
    # two ancestries: het rate 0.30 and 0.40 (with a little spread), PC1 separates them; s19 is contaminated
    n = 20
    ids = [f"s{i}" for i in range(n)]
    pc1 = np.array([0.0] * 14 + [1.0] * 6)
    het = 0.30 + 0.10 * pc1 + np.tile([-0.004, -0.002, 0.0, 0.002, 0.004], 4)
    het[19] = 0.46
    sqc = pd.DataFrame({"sample_id": ids, "call_rate": 0.99, "n_called": 10_000, "n_het": np.round(het * 10_000)})
    sex = pd.DataFrame({"sample_id": ids, "genetic_sex": "F", "n_called_x": 500,
                        "mismatch": pd.array([False] * n, dtype="boolean")})
    kin = pd.DataFrame({"sample_i": [], "sample_j": [], "kinship": [], "unexpected": []})
    anc = pd.DataFrame({"sample_id": ids, "PC1": pc1, "assigned_population": None, "pc_distance": 1.0})
    flagged = {
        r: set(d.loc[d.reasons.map(lambda x: "het_outlier" in x), "sample_id"])
        for r, d in ((r, decide_samples(sqc, sex, kin, anc, QcThresholds(
            regress_pcs=r, outlier_metrics=[], min_outlier_samples=10, min_stratum_size=10))[0]) for r in (0, 1))
    }
    assert flagged[1] == {"s19"}
    assert flagged[0] >= {"s14", "s15", "s16", "s17", "s18", "s19"}  # raw rates: the whole minority fails
