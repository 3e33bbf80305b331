"""The truncated exact HWE mid-p test (:mod:`pmo_workbench.qc.hwe`) against an untruncated exact sum.

The reference sums the whole Levene-Haldane distribution in 40-digit decimal arithmetic (no underflow, no
truncation), so it checks the early stop of the compiled sums on random counts, huge sample sizes and
extreme p-values.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest

from pmo_workbench.qc.hwe import hardy_weinberg_p, hwe_midp_one

TIE = Decimal(1) + Decimal("1e-7")


def compute_reference_midp(n_hom_ref: int, n_het: int, n_hom_var: int) -> tuple[float, float]:
    """Two-sided and excess-het mid-p from every term of the distribution, in 40-digit decimals."""
    n = n_hom_ref + n_het + n_hom_var
    rare = min(2 * n_hom_ref + n_het, 2 * n_hom_var + n_het)
    with localcontext() as ctx:
        ctx.prec = 40
        k = rare % 2
        term = Decimal(1)
        probs = {k: term}
        while k + 2 <= rare:
            hom_r = (rare - k) // 2
            hom_c = n - k - hom_r
            term = term * Decimal(4 * hom_r * hom_c) / Decimal((k + 2) * (k + 1))
            k += 2
            probs[k] = term
        total = sum(probs.values())
        p_obs = probs[n_het]
        two = sum(p for p in probs.values() if p * TIE < p_obs)
        two += sum(p for p in probs.values() if not p * TIE < p_obs and p <= p_obs * TIE) / 2
        upper = sum(p for h, p in probs.items() if h > n_het) + p_obs / 2
        return float(two / total), float(upper / total)


def draw_counts(rng: np.random.Generator, n: int, p: float, f: float) -> tuple[int, int, int]:
    """Genotype counts of ``n`` diploids at allele frequency ``p`` with inbreeding coefficient ``f``."""
    pq = p * (1 - p)
    probs = np.clip([p * p + f * pq, 2 * pq * (1 - f), (1 - p) ** 2 + f * pq], 0, None)
    hr, het, hv = rng.multinomial(n, probs / probs.sum())
    return int(hr), int(het), int(hv)


def assert_matches_reference(cases: list[tuple[int, int, int]], floor: float = 1e-280) -> None:
    hr, het, hv = (np.array(c, dtype=np.int64) for c in zip(*cases, strict=True))
    two, excess = hardy_weinberg_p(hr, het, hv)
    for i, case in enumerate(cases):
        ref = compute_reference_midp(*case)
        for got, want in zip((two[i], excess[i]), ref, strict=True):
            if want > floor:
                assert got == pytest.approx(want, rel=1e-12, abs=0), case
            else:  # the compiled test works in doubles relative to the mode: below ~1e-300 it underflows
                assert got <= 1e-270, case
        assert hwe_midp_one(*case) == (two[i], excess[i])


def test_random_counts_equal_the_untruncated_sum() -> None:
    rng = np.random.default_rng(7)
    cases = [draw_counts(rng, int(rng.integers(1, 4000)), float(rng.beta(0.4, 0.4)), float(rng.normal(0, 0.05)))
             for _ in range(300)]
    assert_matches_reference(cases)


def test_extreme_p_values_and_huge_samples_equal_the_untruncated_sum() -> None:
    cases = [
        (300, 0, 300),  # no hets at p = 0.5: p ~ 1e-180
        (0, 600, 0),  # all het: excess-het p-value tiny, two-sided tiny
        (2000, 10, 2000),  # far below the floor: p underflows
        (0, 1, 0), (1, 0, 0), (5, 0, 0), (0, 0, 7), (1, 1, 1), (0, 2, 1),  # tiny and monomorphic sites
        (595, 448, 83),  # a tie (Hail: 0.940256)
        (37, 200, 85),  # Hail's documented example
        (10**8, 9_950, 0), (10**8 - 20_000, 19_990, 10),  # huge n, rare allele, HWE and not
        (25_000, 50_000, 25_000), (24_000, 52_000, 24_000),  # 100,000 samples at p = 0.5
        (10**9, 10, 1),  # a billion samples: the integer arithmetic stays in range
        (40_000, 19_000, 3_000), (1_200, 29_000, 200),  # excess-het p-values near 0 and 1
    ]
    assert_matches_reference(cases)
    two, excess = hardy_weinberg_p(np.array([300]), np.array([0]), np.array([300]))
    assert 1e-200 < two[0] < 1e-150 and excess[0] == pytest.approx(1.0)


def test_skipped_and_empty_sites_are_nan() -> None:
    two, excess = hardy_weinberg_p(np.array([-1, 0, 4]), np.array([3, 0, 0]), np.array([2, 0, 0]))
    assert np.isnan(two[:2]).all() and np.isnan(excess[:2]).all()
    assert (two[2], excess[2]) == (0.5, 0.5)


def test_chrx_hwe_counts_women_only_when_men_are_written_diploid(tmp_path) -> None:
    """Men written 0/0 or 1/1 on non-PAR X are homozygotes no HWE model expects: run_qc tests the women only."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc.variant_qc import compute_female_chrx_hwe, variant_qc
    from tests.vcf_files import format_record, write_vcf

    women = ["0/0"] * 9 + ["0/1"] * 12 + ["1/1"] * 4  # 25 women near HWE (p = 0.6)
    men = ["0/0"] * 15 + ["1/1"] * 10  # 25 men, diploid-coded hemizygotes
    records = [format_record("X", 5_000_000 + 100 * i, "A", "G", women + men) for i in range(3)]
    samples = [f"W{i}" for i in range(25)] + [f"M{i}" for i in range(25)]
    g = open_genotypes(write_vcf(tmp_path / "x.vcf", records, samples=samples, contigs={"X": 155_000_000}),
                       cache_dir=tmp_path / "cache")
    sites, p, excess = compute_female_chrx_hwe(g, np.array([s.startswith("W") for s in samples]))
    assert sites.all()
    expected = hardy_weinberg_p(np.array([9]), np.array([12]), np.array([4]))
    np.testing.assert_allclose(p, expected[0][0])
    np.testing.assert_allclose(excess, expected[1][0])
    pooled = variant_qc(g)["p_value_hwe"].to_numpy()  # all 50 as diploid: a heterozygote deficit
    assert (pooled < 1e-3).all() and (p > 0.5).all()


