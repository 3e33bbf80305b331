"""The import on VCF shapes a pipeline writes (benchmarks.vcf_data.SHAPES: GATK/DRAGEN FORMAT with PL, GT not
first, 1000 Genomes INFO with a VEP string, many multi-allelic sites, chr1..22 + X with haploid males, plain
gzip, plain text, '.' for missing, thousands of header lines) and on the real VCFs of ../shared/data: calls,
DP, GQ and AD as bcftools reads them (#16)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr

from benchmarks.vcf_data import SHAPES, shape_name, simulate_shape_vcf
from pmo_workbench.genotypes.vcf_reader import FORMAT_FIELDS, import_vcf

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REAL = ["1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz", "1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz",
        "hail_1kg_chr20_100/sample.vcf.gz", "giab_ashkenazi_trio/ashk-trio.vcf.gz"]

pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="needs bcftools (make test installs it)")


def bcftools_gt(path: Path, ploidy: int) -> np.ndarray:
    """GT as the store holds it, from ``bcftools query`` (0/. is haploid 0; '.' is [-1, -2])."""
    out = subprocess.run(["bcftools", "query", "-f", "[%GT\t]\n", str(path)], capture_output=True, check=True)
    rows = []
    for line in out.stdout.decode().splitlines():
        row = []
        for call in line.rstrip("\t").split("\t"):
            alleles = [-1 if a == "." else int(a) for a in call.replace("|", "/").split("/")]
            if len(alleles) == 2 and alleles.count(-1) == 1:
                alleles = [max(alleles)]
            row.append(alleles + [-2] * (ploidy - len(alleles)))
        rows.append(row)
    return np.array(rows, dtype=np.int8)


def bcftools_ints(path: Path, key: str, width: int) -> np.ndarray:
    """An Integer FORMAT field (-1 missing), ``width`` values per call."""
    out = subprocess.run(["bcftools", "query", "-f", f"[%{key}\t]\n", str(path)], capture_output=True, check=True)
    rows = []
    for line in out.stdout.decode().splitlines():
        row = []
        for value in line.rstrip("\t").split("\t"):
            vals = [-1 if v == "." else int(v) for v in value.split(",")][:width]
            row.append(vals + [-1] * (width - len(vals)))
        rows.append(row)
    return np.array(rows, dtype=np.int32)


def imported(path: Path, tmp_path: Path, fields: tuple[str, ...] = FORMAT_FIELDS, name: str = "s.vcz") -> zarr.Group:
    import_vcf(path, tmp_path / name, fields=fields)
    return zarr.open_group(str(tmp_path / name), mode="r")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shapes")
    for shape in SHAPES:
        simulate_shape_vcf(folder / shape_name(shape, 40, 700), shape, 40, 700)
    return folder


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_reads_as_bcftools_reads_it(shape: str, shapes: Path, tmp_path: Path) -> None:
    path = shapes / shape_name(shape, 40, 700)
    g = imported(path, tmp_path)
    gt = g["call_genotype"][:]
    assert gt.shape == (700, 40, 2)
    np.testing.assert_array_equal(gt, bcftools_gt(path, 2))
    fmt = SHAPES[shape][0].split(":")
    for key, dtype in (("DP", np.int32), ("GQ", np.int16)):
        if key in fmt:
            np.testing.assert_array_equal(g[f"call_{key}"][:], bcftools_ints(path, key, 1)[:, :, 0].astype(dtype))
    if "AD" in fmt:
        ad = g["call_AD"][:]
        np.testing.assert_array_equal(ad, bcftools_ints(path, "AD", ad.shape[2]))
    if shape == "haploid_x":  # males are haploid outside the PARs of chrX: [a, -2]
        assert (gt[:, :, 1] == -2).any() and set(np.unique(gt[gt[:, :, 1] == -2][:, 0])) <= {-1, 0, 1, 2, 3}
    if shape == "multi":
        assert (g["variant_n_alleles"][:] > 2).mean() > 0.08


@pytest.mark.parametrize("name", REAL)
def test_real_vcfs_read_as_bcftools_reads_them(name: str, tmp_path: Path) -> None:
    path = DATA / name
    g = imported(path, tmp_path)
    np.testing.assert_array_equal(g["call_genotype"][:], bcftools_gt(path, 2))
    if "call_DP" in g:
        np.testing.assert_array_equal(g["call_DP"][:], bcftools_ints(path, "DP", 1)[:, :, 0])


@pytest.mark.parametrize("shape", ["gatk", "dp_gt"])
def test_format_fields_are_imported_only_when_asked_for(shape: str, shapes: Path, tmp_path: Path) -> None:
    """GT only by default: no DP/GQ/AD arrays, the calls as bcftools reads them, the fields not kept named; DP
    alone when asked: DP as bcftools reads it, no GQ/AD (#16)."""
    path = shapes / shape_name(shape, 40, 700)
    declared = [f for f in FORMAT_FIELDS if f in SHAPES[shape][0].split(":")]
    gt_only = imported(path, tmp_path, fields=(), name="gt.vcz")
    assert not {"call_DP", "call_GQ", "call_AD"} & set(gt_only.array_keys())
    assert gt_only.attrs["fields"] == [] and gt_only.attrs["fields_not_imported"] == declared
    np.testing.assert_array_equal(gt_only["call_genotype"][:], bcftools_gt(path, 2))
    dp = imported(path, tmp_path, fields=("DP",), name="dp.vcz")
    assert {"call_DP"} == {"call_DP", "call_GQ", "call_AD"} & set(dp.array_keys())
    np.testing.assert_array_equal(dp["call_DP"][:], bcftools_ints(path, "DP", 1)[:, :, 0])
    assert dp.attrs["fields"] == ["DP"]
    assert dp.attrs.asdict().get("fields_not_imported", []) == [f for f in declared if f != "DP"]
    # the calls and their 2-bit copy do not depend on the fields kept
    for name in ("call_genotype", "call_genotype_packed", "variant_packable"):
        np.testing.assert_array_equal(dp[name][:], gt_only[name][:])
