"""Benchmark: the model track's GWAS and PGS against plink2 (and Hail), and the model notebook on the demo project.

Run on demand (not in CI)::

    .venv/bin/python benchmarks/bench_model.py [--samples 2500] [--variants 1000000] [--repeats 2] [--no-hail]
        [--demo demo]

Data (simulated once into ``--workdir``): msprime genomes of two populations (split 2,000 generations ago),
unphased, with 1 % of calls missing (more in some samples), as a BGZF VCF; imported once into the embedded store
and into plink2's pgen (untimed). One quantitative trait with 10 covariates (age, sex, 8 PCs-like covariates).

Steps (each a whole process, best of ``--repeats``; wall and CPU of the process tree):

- linear GWAS: ``run_gwas`` (missing calls dropped per variant, as plink2) vs ``plink2 --glm`` (one trait, 10
  covariates); Hail's ``linear_regression_rows`` (via ``run_gwas(..., missing="mean")`` on the Hail backend)
  printed beside;
- PGS: ``score_pgs`` with a PGS Catalog file of every variant vs ``plink2 --score`` with the same weights;
- the model notebook: ``pmo run model_development`` on the demo project (target < 2 min), when ``--demo`` is
  given and holds a WGS QC run.

Targets (issue 10, item 8; 2 cores): GWAS <= 2x plink2 wall and CPU; PGS <= 2x plink2. On a machine shared with
other jobs the CPU ratios are the steadier numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_qc import Run, _python, _timed_work, measure  # noqa: E402

PY = sys.executable


def simulate_vcf(path: Path, n_samples: int, n_variants: int, *, seed: int = 7, missing: float = 0.01) -> Path:
    """Unphased msprime genotypes of two populations with missing calls, as a BGZF VCF (A/G SNVs)."""
    if path.exists():
        return path
    import msprime

    dem = msprime.Demography()
    dem.add_population(name="A", initial_size=10_000)
    dem.add_population(name="B", initial_size=5_000)
    dem.add_population(name="O", initial_size=10_000)
    dem.add_population_split(time=2_000, derived=["A", "B"], ancestral="O")
    rate = 2e-8
    length = int(1.2 * n_variants / (4 * 10_000 * rate * np.log(2 * n_samples))) + 1
    ts = msprime.sim_ancestry(samples={"A": n_samples * 4 // 5, "B": n_samples - n_samples * 4 // 5},
                              demography=dem, sequence_length=length, recombination_rate=1e-8, random_seed=seed)
    model = msprime.MatrixMutationModel(["A", "G"], root_distribution=[1.0, 0.0],
                                        transition_matrix=[[0.0, 1.0], [1.0, 0.0]])
    ts = msprime.sim_mutations(ts, rate=rate, model=model, random_seed=seed)
    if ts.num_sites < n_variants:
        raise SystemExit(f"only {ts.num_sites} sites simulated; raise the sequence length")
    rng = np.random.default_rng(seed)
    sample_miss = missing * rng.gamma(2.0, 0.5, n_samples)
    codes = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    names = "\t".join(f"s{i}" for i in range(n_samples))
    head = (f"##fileformat=VCFv4.2\n##source=msprime\n##contig=<ID=1,length={length}>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n").encode()
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        proc = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=fh)
        assert proc.stdin is not None
        proc.stdin.write(head)
        last = 0
        lines = []
        for k, var in enumerate(ts.variants()):
            if k >= n_variants:
                break
            last = max(int(var.site.position) + 1, last + 1)
            g = var.genotypes.reshape(n_samples, 2).sum(axis=1)
            g = np.where(rng.random(n_samples) < sample_miss, 3, g)
            lines.append(f"1\t{last}\t.\tA\tG\t.\tPASS\t.\tGT\t".encode() + b"\t".join(codes[g]) + b"\n")
            if len(lines) == 2000:
                proc.stdin.write(b"".join(lines))
                lines = []
        proc.stdin.write(b"".join(lines))
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit("bgzip failed")
    os.replace(tmp, path)
    return path


def _inputs(work: Path, n: int, vcf: Path) -> dict[str, Path]:
    """Phenotype/covariates (sample-indexed TSV, and plink2's) and a PGS file of every variant (both formats)."""
    rng = np.random.default_rng(1)
    ids = [f"s{i}" for i in range(n)]
    cov = rng.normal(size=(n, 10))
    cov[:, 1] = rng.integers(0, 2, n)
    y = cov[:, 0] * 0.1 + rng.normal(size=n)
    files = {"pheno": work / "pheno.tsv", "covar": work / "covar.tsv", "pgs": work / "BENCH_hmPOS_GRCh38.txt",
             "plink_score": work / "score.txt"}
    if not files["pheno"].exists():
        with open(files["pheno"], "w") as fh:
            fh.write("#IID\ty\n" + "".join(f"{i}\t{v:.17g}\n" for i, v in zip(ids, y, strict=True)))
        with open(files["covar"], "w") as fh:
            fh.write("#IID\t" + "\t".join(f"c{j}" for j in range(10)) + "\n")
            fh.write("".join(i + "\t" + "\t".join(f"{x:.17g}" for x in row) + "\n"
                             for i, row in zip(ids, cov, strict=True)))
    if not files["pgs"].exists():
        pvar = work / "p.pvar"
        pos = np.loadtxt(pvar, comments="#", usecols=1, dtype=np.int64)
        w = rng.normal(0, 0.01, len(pos))
        with open(files["pgs"], "w") as fh:
            fh.write("#pgs_id=BENCH\n#trait_reported=bench\n#genome_build=GRCh38\n"
                     "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")
            fh.write("".join(f"1\t{p}\tG\tA\t{x:.6g}\n" for p, x in zip(pos, w, strict=True)))
        with open(files["plink_score"], "w") as fh:
            fh.write("ID\tA1\tW\n" + "".join(f"1:{p}\tG\t{x:.6g}\n" for p, x in zip(pos, w, strict=True)))
    return files


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2500)
    ap.add_argument("--variants", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pmo-bench-model")
    ap.add_argument("--no-hail", action="store_true")
    ap.add_argument("--demo", type=Path, default=None, help="demo project for the notebook timing")
    args = ap.parse_args(argv)
    work = args.workdir / f"{args.samples}x{args.variants}"
    work.mkdir(parents=True, exist_ok=True)
    plink = shutil.which("plink2")
    if plink is None:
        raise SystemExit("plink2 is not installed")
    vcf = simulate_vcf(work / "genomes.vcf.gz", args.samples, args.variants)
    cache = work / "cache"
    if not (work / "p.pgen").exists():
        subprocess.run([plink, "--vcf", str(vcf), "--set-all-var-ids", "@:#", "--make-pgen", "--out",
                        str(work / "p")], check=True, stdout=subprocess.DEVNULL)
    files = _inputs(work, args.samples, vcf)
    v, c = repr(str(vcf)), repr(str(cache))
    load = (f"import pandas as pd; from pmo_workbench.genotypes import open_genotypes as o; g = o({v}, cache_dir={c});"
            f" y = pd.read_csv({str(files['pheno'])!r}, sep='\\t', index_col=0)['y'];"
            f" cov = pd.read_csv({str(files['covar'])!r}, sep='\\t', index_col=0)")
    gwas_code = _timed_work(load + "; from pmo_workbench.model.gwas import run_gwas", "run_gwas(g, y, cov)")
    pgs_code = _timed_work(f"from pmo_workbench.genotypes import open_genotypes as o; g = o({v}, cache_dir={c}); "
                           "from pmo_workbench.model.pgs import score_pgs",
                           f"score_pgs(g, {str(files['pgs'])!r}, keep_ambiguous=True)")
    subprocess.run(_python(gwas_code), check=True, stdout=subprocess.DEVNULL)  # warm-up: import, numba cache
    subprocess.run(_python(pgs_code), check=True, stdout=subprocess.DEVNULL)
    rows: list[tuple[str, Run, Run | None, float | None]] = []
    p_glm = measure([plink, "--pfile", str(work / "p"), "--glm", "hide-covar", "omit-ref", "--pheno",
                     str(files["pheno"]), "--covar", str(files["covar"]), "--out", str(work / "glm")], args.repeats)
    rows.append(("linear GWAS, 10 covariates", measure(_python(gwas_code), args.repeats), p_glm, 2.0))
    p_score = measure([plink, "--pfile", str(work / "p"), "--score", str(files["plink_score"]), "1", "2", "3",
                       "header", "cols=+scoresums", "--out", str(work / "score")], args.repeats)
    rows.append(("PGS (every variant)", measure(_python(pgs_code), args.repeats), p_score, 2.0))
    if not args.no_hail:
        hc = repr(str(work / "hail-cache"))
        hail_code = _timed_work(load.replace(f"o({v}, cache_dir={c})",
                                             f"o({v}, backend='hail', cache_dir={hc})")
                                + "; from pmo_workbench.model.gwas import run_gwas",
                                "run_gwas(g, y, cov, missing='mean')")
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
        try:
            subprocess.run(_python(hail_code), check=True, stdout=subprocess.DEVNULL, env=env)  # import once
            rows.append(("Hail linear_regression_rows", measure(_python(hail_code), 1, env=env), p_glm, None))
        except subprocess.CalledProcessError as exc:
            print(f"(Hail skipped: {exc})")
    if args.demo is not None:
        cmd = [PY, "-m", "pmo_workbench.cli", "run", "model_development", "--project", str(args.demo), "-f",
               str(Path(__file__).resolve().parents[1] / "notebooks" / "params" / "model_development.demo.yaml")]
        rows.append(("model notebook on the demo (< 120 s)", measure(cmd, 1), None, None))
    print(f"\nmsprime VCF {args.samples} samples x {args.variants} variants, 2 populations, unphased, ~1 % "
          f"missing; {os.cpu_count()} CPUs; best of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    head = (f"{'step':<40}{'ours wall':>10}{'ours CPU':>10}{'plink2 wall':>12}{'plink2 CPU':>11}"
            f"{'ratio wall':>11}{'ratio CPU':>10}{'target':>8}{'work wall':>10}{'work CPU':>9}")
    print(head)
    print("-" * len(head))
    for name, ours, peer, target in rows:
        work = f"{ours.work_wall:>10.2f}{ours.work_cpu:>9.2f}"  # the work alone, after start-up and imports
        if peer is None:
            print(f"{name:<40}{ours.wall:>10.2f}{ours.cpu:>10.2f}{'':>52}{work}")
            continue
        print(f"{name:<40}{ours.wall:>10.2f}{ours.cpu:>10.2f}{peer.wall:>12.2f}{peer.cpu:>11.2f}"
              f"{ours.wall / peer.wall:>11.2f}{ours.cpu / peer.cpu:>10.2f}"
              f"{'' if target is None else f'{target:.1f}x':>8}{work}")


if __name__ == "__main__":
    main()
