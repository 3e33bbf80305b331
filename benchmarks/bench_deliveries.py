"""Batch-by-batch gVCF ingest into the cohort store (issue 14 item 6): flat time per batch, and vs Hail's combiner.

Simulated deliveries: ``--batches`` batches of ``--samples`` single-sample gVCFs (BGZF + tabix index, in the
Contract's layout ``<batch>/<id>/<id>.hard-filtered.gvcf.gz``), GATK-style: unphased calls, reference blocks
with GQ bands at whole-genome-like density (one block per ``--block-bp`` bases on average, default 150), DP-0/GQ-0
blocks, no-coverage gaps (no record at all), SNVs, insertions, deletions and multi-allelic sites, three
populations with drifted allele frequencies (Balding-Nichols, F = 0.05), and chrX with haploid males. The
region is sized so that the cohort has at least ``--sites`` variant sites (default 200,000).

Printed: the time of :func:`~pmo_workbench.genotypes.gvcf_store.add_gvcfs` per batch (target: batch 3 <=
1.2 x batch 1, i.e. flat: earlier batches are not re-read), the densify on first open, and Hail's
``hl.vds.new_combiner`` on the same files of batch 1 (and, with ``--hail-all``, of all batches; local mode,
``local[2]``), with the ratio (target: embedded >= 5x faster).

Run: ``python -m benchmarks deliveries [--quick]`` or ``python -m benchmarks.bench_deliveries [--samples 100]
[--batches 3] [--sites 200000] [--hail-samples N] [--data DIR] [--no-hail]``.
Wall times depend on the machine's load (printed at the start and the end).

Measured 2026-12-07 17:17-17:24 UTC under the benchmark lock (load average 1.67 at the start, 4.17 at the end,
Hail's JVM included), ``--hail-samples 10 --no-densify``, full size: 3 x 100 gVCFs of ~440,000 records each
(~379,000 reference blocks, one per ~150 bp, and ~61,500 variant records), 236,537 cohort sites, 132,197,928
records in all: add_gvcfs 74.9 / 69.0 / 74.5 s wall (101.1 / 93.5 / 98.6 s CPU) for batches 1-3, batch 3 /
batch 1 = 0.99 (target <= 1.2); Hail's new_combiner on the first 10 gVCFs of batch 1 67.7 s (JVM start-up not
timed) vs add_gvcfs on the same 10 files 7.6 s: embedded 8.9x faster (target >= 5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

GENOME = np.frombuffer(b"ACGT", dtype=np.uint8)
CONTIGS = {"chr20": 64444167, "chrX": 156040895}
HEADER = """##fileformat=VCFv4.2
##ALT=<ID=NON_REF,Description="Represents any possible alternative allele not already represented at this location by REF and ALT">
##FILTER=<ID=LowQual,Description="Low quality">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles in the order listed">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (reads with MQ=255 or with bad mates are filtered)">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within the GVCF block">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Normalized, Phred-scaled likelihoods for genotypes as defined in the VCF specification">
##GATKCommandLine=<ID=HaplotypeCaller,CommandLine="HaplotypeCaller --emit-ref-confidence GVCF (simulated)",Version="4.2.6.1",Date="2026-12-07">
##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">
##contig=<ID=chr20,length=64444167,assembly=GRCh38>
##contig=<ID=chrX,length=156040895,assembly=GRCh38>
##source=HaplotypeCaller
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}
"""
GQ_BANDS = np.array([0, 3, 6, 9, 12, 15, 18, 20, 30, 40, 50, 60, 99])
GQ_WEIGHTS = np.array([2, 1, 1, 1, 1, 1, 1, 3, 5, 6, 8, 10, 60], dtype=float)


def base(pos: np.ndarray) -> np.ndarray:
    """The simulated reference base at 1-based positions (a fixed hash: every sample agrees)."""
    h = (pos.astype(np.uint64) * np.uint64(2654435761)) >> np.uint64(9)
    return GENOME[(h % np.uint64(4)).astype(np.int64)]


def _text(codes: np.ndarray) -> str:
    return codes.tobytes().decode()


def simulate_sites(n_pool: int, n_samples: int, rng: np.random.Generator) -> dict:
    """Candidate sites of both contigs with per-population allele frequencies (1 or 2 ALT alleles)."""
    span = {"chr20": int(n_pool * 0.85 * 100), "chrX": int(n_pool * 0.15 * 100)}  # ~1 site per 100 bp
    contig, pos = [], []
    for c, n in (("chr20", int(n_pool * 0.85)), ("chrX", n_pool - int(n_pool * 0.85))):
        start = 60_001 if c == "chr20" else 2_781_480  # chrX: outside PAR1
        p = np.unique(rng.integers(start, start + span[c], size=n))
        contig.append(np.full(len(p), c, dtype=object))
        pos.append(p)
    contig, pos = np.concatenate(contig), np.concatenate(pos)
    n = len(pos)
    # keep sites 3 bp apart so a deletion never overlaps the next site
    keep = np.ones(n, bool)
    keep[1:] = (np.diff(pos) > 3) | (contig[1:] != contig[:-1])
    contig, pos = contig[keep], pos[keep]
    n = len(pos)
    kind = rng.choice(np.array(["snv", "ins", "del"]), size=n, p=[0.86, 0.07, 0.07])
    multi = rng.random(n) < 0.03
    anc = np.clip(rng.beta(0.12, 1.2, size=(n, 2)), 0.001, 0.95)
    anc[:, 1] = np.where(multi, anc[:, 1] * 0.3, 0.0)
    f = 0.05
    freqs = []
    for _ in range(3):
        a = anc * (1 - f) / f
        b = (1 - anc) * (1 - f) / f
        pf = rng.beta(np.maximum(a, 1e-3), np.maximum(b, 1e-3))
        pf[:, 1] = np.where(multi, pf[:, 1], 0.0)
        s = pf.sum(axis=1)
        pf[s > 0.98] *= (0.98 / s[s > 0.98])[:, None]
        freqs.append(pf)
    ref_len = np.where(kind == "del", 3, 1)
    return {"contig": contig, "pos": pos, "kind": kind, "multi": multi, "freqs": freqs, "ref_len": ref_len,
            "span": span}


def _alleles(sites: dict) -> tuple[list[str], list[list[str]]]:
    pos, kind, ref_len, multi = sites["pos"], sites["kind"], sites["ref_len"], sites["multi"]
    b0 = base(pos)
    refs, alts = [], []
    for i in range(len(pos)):
        r = _text(base(np.arange(pos[i], pos[i] + ref_len[i])))
        first = chr(b0[i])
        other = "ACGT"[("ACGT".index(first) + 1) % 4]
        if kind[i] == "snv":
            a = [other, "ACGT"[("ACGT".index(first) + 2) % 4]]
        elif kind[i] == "ins":
            a = [first + "T", first + "TT"]
        else:
            a = [first, r[:2]]
        refs.append(r)
        alts.append(a if multi[i] else a[:1])
    return refs, alts


def draw_genotypes(sites: dict, pops: np.ndarray, males: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Allele indices int8 [samples, sites, 2] (0 REF, 1/2 ALT; -2 the absent allele of a haploid male chrX)."""
    out = np.empty((len(pops), len(sites["pos"]), 2), np.int8)
    on_x = sites["contig"] == "chrX"
    for k, (pop, male) in enumerate(zip(pops, males, strict=True)):
        p = sites["freqs"][pop]
        u = rng.random((len(on_x), 2))
        a = np.where(u < p[:, :1], 1, np.where(u < p[:, :1] + p[:, 1:], 2, 0))
        if male:
            a[on_x, 1] = -2
        out[k] = a
    return out


