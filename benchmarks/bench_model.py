"""Benchmark: the model track's GWAS and PGS against plink2 (and Hail), and the model notebook on the demo project.

Run on demand (not in CI)::

    .venv/bin/python -m benchmarks.bench_model [--samples 2500] [--variants 1000000] [--repeats 2] [--no-hail]
        [--vcf-dir DIR] [--workdir DIR] [--demo demo] [--prepare]

Data: the shared benchmark VCF of :func:`benchmarks.vcf_data.simulate_vcf` (msprime, three populations,
unphased, ~1 % missing calls at rates that differ by sample, A/C/G/T, a few multi-allelic sites), taken from
``--vcf-dir`` when it is there and simulated into it otherwise; imported once into the embedded store and into
plink2's pgen in ``--workdir`` (untimed). One quantitative trait with 10 covariates (age-, sex- and PC-like).

Steps (each a whole process, best of ``--repeats``; wall and CPU of the process tree; start-up and imports
included, the work alone printed beside):

- linear GWAS: ``run_gwas`` (missing calls dropped per variant, as plink2), its table written to Parquet, vs
  ``plink2 --glm`` (one trait, 10 covariates), which writes its table; Hail's ``linear_regression_rows`` (via
  ``run_gwas(..., missing="mean")`` on the Hail backend) printed beside;
- PGS: ``score_pgs`` with a genome-wide PGS Catalog harmonised scoring file (gzipped, full catalogue header,
  every biallelic variant, the effect allele REF or ALT at random), its scores written to a TSV, vs ``plink2
  --score`` with the same weights; the two sets of sums are compared after the timing (max |difference|);
- the model notebook: ``pmo run model_development`` on the demo project (target < 2 min), when ``--demo`` is
  given and holds a WGS QC run.

Targets (issue 10, item 8; 2 cores): GWAS <= 2x plink2 wall and CPU; PGS <= 2x plink2. On a machine shared with
other jobs the CPU ratios are the steadier numbers.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.timing import Run, load_note, measure, python, timed_work  # noqa: E402
from benchmarks.vcf_data import simulate_vcf  # noqa: E402

PY = sys.executable
PGS_HEADER = """###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring for additional information
#format_version=2.0
##POLYGENIC SCORE (PGS) INFORMATION
#pgs_id=PGS999999
#pgs_name=BENCH_genome_wide
#trait_reported=Benchmark trait
#trait_mapped=benchmark trait
#trait_efo=EFO_0000000
#genome_build=GRCh37
#variants_number={n}
#weight_type=beta
##SOURCE INFORMATION
#pgp_id=PGP999999
#citation=bench_model (simulated)
##HARMONIZATION DETAILS
#HmPOS_build=GRCh38
#HmPOS_date=2024-06-11
#HmPOS_match_chr={{"True": null, "False": null}}
#HmPOS_match_pos={{"True": null, "False": null}}
rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_source\thm_rsID\thm_chr\thm_pos\thm_inferOtherAllele
"""


def _inputs(work: Path, prefix: Path) -> dict[str, Path]:
    """Phenotype/covariates (plink2's layout, which run_gwas reads too) for the samples of ``prefix.psam``, a
    genome-wide PGS Catalog file over the biallelic variants of ``prefix.pvar`` and plink2's score file."""
    files = {"pheno": work / "pheno.tsv", "covar": work / "covar.tsv", "pgs": work / "PGS999999_hmPOS_GRCh38.txt.gz",
             "plink_score": work / "score.txt"}
    rng = np.random.default_rng(1)
    if not files["pheno"].exists():
        ids = [line.split("\t")[0] for line in prefix.with_suffix(".psam").read_text().splitlines()[1:]]
        n = len(ids)
        cov = rng.normal(size=(n, 10))
        cov[:, 0] = rng.integers(20, 80, n)  # age
        cov[:, 1] = rng.integers(0, 2, n)  # sex
        y = cov[:, 0] * 0.02 + cov[:, 2] * 0.1 + rng.normal(size=n)
        with open(files["pheno"], "w") as fh:
            fh.write("#IID\ty\n" + "".join(f"{i}\t{v:.17g}\n" for i, v in zip(ids, y, strict=True)))
        with open(files["covar"], "w") as fh:
            fh.write("#IID\t" + "\t".join(f"c{j}" for j in range(10)) + "\n")
            fh.write("".join(i + "\t" + "\t".join(f"{x:.17g}" for x in row) + "\n"
                             for i, row in zip(ids, cov, strict=True)))
    if not files["pgs"].exists():
        with open(prefix.with_suffix(".pvar")) as fh:
            rec = [line.split("\t") for line in fh if not line.startswith("#")]
        rec = [r for r in rec if "," not in r[4]]  # biallelic
        pos, ref, alt = (np.array([r[k].rstrip("\n") for r in rec]) for k in (1, 3, 4))
        effect_is_alt = rng.random(len(pos)) < 0.5
        ea, oa = np.where(effect_is_alt, alt, ref), np.where(effect_is_alt, ref, alt)
        w = rng.normal(0, 1e-3, len(pos))
        tmp = files["pgs"].with_name(files["pgs"].name + ".part")
        with gzip.open(tmp, "wt", compresslevel=6) as fh:
            fh.write(PGS_HEADER.format(n=len(pos)))
            fh.writelines(f"rs{k + 1}\t1\t{p}\t{e}\t{o}\t{x:.6g}\tENSEMBL\trs{k + 1}\t1\t{p}\t\n"
                          for k, (p, e, o, x) in enumerate(zip(pos, ea, oa, w, strict=True)))
        with open(files["plink_score"], "w") as fh:
            fh.write("ID\tA1\tW\n" + "".join(f"1:{p}\t{e}\t{x:.6g}\n" for p, e, x in zip(pos, ea, w, strict=True)))
        os.replace(tmp, files["pgs"])
    return files


def _compare_scores(ours: Path, plink_sscore: Path) -> float:
    """Max |score_sum - plink2's SCORE1_SUM| over the samples, relative to the largest |score| (plink2 prints six
    significant digits)."""
    import pandas as pd

    a = pd.read_csv(ours, sep="\t")
    b = pd.read_csv(plink_sscore, sep="\t")
    m = a.merge(b, left_on="sample_id", right_on="#IID")
    if len(m) != len(a):
        raise SystemExit(f"score comparison: {len(m)} of {len(a)} samples matched plink2's")
    return float((m["score_sum"] - m["SCORE1_SUM"]).abs().max() / m["SCORE1_SUM"].abs().max())


def _compare_gwas(ours: Path, glm: Path) -> tuple[int, float]:
    """Variants in both tables and the largest relative difference of beta (biallelic variants plink2 tested)."""
    import pandas as pd

    a = pd.read_parquet(ours, columns=["position", "beta"])
    b = pd.read_csv(glm, sep="\t", usecols=["POS", "ALT", "BETA"])
    b = b[~b["ALT"].str.contains(",")]
    m = a.merge(b, left_on="position", right_on="POS").dropna()
    rel = (m["beta"] - m["BETA"]).abs() / m["BETA"].abs().clip(lower=1e-300)
    return len(m), float(rel[m["BETA"].abs() > 1e-8].max())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2500)
    ap.add_argument("--variants", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pmo-bench-model")
    ap.add_argument("--vcf-dir", type=Path, default=None,
                    help="where the shared benchmark VCFs are (simulated there when missing; default: --workdir)")
    ap.add_argument("--no-hail", action="store_true")
    ap.add_argument("--demo", type=Path, default=None, help="demo project for the notebook timing")
    ap.add_argument("--prepare", action="store_true", help="only import the data (store, pgen, inputs) and stop")
    args = ap.parse_args(argv)
    work = args.workdir / f"msprime3_{args.samples}x{args.variants}"
    work.mkdir(parents=True, exist_ok=True)
    plink = shutil.which("plink2")
    if plink is None:
        raise SystemExit("plink2 is not installed")
    vcf = simulate_vcf(args.vcf_dir or args.workdir, args.samples, [args.variants])[args.variants]
    cache = work / "cache"
    prefix = work / "p"
    if not prefix.with_suffix(".pgen").exists():
        subprocess.run([plink, "--vcf", str(vcf), "--set-all-var-ids", "@:#", "--make-pgen", "--out", str(prefix)],
                       check=True, stdout=subprocess.DEVNULL)
    files = _inputs(work, prefix)
    v, c = repr(str(vcf)), repr(str(cache))
    gwas_out, pgs_out = work / "ours_gwas.parquet", work / "ours_scores.tsv"
    load = (f"import pandas as pd; from pmo_workbench.genotypes import open_genotypes as o; g = o({v}, cache_dir={c});"
            f" y = pd.read_csv({str(files['pheno'])!r}, sep='\\t', index_col=0)['y'];"
            f" cov = pd.read_csv({str(files['covar'])!r}, sep='\\t', index_col=0)")
    gwas_code = timed_work(load + "; from pmo_workbench.model.gwas import run_gwas",
                           f"run_gwas(g, y, cov).to_parquet({str(gwas_out)!r})")
    pgs_code = timed_work(f"from pmo_workbench.genotypes import open_genotypes as o; g = o({v}, cache_dir={c}); "
                          "from pmo_workbench.model.pgs import score_pgs",
                          f"score_pgs(g, {str(files['pgs'])!r}, keep_ambiguous=True).scores.to_csv("
                          f"{str(pgs_out)!r}, sep='\\t', index=False)")
    subprocess.run(python(gwas_code), check=True, stdout=subprocess.DEVNULL)  # warm-up: store import, caches
    subprocess.run(python(pgs_code), check=True, stdout=subprocess.DEVNULL)
    if args.prepare:
        return
    rows: list[tuple[str, Run, Run | None, float | None]] = []
    p_glm = measure([plink, "--pfile", str(prefix), "--glm", "hide-covar", "omit-ref", "--pheno",
                     str(files["pheno"]), "--covar", str(files["covar"]), "--out", str(work / "glm")], args.repeats)
    rows.append(("linear GWAS, 10 covariates", measure(python(gwas_code), args.repeats), p_glm, 2.0))
    p_score = measure([plink, "--pfile", str(prefix), "--score", str(files["plink_score"]), "1", "2", "3",
                       "header", "cols=+scoresums", "--out", str(work / "score")], args.repeats)
    n_score = sum(1 for _ in open(files["plink_score"])) - 1
    rows.append((f"PGS ({n_score:,} variants)", measure(python(pgs_code), args.repeats), p_score, 2.0))
    if not args.no_hail:
        hc = repr(str(work / "hail-cache"))
        hail_code = timed_work(load.replace(f"o({v}, cache_dir={c})", f"o({v}, backend='hail', cache_dir={hc})")
                               + "; from pmo_workbench.model.gwas import run_gwas",
                               "run_gwas(g, y, cov, missing='mean')")
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
        try:
            subprocess.run(python(hail_code), check=True, stdout=subprocess.DEVNULL, env=env)  # import once
            rows.append(("Hail linear_regression_rows", measure(python(hail_code), 1, env=env), p_glm, None))
        except subprocess.CalledProcessError as exc:
            print(f"(Hail skipped: {exc})")
    if args.demo is not None:
        cmd = [PY, "-m", "pmo_workbench.cli", "run", "model_development", "--project", str(args.demo), "-f",
               str(Path(__file__).resolve().parents[1] / "notebooks" / "params" / "model_development.demo.yaml")]
        try:
            rows.append(("model notebook on the demo (< 120 s)", measure(cmd, 1), None, None))
        except SystemExit as exc:  # keep the tables measured so far
            print(f"(model notebook failed: {str(exc)[:2000]})")
    print(f"\n{vcf.name}: {args.samples} samples x {args.variants} variants, 3 populations, unphased, ~1 % missing;"
          f" best of {args.repeats}; {load_note()}")
    head = (f"{'step':<40}{'ours wall':>10}{'ours CPU':>10}{'plink2 wall':>12}{'plink2 CPU':>11}"
            f"{'ratio wall':>11}{'ratio CPU':>10}{'target':>8}{'work wall':>10}{'work CPU':>9}")
    print(head)
    print("-" * len(head))
    for name, ours, peer, target in rows:
        alone = f"{ours.work_wall:>10.2f}{ours.work_cpu:>9.2f}"  # the work alone, after start-up and imports
        if peer is None:
            print(f"{name:<40}{ours.wall:>10.2f}{ours.cpu:>10.2f}{'':>52}{alone}")
            continue
        print(f"{name:<40}{ours.wall:>10.2f}{ours.cpu:>10.2f}{peer.wall:>12.2f}{peer.cpu:>11.2f}"
              f"{ours.wall / peer.wall:>11.2f}{ours.cpu / peer.cpu:>10.2f}"
              f"{'' if target is None else f'{target:.1f}x':>8}{alone}")
    n_gwas, rel_beta = _compare_gwas(gwas_out, work / "glm.y.glm.linear")
    print(f"check: GWAS beta vs plink2 on {n_gwas:,} variants, max relative difference {rel_beta:.1e}; PGS sums vs "
          f"plink2, max difference / max |score| {_compare_scores(pgs_out, work / 'score.sscore'):.1e}")


if __name__ == "__main__":
    main()
