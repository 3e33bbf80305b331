"""The QC pass's own reader of the 2-bit copy (ckernels/blosc_lz4.c, packed_counts.c): Blosc/LZ4 frames decoded as
numcodecs decodes them, by liblz4 and by the hand-written LZ4 decoder; truncated, corrupt and random frames
refused with an error code (also in a build with AddressSanitizer and UBSan); a store's counts straight from its
chunk files equal those through numcodecs, a corrupt chunk named, a copy compressed otherwise read through
numcodecs."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import numcodecs
import numpy as np
import pytest

from pmo_workbench import ckernels
from pmo_workbench.genotypes import call_counts, packed_calls
from pmo_workbench.genotypes.packed_calls import decode_blosc_lz4, packed_layout
from pmo_workbench.genotypes.store import Genotypes
from pmo_workbench.genotypes.store_writer import PACKED_COMPRESSOR
from tests.unit.test_call_counts import simulate_calls, write_calls

CKERNELS = Path(ckernels.__file__).parent


@pytest.fixture(params=["liblz4", "own"])
def decoder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Decode with liblz4 (where the system has it) and with blosc_lz4.c's own LZ4 decoder."""
    lib = ckernels.library()
    found = packed_calls.load_liblz4()  # cached: the readers do not load it again
    if request.param == "liblz4":
        if not found:
            pytest.skip("no liblz4 on this system")
        yield "liblz4"
        return
    lib.pmo_lz4_load(None)
    try:
        yield "own"
    finally:
        packed_calls.load_liblz4.cache_clear()
        packed_calls.load_liblz4()


def genotype_bytes(rng: np.random.Generator, n_rows: int, row_bytes: int) -> np.ndarray:
    """2-bit calls like a store's copy: mostly hom-ref, runs of hets, a few missing calls."""
    calls = rng.choice(np.array([0, 1, 2, 3], np.uint8), size=(n_rows, row_bytes * 4), p=[0.9, 0.06, 0.03, 0.01])
    calls[rng.random(n_rows) < 0.3] = 0  # whole rows of hom-ref (long runs)
    c = calls.reshape(n_rows, row_bytes, 4)
    return (c[..., 0] | c[..., 1] << 2 | c[..., 2] << 4 | c[..., 3] << 6).astype(np.uint8).ravel()


def frames(rng: np.random.Generator) -> list[tuple[bytes, np.ndarray]]:
    """Blosc frames numcodecs writes (the store's compressor, LZ4HC, small blocks, a short last block, frames too
    small to compress and incompressible ones stored as they are) with their decoded bytes."""
    out = []
    cases = [(PACKED_COMPRESSOR, genotype_bytes(rng, 400, 632)),
             (PACKED_COMPRESSOR, genotype_bytes(rng, 37, 24)),
             (numcodecs.Blosc(cname="lz4", clevel=9, shuffle=0, blocksize=4096), genotype_bytes(rng, 100, 104)),
             (numcodecs.Blosc(cname="lz4hc", clevel=5, shuffle=0), genotype_bytes(rng, 50, 632)),
             (numcodecs.Blosc(cname="lz4", clevel=1, shuffle=1), genotype_bytes(rng, 30, 200)),  # typesize 1
             (PACKED_COMPRESSOR, rng.integers(0, 256, 70_001, dtype=np.uint8)),
             (PACKED_COMPRESSOR, np.zeros(90_000, np.uint8)),
             (PACKED_COMPRESSOR, np.arange(10, dtype=np.uint8))]
    for codec, data in cases:
        out.append((bytes(codec.encode(data)), data))
    return out


def test_frames_decode_as_numcodecs_decodes_them(decoder: str) -> None:
    for frame, data in frames(np.random.default_rng(1)):
        got = decode_blosc_lz4(frame)
        np.testing.assert_array_equal(got, np.frombuffer(numcodecs.Blosc().decode(frame), np.uint8))
        np.testing.assert_array_equal(got, data)


