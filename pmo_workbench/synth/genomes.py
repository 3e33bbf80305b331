"""Synthetic whole-genome cohort: msprime founders, Mendelian families, sequencing noise, injected problems.

:func:`simulate_genomes` writes ``cohort.vcf.gz`` (BGZF, GRCh38 ``chr`` names, FORMAT ``GT:DP:GQ:AD`` or ``GT``)
with its tabix index and the claimed pedigree ``pedigree.ped``, and returns the ground truth as pandas frames.

* Founders come from a coalescent simulation (:mod:`pmo_workbench.synth.demography`): each of chr1..chr22 and
  chrX is a segment sized so that the biallelic SNVs add up to ``n_variants`` (chrX about 5 %; the segment spans
  the end of PAR1, chrX:10,001-2,781,479). Sites with more than one mutation are dropped; REF/ALT are drawn with a
  transition/transversion ratio of about 2.05.
* Families: parent-offspring trios and full-sibling pairs (whose parents are simulated but not sequenced); each
  transmitted chromosome is a mosaic of the parent's two haplotypes with Poisson crossovers (the segment stands for
  the whole chromosome). chrX: fathers give their X to daughters and their Y-PAR to sons; males are haploid outside
  PAR1.
* Sequencing: per batch a mean depth and a baseline missingness; per call a Poisson depth around a sample and
  variant factor (negative binomial over variants), binomial alternate reads, and a genotype called by likelihood
  (GQ is the second-smallest PL, capped at 99).
* Problems: low call rate, contamination (reads mixed with another person's), reported sex flipped, one person
  sequenced twice, swapped samples.

Examples
--------
>>> import tempfile, pathlib
>>> sim = simulate_genomes(40, 500, 7, pathlib.Path(tempfile.mkdtemp()))  # doctest: +SKIP
>>> sim.samples.problem.value_counts().to_dict()  # doctest: +SKIP
{'duplicate': 2, 'sample_swap': 2, 'low_call_rate': 1, 'contamination': 1, 'sex_mismatch': 1}
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import msprime
import numba
import numpy as np
import pandas as pd

from pmo_workbench.synth.demography import (
    MUTATION_RATE,
    POPULATION_SHARES,
    RECOMBINATION_RATE,
    build_demography,
)
from pmo_workbench.synth.vcf_writer import (
    BgzfWriter,
    encode_prefixes,
    format_records,
    write_tabix_index,
)

#: GRCh38 primary-assembly lengths of the simulated contigs.
GRCH38_LENGTHS: dict[str, int] = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555, "chr5": 181_538_259,
    "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717, "chr10": 133_797_422,
    "chr11": 135_086_622, "chr12": 133_275_309, "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895,
}  # fmt: skip
#: GRCh38 pseudo-autosomal region 1 (1-based, inclusive).
PAR1 = (10_001, 2_781_479)
CHRX_SHARE = 0.05
#: Sex-averaged recombination per bp, used for crossovers in transmission (whole chromosome).
CROSSOVER_RATE = 1.2e-8
TITV = 2.05
#: Recombination multiplier in the coalescent; positions are spread by the same factor.
STRETCH = 10.0
SEQ_ERROR = 0.003  # simulated base error
CALL_ERROR = 0.005  # error assumed by the genotype caller
BATCH_DEPTH = (32.0, 28.0, 24.0, 30.0, 26.0)
BATCH_MISSING = (0.005, 0.01, 0.02, 0.008, 0.015)
SEQUENCING_SITES = ("Rigshospitalet", "Sjællands Universitetshospital")
FIELDS = ("GT:DP:GQ:AD", "GT")
N_CAUSAL = {"mi": 20, "ldl": 30}
MAJOR_EFFECT = {"mi": 4.0, "ldl": 2.0}
"""Raw effect of each trait's major locus (the first causal variant drawn with ALT frequency at least
:data:`MAJOR_MIN_AF`, on the first contig with one), against N(0, 1) effects of the others: like APOE for LDL
(about a third of the genetic variance) or a strong MI locus (about half of it), so that a GWAS of a few thousand
genomes finds it (model-track tests check the lead variants against ``truth/``). MI's is larger because a binary
outcome with a few percent cases carries less information per genome than a lab value."""
MAJOR_MIN_AF = 0.2
"""Smallest founder ALT frequency of a major locus (a common variant, as APOE ε4 or 9p21)."""


@dataclass
class GenomeSim:
    """The ground truth of a genome simulation (see ``/tmp/team/SYNTH_CONTRACT.md`` part 1).

    Examples
    --------
    >>> GenomeSim.__dataclass_fields__.keys() >= {"individuals", "samples", "genetic_scores"}
    True
    """

    individuals: pd.DataFrame
    samples: pd.DataFrame
    genetic_scores: pd.DataFrame
    causal_variants: pd.DataFrame
    variants_written: int
    vcf_path: Path
    ped_path: Path
    tbi_path: Path | None = None
    variants_per_contig: dict[str, int] = field(default_factory=dict)


def _seed_sequence(seed: np.random.SeedSequence | int) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(int(seed))


def _allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integer counts proportional to ``weights`` summing to ``total`` (largest remainder, with a minimum)."""
    weights = np.asarray(weights, dtype=float)
    counts = np.full(len(weights), minimum, dtype=np.int64)
    rest = total - counts.sum()
    if rest < 0:
        raise ValueError(f"cannot give {minimum} to each of {len(weights)} groups out of {total}")
    raw = rest * weights / weights.sum()
    base = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: rest - base.sum()]] += 1
    return counts + base


