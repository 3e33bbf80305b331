"""Genotype store (embedded backend), sample_qc and variant_qc on small inputs with hand-computed answers."""

from __future__ import annotations

import gzip
import math
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import Genotypes, open_genotypes, vcf_source
from pmo_workbench.genotypes.alleles import classify_allele
from pmo_workbench.genotypes.contigs import classify_contig, compute_par_mask, guess_build
from pmo_workbench.genotypes.manifest import check_manifest
from pmo_workbench.genotypes.vcf_reader import import_vcf
from pmo_workbench.qc.hwe import hwe_midp_one
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.tables import SAMPLE_QC_COLUMNS, VARIANT_QC_COLUMNS
from pmo_workbench.qc.variant_qc import variant_qc
from tests.vcf_files import format_header
from tests.vcf_files import write_vcf as write_vcf_file

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

HEADER = format_header(["S1", "S2", "S3", "S4"], contigs={"chr1": 248956422, "chrX": 156040895},
                    filters={"LowQual": "low"}, formats=("GT", "DP", "GQ", "AD"))
RECORDS = [
    "chr1\t100\trs1\tA\tG\t50\tPASS\t.\tGT:DP:GQ:AD\t0/0:10:30:10,0\t0/1:20:40:12,8\t1|1:30:50:0,30\t./.:.:.:.",
    "chr1\t200\t.\tC\tT,CA\t.\tLowQual\t.\tGT:DP\t0/1:5\t1/2:.\t0/2:7\t0/0:9",
    "chr1\t300\t.\tAT\tA\t10\t.\t.\tGT\t0/1\t0/0\t0/0\t0/0",
    "chrX\t5000000\t.\tG\tC\t.\tPASS\t.\tGT\t0/1\t1\t0/.\t./1",
    "chrX\t6000000\t.\tT\tC\t.\tPASS\t.\tGT\t1/1\t.\t./.\t0",
]
EXPECTED_GT = [
    [[0, 0], [0, 1], [1, 1], [-1, -1]],
    [[0, 1], [1, 2], [0, 2], [0, 0]],
    [[0, 1], [0, 0], [0, 0], [0, 0]],
    [[0, 1], [1, -2], [0, -2], [1, -2]],
    [[1, 1], [-1, -2], [-1, -1], [0, -2]],
]


def write_vcf(path: Path, records: list[str] = RECORDS) -> Path:
    return write_vcf_file(path, records, header=HEADER)


def quiet_open(path: Path, cache: Path, **kw) -> Genotypes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(path, cache_dir=cache, **kw)


@pytest.fixture
def small(tmp_path: Path) -> Genotypes:
    return quiet_open(write_vcf(tmp_path / "small.vcf"), tmp_path / "cache", format_fields=("DP", "GQ", "AD"))


def test_genotypes_fields_and_metadata(small: Genotypes) -> None:
    g = small
    assert g.call_genotype[:].tolist() == EXPECTED_GT
    assert g.sample_id.tolist() == ["S1", "S2", "S3", "S4"]
    assert (g.n_samples, g.n_variants, g.source_format, g.reference_build) == (4, 5, "vcf", "GRCh38")
    assert g.has_field("DP") and g.has_field("GQ") and g.has_field("AD")
    assert g.call_DP[:].tolist() == [[10, 20, 30, -1], [5, -1, 7, 9]] + [[-1] * 4] * 3
    assert g.call_GQ[:2].tolist() == [[30, 40, 50, -1], [-1] * 4]
    assert g.call_AD[0].tolist() == [[10, 0, -1], [12, 8, -1], [0, 30, -1], [-1, -1, -1]]
    v = g.variants
    assert v["contig"].tolist() == ["chr1"] * 3 + ["chrX"] * 2
    assert v["position"].tolist() == [100, 200, 300, 5_000_000, 6_000_000]
    assert v["id"].tolist() == ["rs1", "", "", "", ""]
    assert v["alt"].tolist() == ["G", "T,CA", "A", "C", "C"]
    assert v["n_alleles"].tolist() == [2, 3, 2, 2, 2]
    assert v["filters"].tolist() == ["PASS", "LowQual", ".", "PASS", "PASS"]
    assert v["qual"].iloc[0] == 50 and math.isnan(v["qual"].iloc[1])
    assert g.contig_kind("chrX") == "X" and g.contig_kind("chr1") == "autosome"
    assert g.is_par("chrX", [10_001, 2_781_480]).tolist() == [True, False]


