"""FORMAT fields (DP, GQ, AD) are imported only when asked for (#16): ``open_genotypes(..., format_fields=...)``.

The calls and fields are held to ``bcftools query`` (the oracle of test_vcf_shapes); the cache is held to what it
must do with files on disk: a store holding the fields asked for is not rewritten (same inode and modification
time of its files), one lacking a field the input has is imported again with the union of fields and swapped in
whole, and a failed re-import leaves the old store as it was.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_vcf_shapes import bcftools_gt, bcftools_ints

from benchmarks.vcf_data import simulate_shape_vcf
from pmo_workbench.errors import ConfigError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.backends import FORMAT_FIELDS, check_format_fields
from pmo_workbench.genotypes.vcf_reader import FORMAT_FIELDS as READER_FIELDS
from pmo_workbench.project import ProjectConfig, Sources, write_project_file
from pmo_workbench.qc.sample_qc import sample_qc

pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools (make test installs it)")
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
FIELDS = ("DP", "GQ", "AD")


@pytest.fixture(scope="module")
def gatk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GT:AD:DP:GQ:PL, 40 samples x 600 records, ~3 % multi-allelic (AD of three values)."""
    return simulate_shape_vcf(tmp_path_factory.mktemp("gatk") / "gatk.vcf.gz", "gatk", 40, 600)


@pytest.fixture(scope="module")
def gt_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_shape_vcf(tmp_path_factory.mktemp("gt") / "gt.vcf.gz", "gzip", 30, 300)


def opened(path: Path, cache: Path, fields=()):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(path, cache_dir=cache, format_fields=fields)