# --------------------------------------------------------------------------------------------- cohort design
@dataclass
class _Design:
    individuals: pd.DataFrame
    samples: pd.DataFrame
    founders: np.ndarray  # individual ids of founders, in msprime individual order
    founder_pops: dict[str, int]  # founders per population, msprime order
    low_call: np.ndarray  # per sample column: missingness rate override (0 = none)
    contaminant: np.ndarray  # per sample column: contaminating individual (-1 = none)
    contamination: np.ndarray  # per sample column: fraction of reads from the contaminant


def _problem_counts(n_samples: int) -> dict[str, int]:
    return {
        "low_call_rate": max(1, round(n_samples * 0.006)),
        "contamination": max(1, round(n_samples * 0.004)),
        "sex_mismatch": max(1, round(n_samples * 0.004)),
        "duplicate": max(1, round(n_samples * 0.002)),
        "sample_swap": max(1, round(n_samples * 0.001)),
    }


def _design_cohort(n_samples: int, n_batches: int, rng: np.random.Generator) -> _Design:
    counts = _problem_counts(n_samples)
    n_dup = counts["duplicate"]
    n_trios = max(1, round(n_samples * 0.016))
    n_sibs = max(1, round(n_samples * 0.016))
    n_seq = n_samples - n_dup  # sequenced individuals
    n_unrel = n_seq - 3 * n_trios - 2 * n_sibs
    needed = counts["low_call_rate"] + counts["contamination"] + counts["sex_mismatch"] + n_dup + 2 * counts[
        "sample_swap"
    ]
    if n_unrel < needed + 4:
        raise ValueError(f"n_samples={n_samples} is too small for the families and injected problems (need >= 30)")

    # units: unrelated persons and families, each with one population
    kinds = ["unrelated"] * n_unrel + ["trio"] * n_trios + ["sibs"] * n_sibs
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    pops = list(POPULATION_SHARES)
    pop_counts = _allocate(len(kinds), np.array([POPULATION_SHARES[p] for p in pops]), minimum=1)
    unit_pop = np.repeat(np.array(pops), pop_counts)[rng.permutation(len(kinds))]

    rows: list[dict] = []
    fam_no = 0
    for kind, pop in zip(kinds, unit_pop.tolist(), strict=True):
        base = len(rows)
        if kind == "unrelated":
            rows.append(dict(population=pop, sex=str(rng.choice(["F", "M"])), family_id=None, father=-1, mother=-1,
                             role="unrelated"))  # fmt: skip
            continue
        fam_no += 1
        fid = f"FAM{fam_no:04d}"
        rows.append(dict(population=pop, sex="M", family_id=fid, father=-1, mother=-1, role="founder"))
        rows.append(dict(population=pop, sex="F", family_id=fid, father=-1, mother=-1, role="founder"))
        for _ in range(1 if kind == "trio" else 2):
            rows.append(dict(population=pop, sex=str(rng.choice(["F", "M"])), family_id=fid, father=base,
                             mother=base + 1, role="child"))  # fmt: skip
        if kind == "sibs":
            rows[base]["sequenced"] = rows[base + 1]["sequenced"] = False
    individuals = pd.DataFrame(rows)
    individuals.insert(0, "individual", np.arange(len(individuals), dtype=np.int64))
    sequenced = individuals["sequenced"].isna().to_numpy() if "sequenced" in individuals else None
    individuals = individuals.drop(columns=["sequenced"], errors="ignore")
    individuals["sex"] = individuals["sex"].astype(str)
    individuals["family_id"] = individuals["family_id"].astype(object).where(individuals["family_id"].notna(), None)

    # founders in msprime order (grouped by population, in POPULATION_SHARES order)
    is_founder = individuals["father"].to_numpy() < 0
    founders_list = []
    founder_pops = {}
    for p in pops:
        ids = individuals.index[is_founder & (individuals["population"] == p).to_numpy()].to_numpy()
        founders_list.append(ids)
        founder_pops[p] = len(ids)
    founders = np.concatenate(founders_list)

    # problems, chosen among unrelated sequenced individuals (the swap also uses a trio child)
    seq_ids = np.flatnonzero(sequenced)
    unrel = individuals.index[(individuals["role"] == "unrelated").to_numpy()].to_numpy()
    unrel = unrel[rng.permutation(len(unrel))]
    take = iter(unrel)
    problem_of: dict[int, str] = {}
    for kind in ("low_call_rate", "contamination", "sex_mismatch", "duplicate"):
        for _ in range(counts[kind]):
            problem_of[int(next(take))] = kind
    sexes = individuals["sex"].to_numpy()
    children = individuals.index[(individuals["role"] == "child").to_numpy()].to_numpy()
    trio_children = [c for c in children if (individuals["family_id"] == individuals.at[c, "family_id"]).sum() == 3]
    swaps: list[tuple[int, int]] = []
    free_unrel = [int(u) for u in take]
    for k in range(counts["sample_swap"]):
        a = int(trio_children[k]) if k < len(trio_children) else free_unrel.pop(0)
        partner = next(u for u in free_unrel if sexes[u] != sexes[a])
        free_unrel.remove(partner)
        swaps.append((a, partner))
        problem_of[a] = problem_of[partner] = "sample_swap"

    # sample columns: every sequenced individual once, duplicated individuals twice; random order
    dup_ids = [i for i, k in problem_of.items() if k == "duplicate"]
    labelled = np.concatenate([seq_ids, np.array(dup_ids, dtype=np.int64)])
    labelled = labelled[rng.permutation(len(labelled))]
    n_col = len(labelled)
    true_ind = labelled.copy()
    for a, b in swaps:
        ca, cb = np.flatnonzero(labelled == a)[0], np.flatnonzero(labelled == b)[0]
        true_ind[ca], true_ind[cb] = b, a
    batch = rng.integers(0, n_batches, size=n_col)
    for d in dup_ids:  # the second sequencing of a person is in another batch
        cols = np.flatnonzero(labelled == d)
        if n_batches > 1 and batch[cols[1]] == batch[cols[0]]:
            batch[cols[1]] = (batch[cols[0]] + 1 + rng.integers(0, n_batches - 1)) % n_batches
    reported = sexes[labelled].copy()
    problem = np.array([problem_of.get(int(i)) for i in labelled], dtype=object)
    flip = problem == "sex_mismatch"
    reported[flip] = np.where(reported[flip] == "F", "M", "F")
    low_call = np.where(problem == "low_call_rate", rng.uniform(0.10, 0.20, n_col), 0.0)
    contaminated = np.flatnonzero(problem == "contamination")
    contaminant = np.full(n_col, -1, dtype=np.int64)
    contamination = np.zeros(n_col)
    pool = np.array(free_unrel, dtype=np.int64)
    for c in contaminated:
        contaminant[c] = pool[rng.integers(0, len(pool))]
        contamination[c] = rng.uniform(0.18, 0.25)
    samples = pd.DataFrame(
        {
            "sample_id": [f"S{k + 1:05d}" for k in range(n_col)],
            "individual": labelled.astype(np.int64),
            "true_individual": true_ind.astype(np.int64),
            "batch": [f"B{b + 1}" for b in batch],
            "sequencing_site": [SEQUENCING_SITES[b % len(SEQUENCING_SITES)] for b in batch],
            "reported_sex": reported.astype(str),
            "problem": problem,
        }
    )
    return _Design(individuals, samples, founders, founder_pops, low_call, contaminant, contamination)


