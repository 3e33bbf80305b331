"""Call counting behind sample_qc/variant_qc against counts taken straight from the genotype matrix, on a
random call set with every allele type, missing calls, multi-allelic rows and hundreds of dense rows per
type (the byte-lane counters of the 2-bit path must flush before a lane overflows); and the Arrow reading
of the store's string arrays."""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

from pmo_workbench import ckernels
from pmo_workbench.genotypes import open_genotypes
from pmo_workbench.genotypes.alleles import classify_alt_alleles
from pmo_workbench.genotypes.arrow_strings import read_string_array
from pmo_workbench.genotypes.call_counts import classify_variant_alleles, read_n_alleles
from pmo_workbench.qc.sample_qc import sample_qc
from pmo_workbench.qc.variant_qc import variant_qc
from tests.vcf_files import format_calls, format_record, write_vcf

# (REF, ALT, type of each ALT allele): transition, transversion, deletion, insertion, multi-allelic
SITES = [("A", "G", ["ts"]), ("A", "C", ["tv"]), ("AT", "A", ["del"]), ("A", "AT", ["ins"]),
         ("A", "G,C", ["ts", "tv"])]


def simulate_calls(rng: np.random.Generator, n_variants: int, n_samples: int, kinds: list[int] | None = None,
                   freqs: tuple[float, ...] | None = None) -> tuple[list[int], np.ndarray]:
    """Site kinds and int calls [variants, samples, 2] (-1 missing), most rows with many ALT calls."""
    kinds = rng.integers(0, len(SITES), n_variants).tolist() if kinds is None else kinds
    freqs = (0.0, 1 / (2 * n_samples), 0.02, 0.3, 0.7) if freqs is None else freqs
    gt = np.zeros((n_variants, n_samples, 2), dtype=np.int64)
    for v, kind in enumerate(kinds):
        n_alt = len(SITES[kind][2])
        freq = rng.choice(freqs)
        alt = rng.random((n_samples, 2)) < freq
        gt[v] = np.where(alt, rng.integers(1, n_alt + 1, (n_samples, 2)), 0)
        gt[v][rng.random(n_samples) < 0.03] = -1
    return kinds, gt


def write_calls(path: Path, kinds: list[int], gt: np.ndarray) -> Path:
    """A VCF of the sites ``kinds`` (indices into SITES) on contig 1 with the diploid calls ``gt``."""
    records = [format_record("1", 100 + 10 * v, SITES[kind][0], SITES[kind][1], format_calls(gt[v:v + 1])[0])
               for v, kind in enumerate(kinds)]
    return write_vcf(path, records, samples=[f"S{i}" for i in range(gt.shape[1])], contigs={"1": 10_000_000})


@pytest.mark.parametrize(("n_variants", "n_samples", "one_kind", "chunk_size"),
                         [(1500, 70, False, 400), (1300, 12, True, 5000)])
