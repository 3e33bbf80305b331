"""Cost of keying the genotype cache on content (issue 12, item 6): full sha256 versus the sampled re-check.

The first open of an input hashes every byte (the store's key); later opens re-check a cheap signature (path,
device, inode, size, mtime, ctime) and a sampled-content digest (first 1 MiB, last 64 KiB, 64 blocks of 4 KiB).
This measures both on a ~256 MB BGZF VCF -- built from an msprime simulation (:mod:`benchmarks.vcf_data`) whose
BGZF blocks are repeated up to the size (a valid BGZF stream; the content does not matter to a checksum) -- with
the file in the page cache (warm) and dropped from it with ``posix_fadvise(DONTNEED)`` (cold), and prints the
ratio to coreutils' ``sha256sum`` in the same run.

Run: ``python -m benchmarks genotype_cache [--size-mb N]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pmo_workbench.genotypes import cache


def _drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _best(fn: Callable[[], object], before: Callable[[], None] | None = None, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def build_bgzf(workdir: Path, size_mb: int) -> Path:
    """A BGZF VCF of about ``size_mb`` MB: a simulated 500 x 20,000 VCF, its BGZF blocks repeated."""
    from benchmarks.vcf_data import simulate_vcf

    seed_file = simulate_vcf(workdir, 500, [20_000])[20_000]
    data = seed_file.read_bytes()
    body = data[:-28] if data.endswith(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")) \
        else data
    out = workdir / f"cache_bench_{size_mb}mb.vcf.gz"
    with open(out, "wb") as fh:
        while fh.tell() < size_mb * 1_000_000:
            fh.write(body)
        fh.write(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))
    return out


def main(argv: list[str]) -> None:
    size_mb = int(argv[argv.index("--size-mb") + 1]) if "--size-mb" in argv else 256
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vcf = build_bgzf(work, size_mb)
        size = vcf.stat().st_size
        cache_dir = work / "cache"
        cache_dir.mkdir()
        drop = lambda: _drop_from_page_cache(vcf)  # noqa: E731
        rows = []
        for label, before in (("warm", None), ("cold", drop)):
            full = _best(lambda: cache.compute_sha256([vcf]), before)
            peer = _best(lambda: subprocess.run(["sha256sum", str(vcf)], check=True, capture_output=True), before)
            sampled = _best(lambda: cache.compute_sample_digest(vcf), before)
            shutil.rmtree(cache_dir / ".stat", ignore_errors=True)
            cache.compute_input_key([vcf], cache_dir)
            reopen = _best(lambda: cache.compute_input_key([vcf], cache_dir), before)
            rows.append((label, full, peer, sampled, reopen))
        print(f"BGZF file: {size / 1e6:.0f} MB ({vcf.name}); machine load {os.getloadavg()[0]:.1f}")
        print(f"{'page cache':<11}{'full sha256 s':>14}{'sha256sum s':>13}{'ratio':>7}{'sampled s':>11}"
              f"{'re-open key s':>15}{'full/re-open':>14}")
        for label, full, peer, sampled, reopen in rows:
            print(f"{label:<11}{full:>14.3f}{peer:>13.3f}{full / peer:>7.2f}{sampled:>11.4f}{reopen:>15.4f}"
                  f"{full / reopen:>14.0f}x")
        print(f"full sha256: {size / 1e6 / rows[0][1]:.0f} MB/s warm; the sampled re-check reads "
              f"{(cache.HEAD_BYTES + cache.TAIL_BYTES + cache.SAMPLE_BLOCKS * cache.SAMPLE_BLOCK_BYTES) / 2**20:.2f}"
              " MiB whatever the size")


if __name__ == "__main__":
    main(sys.argv[1:])