# --------------------------------------------------------------------------------------------- coalescent
def _expected_density(n_haplotypes: int, size_scale: float) -> float:
    """Rough biallelic SNVs per bp (Watterson with the majority's Ne); refined from each simulated chromosome."""
    harmonic = float(np.sum(1.0 / np.arange(1, n_haplotypes)))
    return 4 * 10_000 * size_scale * MUTATION_RATE * harmonic * 1.25


def _simulate_segment(
    design: _Design, length: int, size_scale: float, stretch: float, seed: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray, float]:
    """Founder haplotypes of one segment: (0-based positions, haplotype matrix sites x 2F, expected density).

    The coalescent runs on ``length`` bp with ``stretch`` times the per-bp recombination rate; positions are later
    spread ``stretch``-fold, so the written panel has LD at realistic physical distances and many independent
    genealogies (like a thinned whole-genome panel).
    """
    s_anc, s_mut = (int(x) for x in seed.generate_state(2))
    samples = [msprime.SampleSet(n, population=p, ploidy=2) for p, n in design.founder_pops.items() if n]
    ts = msprime.sim_ancestry(
        samples=samples,
        demography=build_demography(size_scale),
        sequence_length=length,
        recombination_rate=RECOMBINATION_RATE * stretch,
        random_seed=s_anc % (2**31 - 1) + 1,
    )
    density = float(ts.segregating_sites(mode="branch")) * MUTATION_RATE
    ts = msprime.sim_mutations(
        ts, rate=MUTATION_RATE, model=msprime.BinaryMutationModel(), discrete_genome=True,
        random_seed=s_mut % (2**31 - 1) + 1,
    )  # fmt: skip
    n_mut = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    keep = n_mut == 1
    positions = ts.tables.sites.position.astype(np.int64)[keep]
    haps = ts.genotype_matrix()[keep].astype(np.int8, copy=False)
    return positions, haps, density