def test_iter_chunks_masks_and_dosage(small: Genotypes) -> None:
    chunks = list(small.iter_chunks(chunk_size=2))
    assert [(c.start, c.stop) for c in chunks] == [(0, 2), (2, 4), (4, 5)]
    assert chunks[0].dp.tolist() == [[10, 20, 30, -1], [5, -1, 7, 9]]
    mask = np.array([True, False, False, True, True])
    masked = list(small.iter_chunks(chunk_size=2, variant_mask=mask))
    assert [c.index.tolist() for c in masked] == [[0], [3], [4]]
    assert masked[1].gt.tolist() == [EXPECTED_GT[3]]
    assert masked[0].gq.tolist() == [[30, 40, 50, -1]]
    out = list(small.dosage_chunks(chunk_size=10))
    variants, dosage, ploidy = out[0]
    assert variants["position"].tolist() == [100, 300, 5_000_000, 6_000_000]  # multi-allelic skipped
    assert dosage.tolist() == [[0, 1, 2, -1], [1, 0, 0, 0], [1, 1, 0, 1], [2, -1, -1, 0]]
    assert ploidy.tolist() == [[2, 2, 2, 0], [2, 2, 2, 2], [2, 1, 1, 1], [2, 0, 0, 1]]


def test_sample_qc_hand_computed(small: Genotypes) -> None:
    qc = sample_qc(small).set_index("sample_id")
    assert list(qc.reset_index().columns) == SAMPLE_QC_COLUMNS + ["dp_mean", "gq_mean"]
    expected = pd.DataFrame({
        "n_called": [5, 4, 4, 4], "n_not_called": [0, 1, 1, 1], "n_hom_ref": [1, 1, 2, 3],
        "n_het": [3, 2, 1, 0], "n_hom_var": [1, 1, 1, 1], "n_non_ref": [4, 3, 2, 1],
        "n_singleton": [1, 0, 0, 0], "n_snp": [4, 3, 2, 1], "n_insertion": [0, 1, 1, 0],
        "n_deletion": [1, 0, 0, 0], "n_transition": [3, 2, 2, 0], "n_transversion": [1, 1, 0, 1],
    }, index=pd.Index(["S1", "S2", "S3", "S4"], name="sample_id"))
    pd.testing.assert_frame_equal(qc[expected.columns], expected, check_dtype=False)
    np.testing.assert_allclose(qc["call_rate"], [1.0, 0.8, 0.8, 0.8])
    np.testing.assert_allclose(qc["r_ti_tv"], [3.0, 2.0, np.nan, 0.0])
    np.testing.assert_allclose(qc["r_het_hom_var"], [3.0, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(qc["r_insertion_deletion"], [0.0, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(qc["dp_mean"], [7.5, 20.0, 18.5, 9.0])
    np.testing.assert_allclose(qc["gq_mean"], [30.0, 40.0, 50.0, np.nan])


def test_variant_qc_hand_computed(small: Genotypes) -> None:
    vqc = variant_qc(small)
    assert list(vqc.columns) == VARIANT_QC_COLUMNS
    assert vqc["locus"].tolist() == ["chr1:100", "chr1:200", "chr1:300", "chrX:5000000", "chrX:6000000"]
    assert [list(a) for a in vqc["alleles"]] == [["A", "G"], ["C", "T", "CA"], ["AT", "A"], ["G", "C"], ["T", "C"]]
    assert [list(a) for a in vqc["AC"]] == [[3, 3], [4, 2, 2], [7, 1], [2, 3], [1, 2]]
    assert vqc["AN"].tolist() == [6, 8, 8, 5, 3]
    np.testing.assert_allclose(vqc["call_rate"], [0.75, 1.0, 1.0, 1.0, 0.5])
    assert vqc["n_het"].tolist() == [1, 3, 1, 1, 0]
    np.testing.assert_allclose(list(vqc["AF"].iloc[3]), [0.4, 0.6])
    expected_p = [hwe_midp_one(1, 1, 1)[0], np.nan, hwe_midp_one(3, 1, 0)[0], hwe_midp_one(0, 1, 0)[0], 0.5]
    np.testing.assert_allclose(vqc["p_value_hwe"], expected_p)
    assert [None if f is pd.NA else list(f) for f in vqc["filters"]] == [[], ["LowQual"], None, [], []]


def test_hwe_matches_hail_documented_values() -> None:
    # hl.hardy_weinberg_test(250, 500, 250) and (37, 200, 85), from Hail's docstring; 595/448/83 has a tie
    # (het = 446 exactly as likely), checked against Hail 0.2.139: 0.940255690529806
    assert hwe_midp_one(250, 500, 250)[0] == pytest.approx(0.9747844394217698, rel=1e-12)
    assert hwe_midp_one(37, 200, 85)[0] == pytest.approx(1.1337210383168987e-06, rel=1e-9)
    assert hwe_midp_one(595, 448, 83) == pytest.approx((0.940255690529806, 0.46600767822491135), rel=1e-9)
    assert hwe_midp_one(100, 0, 0) == (0.5, 0.5)
    assert all(math.isnan(x) for x in hwe_midp_one(0, 0, 0))


def test_compression_kinds_give_the_same_store(tmp_path: Path) -> None:
    plain = write_vcf(tmp_path / "a.vcf")
    gz = tmp_path / "a.vcf.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    kinds = {"vcf": plain, "vcf.gz": gz}
    if shutil.which("bgzip"):
        bgz = tmp_path / "b.vcf.gz"
        subprocess.run(["bgzip", "-c", str(plain)], stdout=open(bgz, "wb"), check=True)
        kinds["vcf.bgz"] = bgz
    if shutil.which("bcftools"):
        bcf = tmp_path / "a.bcf"
        subprocess.run(["bcftools", "view", "-Ob", "-o", str(bcf), str(plain)], check=True, capture_output=True)
        kinds["bcf"] = bcf
    stores = {k: quiet_open(p, tmp_path / "cache", format_fields=["DP"]) for k, p in kinds.items()}
    for kind, g in stores.items():
        assert g.attrs["source_kind"] == kind
        assert g.call_genotype[:].tolist() == EXPECTED_GT, kind
        assert g.call_DP[:].tolist() == stores["vcf"].call_DP[:].tolist(), kind
        pd.testing.assert_frame_equal(g.variants, stores["vcf"].variants)


def test_gzip_and_bgzf_detected_on_real_files() -> None:
    gz = (SHARED / "1kg_phase3_subset_1126" / "1KG_phase3_subset_chr22.vcf.gz").read_bytes()[:64]
    bgzf = (SHARED / "hail_1kg_chr20_100" / "sample.vcf.gz").read_bytes()[:64]
    assert vcf_source.detect_compression(gz) == "gzip"
    assert vcf_source.detect_compression(bgzf) == "bgzf"


def test_second_open_reuses_the_store(tmp_path: Path) -> None:
    src = write_vcf(tmp_path / "a.vcf")
    g1 = quiet_open(src, tmp_path / "cache")
    marker = g1.store_path / ".complete"
    stamp = marker.stat().st_mtime_ns
    g2 = quiet_open(src, tmp_path / "cache")
    assert g2.store_path == g1.store_path and marker.stat().st_mtime_ns == stamp
    copy = tmp_path / "renamed.vcf"
    shutil.copy(src, copy)
    assert quiet_open(copy, tmp_path / "cache").store_path == g1.store_path  # keyed by content
    write_vcf(copy, RECORDS[:3])
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    g3 = quiet_open(copy, tmp_path / "cache")
    assert g3.store_path != g1.store_path and g3.n_variants == 3


def test_failed_import_leaves_nothing(tmp_path: Path) -> None:
    bad = write_vcf(tmp_path / "bad.vcf", RECORDS[:2] + ["chr1\t400\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/x\t0/0\t0/0"])
    cache = tmp_path / "cache"
    with pytest.raises(InputError) as info:
        quiet_open(bad, cache)
    assert (info.value.line, info.value.field) == (HEADER.count("\n") + 3, "GT")
    assert "S2" in str(info.value) and "bad.vcf" in str(info.value)
    assert not [p for p in cache.iterdir() if p.name != ".stat"]


@pytest.mark.parametrize(("record", "field", "text"), [
    ("chr1\tx\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0\t0/0", "POS", "POS"),
    ("chr1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\t0/0", "sample columns", "4 samples"),
    ("chr1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/2\t0/0\t0/0\t0/0", "GT", "allele index 2"),
    ("chr1\t5\t.\tA\tG\tbad\t.\t.\tGT\t0/1\t0/0\t0/0\t0/0", "QUAL", "QUAL"),
    ("chr1\t5\t.\tA", "CHROM..INFO", "4 tab-separated"),
])
def test_bad_records_name_line_and_field(tmp_path: Path, record: str, field: str, text: str) -> None:
    path = write_vcf(tmp_path / "bad.vcf", RECORDS[:1] + [record])
    with pytest.raises(InputError) as info:
        quiet_open(path, tmp_path / "cache")
    assert info.value.line == HEADER.count("\n") + 2
    assert info.value.field == field
    assert text in str(info.value)


def test_block_boundaries_and_chunking_do_not_change_the_store(tmp_path: Path, monkeypatch) -> None:
    src = SHARED / "1kg_phase3_subset_1126" / "1KG_phase3_subset_chr22.vcf.gz"
    ref = quiet_open(src, tmp_path / "cache")
    monkeypatch.setattr(vcf_source, "BLOCK_SIZE", 50_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(src, tmp_path / "small-blocks.vcz", chunk_rows=97)
    (tmp_path / "small-blocks.vcz" / ".complete").write_text("ok")
    g = Genotypes(tmp_path / "small-blocks.vcz")
    assert g.call_genotype.chunks[0] == 97
    np.testing.assert_array_equal(g.call_genotype[:], ref.call_genotype[:])
    pd.testing.assert_frame_equal(g.variants, ref.variants)


def test_plink_reader_against_bed_reader_writer(tmp_path: Path) -> None:
    bed_reader = pytest.importorskip("bed_reader")
    val = np.array([[0, 1, 2, np.nan], [2, 2, 0, 1], [1, 0, 2, 0]], dtype=np.float32).T  # samples x variants
    props = {"iid": ["a", "b", "c", "d"], "sex": [1, 2, 1, 2], "chromosome": ["1", "1", "X"],
             "bp_position": [100, 200, 5_000_000], "allele_1": ["G", "T", "C"], "allele_2": ["A", "C", "G"]}
    bed_reader.to_bed(tmp_path / "x.bed", val, properties=props)
    g = quiet_open(tmp_path / "x.bed", tmp_path / "cache")
    assert g.source_format == "plink" and g.sample_id.tolist() == ["a", "b", "c", "d"]
    assert g.variants["ref"].tolist() == ["A", "C", "G"] and g.variants["alt"].tolist() == ["G", "T", "C"]
    gt = g.call_genotype[:]
    assert gt[0].tolist() == [[0, 0], [0, 1], [1, 1], [-1, -1]]
    assert gt[1].tolist() == [[1, 1], [1, 1], [0, 0], [0, 1]]
    # non-PAR X: males a and c are haploid; a male het (a) is impossible, so it reads as missing
    assert gt[2].tolist() == [[-1, -2], [0, 0], [1, -2], [0, 0]]
    _, dosage, _ = next(g.dosage_chunks())
    assert dosage[:2].tolist() == [[0, 1, 2, -1], [2, 2, 0, 1]]


def test_check_manifest_lists_ids_by_name(tmp_path: Path) -> None:
    g = quiet_open(SHARED / "hail_1kg_chr20_100" / "sample.vcf.gz", tmp_path / "cache")
    # 37 IDs carry a C####:: prefix; some of those samples also appear without it
    plain = list(dict.fromkeys(s.split("::")[-1] for s in g.sample_id))
    manifest = pd.DataFrame({"sample_id": plain[:-2] + ["NOT_SEQUENCED"]})
    check = check_manifest(g, manifest)
    assert not check.ok
    store = set(g.sample_id)
    assert check.missing_from_genotypes == [p for p in plain[:-2] if p not in store] + ["NOT_SEQUENCED"]
    assert check.missing_from_manifest == [s for s in g.sample_id if s not in set(plain[:-2])]
    assert check.prefixed and all(k.endswith("::" + v) for k, v in check.prefixed.items())
    with pytest.raises(InputError, match="NOT_SEQUENCED"):
        check.raise_if_mismatched("manifest.tsv")
    assert check_manifest(g, pd.DataFrame({"sample_id": list(g.sample_id)})).ok


def test_contigs_builds_and_allele_types() -> None:
    assert [classify_contig(c) for c in ["chr1", "22", "chrX", "23", "Y", "chrM", "26", "GL000192.1"]] == \
        ["autosome", "autosome", "X", "X", "Y", "MT", "MT", "other"]
    assert compute_par_mask("X", np.array([60_000, 60_001, 2_699_520, 154_931_044]), "GRCh37").tolist() == \
        [False, True, True, True]
    assert compute_par_mask("chrX", np.array([10_001, 2_781_479, 2_781_480]), "GRCh38").tolist() == \
        [True, True, False]
    assert guess_build({"1": 249_250_621}) == "GRCh37" and guess_build({"chr1": 248_956_422}) == "GRCh38"
    assert guess_build({}, "##reference=file:///ref/hs37d5.fa") == "GRCh37" and guess_build({}) is None
    # Hail's numeric_allele_type: 1 transition, 2 transversion, 3 MNP, 4 ins, 5 del, 6 complex, 7 star, 8 symbolic
    cases = [("A", "G"), ("A", "T"), ("A", "N"), ("AC", "AT"), ("AC", "GT"), ("A", "AT"), ("AT", "A"),
             ("AT", "GC"), ("A", "*"), ("A", "<DEL>"), ("a", "g")]
    assert [classify_allele(r, a) for r, a in cases] == [1, 2, 2, 1, 3, 4, 5, 3, 7, 8, 0]


def test_fast_and_general_count_paths_agree(tmp_path: Path) -> None:
    """The lookup-table path for biallelic rows equals the general kernel on real chrX data (haploid males)."""
    from pmo_workbench.genotypes import call_counts as cc
    from pmo_workbench.genotypes.alleles import classify_alt_alleles
    from pmo_workbench.genotypes.call_counts import count_general_rows

    g = quiet_open(SHARED / "1kg_phase3_subset_1126" / "1KG_phase3_subset_chrX.vcf.gz", tmp_path / "cache")
    fast = cc.compute_call_counts(g, chunk_size=300)
    v = g.variants
    n_alleles = v["n_alleles"].to_numpy().astype(np.int64)
    atype = classify_alt_alleles(v["ref"].to_numpy(), v["alt"].to_numpy(), n_alleles)
    gt = g.call_genotype[:]
    rows = np.arange(g.n_variants)
    ac = np.zeros((g.n_variants, fast.ac.shape[1]), np.int32)
    vals = [np.zeros(g.n_variants, np.int64) for _ in range(4)]
    sample = np.zeros_like(fast.sample)
    count_general_rows(gt, rows, n_alleles, atype, ac, *vals, sample)
    assert (n_alleles == 2).mean() > 0.9 and (gt[:, :, 1] == -2).any()
    np.testing.assert_array_equal(fast.sample, sample)
    np.testing.assert_array_equal(fast.ac, ac)
    for got, want in zip((fast.n_called, fast.n_het, fast.n_hom_ref, fast.n_hom_var), vals, strict=True):
        np.testing.assert_array_equal(got, want)
