"""QC tables written to Parquet batch by batch (write_qc_tables, #16): the files read back equal the in-memory
tables of sample_qc and variant_qc (the oracle, itself held to plink2 and Hail elsewhere) on random call sets with
every allele type, multi-allelic rows (the side file, read batch by batch), haploid rows, missing calls, FORMAT
DP/GQ, batches smaller than a chunk and not aligned to one; on the real VCFs of ../shared/data; memory that does
not grow with the variants; no file left half-written, nothing written with a CPR number in it."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pmo_workbench.errors import PrivacyError
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.call_counts import compute_call_counts
from pmo_workbench.genotypes.store_arrays import read_array, read_strings
from pmo_workbench.genotypes.unpacked_calls import load_unpacked_calls, read_side_rows, side_file_path
from pmo_workbench.qc import qc_files
from pmo_workbench.qc.qc_files import (
    SAMPLE_QC_FILE,
    VARIANT_QC_FILE,
    VARIANT_QC_SCHEMA,
    read_qc_table,
    write_qc_tables,
)
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.variant_qc import variant_qc
from tests.vcf_files import format_calls, format_record, write_vcf

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "data"
REAL = ["1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz", "vcf_edge_cases/bio2zarr__CEUTrio.20.21.gatk3.4.g.vcf.bgz",
        "1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz",
        "gvcf_small/dragen_chrM/testCombineDragenMtGvcfs_expected.g.vcf"]
SITES = [("A", "G"), ("A", "C"), ("AT", "A"), ("A", "AT"), ("A", "G,C"), ("C", "T,A,<DEL>")]
SITE_WEIGHTS = [0.3, 0.25, 0.15, 0.15, 0.08, 0.07]


def simulate(path: Path, n_variants: int, n_samples: int, *, seed: int = 3, haploid_rows: int = 0,
             fields: bool = False, sample_ids: list[str] | None = None, filters: list[str] | None = None) -> Path:
    """A VCF of random sites of SITES (15 % multi-allelic) on contigs 1 and X, ~3 % missing calls,
    the first ``haploid_rows`` rows of X haploid in the odd samples; FORMAT DP/GQ (some missing) with ``fields``."""
    rng = np.random.default_rng(seed)
    records = []
    for v in range(n_variants):
        ref, alt = SITES[int(rng.choice(len(SITES), p=SITE_WEIGHTS))]
        n_alt = alt.count(",") + 1
        freq = rng.choice([0.0, 1 / (2 * n_samples), 0.02, 0.3, 0.7])
        gt = np.where(rng.random((n_samples, 2)) < freq, rng.integers(1, n_alt + 1, (n_samples, 2)), 0)
        gt[rng.random(n_samples) < 0.03] = -1
        haploid = v < haploid_rows
        if haploid:
            gt[1::2, 1] = -2
        calls = format_calls(gt[None])[0]
        fmt = "GT"
        if fields:
            dp = rng.integers(5, 60, n_samples)
            gq = rng.integers(1, 99, n_samples)
            calls = [f"{c}:{'.' if rng.random() < 0.05 else d}:{q}" for c, d, q in zip(calls, dp, gq, strict=True)]
            fmt = "GT:DP:GQ"
        chrom = "X" if haploid else "1"
        flt = filters[v % len(filters)] if filters else "PASS"
        records.append(format_record(chrom, 1000 + 10 * v, ref, alt, calls, format=fmt, filter=flt))
    records.sort(key=lambda r: (r.split("\t")[0] != "1", int(r.split("\t")[1])))
    samples = sample_ids or [f"S{i}" for i in range(n_samples)]
    return write_vcf(path, records, samples=samples, contigs={"1": 10_000_000, "X": 10_000_000},
                     formats=("GT", "DP", "GQ") if fields else ("GT",),
                     filters={"q10": "low quality", "s50": "few samples"})


def assert_written_equal(g, out: Path, **options) -> qc_files.QcFiles:
    """write_qc_tables(g) read back equals sample_qc(g) and variant_qc(g), and the file has the schema."""
    files = write_qc_tables(g, out, **options)
    pd.testing.assert_frame_equal(read_qc_table(files.variant_qc), variant_qc(g))
    pd.testing.assert_frame_equal(read_qc_table(files.sample_qc), sample_qc(g))
    assert pq.read_schema(files.variant_qc).remove_metadata() == VARIANT_QC_SCHEMA
    assert (files.n_samples, files.n_variants) == (g.n_samples, g.n_variants)
    return files


@pytest.mark.parametrize("batch", [1_000_000, 700, 333, 64])
def test_written_tables_equal_the_in_memory_tables(tmp_path: Path, batch: int) -> None:
    """Multi-allelic rows (side file), haploid rows, missing calls; one batch, batches not aligned to the store's
    chunks (10,000 rows: the doctest set's own), and batches smaller than a chunk."""
    vcf = simulate(tmp_path / "a.vcf", 2_300, 57, haploid_rows=40, filters=["PASS", "PASS", "q10;s50", "."])
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    assert load_unpacked_calls(g) is not None and len(load_unpacked_calls(g).rows) > 300  # the side file is used
    files = assert_written_equal(g, tmp_path / "out", batch_variants=batch)
    assert files.n_batches == -(-2_300 // min(batch, 2_300))
    assert pq.ParquetFile(files.variant_qc).metadata.num_row_groups == files.n_batches


def test_written_tables_with_format_fields_and_without_a_side_file(tmp_path: Path) -> None:
    """DP/GQ means summed over the batches; a store whose rows outside the 2-bit copy are too many for a side file
    (half the rows haploid: they are read from call_genotype, batch by batch)."""
    vcf = simulate(tmp_path / "f.vcf", 900, 33, haploid_rows=450, fields=True, seed=8)
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache", format_fields=["DP", "GQ"])
    assert load_unpacked_calls(g) is None
    files = assert_written_equal(g, tmp_path / "out", batch_variants=128)
    sqc = read_qc_table(files.sample_qc)
    assert {"dp_mean", "gq_mean"} <= set(sqc.columns) and sqc["dp_mean"].between(5, 60).all()


@pytest.mark.parametrize("name", REAL)
def test_written_tables_equal_the_in_memory_tables_on_real_vcfs(tmp_path: Path, name: str) -> None:
    """tiny1000G (36 rows in the side file), the CEU trio gVCF (1,330: <NON_REF> alleles), 1000 Genomes chrX
    (men haploid: most rows outside the 2-bit copy) and a chrM gVCF (haploid calls only: no 2-bit copy)."""
    path = SHARED / name
    if not path.is_file():
        pytest.fail(f"shared test data not found at {path}")
    g = open_genotypes(path, cache_dir=tmp_path / "cache")
    assert_written_equal(g, tmp_path / "out", batch_variants=max(g.n_variants // 3, 1))


@pytest.mark.parametrize("c_decoder", [True, False])
def test_counts_of_a_range_equal_those_rows_of_the_whole_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               c_decoder: bool) -> None:
    """compute_call_counts(rows=...): per-variant counts are the whole count's rows; per-sample counts of the
    ranges add up to the whole; ranges cut inside chunks of the 2-bit copy (chunks of 10,000 rows). Also with the
    copy read through numcodecs (a layout the C decoder does not read: iter_packed over the range)."""
    if not c_decoder:
        from pmo_workbench.genotypes import packed_calls

        monkeypatch.setattr(packed_calls, "packed_layout", lambda *args: None)
    vcf = simulate(tmp_path / "r.vcf", 1_500, 40, haploid_rows=20, seed=5)
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    whole = compute_call_counts(g)
    cuts = [0, 1, 77, 640, 641, 1_499, 1_500]
    total = np.zeros_like(whole.sample)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        part = compute_call_counts(open_genotypes(vcf, cache_dir=tmp_path / "cache"), rows=(a, b))
        for name in ("n_called", "n_het", "n_hom_ref", "n_hom_var", "n_alleles"):
            np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[a:b], err_msg=f"{name} {a}:{b}")
        width = part.ac.shape[1]  # the range's own widest site (at least 2)
        np.testing.assert_array_equal(part.ac, whole.ac[a:b, :width])
        assert not whole.ac[a:b, width:].any()
        total += part.sample
    np.testing.assert_array_equal(total, whole.sample)
    with pytest.raises(IndexError, match="outside"):
        compute_call_counts(g, rows=(10, 1_501))


def test_ranges_of_stored_arrays_and_the_side_file(tmp_path: Path) -> None:
    vcf = simulate(tmp_path / "s.vcf", 1_200, 30, seed=9)
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    positions = read_array(g.store_path, "variant_position")
    alt = read_strings(g.store_path, "variant_alt")
    for a, b in [(0, 0), (0, 1), (5, 900), (1_199, 1_200), (0, 1_200)]:
        np.testing.assert_array_equal(read_array(g.store_path, "variant_position", rows=(a, b)), positions[a:b])
        assert read_strings(g.store_path, "variant_alt", rows=(a, b)).to_pylist() == alt[a:b].to_pylist()
    side = load_unpacked_calls(g)
    for a, b in [(0, 1_200), (3, 400), (400, 401), (1_100, 1_200)]:
        part = read_side_rows(g, a, b)
        keep = (side.rows >= a) & (side.rows < b)
        np.testing.assert_array_equal(part.rows + a, side.rows[keep])
        np.testing.assert_array_equal(part.dense(g.n_samples), side.dense(g.n_samples)[keep])
    side_file_path(g.store_path).write_bytes(b"not a zip")  # damaged: None, and the pass rebuilds it
    assert read_side_rows(g, 0, 10) is None
    assert_written_equal(open_genotypes(vcf, cache_dir=tmp_path / "cache"), tmp_path / "out", batch_variants=500)


def test_memory_does_not_grow_with_the_variants(tmp_path: Path) -> None:
    """Python-side peak of a pass (tracemalloc: numpy's arrays) at the same batch size over 4x the variants
    stays within 25 %; the in-memory table does grow (the reference)."""
    peaks = {}
    for n in (2_000, 8_000):
        g = open_genotypes(simulate(tmp_path / f"m{n}.vcf", n, 50, seed=n), cache_dir=tmp_path / "cache")
        tracemalloc.start()
        write_qc_tables(g, tmp_path / f"out{n}", batch_variants=500)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[8_000] < 1.25 * peaks[2_000], peaks


def test_a_pass_loads_no_pandas(tmp_path: Path) -> None:
    """On an imported store: neither pandas (~50 MB) nor numba nor zarr."""
    vcf = simulate(tmp_path / "p.vcf", 300, 20, seed=4)
    open_genotypes(vcf, cache_dir=tmp_path / "c")
    code = ("import sys, json; from pmo_workbench.genotypes import open_genotypes; "
            "from pmo_workbench.qc.qc_files import write_qc_tables; "
            f"write_qc_tables(open_genotypes({str(vcf)!r}, cache_dir={str(tmp_path / 'c')!r}), "
            f"{str(tmp_path / 'o')!r}, batch_variants=100); "
            "print(json.dumps(sorted(m for m in ('pandas', 'numba', 'zarr') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout.splitlines()[-1]) == []
    assert (tmp_path / "o" / VARIANT_QC_FILE).is_file()


def test_a_failed_pass_keeps_the_previous_files_and_leaves_no_other(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    vcf = simulate(tmp_path / "x.vcf", 600, 20, seed=6)
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    write_qc_tables(g, out, batch_variants=200)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = qc_files.variant_qc_columns

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(qc_files, "variant_qc_columns", failing)
    with pytest.raises(OSError, match="disk full"):
        write_qc_tables(g, out, batch_variants=200)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("where", ["sample", "filter"])
def test_a_cpr_number_is_never_written(tmp_path: Path, where: str) -> None:
    cpr = "0101902000"
    samples = [f"S{i}" for i in range(20)]
    if where == "sample":
        samples[7] = cpr
    vcf = simulate(tmp_path / "c.vcf", 400, 20, seed=2, sample_ids=samples,
                   filters=["PASS"] * 50 + ([f"q{cpr}"[1:]] if where == "filter" else ["PASS"]))
    g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    with pytest.raises(PrivacyError) as err:
        write_qc_tables(g, tmp_path / "out", batch_variants=128)
    assert cpr not in str(err.value)
    assert (SAMPLE_QC_FILE if where == "sample" else VARIANT_QC_FILE) in str(err.value)
    assert not any((tmp_path / "out").iterdir())


def test_the_qc_tables_command(tmp_path: Path) -> None:
    """``pmo qc-tables``: a VCF with DP/GQ in, both files out (equal to the in-memory tables); a CPR-like sample ID
    is refused in one line, exit code 2, nothing written, the value not echoed."""
    pmo = Path(sys.executable).parent / "pmo"
    vcf = simulate(tmp_path / "cli.vcf", 500, 24, fields=True, seed=12)
    cache = tmp_path / "cache"
    res = subprocess.run([str(pmo), "qc-tables", str(vcf), "--out", str(tmp_path / "qc"), "--cache-dir", str(cache),
                          "--format-fields", "dp,GQ", "--batch-variants", "200"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "24 samples" in res.stdout and "500 variants, 3 batches" in res.stdout
    g = open_genotypes(vcf, cache_dir=cache, format_fields=["DP", "GQ"])
    pd.testing.assert_frame_equal(read_qc_table(tmp_path / "qc" / SAMPLE_QC_FILE), sample_qc(g))
    pd.testing.assert_frame_equal(read_qc_table(tmp_path / "qc" / VARIANT_QC_FILE), variant_qc(g))

    bad = simulate(tmp_path / "bad.vcf", 50, 10, seed=1, sample_ids=[f"S{i}" for i in range(9)] + ["010190-2000"])
    res = subprocess.run([str(pmo), "qc-tables", str(bad), "--out", str(tmp_path / "qc2"), "--cache-dir",
                          str(cache)], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "CPR-like value in sample_qc.parquet, column sample_id" in res.stderr and "010190" not in res.stderr
    assert not any((tmp_path / "qc2").iterdir())
    res = subprocess.run([str(pmo), "qc-tables", str(vcf), "--out", str(tmp_path / "qc3"), "--format-fields", "XY"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "XY is not one of DP, GQ, AD" in res.stderr
