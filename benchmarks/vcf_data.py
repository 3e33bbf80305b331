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
            # reads of the second allele: half of them at a het, 1 % read errors at a hom (one binomial draw,
            # not one per read: a 2,500 x 1M file has ~75 G reads)
            n_b = np.random.binomial(d, 0.01 if a == b else 0.5)  # noqa: NPY002
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


# --- other realistic shapes (the reviewer's "VCFs not in your tests") ------------------------------------------

SHAPES = {
    # name: (FORMAT, INFO, multi-allelic share, contigs, haploid males on X, missing form, extra header lines, compression)
    "gatk": ("GT:AD:DP:GQ:PL", "gatk", 0.03, "human", True, "./.", 0, "bgzf"),
    "dp_gt": ("DP:GT", "none", 0.01, "one", False, "./.", 0, "bgzf"),
    "info1kg": ("GT", "1kg", 0.01, "one", False, "./.", 0, "bgzf"),
    "multi": ("GT", "none", 0.15, "one", False, "./.", 0, "bgzf"),
    "haploid_x": ("GT", "none", 0.01, "human", True, "./.", 0, "bgzf"),
    "gzip": ("GT", "none", 0.01, "one", False, "./.", 0, "gzip"),
    "plain": ("GT", "none", 0.01, "one", False, "./.", 0, "none"),
    "dot_missing": ("GT", "none", 0.01, "one", False, ".", 0, "bgzf"),
    "long_header": ("GT", "none", 0.01, "one", False, "./.", 5_000, "bgzf"),
    "dragen": ("GT:AD:DP:GQ:PL:AF:F1R2:F2R1:GP:PRI:SB:MB", "gatk", 0.05, "human", True, "./.", 3_000, "bgzf"),
}
"""Shapes of :func:`simulate_shape_vcf`: GATK/DRAGEN joint calls (many FORMAT fields, PL Number=G, AD Number=R),
a FORMAT whose GT is not first (a spec violation some tools write), 1000 Genomes-style INFO with a VEP CSQ string,
15 % multi-allelic sites, chr1..chr22 + chrX with haploid male calls outside the PARs, plain gzip and plain text,
``.`` as the missing call, and a header of thousands of lines."""

_CSQ = (b"|missense_variant|MODERATE|GENE1|ENSG00000123456|Transcript|ENST00000234567|protein_coding|5/12||"
        b"ENST00000234567.4:c.412G>A|ENSP00000234567.3:p.Val138Ile|480|412|138|V/I|Gtc/Atc|rs123456||1||HGNC|"
        b"HGNC:12345|YES|NM_001234.5|deleterious(0.03)|possibly_damaging(0.61)|0.0012|0.0004")
_HUMAN = [(f"chr{k}", n) for k, n in zip(range(1, 23), (
    248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717, 133797422,
    135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285, 58617616, 64444167,
    46709983, 50818468), strict=True)] + [("chrX", 156040895)]


