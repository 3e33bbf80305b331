"""The C kernels of the QC pass (pmo_workbench.ckernels) on hand-worked inputs, their checks of bad input, and
the loader's message when the library is missing (the split over threads: test_call_counts.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

from pmo_workbench import ckernels
from pmo_workbench.genotypes.arrow_strings import read_string_array
from pmo_workbench.genotypes.packed_calls import pack_calls


def _count(gt: np.ndarray, rtype: np.ndarray) -> tuple[np.ndarray, ...]:
    packed, ok = pack_calls(gt)
    assert ok.all()
    ns = gt.shape[1]
    hist = np.zeros((len(gt), 3), np.int64)
    het, hv = np.zeros((9, ns), np.int32), np.zeros((9, ns), np.int32)
    miss, singles = np.zeros(ns, np.int32), np.zeros(ns, np.int64)
    rc = ckernels.library().pmo_count_packed_rows(packed.view(np.uint64), packed.shape[1] // 8,
                                                  np.arange(len(gt), dtype=np.int64), len(gt), rtype, 9, ns,
                                                  hist, het, hv, miss, singles)
    assert rc == 0
    return hist, het, hv, miss, singles


def test_packed_counts_by_hand() -> None:
    # 3 rows x 5 samples: 0/0 0/1 1/1 ./. 1/0 | all 0/0 but one het (a singleton) | dense hom-var
    gt = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1], [1, 0]],
                   [[0, 0], [0, 0], [0, 0], [0, 1], [0, 0]],
                   [[1, 1], [1, 1], [1, 1], [1, 1], [0, 1]]], dtype=np.int8)
    hist, het, hv, miss, singles = _count(gt, np.array([2, 3, 2], np.int64))
    assert hist.tolist() == [[2, 1, 1], [1, 0, 0], [1, 4, 0]]
    assert het[2].tolist() == [0, 1, 0, 0, 2] and het[3].tolist() == [0, 0, 0, 1, 0]
    assert hv[2].tolist() == [1, 1, 2, 1, 0] and hv[3].sum() == 0 and het[[0, 1, 4]].sum() == 0
    assert miss.tolist() == [0, 0, 0, 1, 0]
    assert singles.tolist() == [0, 0, 0, 1, 0]


def test_packed_counts_flush_every_lane() -> None:
    """600 dense rows over 70 samples (more than 255 per byte lane, and a row width of three words)."""
    rng = np.random.default_rng(3)
    gt = rng.choice(np.array([0, 1, -1], np.int8), size=(600, 70, 2), p=[0.3, 0.6, 0.1])
    gt[:, :, 1] = np.where(gt[:, :, 0] < 0, -1, gt[:, :, 1])
    gt[:, :, 0] = np.where(gt[:, :, 1] < 0, -1, gt[:, :, 0])
    rtype = rng.integers(0, 9, 600)
    hist, het, hv, miss, _ = _count(gt, rtype)
    is_het = (gt[:, :, 0] != gt[:, :, 1]) & (gt[:, :, 0] >= 0)
    is_hv = (gt[:, :, 0] == 1) & (gt[:, :, 1] == 1)
    is_miss = gt[:, :, 0] < 0
    np.testing.assert_array_equal(hist, np.stack([is_het.sum(1), is_hv.sum(1), is_miss.sum(1)], axis=1))
    for t in range(9):
        np.testing.assert_array_equal(het[t], is_het[rtype == t].sum(0))
        np.testing.assert_array_equal(hv[t], is_hv[rtype == t].sum(0))
    np.testing.assert_array_equal(miss, is_miss.sum(0))
    assert het.max() > 15 and miss.sum() > 255


def test_packed_counts_reject_an_allele_type_out_of_range() -> None:
    gt = np.zeros((1, 4, 2), np.int8)
    packed, _ = pack_calls(gt)
    z = [np.zeros((9, 4), np.int32), np.zeros((9, 4), np.int32), np.zeros(4, np.int32), np.zeros(4, np.int64)]
    assert ckernels.library().pmo_count_packed_rows(packed.view(np.uint64), 1, np.zeros(1, np.int64), 1,
                                                    np.array([9], np.int64), 9, 4, np.zeros((1, 3), np.int64),
                                                    *z) == -2


def test_hwe_kernel_by_hand() -> None:
    """Levene-Haldane by hand for 2 samples, 2 ALT alleles: P(het=0) = 1/3, P(het=2) = 2/3."""
    two, excess = np.empty(3), np.empty(3)
    ckernels.library().pmo_hwe_midp(np.array([1, 0, -1]), np.array([0, 2, 5]), np.array([1, 0, 5]), 3, two, excess)
    assert two[0] == pytest.approx(1 / 3 * 0.5) and excess[0] == pytest.approx(2 / 3 + 1 / 6)
    assert two[1] == pytest.approx(1 / 3 + 2 / 3 * 0.5) and excess[1] == pytest.approx(1 / 3)
    assert np.isnan(two[2]) and np.isnan(excess[2])


def test_loci_kernel_formats_and_checks_codes() -> None:
    names = np.frombuffer(b"chr1chrX\0", np.uint8)
    ends = np.array([0, 4, 8], np.int64)
    offsets = np.zeros(4, np.int64)
    data = np.empty(3 * 30, np.uint8)
    lib = ckernels.library()
    k = lib.pmo_format_loci(np.array([0, 1, 1], np.int64), np.array([5, 1234567890123, -7], np.int64), 3, names,
                            ends, 2, offsets, data, len(data))
    text = data[:k].tobytes().decode()
    assert [text[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)] == [
        "chr1:5", "chrX:1234567890123", "chrX:-7"]
    assert lib.pmo_format_loci(np.array([2], np.int64), np.array([1], np.int64), 1, names, ends, 2,
                               np.zeros(2, np.int64), data, len(data)) == -1


def test_a_corrupt_string_chunk_is_named_not_read_past(tmp_path: Path) -> None:
    root = zarr.open_group(zarr.DirectoryStore(str(tmp_path / "s.zarr")), mode="w")
    arr = root.create("variant_ref", shape=4, chunks=2, dtype=object, object_codec=numcodecs.VLenUTF8(),
                      compressor=None)
    arr[:] = np.array(["A", "CT", "G", "T"], dtype=object)
    raw = bytearray(arr.store["variant_ref/1"])
    raw[4:8] = (1000).to_bytes(4, "little")  # the first item claims 1000 bytes
    arr.store["variant_ref/1"] = bytes(raw)
    with pytest.raises(ValueError, match="variant_ref: chunk 1 is shorter"):
        read_string_array(arr)


def test_a_missing_library_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckernels, "_MODULE", "pmo_workbench.ckernels._not_built")
    ckernels.library.cache_clear()
    try:
        with pytest.raises(ImportError, match="make setup"):
            ckernels.library()
    finally:
        monkeypatch.undo()
        ckernels.library.cache_clear()
    assert ckernels.library().pmo_hwe_midp is not None


def test_sources_changed_after_the_build_are_named(tmp_path: Path) -> None:
    lib, src = tmp_path / "_lib.so", tmp_path / "hwe.c"
    lib.write_bytes(b"")
    src.write_text("")
    os.utime(src, (1_000, 1_000))
    os.utime(lib, (2_000, 2_000))
    assert ckernels.stale_sources(lib, tmp_path) == []
    os.utime(src, (3_000, 3_000))
    assert ckernels.stale_sources(lib, tmp_path) == ["hwe.c"]
