"""The VCF reader on ../shared/data/vcf_edge_cases: each file gets its expectations.tsv outcome or better.

``valid`` files must load with the sample count, record count and genotypes that bcftools reads (ploidy
included); ``warn`` files must load with a VcfWarning or be rejected with an InputError; ``reject`` files must
raise an InputError naming the file (and, where a line is at fault, the line and field). Where our outcome is
better than the recorded one, the test says so.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from pmo_workbench.errors import InputError
from pmo_workbench.genotypes import VcfWarning, open_genotypes

EDGE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vcf_edge_cases"
ROWS = list(csv.DictReader(open(EDGE / "expectations.tsv"), delimiter="\t")) if EDGE.is_dir() else []

# Better than recorded, with the reason:
READ_CORRECTLY = {
    # its only defect is two empty lines at the end (htslib reads them as broken records); we skip them
    # with a warning and read the one record
    "hail__test_set_field_missing.vcf": (2, 1),
    # VCF 4.4 phasing prefix (/0|1) and a triploid call: htslib 1.16 fails, newer htslib reads it
    "htslib__vcf44_1.vcf": (2, 28),
}
# A warn file we reject explicitly: GT allele 2 at a biallelic site (htslib only warns about header tags)
REJECTED_WARN = {"cyvcf2__test.warnings.vcf.gz": ("GT", 30)}
# reject files whose fault is a specific line and field
REJECT_AT = {
    "hail__malformed.vcf": ("GT", 54),
    "cyvcf2__test-invalid-header.vcf": ("#CHROM", 2),
    "hail__duplicate_ids.vcf": ("#CHROM", 17),
    "hail__trioDup.vcf": ("fileformat", 1),
    "bcftools__isec-miss.2.3.vcf": ("FORMAT", 6),
    "bcftools__convert.gt.noHead.vcf": ("fileformat", 1),
    "cyvcf2__empty.vcf": (None, 1),
}


def _bcftools_genotypes(path: Path) -> tuple[int, list[list[list[int]]]]:
    """Sample count and per-record allele lists as bcftools reads them (our half-call rule applied)."""
    exe = shutil.which("bcftools")
    if exe is None:
        pytest.skip("bcftools is not installed")
    samples = subprocess.run([exe, "query", "-l", str(path)], capture_output=True, text=True).stdout.split()
    proc = subprocess.run([exe, "query", "-f", "%POS\t[%GT\t]\n", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:  # no FORMAT/GT in the header: every call is missing
        assert "FORMAT/GT" in proc.stderr
        pos = subprocess.run([exe, "query", "-f", "%POS\n", str(path)], capture_output=True, text=True).stdout
        return len(samples), [[[-1]] * len(samples) for _ in pos.splitlines()]
    text = proc.stdout
    records = []
    for line in text.splitlines():
        calls = []
        for gt in line.split("\t")[1:-1] if samples else []:
            alleles = [-1 if a == "." else int(a) for a in gt.replace("|", "/").split("/")]
            if gt == ".":  # bcftools prints '.' for a missing call of unknown ploidy, too
                alleles = [-1]
            elif len(alleles) == 2 and alleles.count(-1) == 1:
                alleles = [max(alleles), -2]
            elif len(alleles) == 1:
                alleles = [alleles[0], -2]
            calls.append(alleles)
        records.append(calls)
    return len(samples), records


def _open(path: Path, tmp_path: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = open_genotypes(path, cache_dir=tmp_path / "cache")
    return g, [w for w in caught if issubclass(w.category, VcfWarning)]


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_edge_case_outcome(row: dict, tmp_path: Path) -> None:
    path = EDGE / row["file"]
    name, category = row["file"], row["category"]
    if name in READ_CORRECTLY:
        g, _ = _open(path, tmp_path)
        assert (g.n_samples, g.n_variants) == READ_CORRECTLY[name]
        if name == "htslib__vcf44_1.vcf":
            gt = g.call_genotype[:]
            assert gt.shape[2] == 3 and gt[0, 0].tolist() == [0, 0, 1]  # 0|0|1
            assert gt[1, 1].tolist() == [0, 1, -2]  # /0|1
        return
    if category in ("reject", "version") or name in REJECTED_WARN:
        with pytest.raises(InputError) as info:
            _open(path, tmp_path)
        err = info.value
        assert err.file is not None and Path(err.file).name == name
        field, line = REJECT_AT.get(name) or REJECTED_WARN[name]
        assert err.line == line
        assert err.field == field
        assert not list((tmp_path / "cache").glob("*.vcz")), "a failed import left a store behind"
        assert not list((tmp_path / "cache").glob(".import-*")), "a failed import left a temporary directory"
        return
    g, caught = _open(path, tmp_path)
    if category == "warn":
        assert caught, f"{name} loaded without a VcfWarning"
    n_samples, records = _bcftools_genotypes(path)
    assert g.n_samples == n_samples == int(row["cyvcf2_read"].split("samples=")[1].split()[0])
    assert g.n_variants == len(records) == int(row["cyvcf2_read"].split("records=")[1].split()[0])
    gt = g.call_genotype[:]
    for i, calls in enumerate(records):
        for s, alleles in enumerate(calls):
            got = gt[i, s].tolist()
            assert got[:len(alleles)] == alleles, f"record {i + 1} sample {s}: {got} != {alleles}"
            assert all(a == -2 for a in got[max(len(alleles), 2):])


def test_expectations_cover_all_categories() -> None:
    if not ROWS:
        pytest.skip("../shared/data/vcf_edge_cases is not present")
    cats = {r["category"] for r in ROWS}
    assert {"reject", "warn", "valid"} <= cats and len(ROWS) == 37
