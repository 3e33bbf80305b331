"""Synthetic WGS deliveries (``pmo synth --deliveries``): the demo genomes as a genome centre would send them.

Each sample of the joint VCF becomes a folder ``deliveries/<batch>/<sample_id>/`` with a single-sample gVCF
(``<id>.hard-filtered.gvcf.gz`` + ``.tbi``: the sample's variant calls with ``<NON_REF>``, and reference blocks
``END=`` over the hom-ref stretches, split where the GQ band changes as DRAGEN does; a no-call leaves a gap, i.e.
no coverage), DRAGEN-style metrics files (``mapping_metrics``, ``wgs_coverage_metrics``,
``ploidy_estimation_metrics``) and an ``.md5`` sidecar for every file, plus a ``manifest.tsv`` per batch.

Injected problems, recorded in ``truth/deliveries.tsv`` (``sample_id``, ``batch_dir``, ``problem``,
``expected``: the QC reason or the refusal a correct ingest gives):

- ``contamination``: the genome simulation's contaminated samples show it in DRAGEN's contamination estimate;
- ``low_coverage``: one clean sample sequenced at ~11x;
- ``truncated_gvcf``, ``wrong_checksum``, ``delivered_twice``: refused deliveries, each in its own folder under
  ``deliveries/faulty/`` (a real centre would redeliver), so the three good batches still ingest.

Example
-------
>>> import tempfile
>>> folder = write_sample_delivery(Path(tempfile.mkdtemp()) / "B1", "S1", seed=3, coverage=31.5)
>>> sorted(p.name for p in folder.iterdir())[:4]
['S1.hard-filtered.gvcf.gz', 'S1.hard-filtered.gvcf.gz.md5', 'S1.hard-filtered.gvcf.gz.tbi', 'S1.hard-filtered.gvcf.gz.tbi.md5']
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pmo_workbench.synth.vcf_writer import BgzfWriter, write_tabix_index

GQ_BANDS = np.array([0, 1, 10, 20, 30, 40, 60, 80])
"""DRAGEN's reference-block GQ bands (``##GVCFBlock`` lines of a DRAGEN gVCF)."""
DRAGEN_VERSION = "07.021.645.4.0.3"
_BASES = np.array(list("ACGT"))


@dataclass
class SampleCalls:
    """One sample's calls at the cohort's sites, per contig (arrays in site order).

    ``gt`` is (n, 2) int8 allele indices (-1 missing; a haploid call has -1 in the second column and
    ``haploid`` set), ``dp``/``gq``/``ad_ref``/``ad_alt`` int32 (zeros when the VCF has GT only).
    """

    contig: str
    length: int
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    gt: np.ndarray
    haploid: np.ndarray
    dp: np.ndarray
    gq: np.ndarray
    ad_ref: np.ndarray
    ad_alt: np.ndarray


def reference_base(contig: str, pos: np.ndarray) -> np.ndarray:
    """A deterministic stand-in reference base at each position (the same for every sample of a contig)."""
    h = (pos.astype(np.uint64) * np.uint64(2654435761) + np.uint64(sum(map(ord, contig)))) >> np.uint64(7)
    return _BASES[(h % np.uint64(4)).astype(np.int64)]