def test_counts_equal_the_genotype_matrix(tmp_path: Path, n_variants: int, n_samples: int, one_kind: bool,
                                          chunk_size: int) -> None:
    """The second case has > 255 het calls per sample in one kernel call and thread: byte lanes must flush."""
    rng = np.random.default_rng(5)
    kinds, gt = simulate_calls(rng, n_variants, n_samples, [0] * n_variants if one_kind else None,
                               (0.5,) if one_kind else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(write_calls(tmp_path / "r.vcf", kinds, gt), cache_dir=tmp_path / "cache")
    assert g.has_packed() and g.packable().mean() > 0.5  # most rows take the 2-bit path
    sqc, vqc = sample_qc(g, chunk_size=chunk_size), variant_qc(g, chunk_size=chunk_size)
    if one_kind:
        assert sqc["n_het"].min() > 2 * 256

    called = gt[:, :, 0] >= 0
    a0, a1 = gt[:, :, 0], gt[:, :, 1]
    het = called & (a0 != a1)
    hom_ref = called & (a0 == 0) & (a1 == 0)
    n_alleles = np.array([len(SITES[k][2]) + 1 for k in kinds])
    ac = np.stack([((gt == a) & called[:, :, None]).sum(axis=(1, 2)) for a in range(3)], axis=1)
    alt_by_type = {t: np.zeros(gt.shape[1], np.int64) for t in ("ts", "tv", "ins", "del")}
    singleton = np.zeros(gt.shape[1], np.int64)
    for v, kind in enumerate(kinds):
        for k, t in enumerate(SITES[kind][2], start=1):
            copies = ((gt[v] == k) & called[v][:, None]).sum(axis=1)
            alt_by_type[t] += copies
            if ac[v, k] == 1:
                singleton += copies
    np.testing.assert_array_equal(sqc["n_called"], called.sum(axis=0))
    np.testing.assert_array_equal(sqc["n_hom_ref"], hom_ref.sum(axis=0))
    np.testing.assert_array_equal(sqc["n_het"], het.sum(axis=0))
    np.testing.assert_array_equal(sqc["n_hom_var"], (called & ~het & ~hom_ref).sum(axis=0))
    np.testing.assert_array_equal(sqc["n_transition"], alt_by_type["ts"])
    np.testing.assert_array_equal(sqc["n_transversion"], alt_by_type["tv"])
    np.testing.assert_array_equal(sqc["n_insertion"], alt_by_type["ins"])
    np.testing.assert_array_equal(sqc["n_deletion"], alt_by_type["del"])
    np.testing.assert_array_equal(sqc["n_singleton"], singleton)
    assert one_kind or sqc["n_singleton"].sum() > 0 and sqc["n_not_called"].sum() > 0
    np.testing.assert_array_equal(vqc["AN"], 2 * called.sum(axis=1))
    np.testing.assert_array_equal(vqc["n_het"], het.sum(axis=1))
    assert [list(x) for x in vqc["AC"]] == [ac[v, :n].tolist() for v, n in enumerate(n_alleles)]
    assert vqc["alleles"].iloc[4] == [SITES[kinds[4]][0], *SITES[kinds[4]][1].split(",")]
    assert vqc["locus"].iloc[3] == "1:130"
    assert vqc["filters"].iloc[0] == []

    # the allele types from the store's Arrow strings equal those from the variant table
    expected = classify_alt_alleles(g.variants["ref"].to_numpy(), g.variants["alt"].to_numpy(),
                                    g.variants["n_alleles"].to_numpy())
    np.testing.assert_array_equal(classify_variant_alleles(g, read_n_alleles(g)), expected)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_qc_tables_do_not_depend_on_the_thread_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     threads: str) -> None:
    kinds, gt = simulate_calls(np.random.default_rng(9), 700, 45)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(write_calls(tmp_path / "r.vcf", kinds, gt), cache_dir=tmp_path / "cache")
        reference = sample_qc(g, chunk_size=250), variant_qc(g, chunk_size=250)
        monkeypatch.setenv("PMO_THREADS", threads)
        assert ckernels.n_threads() == int(threads)
        g2 = open_genotypes(tmp_path / "r.vcf", cache_dir=tmp_path / "cache")
        again = sample_qc(g2, chunk_size=250), variant_qc(g2, chunk_size=250)
    assert reference[0].equals(again[0]) and reference[1].equals(again[1])


@pytest.mark.parametrize("chunk", [1, 3, 4, 100])
def test_string_arrays_read_into_arrow(tmp_path: Path, chunk: int) -> None:
    values = np.array(["A", "", "TTG", "ÅØ", "PASS;q10", "x" * 300, "", "GC", "<DEL>"], dtype=object)
    root = zarr.open_group(zarr.DirectoryStore(str(tmp_path / "s.zarr")), mode="w")
    arr = root.create("s", shape=len(values), chunks=chunk, dtype=object, object_codec=numcodecs.VLenUTF8())
    arr[:] = values
    assert read_string_array(arr).to_pylist() == values.tolist()
    if chunk == 3:  # a chunk never written reads as zarr fills it
        del arr.store["s/1"]
        assert read_string_array(arr).to_pylist() == [("" if x is None else str(x)) for x in arr[:]]


