"""Sample and variant order on the Hail backend: msprime-style IDs (``tsk_0, tsk_1, ..., tsk_10``) whose lexical
order is not the file's, and records that are not sorted by position.

Hail sorts every keyed table by its key, so ``mt.cols()`` lists ``tsk_10`` before ``tsk_2``; QC tables built from
it came out in that order (``sample_qc`` raised "samples in another order", and ``impute_sex`` silently paired
one sample's F with another's ID). Hail also sorts the rows by locus, while the embedded store and every variant
mask keep the file's order. The VCF is written by hand: 12 samples, 300 autosomal records in shuffled order, and
non-PAR chrX sites with haploid male calls; ``tsk_10`` is a copy of ``tsk_3`` (a duplicate pair whose order
differs between file and lexical order). The oracle is the embedded backend and the construction itself (males
F = 1, the duplicate pair, the sites a mask selects). Also: the pair counts behind our Hail kinship give exactly
``hl.king``'s ``phi``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.qc.ancestry import ancestry
from pmo_workbench.qc.kinship import compute_king_kinship, compute_kinship_counts, kinship
from pmo_workbench.qc.sample_qc import compute_common_heterozygosity, sample_qc
from pmo_workbench.qc.sex import impute_sex
from tests.vcf_files import format_record, write_vcf

pytestmark = pytest.mark.hail

SAMPLES = [f"tsk_{i}" for i in range(12)]
MALES = {s for i, s in enumerate(SAMPLES) if i % 2 == 0}


def _write_vcf(path: Path) -> Path:
    rng = np.random.default_rng(7)
    lines = []
    for k in rng.permutation(300):
        p = rng.uniform(0.1, 0.9)
        calls = [f"{int(rng.random() < p)}/{int(rng.random() < p)}".replace("1/0", "0/1") for _ in SAMPLES]
        calls[10] = calls[3]  # tsk_10 is a duplicate of tsk_3
        if k % 7 == 0:
            calls[5] = "./."
        lines.append(format_record("1", 10_000 + 1_000 * k, "A", "G", calls))
    for k in range(80):
        p = rng.uniform(0.2, 0.8)
        calls = [str(int(rng.random() < p)) if s in MALES else
                 f"{int(rng.random() < p)}/{int(rng.random() < p)}".replace("1/0", "0/1") for s in SAMPLES]
        lines.append(format_record("X", 5_000_000 + 10_000 * k, "C", "T", calls))
    return write_vcf(path, lines, samples=SAMPLES, contigs={"1": 249250621, "X": 155270560})


@pytest.fixture(scope="module")
def tsk(hail_session, tmp_path_factory: pytest.TempPathFactory):
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.genotypes.hail_backend import open_hail_genotypes

    folder = tmp_path_factory.mktemp("tsk")
    vcf = _write_vcf(folder / "tsk.vcf")
    return open_hail_genotypes(vcf, folder / "hail"), open_genotypes(vcf, cache_dir=folder / "embedded")


def test_hail_sorts_its_column_table_lexically(tsk) -> None:
    """The cause: a keyed cols() table is in lexical order, not the file's."""
    h, _ = tsk
    assert h.mt.cols().s.collect()[:3] == ["tsk_0", "tsk_1", "tsk_10"]
    assert list(h.sample_id) == SAMPLES


def test_sample_qc_and_sex_are_in_file_order_and_equal_embedded(tsk) -> None:
    h, e = tsk
    qc = sample_qc(h)
    assert qc["sample_id"].tolist() == SAMPLES
    pd.testing.assert_frame_equal(qc, sample_qc(e))
    assert qc.set_index("sample_id").loc["tsk_5", "n_not_called"] == 43  # the only sample with missing calls
    manifest = pd.DataFrame({"sample_id": SAMPLES[::-1], "reported_sex": ["M" if s in MALES else "F"
                                                                          for s in SAMPLES[::-1]]})
    sex = impute_sex(h, manifest)
    pd.testing.assert_frame_equal(sex, impute_sex(e, manifest))
    by_id = sex.set_index("sample_id")
    males = sorted(MALES)
    assert (by_id.loc[males, "f_stat"] == 1.0).all() and (by_id.loc[males, "genetic_sex"] == "M").all()
    assert (by_id.drop(index=males)["f_stat"] < 0.8).all()
    assert not by_id["mismatch"].any()


def test_kinship_pairs_follow_file_order_and_equal_embedded(tsk) -> None:
    h, e = tsk
    kin = kinship(h, min_kinship=-1.0)  # every pair
    assert len(kin) == 12 * 11 // 2
    pd.testing.assert_frame_equal(kin, kinship(e, min_kinship=-1.0), check_exact=False, rtol=0, atol=1e-9)
    top = kin.iloc[0]
    assert (top.sample_i, top.sample_j, top.kinship, top.relationship) == ("tsk_3", "tsk_10", 0.5, "duplicate/MZ")
    assert top.ibs0 == 0.0 and top.n_snp == 300


def test_file_order_masks_select_the_same_sites_on_both_backends(tsk) -> None:
    """Kinship, common heterozygosity and ancestry with a file-order mask on unsorted records: the rows a mask
    selects in Hail's locus-sorted MatrixTable are the file's, and the ancestry's runs of ``chunk_size``
    records (LD pruning runs within one) are the embedded store's."""
    h, e = tsk
    assert not h.variants["position"].iloc[:300].is_monotonic_increasing  # the file is unsorted
    mask = np.arange(h.n_variants) % 3 != 0
    picked = h.select_variants(mask)
    index = np.array(picked.variant_index.collect())
    assert sorted(index.tolist()) == np.flatnonzero(mask).tolist()
    assert np.array(picked.locus.position.collect()).tolist() == h.variants["position"].to_numpy()[index].tolist()

    kin = kinship(h, variant_mask=mask, min_maf=0.1)
    pd.testing.assert_frame_equal(kin, kinship(e, variant_mask=mask, min_maf=0.1), check_exact=False,
                                  rtol=0, atol=1e-9)
    assert kin.iloc[0].sample_j == "tsk_10" and kin.iloc[0].n_snp <= 200
    het = compute_common_heterozygosity(h, mask, 0.1)
    pd.testing.assert_frame_equal(het, compute_common_heterozygosity(e, mask, 0.1))
    assert het.set_index("sample_id").loc["tsk_5", "n_called_common"] < het["n_called_common"].max()

    anc = ancestry(h, k=3, min_maf=0.1, chunk_size=64, variant_mask=mask)
    emb = ancestry(e, k=3, min_maf=0.1, chunk_size=64, variant_mask=mask)
    assert anc.attrs["n_sites"] == emb.attrs["n_sites"] > 20
    pd.testing.assert_frame_equal(anc, emb, check_exact=False, rtol=0, atol=1e-9)


def test_hail_counts_give_hl_king_phi(tsk, hail_session) -> None:
    """Our block-matrix counts reproduce Hail's own ``hl.king`` on every pair (the tiny data keeps it quick)."""
    hl = hail_session
    h, _ = tsk
    counts = compute_kinship_counts(h)
    assert counts.n_sites == 300
    ours = compute_king_kinship(counts)
    auto = h.mt.filter_rows(h.mt.locus.contig == "1")
    king = hl.king(auto.GT).entries().to_pandas()
    index = {s: i for i, s in enumerate(SAMPLES)}
    pairs = king[king["s_1"] != king["s"]]
    expected = pairs["phi"].to_numpy()
    got = ours[pairs["s_1"].map(index).to_numpy(), pairs["s"].map(index).to_numpy()]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert len(pairs) == 12 * 11
