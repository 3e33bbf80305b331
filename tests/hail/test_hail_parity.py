"""The Hail backend returns the same QC tables as the embedded backend, on real shared data.

Counts must be identical, rates and p-values equal within 1e-9 (relative). The conventions where plain Hail
methods would differ (padded ``0/.`` male calls, ``n_het``/HWE on haploid calls, ``hl.agg.inbreeding`` on
haploid calls) are tested explicitly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes.hail_backend import choose_reference, open_hail_genotypes
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.sex import impute_sex
from pmo_workbench.qc.variant_qc import variant_qc
from tests.vcf_files import format_record, write_vcf

pytestmark = pytest.mark.hail

HAIL_1KG = "hail_1kg_chr20_100/sample.vcf.gz"
GIAB = "giab_ashkenazi_trio/ashk-trio.vcf.gz"
TINY = "1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz"
PHASE3_X = "1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz"
PLINK = "plink_1kg_eur_chr20/ldsc.bed"


def _plain(value: object) -> object:
    if isinstance(value, (list, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def assert_tables_equal(hail: pd.DataFrame, embedded: pd.DataFrame) -> None:
    """Same columns, dtypes and rows; floats (also inside lists) within 1e-9 relative."""
    assert list(hail.columns) == list(embedded.columns)
    assert len(hail) == len(embedded)
    for col in embedded.columns:
        h, e = hail[col], embedded[col]
        assert str(h.dtype) == str(e.dtype), col
        if e.dtype.kind == "f":
            np.testing.assert_allclose(h.to_numpy(), e.to_numpy(), rtol=1e-9, atol=0, equal_nan=True, err_msg=col)
        elif col == "AF":
            for a, b in zip(h.tolist(), e.tolist(), strict=True):
                np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, err_msg=col)
        else:
            assert [_plain(v) for v in h.tolist()] == [_plain(v) for v in e.tolist()], col


@pytest.mark.parametrize("name", [HAIL_1KG, GIAB, TINY, PLINK])
def test_sample_and_variant_qc_equal_embedded(opened, hail_tables, name: str) -> None:
    h, e = opened(name)
    assert list(h.sample_id) == list(e.sample_id)
    assert_tables_equal(h.variants, e.variants)
    hs, hv = hail_tables(name)
    assert_tables_equal(hs, sample_qc(e))
    assert (hs.n_called + hs.n_not_called == h.n_variants).all()
    assert_tables_equal(hv, variant_qc(e))
    assert hv.p_value_hwe.notna().any()


def test_written_qc_tables_equal_embedded(opened, tmp_path: Path) -> None:
    """write_qc_tables of a Hail set (its tables made whole, then written) reads back as the embedded set's
    files, written batch by batch (#16)."""
    from pmo_workbench.qc.qc_files import read_qc_table, write_qc_tables

    h, e = opened(HAIL_1KG)
    hail_files = write_qc_tables(h, tmp_path / "hail")
    embedded_files = write_qc_tables(e, tmp_path / "embedded", batch_variants=100)
    assert embedded_files.n_batches == -(-e.n_variants // 100) and hail_files.n_batches == 1
    for name in ("sample_qc", "variant_qc"):
        assert_tables_equal(read_qc_table(getattr(hail_files, name)), read_qc_table(getattr(embedded_files, name)))


def test_dp_gq_means_and_filters_come_through(opened, hail_tables) -> None:
    h, _ = opened(HAIL_1KG)
    assert h.has_field("DP") and h.has_field("GQ") and h.has_field("AD")
    qc, vqc = hail_tables(HAIL_1KG)
    assert {"dp_mean", "gq_mean"} <= set(qc.columns) and (qc.dp_mean > 0).all()
    # 312 PASS records -> [], the other 34 name their VQSR tranche
    assert sum(len(f) == 0 for f in vqc.filters) == 312
    assert all(f[0].startswith("VQSRTranche") for f in vqc.filters if len(f))


def test_hail_keeps_only_the_requested_entry_fields(hail_session, shared: Path, tmp_path: Path) -> None:
    """GT only by default, as the embedded backend; asking for DP re-imports with it, and the depth means equal
    the embedded backend's (#16)."""
    from pmo_workbench.genotypes import open_genotypes

    path = shared / HAIL_1KG
    h = open_genotypes(path, backend="hail", cache_dir=tmp_path / "hail")
    assert list(h.mt.entry) == ["GT"] and not h.has_field("DP") and h.fields_not_imported == ["DP", "GQ", "AD"]
    e = open_genotypes(path, cache_dir=tmp_path / "embedded")
    assert_tables_equal(sample_qc(h), sample_qc(e))
    assert "dp_mean" not in sample_qc(h)
    h = open_genotypes(path, backend="hail", cache_dir=tmp_path / "hail", format_fields=["DP"])
    assert list(h.mt.entry) == ["GT", "DP"] and h.has_field("DP") and h.fields_not_imported == ["GQ", "AD"]
    e = open_genotypes(path, cache_dir=tmp_path / "embedded", format_fields=["DP"])
    hs, es = sample_qc(h), sample_qc(e)
    assert "dp_mean" in hs and "gq_mean" not in hs
    assert_tables_equal(hs, es)
    assert [p.name for p in (tmp_path / "hail").iterdir() if p.name.startswith(".import-")] == []


def test_sex_equal_embedded_and_hg03511_discordance(opened) -> None:
    h, e = opened(TINY)
    assert h.reference_genome == "GRCh38"  # GRCh38 positions beyond GRCh37's chr18: the importer switched
    sex = impute_sex(h)
    assert_tables_equal(sex, impute_sex(e))
    assert sex.set_index("sample_id").loc["HG03511", "genetic_sex"] == "M"
    assert sex.set_index("sample_id").loc["NA12878", "genetic_sex"] == "F"


def test_padded_male_calls_are_haploid_and_sex_matches_panel(opened, shared: Path) -> None:
    h, e = opened(PHASE3_X)
    hs = sample_qc(h)
    assert_tables_equal(hs, sample_qc(e))
    annot = pd.read_csv(shared / "1kg_phase3_subset_1126" / "1KG_phase3_subset_annot.tsv", sep="\t")
    panel = annot.set_index("sample.id")["sex"]
    males = hs.sample_id.isin(panel.index[panel == "M"])
    # without rewriting 0/. to haploid, Hail reads male non-PAR calls as missing (call rate ~ 0.03)
    assert (hs.loc[males, "call_rate"] > 0.99).all()
    sex = impute_sex(h, manifest=annot.rename(columns={"sample.id": "sample_id", "sex": "reported_sex"}))
    assert_tables_equal(sex, impute_sex(e, manifest=annot.rename(columns={"sample.id": "sample_id",
                                                                           "sex": "reported_sex"})))
    females = ~males & hs.sample_id.isin(panel.index)
    # haploid (not half-missing) male calls: every panel male is fully homozygous on non-PAR X
    assert (sex.loc[males, "f_stat"] == 1.0).all() and (sex.loc[males, "genetic_sex"] == "M").all()
    # F pools 12 populations' allele frequencies, so many females are "ambiguous" (also embedded); 1 of 575
    # (NA19332, F = 0.87) is called male although diploid
    assert (sex.loc[females, "genetic_sex"] == "M").sum() <= 1


def test_n_het_counts_diploid_calls_only(opened, hail_session) -> None:
    """hl.variant_qc's n_het (n_called minus diploid homozygotes) counts every haploid call as a het."""
    hl = hail_session
    h, _ = opened(TINY)
    mt = hl.variant_qc(h.mt)
    mt = mt.annotate_rows(haploid=hl.agg.count_where(mt.GT.ploidy == 1))
    raw = mt.rows().to_pandas()
    ours = variant_qc(h)
    raw_by_key = {(str(loc).removeprefix("chr"), tuple(a)): (int(n), int(k)) for loc, a, n, k in
                  zip(raw["locus"], raw["alleles"], raw["variant_qc.n_het"], raw["haploid"], strict=True)}
    keys = [(loc, tuple(a)) for loc, a in zip(ours.locus, ours.alleles, strict=True)]
    diffs = [raw_by_key[k][0] - n for k, n in zip(keys, ours.n_het, strict=True)]
    haploid_calls = [raw_by_key[k][1] for k in keys]
    assert diffs == haploid_calls and sum(haploid_calls) > 0


def test_hail_inbreeding_aggregator_rejects_haploid_calls(opened, hail_session) -> None:
    """Why impute_sex writes hl.agg.inbreeding's sums out: Hail's aggregator stops on a haploid call."""
    hl = hail_session
    h, _ = opened(TINY)
    x = h.mt.filter_rows(h.mt.locus.contig == "chrX")
    x = x.annotate_rows(aaf=hl.agg.call_stats(x.GT, x.alleles).AF[1])
    with pytest.raises(Exception, match="non-diploid"):
        x.aggregate_entries(hl.agg.inbreeding(x.GT, x.aaf))


def test_second_open_reuses_the_cache(opened, shared: Path, hail_cache: Path) -> None:
    h, _ = opened(HAIL_1KG)
    stamp = (h.store_path / "meta.json").stat().st_mtime_ns
    again = open_hail_genotypes(shared / HAIL_1KG, hail_cache)
    assert again.store_path == h.store_path and (again.store_path / "meta.json").stat().st_mtime_ns == stamp


def test_failed_import_leaves_no_partial_cache(hail_session, tmp_path: Path) -> None:
    bad = write_vcf(tmp_path / "bad.vcf", ["1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1", "1\tabc\t.\tC\tT\t.\tPASS\t.\tGT\t1/1"],
                    samples=["S1"], formats=())
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="bad.vcf"):
        open_hail_genotypes(bad, cache)
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".stat")] == []