def test_hwe_per_ancestry_group_removes_the_wahlund_deficit(tmp_path) -> None:
    """Two groups each in HWE at allele frequencies 0.1 and 0.9: pooled, a heterozygote deficit; per group, none."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc.variant_qc import compute_hwe_by_group, variant_qc
    from tests.vcf_files import format_record, write_vcf

    a = ["0/0"] * 32 + ["0/1"] * 16 + ["1/1"] * 2  # p(ALT) 0.2, 50 samples near HWE
    b = ["1/1"] * 32 + ["0/1"] * 16 + ["0/0"] * 2  # p(ALT) 0.8
    records = [format_record("1", 1000 + 100 * i, "A", "G", a + b) for i in range(3)]
    samples = [f"A{i}" for i in range(50)] + [f"B{i}" for i in range(50)]
    g = open_genotypes(write_vcf(tmp_path / "w.vcf", records, samples=samples, contigs={"1": 10_000_000}),
                       cache_dir=tmp_path / "cache")
    by = compute_hwe_by_group(g, ["A"] * 50 + ["B"] * 50)
    expected = hardy_weinberg_p(np.array([32]), np.array([16]), np.array([2]))[0][0]
    np.testing.assert_allclose(by["p_value_hwe_A"], expected)
    np.testing.assert_allclose(by["p_value_hwe_B"], expected)  # the mirror image: the same test
    assert by["variant_index"].tolist() == [0, 1, 2]
    assert (variant_qc(g)["p_value_hwe"] < 1e-3).all() and expected > 0.5  # pooled: 32 hets where 50 expected
