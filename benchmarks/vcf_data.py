"""Realistic benchmark VCFs: msprime genotypes of three populations, unphased, ~1 % missing calls, A/C/G/T.

A sequencing pipeline's joint-called VCF is unphased (``0/1``), has missing calls (``./.``) at a rate that
differs between samples, carries all four bases and a few multi-allelic sites, and often the FORMAT fields
``DP``, ``GQ`` and ``AD``. :func:`simulate_vcf` writes such a file (BGZF, through ``bgzip``) from a coalescent
simulation of three populations (an ancestral split 2,000 generations ago, then 800; a few migrants per
generation; 60 / 25 / 15 % of the samples, in shuffled order so that any leading subset holds all three).
Several variant counts are written from one simulation in one pass (a file with fewer variants is the leading
part of the larger one), so a scaling table costs one simulation per sample count.

The phased A/G set of the earlier QC benchmark is :func:`simulate_phased_vcf` (``0|1``, no missing calls).

Example
-------
>>> paths = simulate_vcf(Path("/tmp/x"), 100, [1_000])  # doctest: +SKIP
>>> paths[1_000].name  # doctest: +SKIP
'msprime3_unphased_gt_100x1000.vcf.gz'
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from numba import njit

NE = 10_000
RECOMBINATION_RATE = 1e-8
MISSING_RATE = 0.01
SHARES = (0.60, 0.25, 0.15)


def build_demography():  # -> msprime.Demography
    """Three populations (``P0``..``P2``) split from an ancestor; symmetric migration between neighbours."""
    import msprime

    d = msprime.Demography()
    d.add_population(name="P0", initial_size=NE)
    d.add_population(name="P1", initial_size=8_000)
    d.add_population(name="P2", initial_size=6_000)
    d.add_population(name="A01", initial_size=9_000)
    d.add_population(name="ANC", initial_size=NE)
    d.set_symmetric_migration_rate(["P0", "P1"], 2e-4)
    d.set_symmetric_migration_rate(["P1", "P2"], 1e-4)
    d.add_population_split(time=800, derived=["P0", "P1"], ancestral="A01")
    d.add_population_split(time=2_000, derived=["A01", "P2"], ancestral="ANC")
    return d


def _simulate(n_samples: int, n_variants: int, seed: int, mutation_rate: float):
    """A tree sequence with at least ``n_variants`` sites, and a sample order (indices of diploids)."""
    import msprime

    counts = [int(round(n_samples * s)) for s in SHARES]
    counts[0] += n_samples - sum(counts)
    harmonic = sum(1.0 / k for k in range(1, 2 * n_samples))
    length = int(1.25 * n_variants / (4 * NE * mutation_rate * harmonic)) + 1
    while True:
        ts = msprime.sim_ancestry(samples={f"P{k}": c for k, c in enumerate(counts)},
                                  demography=build_demography(), sequence_length=length,
                                  recombination_rate=RECOMBINATION_RATE, random_seed=seed)
        ts = msprime.sim_mutations(ts, rate=mutation_rate, model=msprime.JC69(), random_seed=seed)
        if ts.num_sites >= n_variants:
            break
        length = int(length * 1.3 * n_variants / max(ts.num_sites, 1))
    order = np.random.default_rng(seed).permutation(n_samples)
    return ts, order, length


@njit(cache=True)
def _format_gt(pos, ref, alts, n_alt, gt, out):  # pragma: no cover - compiled
    """Records ``1 POS . REF ALT . PASS . GT a/b ...`` into ``out``; gt int8 [v, samples, 2], -1 missing."""
    k = 0
    digits = np.zeros(20, np.uint8)
    for i in range(gt.shape[0]):
        k = _prefix(out, k, pos[i], ref[i], alts[i], n_alt[i], digits)
        out[k] = 71
        out[k + 1] = 84
        k += 2
        for s in range(gt.shape[1]):
            out[k] = 9
            a = gt[i, s, 0]
            b = gt[i, s, 1]
            out[k + 1] = 46 if a < 0 else 48 + a
            out[k + 2] = 47
            out[k + 3] = 46 if b < 0 else 48 + b
            k += 4
        out[k] = 10
        k += 1
    return k


@njit(cache=True)
def _prefix(out, k, pos, ref, alts, n_alt, digits):  # pragma: no cover - compiled
    out[k] = 49
    out[k + 1] = 9
    k += 2
    k = _put_int(out, k, pos, digits)
    for b in (9, 46, 9):
        out[k] = b
        k += 1
    out[k] = ref
    out[k + 1] = 9
    k += 2
    for j in range(n_alt):
        if j:
            out[k] = 44
            k += 1
        out[k] = alts[j]
        k += 1
    for b in (9, 46, 9, 80, 65, 83, 83, 9, 46, 9):  # \t.\tPASS\t.\t
        out[k] = b
        k += 1
    return k


@njit(cache=True)
def _put_int(out, k, v, digits):  # pragma: no cover - compiled
    nd = 0
    while True:
        digits[nd] = 48 + v % 10
        nd += 1
        v //= 10
        if v == 0:
            break
    for d in range(nd - 1, -1, -1):
        out[k] = digits[d]
        k += 1
    return k


@njit(cache=True)
def _format_fields(pos, ref, alts, n_alt, gt, dp, out, seed):  # pragma: no cover - compiled
    """Records with ``GT:DP:GQ:AD``: AD drawn from DP by genotype (1 % read error), GQ from DP and AD."""
    np.random.seed(seed)  # noqa: NPY002 - numba's generator (the Generator API is not compiled)
    k = 0
    digits = np.zeros(20, np.uint8)
    for i in range(gt.shape[0]):
        k = _prefix(out, k, pos[i], ref[i], alts[i], n_alt[i], digits)
        for b in (71, 84, 58, 68, 80, 58, 71, 81, 58, 65, 68):  # GT:DP:GQ:AD
            out[k] = b
            k += 1
        na = n_alt[i] + 1
        for s in range(gt.shape[1]):
            out[k] = 9
            a = gt[i, s, 0]
            b = gt[i, s, 1]
            if a < 0:
                for c in (46, 47, 46, 58, 46, 58, 46, 58, 46):  # ./.:.:.:.
                    out[k + 1] = c
                    k += 1
                k += 1
                continue
            out[k + 1] = 48 + a
            out[k + 2] = 47
            out[k + 3] = 48 + b
            out[k + 4] = 58
            k += 5
            d = dp[i, s]
            k = _put_int(out, k, d, digits)
            out[k] = 58
            k += 1
            n_b = 0
            for _ in range(d):
                if np.random.random() < 0.5:  # noqa: NPY002
                    n_b += 1
            if a == b:
                n_b = 0
                for _ in range(d):
                    if np.random.random() < 0.01:  # noqa: NPY002
                        n_b += 1
                n_a = d - n_b
            else:
                n_a = d - n_b
            gq = 99 if d >= 20 else 3 * d
            if a != b and (n_a < 2 or n_b < 2):
                gq = gq // 3
            k = _put_int(out, k, gq, digits)
            out[k] = 58
            k += 1
            for j in range(na):
                if j:
                    out[k] = 44
                    k += 1
                v = 0
                if j == a:
                    v = n_a
                elif j == b:
                    v = n_b
                k = _put_int(out, k, v, digits)
        out[k] = 10
        k += 1
    return k


def vcf_name(n_samples: int, n_variants: int, fields: bool = False) -> str:
    """The file name :func:`simulate_vcf` gives the unphased VCF of ``n_samples`` x ``n_variants``.

    >>> vcf_name(2500, 1_000_000)
    'msprime3_unphased_gt_2500x1000000.vcf.gz'
    """
    return f"msprime3_unphased_{'fmt' if fields else 'gt'}_{n_samples}x{n_variants}.vcf.gz"


def find_or_simulate(data: Path | None, workdir: Path, n_samples: int, n_variants: list[int], *,
                     fields: bool = False) -> dict[int, Path]:
    """Unphased VCFs of ``n_samples`` x each of ``n_variants``: the ones already in the read-only folder ``data``
    (shared benchmark inputs, written by :func:`simulate_vcf`) are used as they are; the others are simulated
    into ``workdir``.

    >>> find_or_simulate(Path("/no/such"), Path("/tmp/w"), 10, [])
    {}
    """
    found = {m: data / vcf_name(n_samples, m, fields) for m in n_variants} if data else {}
    found = {m: p for m, p in found.items() if p.is_file()}
    rest = [m for m in n_variants if m not in found]
    return {**found, **(simulate_vcf(workdir, n_samples, rest, fields=fields) if rest else {})}


def simulate_vcf(workdir: Path, n_samples: int, n_variants: list[int], *, fields: bool = False, seed: int = 7,
                 mutation_rate: float = 1e-7) -> dict[int, Path]:
    """Write unphased BGZF VCFs of ``n_samples`` x each of ``n_variants`` (GT, or GT:DP:GQ:AD with ``fields``).

    Returns ``{n_variants: path}``; files already present are kept (the simulation is deterministic).
    """
    paths = {n: workdir / vcf_name(n_samples, n, fields) for n in sorted(n_variants)}
    todo = {n: p for n, p in paths.items() if not p.exists()}
    if not todo:
        return paths
    workdir.mkdir(parents=True, exist_ok=True)
    n_max = max(todo)
    ts, order, length = _simulate(n_samples, n_max, seed, mutation_rate)
    rng = np.random.default_rng(seed + 1)
    # per-sample missing rates around 1 % (a few samples much worse), per-sample mean depth around 30
    miss_rate = np.minimum(rng.gamma(2.0, MISSING_RATE / 2.0, n_samples), 0.2)
    mean_dp = rng.gamma(20.0, 30.0 / 20.0, n_samples)
    names = "\t".join(f"S{i:05d}" for i in range(n_samples))
    fmt_lines = ('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n' + (
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">\n'
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">\n'
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n' if fields else ""))
    head = (f"##fileformat=VCFv4.2\n##source=msprime3\n##contig=<ID=1,length={length}>\n"
            '##FILTER=<ID=PASS,Description="All filters passed">\n' + fmt_lines +
            f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n").encode()
    procs, files = {}, {}
    for n, p in todo.items():
        tmp = p.with_name(p.name + ".part")
        files[n] = open(tmp, "wb")  # noqa: SIM115 - closed below
        procs[n] = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=files[n])
        procs[n].stdin.write(head)
    block = 2_000
    width = 64 + (32 if fields else 4) * n_samples
    out = np.zeros(block * width, np.uint8)
    hap = np.zeros((block, 2 * n_samples), np.int8)
    pos = np.zeros(block, np.int64)
    ref = np.zeros(block, np.uint8)
    alts = np.zeros((block, 4), np.uint8)
    n_alt = np.zeros(block, np.int64)
    j, last, written = 0, 0, 0
    for var in ts.variants():
        if written + j >= n_max:
            break
        hap[j] = var.genotypes
        last = max(int(var.site.position) + 1, last + 1)  # strictly increasing 1-based positions
        pos[j] = last
        alleles = var.alleles
        ref[j] = ord(alleles[0][0])
        n_alt[j] = len(alleles) - 1
        for q, a in enumerate(alleles[1:]):
            alts[j, q] = ord(a[0])
        j += 1
        if j == block or written + j == n_max:
            # unphased: alleles of a call sorted; missing calls at each sample's rate
            gt = np.sort(hap[:j].reshape(j, n_samples, 2)[:, order], axis=2)
            gt[rng.random((j, n_samples)) < miss_rate[None, :]] = -1
            if fields:
                dp = rng.poisson(mean_dp, (j, n_samples)).astype(np.int64)
                size = _format_fields(pos[:j], ref[:j], alts[:j], n_alt[:j], gt, dp, out, seed + written)
            else:
                size = _format_gt(pos[:j], ref[:j], alts[:j], n_alt[:j], gt, out)
            rows = out[:size]
            ends = np.flatnonzero(rows == 10) + 1
            for n in todo:
                take = min(j, n - written)
                if take > 0:
                    procs[n].stdin.write(rows[:ends[take - 1]].tobytes())
            written += j
            j = 0
    for n, p in todo.items():
        procs[n].stdin.close()
        if procs[n].wait() != 0:
            raise SystemExit("bgzip failed")
        files[n].close()
        os.replace(p.with_name(p.name + ".part"), p)
    return paths


@njit(cache=True)
def _format_phased(hap: np.ndarray, pos: np.ndarray, fixed: np.ndarray, out: np.ndarray) -> int:  # pragma: no cover
    """Write VCF records ``1 POS`` + ``fixed`` + `` a|b ...`` of a haplotype block into ``out``; returns bytes."""
    k = 0
    digits = np.zeros(20, np.uint8)
    for i in range(hap.shape[0]):
        out[k] = 49
        out[k + 1] = 9
        k = _put_int(out, k + 2, pos[i], digits)
        for b in fixed:
            out[k] = b
            k += 1
        for s in range(hap.shape[1] // 2):
            out[k] = 9
            out[k + 1] = 48 + hap[i, 2 * s]
            out[k + 2] = 124
            out[k + 3] = 48 + hap[i, 2 * s + 1]
            k += 4
        out[k] = 10
        k += 1
    return k


def simulate_phased_vcf(path: Path, n_samples: int, n_variants: int, seed: int = 42,
                        mutation_rate: float = 1e-8) -> Path:
    """Write a BGZF VCF of ``n_samples`` diploids x ``n_variants`` biallelic SNVs (msprime, one population,
    A/G, phased GT, no missing calls): the earlier benchmark's data set.

    Ne = 10,000, recombination 1e-8 per bp; the sequence is just long enough for ``n_variants`` sites at
    ``mutation_rate``.
    """
    if path.exists():
        return path
    import msprime

    expected_per_bp = 4 * NE * mutation_rate * sum(1.0 / k for k in range(1, 2 * n_samples))
    length = int(1.3 * n_variants / expected_per_bp) + 1
    ts = msprime.sim_ancestry(samples=n_samples, ploidy=2, sequence_length=length, recombination_rate=1e-8,
                              population_size=NE, random_seed=seed)
    model = msprime.MatrixMutationModel(["A", "G"], root_distribution=[1.0, 0.0],
                                        transition_matrix=[[0.0, 1.0], [1.0, 0.0]])
    ts = msprime.sim_mutations(ts, rate=mutation_rate, model=model, random_seed=seed)
    if ts.num_sites < n_variants:
        raise SystemExit(f"only {ts.num_sites} sites simulated; raise the sequence length")
    names = "\t".join(f"tsk_{i}" for i in range(n_samples))
    head = (f"##fileformat=VCFv4.2\n##source=msprime\n##contig=<ID=1,length={length}>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n").encode()
    tmp = path.with_name(path.name + ".part")
    block = 5000
    hap = np.zeros((block, 2 * n_samples), np.int8)
    pos = np.zeros(block, np.int64)
    out = np.zeros(block * (40 + 4 * n_samples), np.uint8)
    fixed = np.frombuffer(b"\t.\tA\tG\t.\tPASS\t.\tGT", dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as fh:
        proc = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=fh)
        assert proc.stdin is not None
        proc.stdin.write(head)
        j, last = 0, 0
        for k, var in enumerate(ts.variants()):
            if k >= n_variants:
                break
            last = max(int(var.site.position) + 1, last + 1)  # strictly increasing positions
            hap[j], pos[j] = var.genotypes, last
            j += 1
            if j == block or k == n_variants - 1:
                n = _format_phased(hap[:j], pos[:j], fixed, out)
                proc.stdin.write(out[:n].tobytes())
                j = 0
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit("bgzip failed")
    os.replace(tmp, path)
    return path