def test_choose_reference_follows_contig_style_and_build() -> None:
    assert choose_reference(["1", "X"], None) == ("GRCh37", {})
    ref, rec = choose_reference(["1", "X", "MT"], "GRCh38")
    assert ref == "GRCh38" and rec["1"] == "chr1" and rec["MT"] == "chrM"
    ref, rec = choose_reference(["chr20"], "GRCh37")
    assert ref == "GRCh37" and rec["chr20"] == "20"
    assert choose_reference(["23"], None, plink=True)[1]["23"] == "X"


def test_init_from_project_config_is_idempotent_and_refuses_a_second_master(hail_session) -> None:
    from pmo_workbench.errors import ConfigError
    from pmo_workbench.genotypes.hail_backend import init_hail, init_hail_from_config
    from pmo_workbench.project import Backend

    assert init_hail_from_config(Backend(engine="hail", spark_master="local[2]")) is hail_session
    assert init_hail() is hail_session
    with pytest.raises(ConfigError, match="spark://10.0.0.5:7077"):
        init_hail_from_config(Backend(engine="hail", spark_master="spark://10.0.0.5:7077"))


def test_contigs_outside_grch37_get_a_reference_of_their_own(hail_session, tmp_path: Path) -> None:
    """A record on a decoy contig (hs37d5) is kept: the import falls back to a reference made of the data's
    contigs, and the tables still equal the embedded ones."""
    from pmo_workbench.genotypes import open_genotypes

    vcf = write_vcf(tmp_path / "decoy.vcf", [
        format_record("1", 100, "A", "G", ["0/1", "1/1", "0/0"], id="rs1", qual="50"),
        format_record("1", 200, "C", "CT", ["0/0", "./.", "0/1"], filter="q10"),
        format_record("hs37d5", 5000, "G", "A,T", ["1/2", "0/1", "2/2"], qual="20"),
    ], samples=["S1", "S2", "S3"], contigs={"1": 249250621, "hs37d5": 35477943})
    h = open_hail_genotypes(vcf, tmp_path / "cache")
    assert h.reference_genome.startswith("pmo_")
    e = open_genotypes(vcf, cache_dir=tmp_path / "ecache")
    assert h.variants.contig.tolist() == ["1", "1", "hs37d5"]
    assert_tables_equal(h.variants, e.variants)
    qc = sample_qc(h)
    assert_tables_equal(qc, sample_qc(e))
    assert qc.n_het.tolist() == [2, 1, 1] and qc.n_not_called.tolist() == [0, 1, 0]
    assert_tables_equal(variant_qc(h), variant_qc(e))


def test_public_api_dispatches_to_hail(hail_session, shared: Path, hail_cache: Path, embedded_cache: Path) -> None:
    """`open_genotypes(..., backend="hail")` and the public QC functions route to Hail with equal results."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc import impute_sex, sample_qc, variant_qc

    path = shared / "hail_1kg_chr20_100" / "sample.vcf.gz"
    hg = open_genotypes(path, backend="hail", cache_dir=hail_cache)
    eg = open_genotypes(path, backend="embedded", cache_dir=embedded_cache)
    assert getattr(hg, "backend", None) == "hail"
    pd.testing.assert_frame_equal(sample_qc(hg), sample_qc(eg), check_exact=False, rtol=1e-9)
    hv, ev = variant_qc(hg), variant_qc(eg)
    assert hv["AN"].tolist() == ev["AN"].tolist() and hv["n_het"].tolist() == ev["n_het"].tolist()
    assert impute_sex(hg)["sample_id"].tolist() == impute_sex(eg)["sample_id"].tolist()
