"""The KING C kernel (ckernels/king.c via ckernels.king) against pair counts and kinship computed directly with
numpy from the dosages, on every code path: one row and two rows at a time, rows split over threads, row widths
that are not a multiple of the vector width, missing calls."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pmo_workbench.ckernels import king

kinship_module = importlib.import_module("pmo_workbench.qc.kinship")


def oracle(d: np.ndarray) -> dict[str, np.ndarray]:
    """Pair counts of dosages d [sites, samples] (-1 missing) by brute force."""
    het, hom = (d == 1).astype(np.int64), ((d == 0) | (d == 2)).astype(np.int64)
    opposite = ((d[:, :, None] == 0) & (d[:, None, :] == 2)) | ((d[:, :, None] == 2) & (d[:, None, :] == 0))
    return {"hethet": np.einsum("ki,kj->ij", het, het), "het_hom": np.einsum("ki,kj->ij", het, hom),
            "homhom": np.einsum("ki,kj->ij", hom, hom), "ibs0": opposite.sum(0)}


def random_dosage(sites: int, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    af = rng.beta(0.4, 1.0, sites)[:, None]
    d = (rng.random((sites, samples)) < af).astype(np.int8) + (rng.random((sites, samples)) < af)
    d[rng.random((sites, samples)) < 0.05] = -1
    d[:, 1] = d[:, 0]  # a duplicate pair
    return d


@pytest.mark.parametrize(("sites", "samples", "threads"), [(1, 2, 1), (70, 5, 1), (600, 9, 2), (4096, 33, 3),
                                                           (5000, 64, 2)])
def test_pair_counts_equal_brute_force(sites: int, samples: int, threads: int) -> None:
    d = random_dosage(sites, samples, seed=sites)
    want = oracle(d)
    counts = {k: np.zeros((samples, samples), np.uint32) for k in want}
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, sites, 4096):
            het, ref, alt = king.pack_genotype_indicators(d[start:start + 4096])
            king.add_pair_counts(het, ref, alt, counts, pool=pool, shares=king.split_rows(samples, threads))
    upper = np.triu(np.ones((samples, samples), bool), 1)
    counts["homhom"] = counts["homhom"].T  # stored transposed (lower triangle), to share hethet's matrix
    for k in ("hethet", "homhom", "ibs0"):
        np.testing.assert_array_equal(counts[k][upper], want[k][upper], err_msg=k)
        assert not counts[k][~upper].any()
    off = ~np.eye(samples, dtype=bool)
    np.testing.assert_array_equal(counts["het_hom"][off], want["het_hom"][off])


def test_kinship_equals_plink2s_formula_by_hand() -> None:
    d = random_dosage(3000, 12, seed=4)
    c = king.compute_king_counts([d[:1000], d[1000:]])
    phi = kinship_module.compute_king_kinship(c)
    w = oracle(d)
    i, j = np.triu_indices(12, 1)
    a, b = w["het_hom"][i, j], w["het_hom"][j, i]
    expected = 0.5 - (4 * w["ibs0"][i, j] + a + b) / (4 * (w["hethet"][i, j] + np.minimum(a, b)))
    np.testing.assert_allclose(phi[i, j], expected, rtol=1e-15)
    np.testing.assert_array_equal(phi[j, i], phi[i, j])
    assert np.isnan(np.diag(phi)).all()
    assert phi[0, 1] == pytest.approx(0.5)  # the duplicate pair


def test_row_shares_balance_the_triangle() -> None:
    n = 1001
    shares = king.split_rows(n, 3)
    assert sorted(np.concatenate(shares).tolist()) == list(range(n))
    work = [int(sum(n - 1 - r for r in s)) for s in shares]
    assert max(work) - min(work) < 0.01 * sum(work)
    assert all((np.diff(s) > 0).all() for s in shares)


@pytest.mark.parametrize(("sites", "samples"), [(1, 2), (70, 5), (5000, 33)])
def test_planes_from_packed_rows_equal_those_from_dosages(sites: int, samples: int) -> None:
    """The kinship pass on a store reads 2-bit rows straight into bit planes (no int8 dosage block): the same
    counts as from the dosages, for any row subset and order, and mixed with dosage blocks."""
    from pmo_workbench.genotypes.packed_calls import pack_calls

    d = random_dosage(sites, samples, seed=sites + 1)
    gt = np.stack([np.minimum(d, 1), np.where(d < 0, -1, d - np.minimum(d, 1))], axis=2).astype(np.int8)
    gt[d < 0] = -1
    packed, ok = pack_calls(gt)
    assert ok.all()
    rows = np.random.default_rng(0).permutation(sites)[: max(sites * 3 // 4, 1)]
    planes = king.pack_packed_indicators(packed, rows, samples)
    for got, want in zip(planes, king.pack_genotype_indicators(d[rows]), strict=True):
        np.testing.assert_array_equal(got, want)
    half = sites // 2
    mixed = king.compute_king_counts_packed([(packed, np.arange(half)), d[half:]], samples)
    want = oracle(d)
    upper = np.triu(np.ones((samples, samples), bool), 1)
    assert mixed.n_sites == sites
    for k in ("hethet", "homhom", "ibs0"):
        np.testing.assert_array_equal(getattr(mixed, k)[upper], want[k][upper], err_msg=k)
    off = ~np.eye(samples, dtype=bool)
    np.testing.assert_array_equal(mixed.het_hom[off], want["het_hom"][off])


def test_counts_share_one_matrix_and_pairs_are_chosen_without_a_kinship_matrix() -> None:
    """hethet and homhom share one uint32 matrix (homhom transposed in its lower triangle); the pairs above a
    cut, chosen in C, are exactly those of the full kinship matrix, with the same values, in row order."""
    d = random_dosage(3000, 40, seed=9)
    d[:, 7] = np.where(np.random.default_rng(1).random(3000) < 0.5, d[:, 3], d[:, 7])  # a related pair
    c = king.compute_king_counts([d[:1700], d[1700:]])
    assert c.hethet.dtype == np.uint32 and np.shares_memory(c.hethet, c.homhom)
    w = oracle(d)
    upper = np.triu(np.ones((40, 40), bool), 1)
    for k in ("hethet", "homhom", "ibs0"):
        np.testing.assert_array_equal(getattr(c, k)[upper], w[k][upper], err_msg=k)
    phi = king.compute_phi(c.hethet, c.het_hom, c.ibs0)
    for cut in (0.0442, 0.2, -0.5, 1.0):
        i, j, got = king.select_pairs(c, cut)
        wi, wj = np.nonzero((phi > cut) & upper)
        assert i.tolist() == wi.tolist() and j.tolist() == wj.tolist()
        np.testing.assert_array_equal(got, phi[wi, wj])
    assert (0, 1) in set(zip(*king.select_pairs(c, 0.4)[:2], strict=True))  # the duplicate pair
    assert len(king.select_pairs(c, -10.0)[0]) == 40 * 39 // 2  # more than the first guess of room: asks again
    pi, pj = np.array([0, 3, 5]), np.array([1, 7, 39])
    np.testing.assert_array_equal(king.pair_phi(c, pi, pj), phi[pi, pj])


def test_kinship_table_without_the_kinship_matrix_equals_the_one_from_it() -> None:
    """tabulate_kinship (pairs chosen in C) reports the pairs and kinships the n x n matrix gives."""
    d = random_dosage(2000, 30, seed=11)
    d[:, 9] = d[:, 4]
    c = king.compute_king_counts([d])
    ids = np.array([f"S{k}" for k in range(30)])
    table = kinship_module.tabulate_kinship(c, ids, min_kinship=0.0)
    phi = kinship_module.compute_king_kinship(c)
    i, j = np.nonzero(np.triu(phi > 0.0, 1))
    want = sorted(zip(ids[i], ids[j], phi[i, j], strict=True), key=lambda r: -r[2])
    got = list(zip(table["sample_i"], table["sample_j"], table["kinship"], strict=True))
    assert sorted(got) == sorted(want) and len(got) > 0
    assert table["kinship"].is_monotonic_decreasing
    top = {tuple(r) for r in table.head(2)[["sample_i", "sample_j", "relationship_detail"]].to_numpy().tolist()}
    assert top == {("S0", "S1", "duplicate/MZ"), ("S4", "S9", "duplicate/MZ")}