@njit(cache=True)
def _format_shape(chrom, chrom_len, pos, ref, alts, n_alt, gt, hap, fmt_kind, fmt, n_keys, info_kind, csq,
                  dot_missing, out, seed):  # pragma: no cover - compiled
    """Records of :func:`simulate_shape_vcf`. ``chrom`` is the bytes of each record's CHROM (padded, lengths
    in ``chrom_len``); ``hap`` [v, samples] marks haploid calls; fmt_kind 0 GT, 1 DP:GT, 2 GATK-style
    (GT:AD:DP:GQ:PL, or any FORMAT starting GT:AD:..., the extra keys written as '.' or fixed values)."""
    np.random.seed(seed)  # noqa: NPY002
    k = 0
    digits = np.zeros(20, np.uint8)
    n_s = gt.shape[1]
    for i in range(gt.shape[0]):
        for c in range(chrom_len[i]):
            out[k] = chrom[i, c]
            k += 1
        out[k] = 9
        k = _put_int(out, k + 1, pos[i], digits)
        for b in (9, 46, 9):
            out[k] = b
            k += 1
        out[k] = ref[i]
        out[k + 1] = 9
        k += 2
        for j in range(n_alt[i]):
            if j:
                out[k] = 44
                k += 1
            out[k] = alts[i, j]
            k += 1
        for b in (9, 53, 48, 9, 80, 65, 83, 83, 9):  # \t50\tPASS\t
            out[k] = b
            k += 1
        na = n_alt[i] + 1
        if info_kind == 0:
            out[k] = 46
            k += 1
        else:  # AC=..;AN=..;AF=..;... as a joint caller or 1000 Genomes writes them
            an = 0
            ac = 0
            for s in range(n_s):
                for h in range(2):
                    if h == 1 and hap[i, s]:
                        continue
                    if gt[i, s, h] >= 0:
                        an += 1
                        if gt[i, s, h] > 0:
                            ac += 1
            for b in (65, 67, 61):  # AC=
                out[k] = b
                k += 1
            k = _put_int(out, k, ac, digits)
            for b in (59, 65, 70, 61, 48, 46):  # ;AF=0.
                out[k] = b
                k += 1
            af = (10000 * ac) // max(an, 1)
            for d in (1000, 100, 10, 1):
                out[k] = 48 + (af // d) % 10
                k += 1
            for b in (59, 65, 78, 61):  # ;AN=
                out[k] = b
                k += 1
            k = _put_int(out, k, an, digits)
            for b in (59, 68, 80, 61):  # ;DP=
                out[k] = b
                k += 1
            k = _put_int(out, k, 30 * n_s + i % 97, digits)
            if info_kind == 2:  # 1000 Genomes super-population AFs, VT and a VEP CSQ string
                out[k] = 59
                k += 1
                for pop in range(5):
                    for b in ((69, 65, 83), (65, 77, 82), (65, 70, 82), (69, 85, 82), (83, 65, 83))[pop]:
                        out[k] = b
                        k += 1
                    for b in (95, 65, 70, 61, 48, 46):  # _AF=0.
                        out[k] = b
                        k += 1
                    v = (af + 37 * pop * (i % 7)) % 10000
                    for d in (1000, 100, 10, 1):
                        out[k] = 48 + (v // d) % 10
                        k += 1
                    out[k] = 59
                    k += 1
                for b in (86, 84, 61, 83, 78, 80, 59, 67, 83, 81, 61):  # VT=SNP;CSQ=
                    out[k] = b
                    k += 1
                for rep in range(3):  # three transcripts
                    if rep:
                        out[k] = 44
                        k += 1
                    out[k] = alts[i, 0]
                    k += 1
                    for b in csq:
                        out[k] = b
                        k += 1
            else:  # GATK: ExcessHet, FS, MQ, QD, SOR and a VQSLOD
                for b in (59, 69, 120, 99, 101, 115, 115, 72, 101, 116, 61, 51, 46, 48, 49, 50, 51, 59, 70, 83, 61,
                          48, 46, 48, 48, 48, 59, 77, 81, 61, 54, 48, 46, 48, 48, 59, 81, 68, 61, 49, 53, 46, 52, 50,
                          59, 83, 79, 82, 61, 48, 46, 54, 57, 51, 59, 86, 81, 83, 76, 79, 68, 61, 49, 50, 46, 51, 55):
                    out[k] = b
                    k += 1
        out[k] = 9
        k += 1
        for b in fmt:
            out[k] = b
            k += 1
        for s in range(n_s):
            out[k] = 9
            k += 1
            a = gt[i, s, 0]
            b2 = gt[i, s, 1]
            haploid = hap[i, s]
            if fmt_kind == 1:  # DP first
                d = np.random.poisson(30.0)  # noqa: NPY002
                if a < 0:
                    out[k] = 46
                    k += 1
                else:
                    k = _put_int(out, k, d, digits)
                out[k] = 58
                k += 1
            # GT
            if a < 0:
                if haploid or dot_missing:
                    out[k] = 46
                    k += 1
                else:
                    out[k] = 46
                    out[k + 1] = 47
                    out[k + 2] = 46
                    k += 3
            elif haploid:
                out[k] = 48 + a
                k += 1
            else:
                out[k] = 48 + a
                out[k + 1] = 47
                out[k + 2] = 48 + b2
                k += 3
            if fmt_kind != 2:
                continue
            if a < 0:  # GATK writes ./.:0,0:0:.:0,0,0 or ./.:.:.:.:. ; use the short form
                for _ in range(n_keys - 1):
                    out[k] = 58
                    out[k + 1] = 46
                    k += 2
                continue
            d = np.random.poisson(30.0)  # noqa: NPY002
            n_b = np.random.binomial(d, 0.01 if (haploid or a == b2) else 0.5)  # noqa: NPY002
            n_a = d - n_b
            out[k] = 58
            k += 1
            for j in range(na):  # AD
                if j:
                    out[k] = 44
                    k += 1
                v = 0
                if j == a:
                    v = n_a if (haploid or a != b2) else d - n_b
                elif (not haploid) and j == b2:
                    v = n_b
                k = _put_int(out, k, v, digits)
            out[k] = 58
            k = _put_int(out, k + 1, d, digits)  # DP
            out[k] = 58
            gq = 99 if d >= 20 else 3 * d
            k = _put_int(out, k + 1, gq, digits)  # GQ
            out[k] = 58
            k += 1
            n_pl = na if haploid else na * (na + 1) // 2
            for j in range(n_pl):  # PL, Number=G: 0 at the called genotype
                if j:
                    out[k] = 44
                    k += 1
                k = _put_int(out, k, 0 if j == (a if haploid else b2 * (b2 + 1) // 2 + a) else 10 * d + 3 * j,
                             digits)
            if n_keys > 5:  # DRAGEN's further keys AF:F1R2:F2R1:GP:PRI:SB:MB, fixed or missing values
                for b in (58, 48, 46, 53, 58, 49, 44, 49, 58, 49, 44, 48, 58, 46, 58, 46, 58, 49, 44, 50, 44, 51,
                          44, 52, 58, 46):
                    out[k] = b
                    k += 1
        out[k] = 10
        k += 1
    return k


def simulate_shape_vcf(path: Path, shape: str, n_samples: int, n_variants: int, seed: int = 11) -> Path:
    """Write a VCF of ``n_samples`` x ``n_variants`` in one of the :data:`SHAPES` (to ``path`` through a
    temporary name; kept when it exists). Genotypes: per site an allele frequency from a 1/x spectrum, calls
    in Hardy-Weinberg proportions, ~1 % missing; multi-allelic sites split the ALT calls between two or three
    ALT alleles. Text layout, not linkage, is what an import's speed depends on; the file is deterministic.

    >>> sorted(SHAPES)[:3]
    ['dot_missing', 'dp_gt', 'dragen']
    """
    if path.exists():
        return path
    fmt, info, multi, contigs, haploid_x, missing, extra, compression = SHAPES[shape]
    rng = np.random.default_rng(seed)
    male = rng.random(n_samples) < 0.5
    if contigs == "human":
        names = [c for c, _ in _HUMAN]
        lengths = np.array([n for _, n in _HUMAN], np.float64)
        per = np.floor(n_variants * lengths / lengths.sum()).astype(np.int64)
        per[0] += n_variants - per.sum()
    else:
        names, per = ["1"], np.array([n_variants])
        lengths = np.array([250_000_000.0])
    length_of = lengths
    info_lines = {
        "none": "",
        "gatk": "".join(f'##INFO=<ID={k},Number={n},Type={t},Description="{k}">\n' for k, n, t in (
            ("AC", "A", "Integer"), ("AF", "A", "Float"), ("AN", "1", "Integer"), ("DP", "1", "Integer"),
            ("ExcessHet", "1", "Float"), ("FS", "1", "Float"), ("MQ", "1", "Float"), ("QD", "1", "Float"),
            ("SOR", "1", "Float"), ("VQSLOD", "1", "Float"))),
        "1kg": "".join(f'##INFO=<ID={k},Number={n},Type={t},Description="{k}">\n' for k, n, t in (
            ("AC", "A", "Integer"), ("AF", "A", "Float"), ("AN", "1", "Integer"), ("DP", "1", "Integer"),
            ("EAS_AF", "A", "Float"), ("AMR_AF", "A", "Float"), ("AFR_AF", "A", "Float"), ("EUR_AF", "A", "Float"),
            ("SAS_AF", "A", "Float"), ("VT", ".", "String"), ("CSQ", ".", "String"))),
    }[info]
    fmt_lines = "".join(f'##FORMAT=<ID={k},Number={n},Type={t},Description="{k}">\n' for k, n, t in (
        ("GT", "1", "String"), ("AD", "R", "Integer"), ("AF", "A", "Float"), ("DP", "1", "Integer"),
        ("F1R2", "R", "Integer"), ("F2R1", "R", "Integer"), ("GQ", "1", "Integer"), ("PL", "G", "Integer"),
        ("GP", "G", "Float"), ("PRI", "G", "Float"), ("SB", "4", "Integer"), ("MB", "4", "Integer"),
        ("PS", "1", "Integer")) if k in fmt.split(":"))
    contig_lines = "".join(f"##contig=<ID={c},length={n}>\n" for c, n in (_HUMAN if contigs == "human" else
                                                                           [("1", 250_000_000)]))
    # thousands of header lines: decoy/alt contigs as GRCh38 has them, and command-line records
    contig_lines += "".join(f"##contig=<ID=chrUn_KI{270300 + j}v1,length={1000 + 37 * j}>\n"
                            for j in range(extra * 4 // 5))
    other = "".join(f'##GATKCommandLine=<ID=Step{j},CommandLine="step {j} --input x.bam",Date="2026-01-01">\n'
                    for j in range(extra - extra * 4 // 5))
    names_line = "\t".join(f"HG{i:05d}" for i in range(n_samples))
    head = (f"##fileformat=VCFv4.2\n##source=pmo-bench-{shape}\n" + '##FILTER=<ID=PASS,Description="All filters '
            'passed">\n' + info_lines + fmt_lines + contig_lines + other +
            f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names_line}\n").encode()
    fmt_kind = 1 if fmt.startswith("DP:") else (2 if fmt.startswith("GT:AD") else 0)
    fmt_b = np.frombuffer(fmt.encode(), np.uint8)
    csq = np.frombuffer(_CSQ, np.uint8)
    info_kind = {"none": 0, "gatk": 1, "1kg": 2}[info]
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(tmp, "wb")  # noqa: SIM115 - closed below
    proc = None
    if compression == "bgzf":
        proc = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=fh)
        sink = proc.stdin
    elif compression == "gzip":
        proc = subprocess.Popen(["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=fh)
        sink = proc.stdin
    else:
        sink = fh
    sink.write(head)
    block = 2_000
    width = 200 + 3 * len(_CSQ) + (12 + (4 + 60 * (len(fmt) > 8) + 30 * (len(fmt) > 20)) ) * n_samples
    out = np.zeros(block * width, np.uint8)
    bases = np.frombuffer(b"ACGT", np.uint8)
    seed_k = seed
    for ci, (name, m) in enumerate(zip(names, per, strict=True)):
        x_region = name == "chrX"
        nb = name.encode()
        done, last = 0, 0
        while done < m:
            j = int(min(block, m - done))
            # allele frequencies from a 1/x spectrum; HWE calls; multi-allelic sites split ALT calls
            p = np.exp(rng.uniform(np.log(1.0 / (2 * n_samples)), np.log(0.5), j))
            gt = (rng.random((j, n_samples, 2)) < p[:, None, None]).astype(np.int8)
            n_alt = np.ones(j, np.int64)
            is_multi = rng.random(j) < multi
            n_alt[is_multi] = rng.integers(2, 4, int(is_multi.sum()))
            extra_alt = rng.integers(1, 4, (j, n_samples, 2)).astype(np.int8)
            gt = np.where((gt > 0) & is_multi[:, None, None], np.minimum(extra_alt, n_alt[:, None, None]), gt)
            gt = np.sort(gt, axis=2).astype(np.int8)
            gt[rng.random((j, n_samples)) < MISSING_RATE] = -1
            # spread over the contig (chrX's non-PAR part included); one contig: dense, as first written
            step = max(int(length_of[ci]) // max(int(m), 1), 2) if contigs == "human" else 200
            pos = last + 1 + np.cumsum(rng.integers(1, step, j))
            last = int(pos[-1])
            hap = np.zeros((j, n_samples), np.bool_)
            if x_region and haploid_x:
                non_par = (pos > 2_781_479) & (pos < 155_701_383)
                hap[:] = non_par[:, None] & male[None, :]
                gt[:, :, 1] = np.where(hap, gt[:, :, 0], gt[:, :, 1])
            ref = bases[rng.integers(0, 4, j)]
            alts = np.zeros((j, 3), np.uint8)
            for q in range(3):
                alts[:, q] = bases[(np.searchsorted(bases, ref) + 1 + q) % 4]
            chrom = np.zeros((j, len(nb)), np.uint8)
            chrom[:] = np.frombuffer(nb, np.uint8)
            clen = np.full(j, len(nb), np.int64)
            size = _format_shape(chrom, clen, pos, ref, alts, n_alt, gt, hap, fmt_kind, fmt_b, fmt.count(":") + 1, info_kind, csq,
                                 missing == ".", out, seed_k)
            seed_k += 1
            sink.write(out[:size].tobytes())
            done += j
        del ci
    if proc is not None:
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit(f"{compression} failed")
    fh.close()
    os.replace(tmp, path)
    return path


def shape_name(shape: str, n_samples: int, n_variants: int) -> str:
    """File name of :func:`simulate_shape_vcf`'s output.

    >>> shape_name("gatk", 1000, 100_000)
    'shape_gatk_1000x100000.vcf.gz'
    """
    ext = {"bgzf": ".vcf.gz", "gzip": ".vcf.gz", "none": ".vcf"}[SHAPES[shape][7]]
    return f"shape_{shape}_{n_samples}x{n_variants}{ext}"