def write_sample(path: Path, sample: str, male: bool, a: np.ndarray, sites: dict, refs: list[str],
                 alts: list[list[str]], block_bp: int, rng: np.random.Generator) -> int:
    """One gVCF (plain text; bgzipped by the caller) of the sample's alleles ``a`` [sites, 2]. Returns its
    number of records."""
    contig, pos, ref_len = sites["contig"], sites["pos"], sites["ref_len"]
    carrier = (a > 0).any(axis=1)
    lines = []
    n_records = 0
    for c in CONTIGS:
        on = contig == c
        start = 60_001 if c == "chr20" else 2_781_480
        end = start + sites["span"][c] + 100
        # no-coverage gaps: ~0.5 % of the region in ~25 gaps per contig
        n_gaps = 25
        gs = np.sort(rng.integers(start, end, n_gaps))
        ge = gs + rng.integers(200, max(201, int(0.005 * (end - start) / n_gaps * 2)), n_gaps)
        sel = np.flatnonzero(on & carrier)
        vpos = pos[sel]
        gi = np.searchsorted(gs, vpos, side="right") - 1
        in_gap = (gi >= 0) & (vpos <= ge[np.maximum(gi, 0)])
        sel, vpos = sel[~in_gap], vpos[~in_gap]
        vend = vpos + ref_len[sel]  # first base after the record
        breaks = start + np.cumsum(rng.geometric(1.0 / block_bp, size=int((end - start) / block_bp * 1.3) + 10))
        breaks = breaks[breaks < end]
        bounds = np.unique(np.concatenate([[start, end], breaks, vpos, vend, gs, ge + 1]))
        bounds = bounds[(bounds >= start) & (bounds <= end)]
        seg_start, seg_end = bounds[:-1], bounds[1:] - 1
        vi = np.searchsorted(vpos, seg_start, side="right") - 1
        inside_v = (vi >= 0) & (seg_start < vend[np.maximum(vi, 0)])
        gi = np.searchsorted(gs, seg_start, side="right") - 1
        in_gap = (gi >= 0) & (seg_start <= ge[np.maximum(gi, 0)])
        block = ~inside_v & ~in_gap
        # blocks
        bs, be = seg_start[block], seg_end[block]
        gq = rng.choice(GQ_BANDS, size=len(bs), p=GQ_WEIGHTS / GQ_WEIGHTS.sum())
        dp = np.where(gq == 0, 0, rng.integers(8, 45, size=len(bs)))
        mdp = np.where(gq == 0, 0, np.maximum(dp - rng.integers(0, 6, size=len(bs)), 1))
        hap = male and c == "chrX"
        bgt = "0" if hap else "0/0"
        rb = base(bs)
        block_lines = [f"{c}\t{s}\t.\t{chr(r)}\t<NON_REF>\t.\t.\tEND={e}\tGT:DP:GQ:MIN_DP:PL\t{bgt}:{d}:{q}:{m}:"
                       + (f"0,{q}" if hap else f"0,{q},{q * 10 + 90}")
                       for s, e, r, d, q, m in zip(bs.tolist(), be.tolist(), rb.tolist(), dp.tolist(), gq.tolist(),
                                                   mdp.tolist(), strict=True)]
        # variant records
        var_lines = []
        vdp = rng.integers(10, 40, size=len(sel))
        for k, i in enumerate(sel.tolist()):
            al = alts[i]
            a0, a1 = int(a[i, 0]), int(a[i, 1])
            d = int(vdp[k])
            n_all = len(al) + 2  # REF, ALTs, NON_REF
            if a1 == -2:
                gt = str(a0)
                pl = ",".join(["0" if j == a0 else str(40 + 10 * j) for j in range(n_all)])
            else:
                x, y = sorted((a0, a1))
                gt = f"{x}/{y}"
                pl = ",".join("0" if (jj, j) == (x, y) else str(30 + 7 * (j + jj)) for j in range(n_all)
                              for jj in range(j + 1))
            ad = [0] * n_all
            for allele in (a0, a1):
                if allele >= 0:
                    ad[allele] += d // 2
            var_lines.append(f"{c}\t{pos[i]}\t.\t{refs[i]}\t{','.join(al)},<NON_REF>\t{d * 12}.6\t.\t.\t"
                             f"GT:AD:DP:GQ:PL\t{gt}:{','.join(map(str, ad))}:{d}:{min(99, d * 3)}:{pl}")
        order = np.argsort(np.concatenate([bs, vpos]), kind="stable")
        both = block_lines + var_lines
        lines.extend(both[j] for j in order.tolist())
        n_records += len(both)
    path.write_text(HEADER.format(sample=sample) + "\n".join(lines) + "\n")
    return n_records