def test_frames_of_other_codecs_and_shuffles_are_refused(decoder: str) -> None:
    data = genotype_bytes(np.random.default_rng(2), 50, 632)
    for codec in (numcodecs.Blosc(cname="zlib", clevel=1, shuffle=0),
                  numcodecs.Blosc(cname="lz4", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE),
                  numcodecs.Blosc(cname="lz4", clevel=1, shuffle=numcodecs.Blosc.SHUFFLE)):
        frame = codec.encode(data.view(np.uint32) if codec.shuffle == numcodecs.Blosc.SHUFFLE else data)
        with pytest.raises(ValueError, match="does not decode"):
            decode_blosc_lz4(frame)


def corrupted(rng: np.random.Generator) -> Iterator[bytes]:
    """Every prefix of a small frame, random cuts, flipped bytes in the header, block table and streams, sizes that
    overrun, and random bytes with and without a plausible header."""
    for frame, _ in frames(rng)[:4]:
        b = bytearray(frame)
        cuts = range(len(b)) if len(b) < 600 else sorted(set(rng.integers(0, len(b), 300).tolist()) | {0, 15, 16})
        for n in cuts:
            yield bytes(b[:n])
        for _ in range(300):
            c = bytearray(b)
            at = int(rng.integers(0, min(len(c), 64 if rng.random() < 0.5 else len(c))))
            c[at] = int(rng.integers(0, 256))
            yield bytes(c)
        for field in (4, 8, 12, 16):  # nbytes, blocksize, cbytes, the first block start: overrunning values
            for value in (0, 1, len(b), len(b) + 1, 2**31 - 1, 2**32 - 1):
                c = bytearray(b)
                c[field:field + 4] = value.to_bytes(4, "little")
                yield bytes(c)
        start = int.from_bytes(b[16:20], "little")
        for value in (0, 1, 2**31 - 1, len(b)):  # the first stream's size
            c = bytearray(b)
            c[start:start + 4] = value.to_bytes(4, "little")
            yield bytes(c)
    for n in (0, 1, 16, 100, 5000):
        yield rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        head = bytes([2, 1, 0x20, 1]) + (4000).to_bytes(4, "little") + (1024).to_bytes(4, "little")
        yield head + (16 + n).to_bytes(4, "little") + rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def test_corrupt_frames_give_an_error_not_a_crash(decoder: str) -> None:
    outcomes = {"error": 0, "decoded": 0}
    for frame in corrupted(np.random.default_rng(7)):
        try:
            decode_blosc_lz4(frame)
            outcomes["decoded"] += 1  # a changed literal byte still decodes (Blosc keeps no checksum)
        except ValueError as exc:
            assert str(exc) in packed_calls.BLOSC_ERRORS.values()
            outcomes["error"] += 1
    assert outcomes["error"] > 1000


HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int64_t pmo_blosc_decode(const uint8_t *src, int64_t n_src, uint8_t *dst, int64_t cap);
int pmo_blosc_info(const uint8_t *src, int64_t n_src, int64_t *info);
/* frames from stdin as [uint32 length][bytes]; prints each result and an FNV-1a hash of what it decoded */
int main(void) {
    uint32_t n;
    while (fread(&n, 4, 1, stdin) == 1) {
        uint8_t *src = malloc(n ? n : 1);
        if (fread(src, 1, n, stdin) != n) return 3;
        int64_t info[5] = {0}, got = pmo_blosc_info(src, n, info);
        uint64_t h = 1469598103934665603ULL;
        if (got == 0) {
            int64_t cap = info[0] + 32;
            uint8_t *dst = malloc((size_t)cap);
            got = pmo_blosc_decode(src, n, dst, cap);
            for (int64_t i = 0; i < got; i++) h = (h ^ dst[i]) * 1099511628211ULL;
            free(dst);
        }
        printf("%lld %llu\n", (long long)got, (unsigned long long)h);
        free(src);
    }
    return 0;
}
"""


def test_decoder_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    """The hand-written decoder (blosc_lz4.c, liblz4 not loaded) built with -fsanitize=address,undefined decodes
    the valid frames as numcodecs does and refuses the corrupt ones without a sanitizer report."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "h.c").write_text(HARNESS)
    exe = tmp_path / "h"
    build = subprocess.run([cc, "-O1", "-g", "-std=c11", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            "-I", str(CKERNELS), str(tmp_path / "h.c"), str(CKERNELS / "blosc_lz4.c"), "-o", str(exe),
                            "-ldl"], capture_output=True, text=True)
    if build.returncode != 0 and any(w in build.stderr.lower() for w in ("sanitize", "asan", "ubsan")):
        pytest.skip(f"the compiler has no sanitizers: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    rng = np.random.default_rng(11)
    valid = frames(rng)
    inputs = [f for f, _ in valid] + list(corrupted(rng))
    stdin = b"".join(len(f).to_bytes(4, "little") + f for f in inputs)
    run = subprocess.run([str(exe)], input=stdin, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    lines = run.stdout.decode().split("\n")[:-1]
    assert len(lines) == len(inputs)
    for line, (_, data) in zip(lines, valid, strict=False):
        got, h = (int(x) for x in line.split())
        want = 1469598103934665603
        for byte in data.tobytes():
            want = ((want ^ byte) * 1099511628211) % 2**64
        assert got == len(data) and h == want
    assert sum(int(line.split()[0]) < 0 for line in lines) > 1000


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A store of 1,000 variants x 150 samples in chunks of 96 (the 2-bit copy in 11 chunk files)."""
    from pmo_workbench.genotypes.vcf_reader import import_vcf

    tmp = tmp_path_factory.mktemp("blosc_store")
    kinds, gt = simulate_calls(np.random.default_rng(3), 1000, 150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_vcf(write_calls(tmp / "r.vcf", kinds, gt), tmp / "s.vcz", chunk_rows=96)
    return tmp / "s.vcz", gt


@pytest.fixture
def store(built_store: tuple[Path, np.ndarray], tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A copy of the module's store, for a test to damage."""
    shutil.copytree(built_store[0], tmp_path / "s.vcz")
    return tmp_path / "s.vcz", built_store[1]


def counts_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[call_counts.CallCounts, ...]:
    """The store's call counts from its chunk files, and through numcodecs (the reader the C one replaces)."""
    fused = call_counts.compute_call_counts(Genotypes(path), chunk_size=200)
    with monkeypatch.context() as m:
        m.setattr(call_counts, "_count_packed_chunks", lambda *a: False)
        numcodecs_way = call_counts.compute_call_counts(Genotypes(path), chunk_size=200)
    return fused, numcodecs_way


def assert_same(a: call_counts.CallCounts, b: call_counts.CallCounts) -> None:
    for name in ("sample", "ac", "n_called", "n_het", "n_hom_ref", "n_hom_var"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_counts_from_the_chunk_files_equal_those_through_numcodecs(store: tuple[Path, np.ndarray], decoder: str,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   threads: str) -> None:
    path, gt = store
    monkeypatch.setenv("PMO_THREADS", threads)
    layout = packed_layout(path, 1000, 150)
    assert layout is not None and layout.n_chunks == 11 and layout.chunk_rows == 96
    fused, other = counts_both_ways(path, monkeypatch)
    assert_same(fused, other)
    called = gt[:, :, 0] >= 0
    np.testing.assert_array_equal(fused.sample[:, call_counts.SAMPLE_CALLED], called.sum(axis=0))


def test_a_missing_chunk_file_holds_the_fill_value(store: tuple[Path, np.ndarray],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = store
    (path / packed_calls.PACKED_NAME / "3.0").unlink()  # zarr reads it as zeros: every call 0/0
    fused, other = counts_both_ways(path, monkeypatch)
    assert_same(fused, other)
    assert (fused.n_hom_ref[288:384][Genotypes(path).packable()[288:384]] == 150).all()


@pytest.mark.parametrize("damage", ["truncate", "stream", "table"])
def test_a_corrupt_chunk_file_is_named(store: tuple[Path, np.ndarray], decoder: str, damage: str) -> None:
    path, _ = store
    chunk = path / packed_calls.PACKED_NAME / "7.0"
    data = bytearray(chunk.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "stream":  # the first stream's size beyond the frame
        start = int.from_bytes(data[16:20], "little")
        data[start:start + 4] = (len(data) * 2).to_bytes(4, "little")
    else:
        data[16:20] = (len(data) + 5).to_bytes(4, "little")
    chunk.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path}: call_genotype_packed chunk 7\.0: (truncated|corrupt)"):
        call_counts.compute_call_counts(Genotypes(path))


def test_a_copy_compressed_otherwise_is_read_through_numcodecs(store: tuple[Path, np.ndarray],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk written with another codec: the C reader gives the store up and numcodecs reads it (same counts);
    a copy whose metadata names another compressor is not read by the C reader at all."""
    path, _ = store
    reference, _ = counts_both_ways(path, monkeypatch)
    chunk = path / packed_calls.PACKED_NAME / "4.0"
    raw = numcodecs.Blosc().decode(chunk.read_bytes())
    chunk.write_bytes(numcodecs.Blosc(cname="zlib", clevel=1, shuffle=0).encode(raw))
    fused, other = counts_both_ways(path, monkeypatch)
    assert_same(fused, reference)
    assert_same(other, reference)
    meta = path / packed_calls.PACKED_NAME / ".zarray"
    meta.write_text(meta.read_text().replace('"lz4"', '"zstd"'))
    assert packed_layout(path, 1000, 150) is None


def test_store_arrays_read_without_zarr_equal_zarr(built_store: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """Every array a QC pass reads (zstd frames of int16/int64/bool, split into typesize streams, and VLenUTF8
    strings), read from the chunk files, equals zarr's reading; an array this reader does not read (a shuffle, a
    chunk never written) gives None, for zarr to read."""
    import zarr

    from pmo_workbench.genotypes import store_arrays

    if not store_arrays.load_libzstd():
        pytest.skip("no libzstd on this system")
    path = built_store[0]
    group = zarr.open_group(str(path), mode="r")
    for name in ("variant_position", "variant_contig", "variant_n_alleles", packed_calls.PACKABLE_NAME,
                 packed_calls.PACKED_NAME):
        got = store_arrays.read_array(path, name)
        assert got is not None and got.dtype == group[name].dtype
        np.testing.assert_array_equal(got, group[name][:])
    for name in ("sample_id", "variant_ref", "variant_alt", "variant_filters"):
        assert store_arrays.read_strings(path, name).to_pylist() == [str(x) for x in group[name][:]]
        assert store_arrays.read_string_list(path, name) == [str(x) for x in group[name][:]]
    assert store_arrays.read_attrs(path) == dict(group.attrs)
    # a million int64 in a few chunks: blocks of 8 split streams (c-blosc's rule for typesize 8)
    root = zarr.open_group(str(tmp_path / "z.zarr"), mode="w")
    values = np.random.default_rng(4).integers(0, 2**40, 1_000_003)
    root.create("big", shape=values.shape, chunks=300_000, dtype="<i8",
                compressor=numcodecs.Blosc(cname="zstd", clevel=1, shuffle=0))[:] = values
    np.testing.assert_array_equal(store_arrays.read_array(tmp_path / "z.zarr", "big"), values)
    root.create("shuffled", shape=values.shape, chunks=300_000, dtype="<i8",
                compressor=numcodecs.Blosc(cname="zstd", clevel=1, shuffle=1))[:] = values
    assert store_arrays.read_array(tmp_path / "z.zarr", "shuffled") is None
    (tmp_path / "z.zarr" / "big" / "1").unlink()
    assert store_arrays.read_array(tmp_path / "z.zarr", "big") is None
    assert store_arrays.read_array(tmp_path / "z.zarr", "absent") is None


def test_a_corrupt_store_array_is_named(store: tuple[Path, np.ndarray]) -> None:
    from pmo_workbench.genotypes import store_arrays

    if not store_arrays.load_libzstd():
        pytest.skip("no libzstd on this system")
    path, _ = store
    chunk = path / "variant_position" / "0"
    data = bytearray(chunk.read_bytes())
    start = int.from_bytes(data[16:20], "little")
    data[start + 8:start + 40] = bytes(32)  # inside the first zstd stream
    chunk.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{path}: variant_position chunk 0: corrupt"):
        store_arrays.read_array(path, "variant_position")
