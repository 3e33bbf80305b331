"""The import benchmark takes its VCFs from a read-only folder of shared inputs (``--data``) as they are,
writing its caches and outputs only to its own work folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bench_import
from benchmarks.vcf_data import find_or_simulate, vcf_name


def test_vcfs_in_the_data_folder_are_used_as_they_are(tmp_path: Path) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    for m in (250, 500):
        (data / vcf_name(40, m)).write_bytes(b"ready")
    (data / vcf_name(40, 250, fields=True)).write_bytes(b"fields")
    found = find_or_simulate(data, work, 40, [250, 500])
    assert found == {250: data / "msprime3_unphased_gt_40x250.vcf.gz", 500: data / "msprime3_unphased_gt_40x500.vcf.gz"}
    assert find_or_simulate(data, work, 40, [250], fields=True)[250].read_bytes() == b"fields"
    assert not work.exists()  # nothing simulated, nothing written


def test_the_data_folder_must_be_complete_and_apart_from_the_work_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(SystemExit, match="READY"):
        bench_import.main(["--data", str(data), "--workdir", str(tmp_path / "w"), "--tables", "1"])
    (data / "READY").touch()
    with pytest.raises(SystemExit, match="outside --data"):
        bench_import.main(["--data", str(data), "--workdir", str(data / "w"), "--tables", "1"])