def simulate_deliveries(out: Path, n_batches: int, n_samples: int, n_sites: int, block_bp: int,
                        seed: int) -> list[dict[str, Path]]:
    rng = np.random.default_rng(seed)
    total = n_batches * n_samples
    pops = rng.choice(3, size=total, p=[0.6, 0.25, 0.15])
    males = rng.random(total) < 0.5
    factor = 1.6
    while True:  # enough sites with a carrier in the cohort; sites without one are dropped
        sites = simulate_sites(int(n_sites * factor), total, rng)
        geno = draw_genotypes(sites, pops, males, rng)
        carried = (geno > 0).any(axis=(0, 2))
        if carried.sum() >= n_sites * 1.03:
            break
        factor *= 1.5
    for key in ("contig", "pos", "kind", "multi", "ref_len"):
        sites[key] = sites[key][carried]
    sites["freqs"] = [f[carried] for f in sites["freqs"]]
    geno = geno[:, carried]
    refs, alts = _alleles(sites)
    batches = []
    k = 0
    for b in range(n_batches):
        files = {}
        for _ in range(n_samples):
            sid = f"S{k + 1:05d}"
            d = out / f"batch{b + 1}" / sid
            d.mkdir(parents=True, exist_ok=True)
            plain = d / f"{sid}.hard-filtered.gvcf"
            write_sample(plain, sid, bool(males[k]), geno[k], sites, refs, alts, block_bp,
                         np.random.default_rng([seed, k]))
            subprocess.run(["bgzip", "-f", "-@", "2", str(plain)], check=True)
            subprocess.run(["tabix", "-p", "vcf", str(plain) + ".gz"], check=True)
            files[sid] = Path(str(plain) + ".gz")
            k += 1
        batches.append(files)
    return batches