def _place_segment(contig: str, positions: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """1-based contig positions for simulated positions (strictly increasing).

    Autosomes: spread ``STRETCH``-fold (at most to 90 % of the contig) and centred. chrX: the first 15 % of the
    segment fills PAR1, the rest follows it.
    """
    n_contig = GRCH38_LENGTHS[contig]
    x = positions.astype(np.float64)
    if contig == "chrX":
        cut = 0.15 * length
        par_len = PAR1[1] - PAR1[0]
        k = min(STRETCH, 0.9 * (n_contig - PAR1[1]) / max(length - cut, 1))
        pos = np.where(x < cut, PAR1[0] + x / cut * par_len, PAR1[1] + 1 + (x - cut) * k)
        pos = pos + np.where(x < cut, 0, rng.integers(0, max(int(k), 1), len(x)))
    else:
        k = min(STRETCH, 0.9 * n_contig / max(length, 1))
        start = (n_contig - k * length) / 2
        pos = start + x * k + rng.integers(0, max(int(k), 1), len(x))
    pos = pos.astype(np.int64)
    # strictly increasing (jitter or compression may collide)
    pos = np.maximum.accumulate(pos - np.arange(len(pos))) + np.arange(len(pos))
    return pos


# --------------------------------------------------------------------------------------------- transmission
def _draw_transmissions(
    individuals: pd.DataFrame, contigs: list[str], rng: np.random.Generator
) -> dict[tuple[int, int, str], tuple[int, np.ndarray]]:
    """For each (child, parent slot 0=mother/1=father, contig): (starting parental haplotype, crossover fractions)."""
    out: dict[tuple[int, int, str], tuple[int, np.ndarray]] = {}
    kids = individuals[individuals["father"] >= 0]
    for child in kids["individual"].to_numpy():
        for slot in (0, 1):
            for c in contigs:
                morgans = GRCH38_LENGTHS[c] * CROSSOVER_RATE
                if c == "chrX" and slot == 1:  # a father passes his X (or Y-PAR) whole
                    out[(int(child), slot, c)] = (0, np.zeros(0))
                    continue
                n_co = rng.poisson(morgans)
                out[(int(child), slot, c)] = (int(rng.integers(0, 2)), np.sort(rng.random(n_co)))
    return out


def _individual_haplotypes(
    founder_haps: np.ndarray,
    positions: np.ndarray,
    seg: tuple[int, int],
    contig: str,
    individuals: pd.DataFrame,
    founder_col: np.ndarray,
    transmissions: dict,
) -> np.ndarray:
    """Haplotypes (variants x individuals x 2) of everyone for a chunk; hap 0 maternal, hap 1 paternal for kids.

    On chrX a male's hap 0 is his X and hap 1 his Y-PAR (meaningful only inside PAR1).
    """
    n_var = founder_haps.shape[0]
    m = len(individuals)
    out = np.zeros((n_var, m, 2), dtype=np.int8)
    fc = founder_col >= 0
    out[:, fc, 0] = founder_haps[:, 2 * founder_col[fc]]
    out[:, fc, 1] = founder_haps[:, 2 * founder_col[fc] + 1]
    frac = (positions - seg[0]) / max(seg[1] - seg[0], 1)
    father = individuals["father"].to_numpy()
    mother = individuals["mother"].to_numpy()
    sex = individuals["sex"].to_numpy()
    for child in np.flatnonzero(father >= 0):
        for slot, parent in ((0, mother[child]), (1, father[child])):
            start, cos = transmissions[(int(child), slot, contig)]
            if contig == "chrX" and slot == 1:
                which = np.full(n_var, 1 if sex[child] == "M" else 0, dtype=np.int64)
            else:
                which = (start + np.searchsorted(cos, frac, side="right")) % 2
            out[:, child, slot] = out[np.arange(n_var), parent, which]
    return out


# --------------------------------------------------------------------------------------------- sequencing
@numba.njit(cache=True, nogil=True)
def _sequence_chunk(seed, h0, h1, c0, c1, haploid, cont_frac, miss_s, miss_v, depth_s, depth_v,
                    gt, dp, gq, adr, ada):  # pragma: no cover - compiled  # fmt: skip
    """Simulate reads and call genotypes for a chunk (variants x sample columns)."""
    np.random.seed(seed)  # noqa: NPY002 - numba supports only the legacy API (per-thread state)
    n_var, n_col = h0.shape
    le = math.log(CALL_ERROR)
    l1e = math.log(1.0 - CALL_ERROR)
    lh = math.log(0.5)
    to_pl = -10.0 / math.log(10.0)
    for v in range(n_var):
        for s in range(n_col):
            hap = haploid[v, s]
            pm = miss_s[s] * miss_v[v]
            if pm > 0.95:
                pm = 0.95
            lam = depth_s[s] * depth_v[v]
            if hap:
                lam *= 0.5
            d = np.random.poisson(lam)  # noqa: NPY002
            if np.random.random() < pm or d < 2:  # noqa: NPY002
                gt[v, s] = 6 if hap else 3
                continue
            if hap:
                f = float(h0[v, s])
            else:
                f = 0.5 * (h0[v, s] + h1[v, s])
            cf = cont_frac[s]
            if cf > 0.0:
                fo = 0.5 * (c0[v, s] + c1[v, s])
                f = (1.0 - cf) * f + cf * fo
            p = f * (1.0 - SEQ_ERROR) + (1.0 - f) * SEQ_ERROR
            a = np.random.binomial(d, p)  # noqa: NPY002
            r = d - a
            ll0 = a * le + r * l1e
            ll2 = a * l1e + r * le
            if hap:
                if ll0 >= ll2:
                    gt[v, s] = 4
                    q = (ll0 - ll2) * -to_pl
                else:
                    gt[v, s] = 5
                    q = (ll2 - ll0) * -to_pl
            else:
                ll1 = d * lh
                best = max(ll0, ll1, ll2)
                if ll0 == best:
                    gt[v, s] = 0
                    q = (best - max(ll1, ll2)) * -to_pl
                elif ll1 == best:
                    gt[v, s] = 1
                    q = (best - max(ll0, ll2)) * -to_pl
                else:
                    gt[v, s] = 2
                    q = (best - max(ll0, ll1)) * -to_pl
            gq[v, s] = min(99, int(q + 0.5))
            dp[v, s] = d
            adr[v, s] = r
            ada[v, s] = a


# --------------------------------------------------------------------------------------------- alleles
_BASES = np.array(list("ACGT"))
_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
_TRANSVERSIONS = {"A": ("C", "T"), "G": ("C", "T"), "C": ("A", "G"), "T": ("A", "G")}


def _draw_alleles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """REF/ALT pairs with a transition/transversion ratio of about :data:`TITV` (GC share 41 %)."""
    ref_idx = rng.choice(4, size=n, p=[0.295, 0.205, 0.205, 0.295])
    ref = _BASES[ref_idx]
    is_ts = rng.random(n) < TITV / (1 + TITV)
    pick = rng.integers(0, 2, size=n)
    ts_alt = np.array([_TRANSITION[b] for b in "ACGT"])[ref_idx]
    tv_table = np.array([_TRANSVERSIONS[b] for b in "ACGT"])
    tv_alt = tv_table[ref_idx, pick]
    return ref, np.where(is_ts, ts_alt, tv_alt)


# --------------------------------------------------------------------------------------------- output
def _vcf_header(sample_ids: list[str], fields: str) -> bytes:
    lines = ["##fileformat=VCFv4.2", '##FILTER=<ID=PASS,Description="All filters passed">']
    lines.append("##source=pmo_workbench.synth (msprime coalescent; synthetic data, no real persons)")
    lines.append("##reference=GRCh38")
    for c, n in GRCH38_LENGTHS.items():
        lines.append(f"##contig=<ID={c},length={n},assembly=GRCh38>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if fields == "GT:DP:GQ:AD":
        lines.append('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">')
        lines.append('##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality (Phred, capped at 99)">')
        lines.append('##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles">')
    cols = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids]
    lines.append("\t".join(cols))
    return ("\n".join(lines) + "\n").encode("ascii")


def _write_ped(path: Path, design: _Design) -> None:
    """The claimed pedigree: one row per sequenced individual (IID = its first sample), by labels."""
    ind = design.individuals
    samples = design.samples
    primary = samples.drop_duplicates("individual").set_index("individual")
    iid = {int(i): primary.at[i, "sample_id"] for i in primary.index}

    def name(i: int) -> str:
        if i < 0:
            return "0"
        return iid.get(int(i), f"I{int(i):05d}")  # parents who were not sequenced

    lines = []
    for i, row in primary.sort_values("sample_id").iterrows():
        rec = ind.loc[int(i)]
        fid = rec["family_id"] if rec["family_id"] is not None else row["sample_id"]
        sex = "1" if row["reported_sex"] == "M" else "2"
        lines.append(f"{fid}\t{row['sample_id']}\t{name(rec['father'])}\t{name(rec['mother'])}\t{sex}\t-9")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- main
def simulate_genomes(
    n_samples: int,
    n_variants: int,
    seed: np.random.SeedSequence | int,
    out_dir: Path,
    *,
    n_batches: int = 3,
    fields: str = "GT:DP:GQ:AD",
    progress: bool = False,
    threads: int = 2,
    chunk_cells: int = 4_000_000,
) -> GenomeSim:
    """Simulate a sequenced cohort and write ``cohort.vcf.gz`` (+ ``.tbi``) and ``pedigree.ped`` into ``out_dir``.

    Parameters
    ----------
    n_samples
        VCF sample columns (>= 30), including the duplicate sequencing.
    n_variants
        Target number of biallelic SNVs (the coalescent may give a few fewer; see ``variants_written``).
    seed
        Integer or :class:`numpy.random.SeedSequence`; the same seed gives byte-identical files.
    out_dir
        Output folder (created if missing).
    n_batches
        Sequencing batches (1-5), of decreasing mean depth and increasing missingness.
    fields
        ``"GT:DP:GQ:AD"`` or ``"GT"``.
    progress
        Show a tqdm bar over variants.
    threads
        Threads compressing BGZF blocks.
    chunk_cells
        Genotypes per formatting chunk (bounds memory).

    Returns
    -------
    GenomeSim
        Individuals, samples, genetic scores, causal variants and the paths written.

    Examples
    --------
    >>> sim = simulate_genomes(60, 2_000, 1, Path("/tmp/g"))  # doctest: +SKIP
    >>> sim.variants_written  # doctest: +SKIP
    2000
    """
    if fields not in FIELDS:
        raise ValueError(f"fields must be one of {FIELDS}, not {fields!r}")
    if not 1 <= n_batches <= len(BATCH_DEPTH):
        raise ValueError(f"n_batches must be between 1 and {len(BATCH_DEPTH)}, not {n_batches}")
    if n_variants < 500:
        raise ValueError(f"n_variants must be at least 500, not {n_variants}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ss = _seed_sequence(seed)
    s_design, s_anc, s_trans, s_seq, s_causal, s_alleles, s_thin = ss.spawn(7)
    design = _design_cohort(int(n_samples), int(n_batches), np.random.default_rng(s_design))
    ind = design.individuals
    smp = design.samples
    m = len(ind)
    founder_col = np.full(m, -1, dtype=np.int64)
    founder_col[design.founders] = np.arange(len(design.founders))
    n_hap = 2 * len(design.founders)

    contigs = list(GRCH38_LENGTHS)
    autosomes = contigs[:-1]
    n_x = max(20, round(n_variants * CHRX_SHARE))
    targets = dict(zip(autosomes, _allocate(n_variants - n_x, np.array([GRCH38_LENGTHS[c] for c in autosomes])),
                       strict=True))  # fmt: skip
    targets["chrX"] = n_x
    transmissions = _draw_transmissions(ind, contigs, np.random.default_rng(s_trans))
    rng_causal = np.random.default_rng(s_causal)
    n_causal = {t: rng_causal.multinomial(k, np.array([targets[c] for c in autosomes]) / (n_variants - n_x))
                for t, k in N_CAUSAL.items()}  # fmt: skip
    rng_alleles = np.random.default_rng(s_alleles)
    rng_thin = np.random.default_rng(s_thin)
    anc_seeds = dict(zip(contigs, s_anc.spawn(len(contigs)), strict=True))
    seq_seeds = dict(zip(contigs, s_seq.spawn(len(contigs)), strict=True))

    # per-column sequencing parameters
    rng_cols = np.random.default_rng(s_seq.spawn(1)[0])
    batch_idx = smp["batch"].str[1:].astype(int).to_numpy() - 1
    depth_s = np.asarray(BATCH_DEPTH)[batch_idx] * rng_cols.lognormal(0, 0.08, len(smp))
    miss_s = np.asarray(BATCH_MISSING)[batch_idx] * rng_cols.lognormal(0, 0.3, len(smp))
    miss_s = np.where(design.low_call > 0, design.low_call, miss_s)
    true_ind = smp["true_individual"].to_numpy()
    male = (ind["sex"].to_numpy() == "M")
    cont_ind = np.where(design.contaminant >= 0, design.contaminant, true_ind)
    cont_frac = design.contamination.astype(np.float64)

    density = {1.0: _expected_density(n_hap, 1.0), 0.75: _expected_density(n_hap, 0.75)}
    scores = {t: np.zeros(m) for t in N_CAUSAL}
    major_done: set[str] = set()
    causal_rows: list[dict] = []
    tbi_records: list[tuple[np.ndarray, np.ndarray]] = []
    written_contigs: list[str] = []
    per_contig: dict[str, int] = {}
    with_depth = fields == "GT:DP:GQ:AD"
    chunk_rows = max(64, chunk_cells // max(len(smp), 1))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_variants, unit="variant", desc="genomes")
    vcf_path = out_dir / "cohort.vcf.gz"
    writer = BgzfWriter(vcf_path, level=4, threads=threads)
    try:
        writer.write(_vcf_header(smp["sample_id"].tolist(), fields))
        for ci, contig in enumerate(contigs):
            target = int(targets[contig])
            scale = 0.75 if contig == "chrX" else 1.0
            length = int(math.ceil(1.2 * target / density[scale])) + 1_000
            positions, haps, dens = _simulate_segment(design, length, scale, STRETCH, anc_seeds[contig])
            if len(positions) < target:  # too short: once more, longer (same seed -> deterministic)
                length = int(math.ceil(1.25 * target / max(dens, 1e-9))) + 1_000
                positions, haps, dens = _simulate_segment(design, length, scale, STRETCH, anc_seeds[contig])
            density[scale] = dens
            if len(positions) > target:
                keep = np.sort(rng_thin.choice(len(positions), size=target, replace=False))
                positions, haps = positions[keep], haps[keep]
            pos1 = _place_segment(contig, positions, length, rng_thin)
            seg = (int(pos1[0]), int(pos1[-1]) + 1)  # the simulated span stands for the whole contig in transmission
            ref, alt = _draw_alleles(len(pos1), rng_alleles)
            vids = np.char.add(np.char.add(np.char.add(f"{contig}:", pos1.astype(str)), ":"),
                               np.char.add(np.char.add(ref, ":"), alt))  # fmt: skip
            # causal variants (autosomes): common in the founders, disjoint between traits
            if contig != "chrX":
                af = haps.mean(axis=1)
                cand = np.flatnonzero((af >= 0.05) & (af <= 0.5))
                picked: set[int] = set()
                for trait in N_CAUSAL:
                    k = int(n_causal[trait][ci])
                    pool = np.array([c for c in cand if c not in picked], dtype=np.int64)
                    chosen = np.sort(rng_causal.choice(pool, size=min(k, len(pool)), replace=False))
                    picked.update(int(c) for c in chosen)
                    if len(chosen) == 0:
                        continue
                    h = _individual_haplotypes(haps[chosen], pos1[chosen], seg, contig, ind, founder_col,
                                               transmissions)  # fmt: skip
                    dosage = h.sum(axis=2).astype(float)  # (k, m)
                    beta = rng_causal.normal(0, 1, len(chosen))
                    common = np.flatnonzero(af[chosen] >= MAJOR_MIN_AF)
                    if trait not in major_done and len(common):  # the trait's major locus (no extra draw)
                        j = int(common[0])
                        beta[j] = MAJOR_EFFECT[trait] if beta[j] >= 0 else -MAJOR_EFFECT[trait]
                        major_done.add(trait)
                    scores[trait] += beta @ dosage
                    for j, c in enumerate(chosen):
                        causal_rows.append(dict(trait=trait, chrom=contig, pos=int(pos1[c]), ref=str(ref[c]),
                                                alt=str(alt[c]), variant_id=str(vids[c]), raw_effect=float(beta[j]),
                                                af=float(af[c])))  # fmt: skip
            in_par = (pos1 >= PAR1[0]) & (pos1 <= PAR1[1]) if contig == "chrX" else None
            prefixes = [f"{contig}\t{p}\t{v}\t{r}\t{a}\t.\tPASS\t.\t{fields}"
                        for p, v, r, a in zip(pos1.tolist(), vids.tolist(), ref.tolist(), alt.tolist(), strict=True)]  # fmt: skip
            rng_var = np.random.default_rng(seq_seeds[contig])
            miss_v = rng_var.lognormal(-0.5, 1.0, len(pos1))
            depth_v = rng_var.gamma(20.0, 1 / 20.0, len(pos1))
            chunk_seeds = rng_var.integers(0, 2**31 - 1, size=len(range(0, len(pos1), chunk_rows)))
            starts_all = np.empty((len(pos1), 2), dtype=np.int64)
            for k, lo in enumerate(range(0, len(pos1), chunk_rows)):
                hi = min(lo + chunk_rows, len(pos1))
                h = _individual_haplotypes(haps[lo:hi], pos1[lo:hi], seg, contig, ind, founder_col, transmissions)
                h0 = np.ascontiguousarray(h[:, true_ind, 0])
                h1 = np.ascontiguousarray(h[:, true_ind, 1])
                c0 = np.ascontiguousarray(h[:, cont_ind, 0])
                c1 = np.ascontiguousarray(h[:, cont_ind, 1])
                if contig == "chrX":
                    hap_cell = np.logical_and.outer(~in_par[lo:hi], male[true_ind])
                    c1 = np.where(np.logical_and.outer(~in_par[lo:hi], male[cont_ind]), c0, c1)
                else:
                    hap_cell = np.zeros(h0.shape, dtype=np.bool_)
                shape = h0.shape
                gt = np.empty(shape, dtype=np.int8)
                dp = np.zeros(shape, dtype=np.int32)
                gq = np.zeros(shape, dtype=np.int32)
                adr = np.zeros(shape, dtype=np.int32)
                ada = np.zeros(shape, dtype=np.int32)
                _sequence_chunk(int(chunk_seeds[k]), h0, h1, c0, c1, hap_cell, cont_frac, miss_s, miss_v[lo:hi],
                                depth_s, depth_v[lo:hi], gt, dp, gq, adr, ada)  # fmt: skip
                pre, off = encode_prefixes(prefixes[lo:hi])
                text, line_starts = format_records(pre, off, gt, dp, gq, adr, ada, with_depth=with_depth)
                base = writer.write(text)
                starts_all[lo:hi, 0] = base + line_starts[:-1]
                starts_all[lo:hi, 1] = base + line_starts[1:]
                if bar is not None:
                    bar.update(hi - lo)
            written_contigs.append(contig)
            per_contig[contig] = len(pos1)
            tbi_records.append((pos1, starts_all))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    voff = np.vectorize(writer.virtual_offset, otypes=[np.int64])
    tbi_path = out_dir / "cohort.vcf.gz.tbi"
    write_tabix_index(tbi_path, written_contigs, [(p, voff(s)) for p, s in tbi_records])

    ped_path = out_dir / "pedigree.ped"
    _write_ped(ped_path, design)

    # genetic scores, standardised; effects rescaled to the standardised scale
    gs = pd.DataFrame({"individual": ind["individual"].to_numpy()})
    causal = pd.DataFrame(causal_rows)
    causal["effect"] = 0.0
    for trait in N_CAUSAL:
        sd = float(scores[trait].std()) or 1.0
        gs[f"{trait}_score"] = (scores[trait] - scores[trait].mean()) / sd
        sel = causal["trait"] == trait
        causal.loc[sel, "effect"] = causal.loc[sel, "raw_effect"] / sd
    causal = causal[["trait", "chrom", "pos", "ref", "alt", "variant_id", "effect", "af"]].reset_index(drop=True)
    return GenomeSim(
        individuals=ind,
        samples=smp,
        genetic_scores=gs,
        causal_variants=causal,
        variants_written=int(sum(per_contig.values())),
        vcf_path=vcf_path,
        ped_path=ped_path,
        tbi_path=tbi_path,
        variants_per_contig=per_contig,
    )
