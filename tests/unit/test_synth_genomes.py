"""Unit tests of the synthetic genome simulator and the VCF/BGZF writer (60 samples x 2,000 variants)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.synth.genomes import PAR1, _problem_counts, simulate_genomes
from pmo_workbench.synth.vcf_writer import (
    BGZF_BLOCK_SIZE,
    BGZF_EOF,
    BgzfWriter,
    encode_prefixes,
    format_records,
)

N_SAMPLES, N_VARIANTS, SEED = 60, 2_000, 11


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate_genomes(N_SAMPLES, N_VARIANTS, SEED, tmp_path_factory.mktemp("g1"))


@pytest.fixture(scope="module")
def calls(sim):
    """The VCF parsed by plain Python: positions, contigs and the per-sample GT/DP/GQ/AD strings."""
    rows = [line.split("\t") for line in gzip.open(sim.vcf_path, "rt") if not line.startswith("#")]
    chrom = np.array([r[0] for r in rows])
    pos = np.array([int(r[1]) for r in rows])
    cells = np.array([r[9:] for r in rows])
    cells[:, -1] = np.char.rstrip(cells[:, -1], "\n")
    return chrom, pos, cells


def test_same_seed_same_bytes_other_seed_other_bytes(sim, tmp_path):
    again = simulate_genomes(N_SAMPLES, N_VARIANTS, np.random.SeedSequence(SEED), tmp_path / "again")
    for name in ("cohort.vcf.gz", "cohort.vcf.gz.tbi", "pedigree.ped"):
        assert (tmp_path / "again" / name).read_bytes() == (sim.vcf_path.parent / name).read_bytes(), name
    pd.testing.assert_frame_equal(again.samples, sim.samples)
    pd.testing.assert_frame_equal(again.causal_variants, sim.causal_variants)
    other = simulate_genomes(N_SAMPLES, N_VARIANTS, SEED + 1, tmp_path / "other", fields="GT")
    assert other.vcf_path.read_bytes() != sim.vcf_path.read_bytes()


def test_bgzf_blocks_follow_the_spec(sim):
    data = sim.vcf_path.read_bytes()
    assert data.endswith(BGZF_EOF)
    p, n_blocks = 0, 0
    while p < len(data):
        assert data[p : p + 4] == b"\x1f\x8b\x08\x04"
        assert data[p + 4 : p + 8] == b"\0\0\0\0"  # mtime 0: reproducible
        assert data[p + 12 : p + 16] == b"BC\x02\x00"
        bsize = struct.unpack_from("<H", data, p + 16)[0] + 1
        isize = struct.unpack_from("<I", data, p + bsize - 4)[0]
        assert isize <= BGZF_BLOCK_SIZE
        p += bsize
        n_blocks += 1
    assert p == len(data) and n_blocks > 3
    assert gzip.decompress(data).startswith(b"##fileformat=VCFv4.2\n")


def test_bgzf_writer_is_atomic_and_round_trips(tmp_path):
    payload = bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8))  # incompressible
    with BgzfWriter(tmp_path / "x.gz", threads=2) as w:
        assert w.write(payload[:70_000]) == 0
        assert w.write(payload[70_000:]) == 70_000
        assert not (tmp_path / "x.gz").exists()  # only the temporary file while writing
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == payload
    with pytest.raises(RuntimeError), BgzfWriter(tmp_path / "y.gz") as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [tmp_path / "x.gz"]


def test_format_records_by_hand():
    prefix, offsets = encode_prefixes(["chr1\t5\t.\tA\tC\t.\tPASS\t.\tGT:DP:GQ:AD", "chrX\t9\t.\tG\tT\t.\tPASS\t.\tGT:DP:GQ:AD"])
    gt = np.array([[0, 1, 3], [4, 5, 6]], dtype=np.int8)
    dp = np.array([[30, 12345, 0], [7, 150000, 0]])
    gq = np.array([[99, 0, 0], [20, 99, 0]])
    adr = np.array([[30, 6000, 0], [7, 0, 0]])
    ada = np.array([[0, 6345, 0], [0, 9, 0]])
    text, starts = format_records(prefix, offsets, gt, dp, gq, adr, ada, with_depth=True)
    lines = text.decode().splitlines()
    assert lines[0].split("\t")[9:] == ["0/0:30:99:30,0", "0/1:12345:0:6000,6345", "./.:.:.:."]
    assert lines[1].split("\t")[9:] == ["0:7:20:7,0", "1:99999:99:0,9", ".:.:.:."]
    assert starts.tolist() == [0, len(lines[0]) + 1, len(text)]


def test_truth_frames_are_consistent(sim):
    smp, ind = sim.samples, sim.individuals
    assert len(smp) == N_SAMPLES and smp["sample_id"].is_unique
    expected = _problem_counts(N_SAMPLES)
    got = smp["problem"].value_counts().to_dict()
    assert got == {k: v * (2 if k in ("duplicate", "sample_swap") else 1) for k, v in expected.items()}
    # swap: the two columns hold each other's DNA and their people differ in sex
    swap = smp[smp["problem"] == "sample_swap"]
    assert (swap["individual"] != swap["true_individual"]).all()
    assert set(swap["individual"]) == set(swap["true_individual"])
    assert ind.loc[swap["true_individual"], "sex"].nunique() == 2
    assert (ind.loc[swap["individual"], "role"] == "child").any()  # detectable through the family
    others = smp[smp["problem"] != "sample_swap"]
    assert (others["individual"] == others["true_individual"]).all()
    # duplicate: one person, two columns, two batches
    dup = smp[smp["problem"] == "duplicate"]
    assert dup["individual"].nunique() == 1 and dup["batch"].nunique() == 2
    # sex: flipped exactly for the sex mismatches
    genetic = ind.loc[smp["true_individual"], "sex"].to_numpy()
    differs = smp["reported_sex"].to_numpy() != genetic
    assert set(smp.index[differs]) == set(smp.index[smp["problem"].isin(["sex_mismatch", "sample_swap"])])
    # families: parents are founders of the same family and the right sexes
    kids = ind[ind["role"] == "child"]
    assert len(kids) >= 3
    assert (ind.loc[kids["father"], "sex"] == "M").all() and (ind.loc[kids["mother"], "sex"] == "F").all()
    assert (ind.loc[kids["father"], "family_id"].to_numpy() == kids["family_id"].to_numpy()).all()
    in_fam = smp["individual"].map(ind.set_index("individual")["family_id"]).notna().mean()
    assert 0.05 <= in_fam <= 0.15
    assert set(ind["population"]) == {"NEU", "MDE", "SAS", "AFR"}
    assert (ind["population"] == "NEU").mean() > 0.8
    assert sim.variants_written == N_VARIANTS == sum(sim.variants_per_contig.values())
    assert 0.04 <= sim.variants_per_contig["chrX"] / N_VARIANTS <= 0.06


def test_ped_is_the_claimed_pedigree(sim):
    ped = pd.read_csv(sim.ped_path, sep="\t", header=None, names=["fid", "iid", "pat", "mat", "sex", "pheno"],
                      dtype=str)  # fmt: skip
    smp, ind = sim.samples, sim.individuals
    primary = smp.drop_duplicates("individual").set_index("individual")
    assert ped["iid"].tolist() == sorted(primary["sample_id"])
    ped = ped.set_index("iid")
    for i, row in ind[ind["role"] == "child"].iterrows():
        sid = primary.at[i, "sample_id"]
        for col, parent in (("pat", row["father"]), ("mat", row["mother"])):
            want = primary.at[parent, "sample_id"] if parent in primary.index else f"I{parent:05d}"
            assert ped.at[sid, col] == want
        assert ped.at[sid, "fid"] == row["family_id"]
    reported = primary.set_index("sample_id")["reported_sex"].map({"M": "1", "F": "2"})
    assert (ped["sex"] == reported[ped.index]).all()


def test_genotype_fields_are_coherent(sim, calls):
    chrom, pos, cells = calls
    parts = np.char.partition(cells, ":")
    gt = parts[:, :, 0]
    missing = np.isin(gt, ["./.", "."])
    assert (cells[missing] == np.char.add(gt[missing], ":.:.:.")).all()
    rest = parts[:, :, 2][~missing]
    dp, gq, ad = (np.array(x) for x in zip(*(r.split(":") for r in rest), strict=True))
    dp, gq = dp.astype(int), gq.astype(int)
    adr, ada = (a.astype(int) for a in np.char.partition(ad, ",")[:, [0, 2]].T)
    assert (adr + ada == dp).all() and (gq <= 99).all() and (gq >= 0).all()
    called = gt[~missing]
    het_ab = ada[called == "0/1"] / dp[called == "0/1"]
    assert 0.45 < het_ab.mean() < 0.55
    assert (ada[called == "0/0"] / dp[called == "0/0"]).mean() < 0.01
    # batches differ in depth
    batch = np.broadcast_to(sim.samples["batch"].to_numpy(), cells.shape)[~missing]
    auto = np.broadcast_to((chrom != "chrX")[:, None], cells.shape)[~missing]
    depth = {b: dp[(batch == b) & auto].mean() for b in ("B1", "B2", "B3")}
    assert depth["B1"] > depth["B2"] > depth["B3"]
    # call rates: low-call-rate samples miss 10-20 %, the others little
    miss = missing.mean(axis=0)
    low = (sim.samples["problem"] == "low_call_rate").to_numpy()
    assert ((miss[low] > 0.08) & (miss[low] < 0.25)).all()
    assert miss[~low].max() < 0.06


def test_chrx_ploidy_follows_genetic_sex(sim, calls):
    chrom, pos, cells = calls
    gt = np.char.partition(cells, ":")[:, :, 0]
    male = (sim.individuals.loc[sim.samples["true_individual"], "sex"] == "M").to_numpy()
    x = chrom == "chrX"
    par = x & (pos >= PAR1[0]) & (pos <= PAR1[1])
    non_par = x & ~par
    assert par.sum() > 5 and non_par.sum() > 50
    assert np.isin(gt[np.ix_(non_par, male)], ["0", "1", "."]).all()  # haploid, never heterozygous
    assert np.isin(gt[np.ix_(non_par, ~male)], ["0/0", "0/1", "1/1", "./."]).all()
    assert (gt[np.ix_(non_par, ~male)] == "0/1").mean() > 0.02
    assert np.isin(gt[np.ix_(par, male)], ["0/0", "0/1", "1/1", "./."]).all()  # diploid in PAR1
    assert (gt[np.ix_(par, male)] == "0/1").any()


def test_allele_frequencies_and_genetic_scores(sim, calls):
    chrom, pos, cells = calls
    gt = np.char.partition(cells, ":")[:, :, 0]
    dosage = np.select([gt == "0/0", gt == "0/1", gt == "1/1"], [0.0, 1.0, 2.0], np.nan)
    auto = chrom != "chrX"
    af = np.nanmean(dosage[auto], axis=1) / 2
    maf = np.minimum(af, 1 - af)
    assert (maf < 0.05).mean() > 0.3  # a healthy share of rare variants
    # the causal variants are common autosomal SNVs present in the VCF
    cv = sim.causal_variants
    assert cv.groupby("trait").size().to_dict() == {"ldl": 30, "mi": 20}
    assert cv["chrom"].ne("chrX").all() and cv["af"].between(0.05, 0.5).all()
    assert not cv.duplicated(["chrom", "pos"]).any()
    key = pd.Series(np.arange(len(pos)), index=pd.MultiIndex.from_arrays([chrom, pos]))
    rows = key[pd.MultiIndex.from_arrays([cv["chrom"], cv["pos"]])].to_numpy()
    # scores from the called genotypes of each column follow the column's TRUE individual
    gs = sim.genetic_scores.set_index("individual")
    assert np.allclose(gs.mean(), 0, atol=1e-9) and np.allclose(gs.std(ddof=0), 1)
    ok = sim.samples["problem"].isna().to_numpy() | (sim.samples["problem"] == "sample_swap").to_numpy()
    for trait in ("mi", "ldl"):
        sel = (cv["trait"] == trait).to_numpy()
        d = dosage[rows[sel]][:, ok]
        d = np.where(np.isnan(d), np.nanmean(d, axis=1, keepdims=True), d)  # missing calls: mean dosage
        from_calls = cv.loc[sel, "effect"].to_numpy() @ d
        truth = gs.loc[sim.samples["true_individual"][ok], f"{trait}_score"].to_numpy()
        labelled = gs.loc[sim.samples["individual"][ok], f"{trait}_score"].to_numpy()
        r_truth, r_label = np.corrcoef(from_calls, truth)[0, 1], np.corrcoef(from_calls, labelled)[0, 1]
        assert r_truth > 0.95
        if trait == "ldl":  # MI's score is dominated by its major locus: one call error there outweighs a swap
            assert r_truth > r_label  # the swapped columns follow the DNA, not the label


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="fields"):
        simulate_genomes(60, 1_000, 1, tmp_path, fields="GT:PL")
    with pytest.raises(ValueError, match="too small"):
        simulate_genomes(12, 1_000, 1, tmp_path)
    assert not any(tmp_path.glob("*.vcf.gz"))