def stamp(store: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of every file of a store (and of the folder itself)."""
    out = {".": (store.stat().st_ino, store.stat().st_mtime_ns)}
    for p in store.rglob("*"):
        st = p.stat()
        out[str(p.relative_to(store))] = (st.st_ino, st.st_mtime_ns)
    return out


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".import-"))


def test_the_field_names_are_checked_and_shared() -> None:
    assert FORMAT_FIELDS == READER_FIELDS == FIELDS
    assert check_format_fields(["AD", "DP"]) == ("DP", "AD") and check_format_fields("GQ") == ("GQ",)
    with pytest.raises(ConfigError) as err:
        check_format_fields(["DP", "PL"])
    assert "'PL'" in str(err.value) and err.value.field == "format_fields"


def test_an_unknown_field_is_a_config_error_and_imports_nothing(gatk: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown FORMAT field 'dp'"):
        open_genotypes(gatk, cache_dir=tmp_path / "cache", format_fields=["dp"])
    assert not (tmp_path / "cache").exists()


def test_default_open_keeps_gt_only(gatk: Path, tmp_path: Path) -> None:
    g = opened(gatk, tmp_path / "cache")
    assert not any(g.has_field(f) for f in FIELDS)
    assert g.call_DP is None and g.call_GQ is None and g.call_AD is None
    assert not {"call_DP", "call_GQ", "call_AD"} & set(os.listdir(g.store_path))
    assert g.fields_not_imported == ["DP", "GQ", "AD"]
    np.testing.assert_array_equal(g.call_genotype[:], bcftools_gt(gatk, 2))
    chunk = next(g.iter_chunks())
    assert chunk.dp is None and chunk.gq is None and chunk.ad is None


def test_asking_for_a_field_reimports_with_the_union_and_swaps_the_store_whole(gatk: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = opened(gatk, cache)
    before = stamp(first.store_path)
    dp = opened(gatk, cache, ["DP"])
    assert dp.store_path == first.store_path
    assert stamp(dp.store_path)[".complete"] != before[".complete"]  # a new store in the same place
    assert dp.has_field("DP") and not dp.has_field("GQ") and dp.fields_not_imported == ["GQ", "AD"]
    np.testing.assert_array_equal(dp.call_DP[:], bcftools_ints(gatk, "DP", 1)[:, :, 0])
    np.testing.assert_array_equal(dp.call_genotype[:], first.call_genotype[:])
    # AD next: the store keeps DP (the union), and gains AD as bcftools reads it
    ad = opened(gatk, cache, ["AD"])
    assert ad.attrs["fields"] == ["DP", "AD"] and ad.fields_not_imported == ["GQ"]
    np.testing.assert_array_equal(ad.call_DP[:], dp.call_DP[:])
    np.testing.assert_array_equal(ad.call_AD[:], bcftools_ints(gatk, "AD", ad.call_AD.shape[2]))
    assert leftovers(cache) == [] and [p.name for p in cache.glob("*.vcz")] == [first.store_path.name]


def test_a_store_holding_the_fields_serves_the_request_without_reimport(gatk: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    full = opened(gatk, cache, FIELDS)
    assert "fields_not_imported" not in full.attrs  # the layout of every store written before fields were chosen
    before = stamp(full.store_path)
    for fields in ((), ("GQ",), ("DP", "AD"), FIELDS):
        g = opened(gatk, cache, fields)
        assert stamp(g.store_path) == before, fields
        assert all(g.has_field(f) for f in FIELDS)
    np.testing.assert_array_equal(g.call_GQ[:], bcftools_ints(gatk, "GQ", 1)[:, :, 0].astype(np.int16))


def test_a_field_the_input_lacks_is_absent_and_never_reimports(gt_only: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    g = opened(gt_only, cache, ["DP", "GQ"])
    before = stamp(g.store_path)
    assert not g.has_field("DP") and g.fields_not_imported == [] and g.call_DP is None
    again = opened(gt_only, cache, FIELDS)
    assert stamp(again.store_path) == before


def test_a_failed_reimport_leaves_the_old_store(gatk: Path, tmp_path: Path, monkeypatch) -> None:
    from pmo_workbench.genotypes import vcf_reader

    cache = tmp_path / "cache"
    old = opened(gatk, cache, ["DP"])
    before = stamp(old.store_path)
    real = vcf_reader.import_vcf

    def fails(path, root, **kw):
        real(path, root, **kw)  # the new store is written whole ...
        raise OSError("disk full")  # ... and then the import fails

    monkeypatch.setattr(vcf_reader, "import_vcf", fails)
    with pytest.raises(OSError, match="disk full"):
        opened(gatk, cache, ["GQ"])
    assert stamp(old.store_path) == before and leftovers(cache) == []
    monkeypatch.setattr(vcf_reader, "import_vcf", real)
    g = opened(gatk, cache, ["DP"])
    assert stamp(g.store_path) == before and g.attrs["fields"] == ["DP"]


def test_sample_qc_without_depth_is_as_for_a_gt_only_vcf_and_says_why(gatk: Path, gt_only: Path,
                                                                       tmp_path: Path) -> None:
    g = opened(gatk, tmp_path / "cache")
    with pytest.warns(UserWarning, match=r"input has FORMAT DP/GQ.*format_fields=\['DP', 'GQ'\]"):
        without = sample_qc(g)
    plain = sample_qc(opened(gt_only, tmp_path / "cache"))
    assert list(without.columns) == list(plain.columns) and "dp_mean" not in without
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with_depth = sample_qc(opened(gatk, tmp_path / "cache", ["DP", "GQ"]))
    dp = bcftools_ints(gatk, "DP", 1)[:, :, 0].astype(float)
    expected = np.nansum(np.where(dp >= 0, dp, np.nan), axis=0) / (dp >= 0).sum(axis=0)
    np.testing.assert_allclose(with_depth["dp_mean"], expected)
    assert with_depth.drop(columns=["dp_mean", "gq_mean"]).equals(without)


def test_the_wgs_qc_track_reports_depth_of_a_real_vcf(tmp_path: Path) -> None:
    """The QC track asks for DP and GQ: a project whose genotypes are a real GATK VCF (1000 Genomes chr20, 100
    samples) gets dp_mean and gq_mean for every sample, equal to bcftools' values."""
    from pmo_workbench.qc.report import run_wgs_qc

    src = SHARED / "hail_1kg_chr20_100" / "sample.vcf.gz"
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(src, project / "data" / "sample.vcf.gz")
    write_project_file(project, ProjectConfig(name="depth", sources=Sources(genotypes="data/sample.vcf.gz")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_wgs_qc(project)
    qc = run.result.sample_qc
    assert {"dp_mean", "gq_mean"} <= set(qc.columns) and not qc[["dp_mean", "gq_mean"]].isna().any().any()
    dp = bcftools_ints(src, "DP", 1)[:, :, 0].astype(float)
    np.testing.assert_allclose(qc["dp_mean"], np.nansum(np.where(dp >= 0, dp, np.nan), axis=0) / (dp >= 0).sum(0))
    assert run.genotypes.fields_not_imported == ["AD"]  # AD is not used by QC, so not imported
