"""Benchmark: VCF import, sample/variant QC and kinship, embedded backend vs plink2 (and Hail), msprime GT-only data.

Run on demand (not in CI)::

    .venv/bin/python benchmarks/bench_qc.py [--samples 1000] [--variants 100000] [--repeats 2] [--no-hail]

Every step is a whole process (Python start-up and imports included), run in the same session as its plink2
peer, ``--repeats`` times; the table shows the best wall time and the best CPU time (user + sys of the whole
process tree: on a machine shared with other jobs the CPU ratio is the steadier one), their ratios to plink2,
the issue's target and whether the wall-time ratio meets it, and the peak resident memory of the process tree
(sampled with psutil every 20 ms).

- import: ``open_genotypes`` into an empty cache vs ``plink2 --vcf ... --make-pgen``;
- QC: ``sample_qc`` + ``variant_qc`` on the store vs ``plink2 --pfile ... --sample-counts --missing --hardy
  midp --freq``;
- kinship: ``kinship`` vs ``plink2 --make-king-table --king-table-filter 0.0442`` (the same pairs reported);
- Hail (if :mod:`pmo_workbench.genotypes.hail_backend` imports): import + QC from an empty cache, then QC on
  the cached store.

Targets (issue 3, item 9; 2 cores): import <= 1.5x plink2, QC <= 2x, kinship <= 2x, peak memory < 4 GB at
2,500 x 1M. Data are simulated once into ``--workdir`` (default under /tmp), outside the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.timing import GIB, Run, measure
from benchmarks.timing import python as _python
from benchmarks.timing import timed_work as _timed_work
from benchmarks.vcf_data import simulate_phased_vcf


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pmo-bench-qc")
    ap.add_argument("--mutation-rate", type=float, default=1e-8, help="msprime mutation rate per bp")
    ap.add_argument("--no-hail", action="store_true", help="skip the Hail backend")
    ap.add_argument("--no-kinship", action="store_true", help="skip kinship (O(samples^2))")
    ap.add_argument("--no-import", action="store_true",
                    help="skip timing the import (the store and plink2's pgen are still made once, untimed)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the warm-up run (numba's cache already filled, e.g. by a smaller run)")
    args = ap.parse_args(argv)
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    vcf = simulate_phased_vcf(work / f"msprime_{args.samples}x{args.variants}.vcf.gz", args.samples,
                              args.variants, mutation_rate=args.mutation_rate)
    cache = work / "cache"
    hail_cache = work / "hail-cache"
    plink = shutil.which("plink2")
    if plink is None:
        raise SystemExit("plink2 is not installed")

    def clear_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    def clear_hail_cache() -> None:
        shutil.rmtree(hail_cache, ignore_errors=True)

    v, c = repr(str(vcf)), repr(str(cache))
    open_code = _timed_work("from pmo_workbench.genotypes import open_genotypes as o", f"o({v}, cache_dir={c})")
    qc_code = _timed_work("from pmo_workbench.genotypes import open_genotypes as o; "
                          "from pmo_workbench.qc.sample_qc import sample_qc; "
                          "from pmo_workbench.qc.variant_qc import variant_qc",
                          f"g = o({v}, cache_dir={c}); sample_qc(g); variant_qc(g)")
    kin_code = _timed_work("from pmo_workbench.genotypes import open_genotypes as o; "
                           "from pmo_workbench.qc.kinship import kinship", f"kinship(o({v}, cache_dir={c}))")
    # warm-up: numba's compilation cache and the file-system cache
    if not args.no_warmup:
        clear_cache()
        subprocess.run(_python(qc_code), check=True)
        if not args.no_kinship:
            subprocess.run(_python(kin_code), check=True)
    rows: list[tuple[str, Run, Run | None, float | None]] = []
    make_pgen = [plink, "--vcf", str(vcf), "--make-pgen", "--out", str(work / "p")]
    p_import: Run | None = None
    if args.no_import:
        if args.no_warmup:
            subprocess.run(_python(open_code), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(make_pgen, check=True, stdout=subprocess.DEVNULL)
    else:
        p_import = measure(make_pgen, args.repeats)
        o_import = measure(_python(open_code), args.repeats, before=clear_cache)
        rows.append(("import", o_import, p_import, 1.5))
    p_qc = measure([plink, "--pfile", str(work / "p"), "--sample-counts", "--missing", "--hardy", "midp", "--freq",
                    "--out", str(work / "q")], args.repeats)
    o_qc = measure(_python(qc_code), args.repeats)
    rows.append(("sample_qc + variant_qc", o_qc, p_qc, 2.0))
    if not args.no_kinship:
        p_kin = measure([plink, "--pfile", str(work / "p"), "--make-king-table", "--king-table-filter", "0.0442",
                         "--out", str(work / "k")], args.repeats)
        o_kin = measure(_python(kin_code), args.repeats)
        rows.append(("kinship (KING-robust)", o_kin, p_kin, 2.0))
    rows.append(("python start-up + imports", measure(_python(
        "import pmo_workbench.genotypes, pmo_workbench.qc.sample_qc, pmo_workbench.qc.variant_qc"),
        args.repeats), None, None))
    if not args.no_hail and importlib.util.find_spec("pmo_workbench.genotypes.hail_backend") is not None:
        hc = repr(str(hail_cache))
        hail_code = (f"from pmo_workbench.genotypes.hail_backend import open_hail_genotypes as o; "
                     f"from pmo_workbench.qc.sample_qc import sample_qc; "
                     f"from pmo_workbench.qc.variant_qc import variant_qc; g = o({v}, cache_dir={hc}); "
                     f"sample_qc(g); variant_qc(g)")
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
        try:
            rows.append(("Hail: import + QC", measure(_python(hail_code), 1, before=clear_hail_cache, env=env),
                         p_import, None))
            rows.append(("Hail: QC on its store", measure(_python(hail_code), 1, env=env), p_qc, None))
        except SystemExit as exc:
            print(f"(Hail skipped: {str(exc)[-3000:]})")

    size = vcf.stat().st_size / 2**20
    print(f"\nmsprime VCF {args.samples} samples x {args.variants} variants, GT only, {size:.1f} MiB BGZF; "
          f"{os.cpu_count()} CPUs; best of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    head = (f"{'step':<28}{'ours wall':>10}{'ours CPU':>10}{'plink2 wall':>12}{'plink2 CPU':>11}"
            f"{'ratio wall':>11}{'ratio CPU':>10}{'target':>8}{'met?':>6}{'ours peak':>11}")
    print(head)
    print("-" * len(head))
    for name, ours, peer, target in rows:
        line = f"{name:<28}{ours.wall:>10.2f}{ours.cpu:>10.2f}"
        if peer is not None:
            rw, rc = ours.wall / peer.wall, ours.cpu / max(peer.cpu, 1e-3)
            line += f"{peer.wall:>12.2f}{peer.cpu:>11.2f}{rw:>11.2f}{rc:>10.2f}"
            line += f"{f'{target:.1f}x':>8}{('yes' if rw <= target else 'no'):>6}" if target else f"{'':>8}{'':>6}"
        else:
            line += f"{'':>12}{'':>11}{'':>11}{'':>10}{'':>8}{'':>6}"
        print(line + f"{ours.peak / GIB:>9.2f} G")
    print("\nthe work alone (after Python start-up and imports), as each of our processes timed it:")
    print(f"{'step':<28}{'ours wall':>10}{'ours CPU':>10}{'/plink2 wall':>13}{'/plink2 CPU':>12}")
    for name, ours, peer, _ in rows:
        if peer is not None and np.isfinite(ours.work_cpu):
            print(f"{name:<28}{ours.work_wall:>10.2f}{ours.work_cpu:>10.2f}{ours.work_wall / peer.wall:>13.2f}"
                  f"{ours.work_cpu / max(peer.cpu, 1e-3):>12.2f}")
    peak = max(r[1].peak for r in rows if not r[0].startswith("Hail"))
    print(f"peak memory of our processes: {peak / GIB:.2f} GiB (target < 4 GiB at 2,500 x 1M): "
          f"{'met' if peak < 4 * GIB else 'not met'}")


if __name__ == "__main__":
    main()
