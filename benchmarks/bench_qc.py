"""Benchmark: VCF import and sample/variant QC, embedded backend vs plink2, on msprime data (GT only).

Run on demand (not in CI):  ``.venv/bin/python benchmarks/bench_qc.py [--samples 1000] [--variants 100000]``

Prints a table of wall times (best of ``--repeats``) and our/plink2 ratios:

- import: ``open_genotypes`` into an empty cache vs ``plink2 --vcf ... --make-pgen``;
- QC: ``sample_qc`` + ``variant_qc`` on the store vs ``plink2 --pfile ... --sample-counts --missing
  --hardy midp --freq``.

Both are measured as whole processes (what a user waits for, Python start-up and imports included) and, for
ours, also inside a warm process (the work alone). Data are simulated once into ``--workdir`` (default under
/tmp), outside the repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable


def simulate_vcf(path: Path, n_samples: int, n_variants: int, seed: int = 42) -> Path:
    """Write a BGZF VCF of ``n_samples`` diploids x ``n_variants`` biallelic SNVs (msprime, A/G)."""
    if path.exists():
        return path
    import msprime

    length = int(n_variants / 3.0e-3) + 1
    ts = msprime.sim_ancestry(samples=n_samples, ploidy=2, sequence_length=length, recombination_rate=1e-8,
                              population_size=10_000, random_seed=seed)
    model = msprime.MatrixMutationModel(["A", "G"], root_distribution=[1.0, 0.0],
                                        transition_matrix=[[0.0, 1.0], [1.0, 0.0]])
    ts = msprime.sim_mutations(ts, rate=1e-8, model=model, random_seed=seed)
    if ts.num_sites < n_variants:
        raise SystemExit(f"only {ts.num_sites} sites simulated; raise the sequence length")
    ts = ts.delete_sites(list(range(n_variants, ts.num_sites)))
    raw = path.with_suffix("")
    with open(raw, "w") as fh:
        ts.write_vcf(fh, contig_id="1", position_transform=lambda x: [int(p) + 1 for p in x])
    subprocess.run(["bgzip", "-f", "-@", "2", str(raw)], check=True)  # writes raw + ".gz" == path
    return path


def timed(cmd: list[str], repeats: int, before=None) -> float:
    best = float("inf")
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pmo-bench-qc")
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    vcf = simulate_vcf(work / f"msprime_{args.samples}x{args.variants}.vcf.gz", args.samples, args.variants)
    cache = work / "cache"

    def clear_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    plink = shutil.which("plink2")
    if plink is None:
        raise SystemExit("plink2 is not installed")
    # warm-up: numba compilation cache and file-system cache
    subprocess.run([PY, "-c", f"from pmo_workbench.genotypes import open_genotypes as o; "
                    f"from pmo_workbench.qc.sample_qc import sample_qc; from pmo_workbench.qc.variant_qc "
                    f"import variant_qc; g = o({str(vcf)!r}, cache_dir={str(cache)!r}); sample_qc(g); "
                    f"variant_qc(g)"], check=True)
    t_plink_import = timed([plink, "--vcf", str(vcf), "--make-pgen", "--out", str(work / "p")], args.repeats)
    t_plink_qc = timed([plink, "--pfile", str(work / "p"), "--sample-counts", "--missing", "--hardy", "midp",
                        "--freq", "--out", str(work / "q")], args.repeats)
    t_import_proc = timed([PY, "-c", f"from pmo_workbench.genotypes import open_genotypes as o; "
                           f"o({str(vcf)!r}, cache_dir={str(cache)!r})"], args.repeats, before=clear_cache)
    t_qc_proc = timed([PY, "-c", f"from pmo_workbench.genotypes import open_genotypes as o; "
                       f"from pmo_workbench.qc.sample_qc import sample_qc; "
                       f"from pmo_workbench.qc.variant_qc import variant_qc; "
                       f"g = o({str(vcf)!r}, cache_dir={str(cache)!r}); sample_qc(g); variant_qc(g)"], args.repeats)
    t_python = timed([PY, "-c", "import pmo_workbench.genotypes, pmo_workbench.qc.sample_qc, "
                      "pmo_workbench.qc.variant_qc"], args.repeats)

    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.qc.sample_qc import sample_qc
    from pmo_workbench.qc.variant_qc import variant_qc

    t_import, t_qc, t_open = float("inf"), float("inf"), float("inf")
    for _ in range(args.repeats):
        clear_cache()
        start = time.perf_counter()
        g = open_genotypes(vcf, cache_dir=cache)
        t_import = min(t_import, time.perf_counter() - start)
        start = time.perf_counter()
        g = open_genotypes(vcf, cache_dir=cache)
        t_open = min(t_open, time.perf_counter() - start)
        start = time.perf_counter()
        sample_qc(g)
        variant_qc(g)
        t_qc = min(t_qc, time.perf_counter() - start)
    size = vcf.stat().st_size / 2**20
    print(f"\nmsprime VCF {args.samples} samples x {args.variants} variants, GT only, {size:.1f} MiB BGZF")
    print(f"{'step':<44}{'ours (s)':>10}{'plink2 (s)':>12}{'ratio':>8}")
    rows = [
        ("import, whole process", t_import_proc, t_plink_import),
        ("import, in process", t_import, t_plink_import),
        ("sample_qc + variant_qc, whole process", t_qc_proc, t_plink_qc),
        ("sample_qc + variant_qc, in process", t_qc, t_plink_qc),
    ]
    for name, ours, theirs in rows:
        print(f"{name:<44}{ours:>10.3f}{theirs:>12.3f}{ours / theirs:>8.2f}")
    print(f"{'(second open of the cached store)':<44}{t_open:>10.3f}")
    print(f"{'(python start-up + imports alone)':<44}{t_python:>10.3f}")


if __name__ == "__main__":
    main()