@pytest.mark.parametrize("partial", [True, False])
def test_rows_outside_the_2bit_copy_read_from_their_blosc_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 partial: bool) -> None:
    """The multi-allelic rows are read by decompressing only their Blosc blocks (or, without numcodecs' partial
    decompression, through zarr): the same calls as zarr reads, over chunk boundaries and in the last, short
    chunk, and the same QC counts as the genotype matrix gives."""
    from pmo_workbench.genotypes import store as store_module
    from pmo_workbench.genotypes.store import Genotypes
    from pmo_workbench.genotypes.vcf_reader import import_vcf

    if not partial:
        monkeypatch.setattr(store_module, "_blosc_partial", lambda: None)
    kinds, gt = simulate_calls(np.random.default_rng(3), 1000, 150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(write_calls(tmp_path / "r.vcf", kinds, gt), tmp_path / "s.vcz", chunk_rows=96)
    g = Genotypes(tmp_path / "s.vcz")
    rows = np.flatnonzero(~g.packable())
    assert g.call_genotype.chunks[0] == 96 and len(np.unique(rows // 96)) > 5 and rows[-1] >= 960
    want = g.call_genotype.get_orthogonal_selection((rows, slice(None), slice(None)))
    np.testing.assert_array_equal(g.read_gt_rows(rows), want)
    np.testing.assert_array_equal(g.read_gt_rows(rows[-3:]), want[-3:])
    vqc = variant_qc(g, chunk_size=200)
    called = gt[:, :, 0] >= 0
    np.testing.assert_array_equal(vqc["AN"], 2 * called.sum(axis=1))
    np.testing.assert_array_equal(vqc["n_het"], (called & (gt[:, :, 0] != gt[:, :, 1])).sum(axis=1))
    ac = np.stack([((gt == a) & called[:, :, None]).sum(axis=(1, 2)) for a in range(3)], axis=1)
    n_alleles = np.array([len(SITES[k][2]) + 1 for k in kinds])
    assert [list(x) for x in vqc["AC"]] == [ac[v, :n].tolist() for v, n in enumerate(n_alleles)]
    np.testing.assert_array_equal(sample_qc(g)["n_called"], called.sum(axis=0))


def test_rows_outside_the_2bit_copy_from_the_side_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import writes the side file of the multi-allelic rows; QC reads them from it (not from Blosc blocks)
    and counts what the genotype matrix gives. A missing, stale (store rebuilt) or damaged side file is rebuilt,
    never used; the store's own files are not touched."""
    from pmo_workbench.genotypes import unpacked_calls
    from pmo_workbench.genotypes.store import Genotypes

    rng = np.random.default_rng(11)
    kinds = np.where(rng.random(900) < 0.05, 4, rng.integers(0, 4, 900)).tolist()  # 5 % multi-allelic
    kinds, gt = simulate_calls(rng, 900, 60, kinds)
    vcf = write_calls(tmp_path / "r.vcf", kinds, gt)

    def blosc_forbidden(self, rows):
        raise AssertionError("rows read from call_genotype although the side file is good (or was gathered)")

    monkeypatch.setattr(Genotypes, "read_gt_rows", blosc_forbidden)  # the import gathers them: no read-back
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    side = unpacked_calls.side_file_path(g.store_path)
    rows = np.flatnonzero(~g.packable())
    assert side.is_file() and 0 < len(rows) < 0.1 * len(kinds)
    store_files = {p: p.read_bytes() for p in g.store_path.rglob("*") if p.is_file()}
    called = gt[:, :, 0] >= 0
    ac = np.stack([((gt == a) & called[:, :, None]).sum(axis=(1, 2)) for a in range(3)], axis=1)
    n_alleles = np.array([len(SITES[k][2]) + 1 for k in kinds])

    def check(store: Genotypes) -> None:
        vqc = variant_qc(store, chunk_size=200)
        np.testing.assert_array_equal(vqc["AN"], 2 * called.sum(axis=1))
        np.testing.assert_array_equal(vqc["n_het"], (called & (gt[:, :, 0] != gt[:, :, 1])).sum(axis=1))
        assert [list(x) for x in vqc["AC"]] == [ac[v, :n].tolist() for v, n in enumerate(n_alleles)]
        np.testing.assert_array_equal(sample_qc(store)["n_called"], called.sum(axis=0))

    check(Genotypes(g.store_path))  # from the side file written at import

    monkeypatch.undo()
    good = side.read_bytes()
    damaged = bytearray(good)
    with zipfile.ZipFile(side) as zf:  # the calls array's bytes: past its local header and its .npy header
        info = zf.getinfo("calls.npy")
        name_len, extra_len = struct.unpack("<HH", good[info.header_offset + 26:info.header_offset + 30])
        at = info.header_offset + 30 + name_len + extra_len + 128
    assert at + 100 < info.header_offset + info.file_size
    damaged[at + 50] ^= 1  # one call changed: zip's CRC-32 no longer matches
    for bad in (bytes(damaged), good[: len(good) // 2], b"not a zip"):
        side.write_bytes(bad)
        g2 = Genotypes(g.store_path)
        assert unpacked_calls.read_side_file(g2, rows) is None  # refused
        check(g2)  # and rebuilt from the store
        assert side.read_bytes() == good  # the file read back from the store equals the one the import gathered
    side.unlink()
    check(Genotypes(g.store_path))  # a store imported before the side file existed gets one on its first QC
    assert side.read_bytes() == good

    # the store rebuilt in place (a new completion marker): the old side file is stale, so rebuilt
    marker = g.store_path / ".complete"
    marker.unlink()
    marker.write_text("ok\n")
    g3 = Genotypes(g.store_path)
    assert unpacked_calls.read_side_file(g3, rows) is None
    check(g3)
    assert unpacked_calls.read_side_file(g3, rows) is not None
    # a side file of other rows (made for another store's layout) is refused too
    assert unpacked_calls.read_side_file(g3, rows[1:]) is None
    store_files[marker] = marker.read_bytes()
    assert {p: p.read_bytes() for p in g.store_path.rglob("*") if p.is_file()} == store_files


def test_the_import_gathers_the_rows_outside_the_2bit_copy_as_it_writes_them(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows an import gathers for the side file, text unit by text unit (many units of a few records, chunks
    of 64 rows), are the store's rows outside the 2-bit copy with the calls the genotype matrix has; past
    MAX_BYTES it gathers nothing and the store gets no side file, as one that has too many such rows."""
    from pmo_workbench.genotypes import unpacked_calls, vcf_source
    from pmo_workbench.genotypes.store import Genotypes
    from pmo_workbench.genotypes.vcf_reader import import_vcf

    rng = np.random.default_rng(23)
    kinds = np.where(rng.random(700) < 0.08, 4, rng.integers(0, 4, 700)).tolist()
    kinds, gt = simulate_calls(rng, 700, 40, kinds)
    vcf = write_calls(tmp_path / "r.vcf", kinds, gt)
    monkeypatch.setattr(vcf_source, "BLOCK_SIZE", 4096)  # ~20 records per unit of text
    got: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(vcf, tmp_path / "s.vcz", chunk_rows=64, on_unpacked=got.append)
    (side,) = got
    g = Genotypes(tmp_path / "s.vcz")
    rows = np.flatnonzero(~g.packable())
    multi = np.flatnonzero(np.array(kinds) == 4)
    assert len(rows) > 20 and len(np.unique(rows // 64)) > 5
    assert set(multi.tolist()) <= set(rows.tolist())  # at least every multi-allelic row (the 2-bit copy's rule)
    np.testing.assert_array_equal(side.rows, rows)
    assert side.fits(40, 2)
    np.testing.assert_array_equal(side.dense(40), gt[rows].astype(np.int8))  # the simulated calls: the oracle
    np.testing.assert_array_equal(side.dense(40), g.read_gt_rows(rows))  # and what the store holds

    monkeypatch.setattr(unpacked_calls, "MAX_BYTES", (len(rows) - 1) * 40 * 2)  # one row too many
    got.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(vcf, tmp_path / "t.vcz", chunk_rows=64, on_unpacked=got.append)
        g2 = open_genotypes(vcf, cache_dir=tmp_path / "cache")
    assert got == [None]
    assert not unpacked_calls.side_file_path(g2.store_path).exists()
    called = gt[:, :, 0] >= 0
    np.testing.assert_array_equal(variant_qc(g2)["AN"], 2 * called.sum(axis=1))  # rows read from the store


def _general_counts(gt: np.ndarray, n_alleles: np.ndarray, atype: np.ndarray, width: int, ns: int):
    from pmo_workbench.genotypes.call_counts import N_SAMPLE, count_general_rows

    out = [np.zeros((len(gt), width), np.int32), *[np.zeros(len(gt), np.int64) for _ in range(4)],
           np.zeros((ns, N_SAMPLE), np.int64)]
    count_general_rows(gt, np.arange(len(gt)), n_alleles, atype, *out)
    return out


def _sparse_counts(gt: np.ndarray, n_alleles: np.ndarray, atype: np.ndarray, width: int, ns: int):
    from pmo_workbench.genotypes.call_counts import N_SAMPLE, count_sparse_rows
    from pmo_workbench.genotypes.unpacked_calls import SparseCalls, sparsify

    counts, samples, calls = sparsify(gt)
    side = SparseCalls(np.arange(len(gt)), np.cumsum(counts), samples, calls)
    np.testing.assert_array_equal(side.dense(ns), gt)
    out = [np.zeros((len(gt), width), np.int32), *[np.zeros(len(gt), np.int64) for _ in range(4)],
           np.zeros((ns, N_SAMPLE), np.int64)]
    count_sparse_rows(side, n_alleles, atype, *out)
    return out


def test_sparse_side_file_rows_count_by_hand_and_as_the_dense_kernel() -> None:
    """The side file keeps only the calls that are not all-reference; counted, they give what the dense rows
    give: a hand-worked multi-allelic row, then random rows with every odd call (haploid, half-missing,
    missing, alleles up to 3, a singleton), in diploid and triploid stores."""
    from pmo_workbench.genotypes.call_counts import (
        SAMPLE_CALLED,
        SAMPLE_HET,
        SAMPLE_HOM_REF,
        SAMPLE_NOT_CALLED,
        SAMPLE_SINGLETON,
        SAMPLE_TS,
        SAMPLE_TV,
    )

    # A/G,C: samples 0/0, 0/1, 1/2, ./., 2/2, 0/0 -> AC [5, 2, 3], AN 10; hets: samples 1, 2
    gt = np.array([[[0, 0], [0, 1], [1, 2], [-1, -1], [2, 2], [0, 0]]], np.int8)
    ac, called, het, hom_ref, hom_var, sample = _sparse_counts(gt, np.array([3]), np.array([[1, 2]], np.int8), 3, 6)
    assert ac.tolist() == [[5, 2, 3]] and called.tolist() == [5] and het.tolist() == [2]
    assert hom_ref.tolist() == [2] and hom_var.tolist() == [0]  # 2/2 is not a hom-var of ALT 1
    assert sample[:, SAMPLE_CALLED].tolist() == [1, 1, 1, 0, 1, 1]
    assert sample[:, SAMPLE_NOT_CALLED].tolist() == [0, 0, 0, 1, 0, 0]
    assert sample[:, SAMPLE_HOM_REF].tolist() == [1, 0, 0, 0, 0, 1]
    assert sample[:, SAMPLE_HET].tolist() == [0, 1, 1, 0, 0, 0]
    assert sample[:, SAMPLE_TS].tolist() == [0, 1, 1, 0, 0, 0]  # ALT 1 (G) is a transition
    assert sample[:, SAMPLE_TV].tolist() == [0, 0, 1, 0, 2, 0]
    assert sample[:, SAMPLE_SINGLETON].sum() == 0

    rng = np.random.default_rng(3)
    for ploidy, ns in ((2, 37), (3, 11)):
        nv = 300
        gt = np.where(rng.random((nv, ns, ploidy)) < 0.3, rng.integers(1, 4, (nv, ns, ploidy)), 0).astype(np.int8)
        gt[rng.random((nv, ns)) < 0.05] = -1
        gt[rng.random((nv, ns)) < 0.05, -1] = -2  # haploid (or diploid in a triploid store)
        gt[rng.random((nv, ns)) < 0.02, -1] = -1  # half-missing
        gt[:40] = 0
        gt[:20, 5, 0] = 1  # singletons
        gt[20:40, :, :] = np.where(rng.random((20, ns, ploidy)) < 0.5, 0, -1)
        n_alleles = rng.integers(4, 5, nv)
        atype = rng.integers(0, 9, (nv, 3)).astype(np.int8)
        want = _general_counts(gt, n_alleles, atype, 4, ns)
        got = _sparse_counts(gt, n_alleles, atype, 4, ns)
        assert want[5][:, SAMPLE_SINGLETON].sum() >= 20
        for w, g_ in zip(want, got, strict=True):
            np.testing.assert_array_equal(g_, w)


def test_side_file_of_an_older_format_or_with_entries_out_of_range_is_rebuilt(tmp_path: Path) -> None:
    """A side file written by the dense format (version 1) of a store, or one whose CRC holds but whose entries
    name a sample beyond the store's, is refused and rebuilt; the counts are the store's."""
    import json

    from pmo_workbench.genotypes import unpacked_calls
    from pmo_workbench.genotypes.store import Genotypes

    rng = np.random.default_rng(8)
    kinds, gt = simulate_calls(rng, 300, 30, np.where(rng.random(300) < 0.1, 4, 0).tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = open_genotypes(write_calls(tmp_path / "r.vcf", kinds, gt), cache_dir=tmp_path / "cache")
    side = unpacked_calls.side_file_path(g.store_path)
    good = side.read_bytes()
    rows = np.flatnonzero(~g.packable())
    want = sample_qc(Genotypes(g.store_path))

    old_identity = dict(unpacked_calls.store_identity(g), format=1)
    with open(side, "wb") as fh:
        np.savez(fh, rows=rows, gt=g.read_gt_rows(rows),
                 identity=np.frombuffer(json.dumps(old_identity).encode(), np.uint8))
    assert unpacked_calls.read_side_file(Genotypes(g.store_path), rows) is None
    assert sample_qc(Genotypes(g.store_path)).equals(want)
    assert side.read_bytes() == good  # rebuilt in the current format

    s = unpacked_calls.read_side_file(Genotypes(g.store_path), rows)
    bad = s.samples.copy()
    bad[len(bad) // 2] = 30  # no such sample (n_samples 30)
    identity = np.frombuffer(json.dumps(unpacked_calls.store_identity(g)).encode(), np.uint8)
    with open(side, "wb") as fh:
        np.savez(fh, rows=s.rows, ends=s.ends, samples=bad, calls=s.calls, identity=identity)
    assert unpacked_calls.read_side_file(Genotypes(g.store_path), rows) is None
    assert sample_qc(Genotypes(g.store_path)).equals(want)
    assert side.read_bytes() == good


def test_allele_types_in_c_equal_the_python_rules() -> None:
    """The C typing of REF/ALT (the QC pass's) gives :func:`classify_allele`'s type for every kind of allele."""
    import pyarrow as pa

    from pmo_workbench.genotypes.alleles import classify_allele
    from pmo_workbench.genotypes.arrow_strings import string_buffers

    pairs = [("A", "G"), ("G", "A"), ("C", "T"), ("T", "C"), ("A", "C"), ("G", "T"), ("A", "A"), ("A", "N"),
             ("M", "A"), ("a", "g"), ("A", "*"), ("A", "."), ("A", "<DEL>"), ("A", "A[1:5["), ("A", "]1:5]A"),
             ("A", "G."), ("A", ".G"), ("A", "X"), ("A", ""), ("", "A"), ("N", "*"), ("R", "A"), ("AT", "A"),
             ("A", "AT"), ("ATT", "AT"), ("AT", "ATTT"), ("AT", "GC"), ("AT", "AC"), ("AT", "GT"), ("ACG", "ACG"),
             ("ACG", "TCA"), ("AC", "TCC"), ("AC", "GTT"), ("ACGT", "AGT"), ("TAC", "GAC"), ("AC", "ACG"),
             ("A", "Ä"), ("Ä", "A"), ("AC", "A<X>"), ("A", "<*>")]
    ref = pa.array([r for r, _ in pairs], pa.string())
    alts = [a for _, a in pairs] + ["G,C,AT,*", "T,<DEL>", ""]
    refs = [r for r, _ in pairs] + ["A", "AT", "A"]
    n_alleles = np.array([2] * len(pairs) + [5, 3, 1], np.int64)
    ref, alt = pa.array(refs, pa.string()), pa.array(alts, pa.string())
    out = np.full((len(refs), 4), -1, np.int8)
    (rd, ro), (ad, ao) = string_buffers(ref), string_buffers(alt)
    ckernels.library().pmo_classify_alleles(rd, ro, ad, ao, n_alleles, len(refs), out, 4)
    want = np.full_like(out, -1)
    for i, (r, a) in enumerate(zip(refs, alts, strict=True)):
        if n_alleles[i] > 1:
            for k, x in enumerate(a.split(",")):
                want[i, k] = classify_allele(r, x)
    np.testing.assert_array_equal(out, want)
    assert len(set(want[:, 0].tolist())) == 10  # every type and -1 occurs


def test_allele_lists_split_in_c_equal_splitting_the_text() -> None:
    """variant_qc's ``alleles``: "REF,ALT" (REF alone when ALT is empty) split at commas, for one and several ALT
    alleles, an empty ALT, an empty allele between commas and a sliced (offset) Arrow array."""
    import importlib

    import pyarrow as pa

    vq = importlib.import_module("pmo_workbench.qc.qc_columns")
    refs = ["X", "A", "AT", "A", "C", "G", "ACGT", "T", "A"]
    alts = ["Y", "G", "A,ATT", "", "T,,G", "<DEL>,*", "A", "TTTTT,C,G", "C,"]
    got = vq._alleles_column(pa.array(refs, pa.string()).slice(1), pa.array(alts, pa.string()).slice(1))
    want = [[r] if a == "" else f"{r},{a}".split(",") for r, a in zip(refs[1:], alts[1:], strict=True)]
    assert got.to_pylist() == want
    assert got.type == pa.list_(pa.string())
    assert vq._alleles_column(pa.array([], pa.string()), pa.array([], pa.string())).to_pylist() == []


def test_packed_kernel_sparse_and_dense_rows_count_alike() -> None:
    """The 2-bit kernel walks a row with few non-hom-ref calls (under 1/128 of the samples) call by call and adds
    the others to vertical lane counters: rows of 1,000 samples with 0 to 60 such calls (both ways, a singleton
    among them), of two allele types, give the counts of the calls themselves."""
    from concurrent.futures import ThreadPoolExecutor

    from pmo_workbench.genotypes.call_counts import N_TYPES, _count_packed_rows
    from pmo_workbench.genotypes.packed_calls import pack_calls

    rng = np.random.default_rng(4)
    nv, ns = 600, 1000
    gt = np.zeros((nv, ns, 2), np.int8)
    for v in range(nv):
        k = v % 61
        who = rng.choice(ns, k, replace=False)
        gt[v, who] = [[0, 1], [1, 1], [-1, -1]][v % 3] if k == 1 else rng.choice(
            np.array([[0, 1], [1, 1], [-1, -1]], np.int8), k)
    packed, ok = pack_calls(gt)
    assert ok.all()
    rtype = np.where(np.arange(nv) % 2 == 0, 1, 2).astype(np.int64)
    k = 2
    het_acc, hv_acc = np.zeros((k, N_TYPES, ns), np.int32), np.zeros((k, N_TYPES, ns), np.int32)
    miss_acc, singles, hist = np.zeros((k, ns), np.int32), np.zeros((k, ns), np.int64), np.zeros((nv, 3), np.int64)
    with ThreadPoolExecutor(k) as pool:
        _count_packed_rows(pool, packed.view(np.uint64), np.arange(nv), rtype, ns, hist, het_acc, hv_acc, miss_acc,
                           singles)
    het = gt[:, :, 0] != gt[:, :, 1]
    hv = (gt[:, :, 0] == 1) & (gt[:, :, 1] == 1)
    miss = gt[:, :, 0] < 0
    np.testing.assert_array_equal(hist, np.stack([het.sum(1), hv.sum(1), miss.sum(1)], axis=1))
    for t in (1, 2):
        np.testing.assert_array_equal(het_acc.sum(0)[t], het[rtype == t].sum(0))
        np.testing.assert_array_equal(hv_acc.sum(0)[t], hv[rtype == t].sum(0))
    np.testing.assert_array_equal(miss_acc.sum(0), miss.sum(0))
    alt = het.sum(1) + 2 * hv.sum(1)
    want_single = (het & (alt == 1)[:, None]).sum(0)
    assert want_single.sum() > 3
    np.testing.assert_array_equal(singles.sum(0), want_single)
