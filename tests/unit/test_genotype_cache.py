"""The genotype cache is keyed on content (issue 12, item 6): an in-place sample swap with the modification time
restored (``cp -p``, ``touch -r``) must give a new store with the swapped samples, never the old one; killed
imports' ``.import-*`` folders are removed on the next open, live ones are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from pmo_workbench.genotypes import cache, open_genotypes
from tests.vcf_files import format_header
from tests.vcf_files import write_vcf as write_vcf_file

HEADER = format_header(["S1", "S2", "S3"], contigs={"chr1": 248956422})
RECORDS = [f"chr1\t{100 * (i + 1)}\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t1/1\t0/1" for i in range(20)]


def quiet_open(path: Path, cache_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_genotypes(path, cache_dir=cache_dir)


def swap_names_in_place(path: Path) -> None:
    """Swap S1 and S2 in the #CHROM line (same length) and restore the modification time, as ``touch -r`` does."""
    stat = path.stat()
    text = path.read_text()
    swapped = text.replace("\tS1\tS2\t", "\tS2\tS1\t")
    assert swapped != text and len(swapped) == len(text)
    ref = path.with_name("ref")
    shutil.copy2(path, ref)
    path.write_text(swapped)
    subprocess.run(["touch", "-r", str(ref), str(path)], check=True)
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size


def dosage_of(g, sample: str) -> np.ndarray:
    i = list(g.sample_id).index(sample)
    return np.concatenate([d[:, i] for _, d, _ in g.dosage_chunks()])


def test_in_place_swap_with_mtime_restored_is_seen(tmp_path: Path) -> None:
    vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
    g1 = quiet_open(vcf, tmp_path / "cache")
    assert dosage_of(g1, "S1").tolist() == [0] * 20 and dosage_of(g1, "S2").tolist() == [2] * 20
    swap_names_in_place(vcf)
    g2 = quiet_open(vcf, tmp_path / "cache")
    assert g2.store_path != g1.store_path
    assert dosage_of(g2, "S1").tolist() == [2] * 20 and dosage_of(g2, "S2").tolist() == [0] * 20


def test_cp_p_of_a_swapped_copy_is_seen(tmp_path: Path) -> None:
    vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
    g1 = quiet_open(vcf, tmp_path / "cache")
    assert dosage_of(g1, "S1").tolist() == [0] * 20
    other = tmp_path / "other"
    other.mkdir()
    swapped = write_vcf_file(other / "a.vcf", RECORDS, header=HEADER.replace("\tS1\tS2\t", "\tS2\tS1\t"))
    os.utime(swapped, ns=(vcf.stat().st_atime_ns, vcf.stat().st_mtime_ns))
    subprocess.run(["cp", "-p", str(swapped), str(vcf)], check=True)   # same size, same mtime, in place
    g2 = quiet_open(vcf, tmp_path / "cache")
    assert g2.store_path != g1.store_path and dosage_of(g2, "S1").tolist() == [2] * 20


def test_sampled_content_check_without_ctime(tmp_path: Path, monkeypatch) -> None:
    """On a file system whose change time does not move, the sampled-content check still sees the swap."""
    real = cache.compute_signature
    monkeypatch.setattr(cache, "compute_signature", lambda p: real(p)[:5])     # path, dev, inode, size, mtime
    vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
    g1 = quiet_open(vcf, tmp_path / "cache")
    swap_names_in_place(vcf)
    g2 = quiet_open(vcf, tmp_path / "cache")
    assert g2.store_path != g1.store_path and dosage_of(g2, "S1").tolist() == [2] * 20


def test_unchanged_file_is_not_hashed_again(tmp_path: Path, monkeypatch) -> None:
    vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
    g1 = quiet_open(vcf, tmp_path / "cache")

    def boom(*a, **k):
        raise AssertionError("full checksum computed again")

    monkeypatch.setattr(cache, "compute_sha256", boom)
    assert quiet_open(vcf, tmp_path / "cache").store_path == g1.store_path
    monkeypatch.setenv("PMO_CACHE_VERIFY", "full")
    with pytest.raises(AssertionError, match="full checksum"):
        quiet_open(vcf, tmp_path / "cache")


def test_key_is_the_full_sha256_and_a_corrupt_note_is_ignored(tmp_path: Path) -> None:
    vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
    digest = cache.compute_input_key([vcf], tmp_path)
    assert digest == cache.compute_sha256([vcf])
    note = next((tmp_path / ".stat").iterdir())
    noted = json.loads(note.read_text())
    note.write_text(json.dumps({**noted, "sha256": "0" * 64, "samples": ["x"]}))
    assert cache.compute_input_key([vcf], tmp_path) == digest                # samples disagree: hashed again
    note.write_text("garbage")
    assert cache.compute_input_key([vcf], tmp_path) == digest