def run_hail(files: list[Path], work: Path) -> float:
    from pmo_workbench.genotypes.hail_backend import init_hail
    from pmo_workbench.genotypes.hail_combiner import combine_gvcfs_hail

    out = work / "hail.vds"
    shutil.rmtree(out, ignore_errors=True)
    init_hail("local[2]", work / "hail-tmp")  # the JVM's start-up is not timed: the combine is
    t = time.perf_counter()
    combine_gvcfs_hail({p.name.split(".")[0]: p for p in files}, out, reference_genome="GRCh38",
                       tmp_dir=work / "hail-tmp")
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="samples per batch")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--sites", type=int, default=200_000, help="variant sites in the cohort (at least)")
    ap.add_argument("--block-bp", type=int, default=150, help="mean reference block length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=None, help="keep/reuse the simulated deliveries here")
    ap.add_argument("--no-hail", action="store_true")
    ap.add_argument("--no-densify", action="store_true", help="skip the densify (first open) of the whole store")
    ap.add_argument("--simulate-only", action="store_true", help="write the deliveries (to --data) and stop")
    ap.add_argument("--quick", action="store_true", help="a small run: 3 x 10 gVCFs, 5,000 sites, Hail on 5")
    ap.add_argument("--hail-all", action="store_true", help="Hail's combiner on all batches, not batch 1 only")
    ap.add_argument("--hail-samples", type=int, default=None,
                    help="Hail's combiner (and a separate embedded ingest, for the ratio) on the first N gVCFs "
                         "of batch 1 only")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.sites, args.hail_samples = 10, 5_000, args.hail_samples or 5
    print(f"load average at start: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bench_deliveries-"))
    data = args.data or work / "deliveries"
    t = time.perf_counter()
    marker = data / "batches.txt"
    if marker.is_file():
        batches = [{Path(p).name.split(".")[0]: Path(p) for p in line.split()}
                   for line in marker.read_text().splitlines()]
        print(f"reusing the deliveries in {data}")
    else:
        batches = simulate_deliveries(data, args.batches, args.samples, args.sites, args.block_bp, args.seed)
        marker.write_text("\n".join(" ".join(str(p) for p in b.values()) for b in batches) + "\n")
        print(f"simulated {args.batches} x {args.samples} gVCFs in {time.perf_counter() - t:.1f} s ({data})")
    if args.simulate_only:
        return
    from pmo_workbench.genotypes.gvcf_store import add_gvcfs, open_cohort

    root = work / "project" / "data" / "genotypes"
    rows = []
    for k, files in enumerate(batches, start=1):
        t = time.perf_counter()
        cpu = time.process_time()
        s = add_gvcfs(root, files, f"batch{k}")
        rows.append((f"batch {k}", time.perf_counter() - t, time.process_time() - cpu, s))
    n_records = sum(s["n_calls"] + s["n_blocks"] for *_, s in rows)
    g = None
    if not args.no_densify:
        t = time.perf_counter()
        g = open_cohort(root)
        densify = time.perf_counter() - t
    print()
    print(f"{'step':<22}{'wall s':>9}{'cpu s':>9}{'samples':>9}{'calls':>11}{'blocks':>12}{'new sites':>11}"
          f"{'all sites':>11}")
    for name, wall, cpu, s in rows:
        print(f"{'add_gvcfs ' + name:<22}{wall:>9.1f}{cpu:>9.1f}{s['samples_added']:>9}{s['n_calls']:>11,}"
              f"{s['n_blocks']:>12,}{s['new_sites']:>11,}{s['n_sites']:>11,}")
    if g is not None:
        print(f"{'densify (first open)':<22}{densify:>9.1f}{'':>9}{g.n_samples:>9}{'':>11}{'':>12}{'':>11}"
              f"{g.n_variants:>11,}")
    first, last = rows[0][1], rows[-1][1]
    print(f"\nbatch {len(rows)} / batch 1: {last / first:.2f} (target <= 1.2; {n_records:,} gVCF records in all)")
    if not args.no_hail:
        hail_files = [p for b in (batches if args.hail_all else batches[:1]) for p in b.values()]
        embedded = sum(r[1] for r in (rows if args.hail_all else rows[:1]))
        if args.hail_samples:
            hail_files = hail_files[:args.hail_samples]
            t = time.perf_counter()
            add_gvcfs(work / "subset", {p.name.split(".")[0]: p for p in hail_files}, "subset")
            embedded = time.perf_counter() - t
        h = run_hail(hail_files, work)
        label = "all batches" if args.hail_all else "batch 1" if not args.hail_samples else \
            f"first {len(hail_files)} of batch 1"
        print(f"Hail new_combiner ({label}, {len(hail_files)} gVCFs, local[2]): {h:.1f} s; embedded add_gvcfs "
              f"{embedded:.1f} s: embedded {h / embedded:.1f}x faster (target >= 5)")
    print(f"load average at end: {os.getloadavg()}")
    shutil.rmtree(work / "project", ignore_errors=True)


if __name__ == "__main__":
    main()