def format_gvcf_records(calls: SampleCalls) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The gVCF lines of one contig: variant records and reference blocks (with ``END``), in position order.

    A run of hom-ref sites of one GQ band becomes one block reaching back to the previous site; stretches between
    variant or no-call sites are covered by a block too; a no-call site itself stays uncovered (no coverage).
    Returns the lines, their 1-based starts and their ends (for the tabix index).

    Example
    -------
    >>> c = SampleCalls("chr1", 100, np.array([10, 20, 30]), np.array(["A", "C", "G"]), np.array(["T", "G", "A"]),
    ...                 np.array([[0, 0], [0, 1], [-1, -1]], dtype=np.int8), np.zeros(3, bool),
    ...                 np.array([30, 30, 0]), np.array([50, 45, 0]), np.array([30, 15, 0]), np.array([0, 15, 0]))
    >>> [line.split("\\t")[1] + ":" + line.split("\\t")[4] + ":" + line.split("\\t")[7] for line in
    ...  format_gvcf_records(c)[0]]
    ['1:<NON_REF>:END=19', '20:G,<NON_REF>:.', '21:<NON_REF>:END=29', '31:<NON_REF>:END=100']
    """
    pos = calls.pos.astype(np.int64)
    n = len(pos)
    gt = calls.gt
    called = gt[:, 0] >= 0
    homref = called & (gt[:, 0] == 0) & (gt[:, 1] <= 0)
    gq = np.where(calls.gq > 0, calls.gq, 50).astype(np.int64)
    dp = np.where(calls.dp > 0, calls.dp, 30).astype(np.int64)
    band = np.searchsorted(GQ_BANDS, gq, side="right") - 1
    hap = calls.haploid.astype(bool)
    # hom-ref runs: consecutive hom-ref sites with one band and ploidy
    key = np.where(homref, band * 2 + hap, -1)
    new_run = homref & np.concatenate([[True], (key[1:] != key[:-1]) | ~homref[:-1]])
    run_id = np.cumsum(new_run) - 1
    first = np.flatnonzero(new_run)
    hr_idx = np.flatnonzero(homref)
    run_of = run_id[hr_idx]
    last = hr_idx[np.concatenate([np.flatnonzero(np.diff(run_of) != 0), [len(hr_idx) - 1]])] if len(hr_idx) \
        else first
    prev_pos = np.concatenate([[0], pos[:-1]])
    starts_l: list[np.ndarray] = []
    ends_l: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    gqs: list[np.ndarray] = []
    dps: list[np.ndarray] = []
    haps: list[np.ndarray] = []
    site: list[np.ndarray] = []
    if len(first):
        b_start = prev_pos[first] + 1
        nxt = last + 1
        nxt_is_homref = np.zeros(len(last), dtype=bool)
        inside = nxt < n
        nxt_is_homref[inside] = homref[nxt[inside]]
        b_end = np.where(inside, np.where(nxt_is_homref, pos[last], pos[np.minimum(nxt, n - 1)] - 1), calls.length)
        at = np.searchsorted(hr_idx, first)
        min_gq = np.minimum.reduceat(gq[homref], at)
        min_dp = np.minimum.reduceat(dp[homref], at)
        starts_l.append(b_start)
        ends_l.append(b_end)
        kinds.append(np.zeros(len(first), np.int8))
        gqs.append(min_gq)
        dps.append(min_dp)
        haps.append(hap[first])
        site.append(first)
    # fillers: a stretch before a non-hom-ref site whose previous site is not hom-ref either (or the contig start)
    nonref = np.flatnonzero(~homref)
    prev_homref = np.concatenate([[False], homref[:-1]])
    fill = nonref[~prev_homref[nonref] & (pos[nonref] - prev_pos[nonref] > 1)]
    starts_l.append(prev_pos[fill] + 1)
    ends_l.append(pos[fill] - 1)
    kinds.append(np.zeros(len(fill), np.int8))
    gqs.append(np.full(len(fill), 50))
    dps.append(np.full(len(fill), 30))
    haps.append(hap[fill])
    site.append(fill)
    if n and not homref[-1] and pos[-1] < calls.length:  # after the last site
        starts_l.append(np.array([pos[-1] + 1]))
        ends_l.append(np.array([calls.length]))
        kinds.append(np.zeros(1, np.int8))
        gqs.append(np.array([50]))
        dps.append(np.array([30]))
        haps.append(hap[-1:])
        site.append(np.array([n - 1]))
    var = np.flatnonzero(called & ~homref)
    starts_l.append(pos[var])
    ends_l.append(pos[var])
    kinds.append(np.ones(len(var), np.int8))
    gqs.append(gq[var])
    dps.append(dp[var])
    haps.append(hap[var])
    site.append(var)
    starts = np.concatenate(starts_l)
    ends = np.concatenate(ends_l)
    kind = np.concatenate(kinds)
    order = np.lexsort((kind, starts))
    starts, ends, kind = starts[order], ends[order], kind[order]
    g = np.concatenate(gqs)[order]
    d = np.concatenate(dps)[order]
    h = np.concatenate(haps)[order]
    s_idx = np.concatenate(site)[order]
    block_ref = reference_base(calls.contig, starts)
    contig = calls.contig
    lines = []
    for st, en, k, q, dd, hh, si, rb in zip(starts.tolist(), ends.tolist(), kind.tolist(), g.tolist(), d.tolist(),
                                           h.tolist(), s_idx.tolist(), block_ref.tolist(), strict=True):
        if k == 0:
            lines.append(f"{contig}\t{st}\t.\t{rb}\t<NON_REF>\t.\tPASS\tEND={en}\tGT:DP:GQ:MIN_DP\t"
                         f"{'0' if hh else '0/0'}:{dd}:{q}:{dd}")
            continue
        a, b = int(gt[si, 0]), int(gt[si, 1])
        # PL has one value per genotype of REF, ALT and <NON_REF> (Number=G): 3 haploid, 6 diploid
        if hh:
            call = str(a)
            pl = ",".join("0" if j == a else str(q + 30 + 30 * j) for j in range(3))
        else:
            call = f"{a}/{b}"
            first = f"{q + 30},0,{3 * q + 30}" if a != b else f"{3 * q + 30},{q},0"
            pl = f"{first},{q + 33},{3 * q + 33},{3 * q + 60}"
        lines.append(f"{contig}\t{st}\t.\t{calls.ref[si]}\t{calls.alt[si]},<NON_REF>\t{max(q, 1)}\tPASS\t.\t"
                     f"GT:AD:DP:GQ:PL\t{call}:{int(calls.ad_ref[si])},{int(calls.ad_alt[si])},0:{dd}:{q}:{pl}")
    return lines, starts.astype(np.int64), ends.astype(np.int64)


def _gvcf_header(sample_id: str, contigs: Sequence[tuple[str, int]], sex: str) -> str:
    lines = ["##fileformat=VCFv4.2", "##fileDate=20261201"]
    lines += [f"##GVCFBlock{lo}-{hi}=minGQ={lo}(inclusive),maxGQ={hi}(exclusive)"
              for lo, hi in zip(GQ_BANDS, list(GQ_BANDS[1:]) + [2147483647], strict=True)]
    lines += [
        f'##DRAGENVersion=<ID=dragen,Version="SW: {DRAGEN_VERSION}, HW: 07.021.624">',
        f'##DRAGENCommandLine=<ID=dragen,Version="SW: {DRAGEN_VERSION}, HW: 07.021.624",'
        'Date="Tue Dec 01 10:00:00 CET 2026",CommandLineOptions="--enable-variant-caller true --vc-emit-ref-confidence GVCF">',
        "##source=DRAGEN_SNV",
        f"##referenceSexKaryotype={'XY' if sex == 'M' else 'XX'}",
        '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele at this location">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">',
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths (counting only informative reads)">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
        '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within the GVCF block">',
        '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled genotype likelihoods">',
    ]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in contigs]
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample_id]))
    return "\n".join(lines) + "\n"


def _write_md5(path: Path) -> None:
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    (path.parent / f"{path.name}.md5").write_text(f"{digest}  {path.name}\n", encoding="utf-8")


def write_dragen_metrics(folder: Path, sample_id: str, *, coverage: float, pct_ge_20x: float, pct_mapped: float,
                         pct_duplicates: float, insert_median: float, contamination: float, sex: str) -> list[Path]:
    """Write DRAGEN-format metrics files (no header row; ``SECTION,,metric,value[,percent]``) for one sample."""
    total = int(coverage * 3.1e9 / 150 / 0.92)
    mapped = int(total * pct_mapped / 100)
    dups = int(total * pct_duplicates / 100)
    mapping = [
        f"MAPPING/ALIGNING SUMMARY,,Total input reads,{total},100.00",
        f"MAPPING/ALIGNING SUMMARY,,Number of duplicate marked reads,{dups},{pct_duplicates:.2f}",
        "MAPPING/ALIGNING SUMMARY,,Number of duplicate marked and mate reads removed,NA",
        f"MAPPING/ALIGNING SUMMARY,,Number of unique reads (excl. duplicate marked reads),{total - dups},"
        f"{100 - pct_duplicates:.2f}",
        f"MAPPING/ALIGNING SUMMARY,,Reads with mate sequenced,{total},100.00",
        "MAPPING/ALIGNING SUMMARY,,Reads without mate sequenced,0,0.00",
        f"MAPPING/ALIGNING SUMMARY,,Mapped reads,{mapped},{pct_mapped:.2f}",
        f"MAPPING/ALIGNING SUMMARY,,Unmapped reads,{total - mapped},{100 - pct_mapped:.2f}",
        "MAPPING/ALIGNING SUMMARY,,Estimated read length,150.00",
        f"MAPPING/ALIGNING SUMMARY,,Average sequenced coverage over genome,{coverage * 1.05:.2f}",
        f"MAPPING/ALIGNING SUMMARY,,Insert length: mean,{insert_median + 12:.2f}",
        f"MAPPING/ALIGNING SUMMARY,,Insert length: median,{insert_median:.2f}",
        "MAPPING/ALIGNING SUMMARY,,Insert length: standard deviation,110.42",
        f"MAPPING/ALIGNING SUMMARY,,Estimated sample contamination,{contamination:.4f}",
    ]
    rg = [line.replace("MAPPING/ALIGNING SUMMARY,,", f"MAPPING/ALIGNING PER RG,{sample_id}_L1,", 1)
          .replace("Total input reads", "Total reads in RG") for line in mapping
          if "contamination" not in line and "sequenced coverage" not in line]
    mapping += rg  # DRAGEN writes the per-read-group rows after the summary (one read group here)
    x_ratio = 0.5 if sex == "M" else 1.0
    cov_lines = [
        f"COVERAGE SUMMARY,,Aligned bases,{int(coverage * 3.1e9)}",
        f"COVERAGE SUMMARY,,Average alignment coverage over genome,{coverage:.2f}",
        f"COVERAGE SUMMARY,,PCT of genome with coverage [  20x: inf),{pct_ge_20x:.2f}",
        f"COVERAGE SUMMARY,,Average chr X coverage over genome,{coverage * x_ratio:.2f}",
        f"COVERAGE SUMMARY,,Average chr Y coverage over genome,{coverage * (0.5 if sex == 'M' else 0.0):.2f}",
        f"COVERAGE SUMMARY,,Average autosomal coverage over genome,{coverage:.2f}",
        f"COVERAGE SUMMARY,,Median autosomal coverage over genome,{round(coverage):.2f}",
    ]
    ploidy = [
        f"PLOIDY ESTIMATION,,Autosomal median coverage,{coverage:.2f}",
        f"PLOIDY ESTIMATION,,X median coverage,{coverage * x_ratio:.2f}",
        f"PLOIDY ESTIMATION,,Y median coverage,{coverage * (0.5 if sex == 'M' else 0.0):.2f}",
        f"PLOIDY ESTIMATION,,X median / Autosomal median,{x_ratio:.2f}",
        f"PLOIDY ESTIMATION,,Y median / Autosomal median,{0.5 if sex == 'M' else 0.0:.2f}",
        f"PLOIDY ESTIMATION,,Ploidy estimation,{'XY' if sex == 'M' else 'XX'}",
    ]
    out = []
    for suffix, rows in (("mapping_metrics", mapping), ("wgs_coverage_metrics", cov_lines),
                         ("ploidy_estimation_metrics", ploidy)):
        path = folder / f"{sample_id}.{suffix}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out.append(path)
    return out


def write_sample_delivery(batch_dir: str | Path, sample_id: str, *, seed: int = 0,
                          calls: Sequence[SampleCalls] | None = None, sex: str = "F", coverage: float = 30.0,
                          contamination: float = 0.002) -> Path:
    """Write one sample's delivery folder (gVCF + tbi, DRAGEN metrics, md5 sidecars); returns the folder.

    Without ``calls`` a small random chr22 sample is made from ``seed`` (for examples and tests).
    """
    rng = np.random.default_rng(seed)
    folder = Path(batch_dir) / sample_id
    folder.mkdir(parents=True, exist_ok=True)
    if calls is None:
        n = 200
        pos = np.sort(rng.choice(np.arange(10_000, 2_000_000), size=n, replace=False))
        gt = rng.choice([0, 1], size=(n, 2), p=[0.8, 0.2]).astype(np.int8)
        gt.sort(axis=1)
        gt[rng.random(n) < 0.02] = -1
        dp = rng.poisson(30, n).astype(np.int32)
        gq = rng.integers(5, 99, n).astype(np.int32)
        ad_alt = np.where(gt[:, 1] > 0, dp // 2, 0).astype(np.int32)
        calls = [SampleCalls("chr22", 2_100_000, pos, reference_base("chr22", pos),
                             np.array(["T"] * n), gt, np.zeros(n, bool), dp, gq, dp - ad_alt, ad_alt)]
    gvcf = folder / f"{sample_id}.hard-filtered.gvcf.gz"
    contigs = [(c.contig, c.length) for c in calls]
    tbi_records = []
    with BgzfWriter(gvcf, level=4) as w:
        w.write(_gvcf_header(sample_id, contigs, sex).encode())
        written = []
        for c in calls:
            lines, starts, ends = format_gvcf_records(c)
            if not lines:
                continue
            text = ("\n".join(lines) + "\n").encode()
            base = w.uncompressed_size
            offsets = np.concatenate([[0], np.cumsum([len(x) + 1 for x in lines])]) + base
            w.write(text)
            written.append(c.contig)
            tbi_records.append((starts, np.stack([offsets[:-1], offsets[1:]], axis=1), ends))
    tabix = shutil.which("tabix")
    if tabix is not None:  # htslib's indexer (C) where installed: much faster for whole-genome block layouts
        subprocess.run([tabix, "-f", "-p", "vcf", str(gvcf)], check=True, capture_output=True)
    else:
        voff = np.vectorize(w.virtual_offset, otypes=[np.int64])
        write_tabix_index(folder / f"{gvcf.name}.tbi", written, [(s, voff(o), e) for s, o, e in tbi_records])
    cov = float(coverage)
    pct20 = float(np.clip(100 * (1 - np.exp(-max(cov - 14, 0) / 4.0)), 0, 99.5))
    files = [gvcf, folder / f"{gvcf.name}.tbi"]
    files += write_dragen_metrics(folder, sample_id, coverage=cov, pct_ge_20x=pct20,
                                  pct_mapped=float(rng.uniform(98.5, 99.8)),
                                  pct_duplicates=float(rng.uniform(6, 12)),
                                  insert_median=float(rng.normal(380, 15)), contamination=contamination, sex=sex)
    for f in files:
        _write_md5(f)
    return folder


def read_joint_calls(vcf_path: Path) -> tuple[list[str], dict[str, dict[str, np.ndarray]], dict[str, int]]:
    """The joint VCF's samples, per-contig arrays (pos, ref, alt, a0/a1 allele indices, haploid, dp, gq, ad) and
    contig lengths (scikit-allel's reader: the synthetic VCF is small)."""
    import gzip
    import re

    import allel

    lengths: dict[str, int] = {}
    with gzip.open(vcf_path, "rt") as fh:
        for line in fh:
            if not line.startswith("##"):
                break
            if (m := re.match(r"##contig=<ID=([^,>]+),length=(\d+)", line)) is not None:
                lengths[m.group(1)] = int(m.group(2))
    fields = ["samples", "variants/CHROM", "variants/POS", "variants/REF", "variants/ALT", "calldata/GT",
              "calldata/DP", "calldata/GQ", "calldata/AD"]
    cs = allel.read_vcf(str(vcf_path), fields=fields, alt_number=1)
    samples = [str(x) for x in cs["samples"]]
    gt = cs["calldata/GT"]
    n_v, n_s = gt.shape[:2]

    def get(key: str) -> np.ndarray:
        v = cs.get(key)
        return np.zeros((n_v, n_s), dtype=np.int32) if v is None else np.maximum(v, 0).astype(np.int32)

    ad = cs.get("calldata/AD")
    ad = np.zeros((n_v, n_s, 2), dtype=np.int32) if ad is None else np.maximum(ad, 0).astype(np.int32)
    chrom = cs["variants/CHROM"].astype(str)
    data: dict[str, dict[str, np.ndarray]] = {}
    dp, gq = get("calldata/DP"), get("calldata/GQ")
    for contig in dict.fromkeys(chrom.tolist()):
        m = chrom == contig
        g = gt[m]
        data[contig] = {"pos": cs["variants/POS"][m].astype(np.int64), "ref": cs["variants/REF"][m].astype(str),
                        "alt": cs["variants/ALT"][m].astype(str), "a0": g[:, :, 0].astype(np.int8),
                        "a1": g[:, :, 1].astype(np.int8), "haploid": (g[:, :, 0] >= 0) & (g[:, :, 1] < 0),
                        "dp": dp[m], "gq": gq[m], "ad_ref": ad[m][:, :, 0], "ad_alt": ad[m][:, :, 1]}
    return samples, data, lengths


def write_deliveries(project_root: str | Path, samples: pd.DataFrame, *, seed: int = 0,
                     progress: bool = False) -> pd.DataFrame:
    """Write the project's genomes as per-sample deliveries in their batches, with the injected problems.

    Parameters
    ----------
    project_root
        A synthetic project (its ``data/genotypes/cohort.vcf.gz`` and ``truth/samples.tsv`` are read).
    samples
        ``sample_id``, ``batch``, ``genetic_sex`` (F/M), ``problem`` (the genome simulation's).
    seed
        Seed of the metrics values and the choice of problem samples.

    Returns
    -------
    pandas.DataFrame
        The truth table written to ``truth/deliveries.tsv``.
    """
    root = Path(project_root)
    rng = np.random.default_rng(seed)
    ids, data, lengths = read_joint_calls(root / "data" / "genotypes" / "cohort.vcf.gz")
    col = {s: i for i, s in enumerate(ids)}
    smp = samples.set_index("sample_id")
    clean = [s for s in ids if pd.isna(smp.loc[s, "problem"])]
    low_cov = clean[int(rng.integers(0, len(clean)))]
    out_dir = root / "deliveries"
    truth_rows = []
    batch_cov = {"B1": 32.0, "B2": 29.0, "B3": 26.0}
    calls_cache: dict[str, list[SampleCalls]] = {}

    def calls_of(sid: str) -> list[SampleCalls]:
        if sid not in calls_cache:
            j = col[sid]
            calls_cache[sid] = [
                SampleCalls(c, lengths.get(c) or int(d["pos"][-1]) + 1, d["pos"], d["ref"], d["alt"],
                            np.stack([d["a0"][:, j], d["a1"][:, j]], axis=1), d["haploid"][:, j], d["dp"][:, j],
                            d["gq"][:, j], d["ad_ref"][:, j], d["ad_alt"][:, j])
                for c, d in data.items()]
        return calls_cache[sid]

    for k, sid in enumerate(ids):
        batch = str(smp.loc[sid, "batch"])
        problem = smp.loc[sid, "problem"]
        cov = float(rng.normal(batch_cov.get(batch, 30.0), 1.5))
        cont = float(rng.uniform(0.0005, 0.004))
        if problem == "contamination":
            cont = float(rng.uniform(0.04, 0.08))
            truth_rows.append((sid, f"deliveries/{batch}", "contamination", "contamination"))
        if sid == low_cov:
            cov = float(rng.uniform(10.0, 12.0))
            truth_rows.append((sid, f"deliveries/{batch}", "low_coverage", "low_coverage"))
        write_sample_delivery(out_dir / batch, sid, seed=seed * 100_003 + k, calls=calls_of(sid),
                              sex=str(smp.loc[sid, "genetic_sex"]), coverage=cov, contamination=cont)
        calls_cache.pop(sid, None)
        if progress and k % 50 == 0:
            print(f"    deliveries: {k}/{len(ids)}", flush=True)
    for batch in sorted(smp["batch"].unique()):
        members = [s for s in ids if smp.loc[s, "batch"] == batch]
        man = pd.DataFrame({"sample_id": members, "reported_sex": [smp.loc[s, "reported_sex"] for s in members],
                            "delivery_date": f"2026-1{min(int(batch[1:]), 2) - 1}-0{int(batch[1:])}"})
        man.to_csv(out_dir / batch / "manifest.tsv", sep="\t", index=False, lineterminator="\n")
    # refused deliveries, each in a batch folder of its own
    b1 = [s for s in ids if smp.loc[s, "batch"] == "B1"]
    faulty = out_dir / "faulty"
    picks = rng.choice(len(clean), size=2, replace=False)
    for name, sid, problem, expected in (
        ("B4_truncated", f"{clean[picks[0]]}_R", "truncated_gvcf", "truncated gVCF"),
        ("B5_checksum", f"{clean[picks[1]]}_R", "wrong_checksum", "checksum does not match"),
        ("B6_redelivery", b1[0], "delivered_twice", "already delivered in batch B1"),
    ):
        src = out_dir / str(smp.loc[sid.removesuffix("_R"), "batch"]) / sid.removesuffix("_R")
        dst = faulty / name / sid
        dst.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.iterdir()):
            new_name = f.name.replace(src.name, sid, 1)
            shutil.copyfile(f, dst / new_name)
            if new_name.endswith(".md5"):
                digest = (dst / new_name).read_text().split()[0]
                (dst / new_name).write_text(f"{digest}  {new_name[:-4]}\n")
        gvcf = dst / f"{sid}.hard-filtered.gvcf.gz"
        if problem == "truncated_gvcf":
            data_bytes = gvcf.read_bytes()
            gvcf.write_bytes(data_bytes[: max(len(data_bytes) * 2 // 3, 100)])
            _write_md5(gvcf)  # the centre's checksum is of the truncated file: only the BGZF check catches it
        elif problem == "wrong_checksum":
            (dst / f"{gvcf.name}.md5").write_text(f"{'0' * 32}  {gvcf.name}\n")
        truth_rows.append((sid, f"deliveries/faulty/{name}", problem, expected))
    truth = pd.DataFrame(truth_rows, columns=["sample_id", "batch_dir", "problem", "expected"])
    truth.to_csv(root / "truth" / "deliveries.tsv", sep="\t", index=False, lineterminator="\n")
    return truth


__all__ = ["SampleCalls", "format_gvcf_records", "write_deliveries", "write_sample_delivery"]