def test_sample_digest_covers_head_tail_and_spread_blocks(tmp_path: Path) -> None:
    f = tmp_path / "big"
    data = bytearray(np.random.default_rng(1).integers(0, 256, 8 << 20, dtype=np.uint8).tobytes())
    f.write_bytes(data)
    d0 = cache.compute_sample_digest(f)
    for offset in (10, len(data) - 10, cache.HEAD_BYTES + 5):
        changed = bytearray(data)
        changed[offset] ^= 1
        f.write_bytes(changed)
        assert cache.compute_sample_digest(f) != d0, offset
    f.write_bytes(data)
    assert cache.compute_sample_digest(f) == d0


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pmo_workbench.genotypes.cache import build_store_atomically
    def build(tmp):
        (tmp / "part").write_text("x")
        print("building", flush=True)
        time.sleep(120)
    build_store_atomically(Path(sys.argv[1]), build)
""")


def test_killed_import_is_cleaned_on_next_open_live_one_kept(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(cache_dir / "store.vcz")], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert child.stdout.readline().strip() == "building"
        partial = [p for p in cache_dir.iterdir() if p.name.startswith(".import-") and p.is_dir()]
        assert len(partial) == 1
        assert cache.clean_stale_imports(cache_dir) == [] and partial[0].is_dir()    # alive: kept
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert partial[0].is_dir()                                            # a killed import cannot clean up
        vcf = write_vcf_file(tmp_path / "a.vcf", RECORDS, header=HEADER)
        quiet_open(vcf, cache_dir)                                            # the next open does
        assert not [p for p in cache_dir.iterdir() if p.name.startswith(".import-")]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_unlocked_leftovers_are_removed_after_a_grace_period(tmp_path: Path) -> None:
    fresh = tmp_path / ".import-a-1"
    old = tmp_path / ".import-b-2"
    fresh.mkdir()
    old.mkdir()
    past = time.time() - 2 * cache.STALE_UNLOCKED_SECONDS
    os.utime(old, (past, past))
    orphan_lock = tmp_path / ".import-c-3.lock"
    orphan_lock.write_text("")
    keep = tmp_path / "abc-r2.vcz"
    keep.mkdir()
    removed = cache.clean_stale_imports(tmp_path)
    assert removed == [old] and fresh.is_dir() and keep.is_dir() and not orphan_lock.exists()


@pytest.mark.parametrize("kind", ["plain", "gzip", "bgzf"])
def test_new_input_is_hashed_as_it_is_imported(tmp_path: Path, monkeypatch, kind: str) -> None:
    """A VCF not seen before gets its cache key from the bytes the import reads (no second pass over the file),
    in small reads here, so the digest is fed many pieces in order: the key and the store's ``source_sha256``
    are the sha256 of the whole file, and a renamed copy then finds the same store without importing."""
    import hashlib

    from pmo_workbench.genotypes import vcf_reader, vcf_source

    records = [f"chr1\t{100 * (i + 1)}\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\t1/1\t{i % 2}/1" for i in range(300)]
    vcf = write_vcf_file(tmp_path / "a.vcf", records, header=HEADER, compress=kind == "gzip")
    if kind == "bgzf":
        subprocess.run(["bgzip", "-f", str(vcf)], check=True)
        vcf = vcf.with_name("a.vcf.gz")
    monkeypatch.setattr(vcf_source, "READ_SIZE", 1000)  # many reads, each hashed

    def boom(*a, **k):
        raise AssertionError("a separate full checksum was computed")

    monkeypatch.setattr(cache, "compute_sha256", boom)
    g = quiet_open(vcf, tmp_path / "cache")
    sha = hashlib.sha256(vcf.read_bytes()).hexdigest()
    assert g.attrs["source_sha256"] == sha and g.store_path == cache.store_path_for(tmp_path / "cache", sha)
    assert dosage_of(g, "S3").tolist() == [1, 2] * 150
    monkeypatch.undo()
    monkeypatch.setattr(vcf_reader, "import_vcf", boom)
    assert quiet_open(vcf, tmp_path / "cache").store_path == g.store_path         # noted: no import
    copy = shutil.copy(vcf, tmp_path / ("b" + vcf.name[1:]))
    assert quiet_open(copy, tmp_path / "cache").store_path == g.store_path        # same content: no import
