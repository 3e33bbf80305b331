"""Benchmark: VCF import (and QC, kinship on the store) on realistic VCFs against plink2 and bcftools.

Run on demand (not in CI)::

    .venv/bin/python -m benchmarks import [--quick] [--repeats 2] [--baseline DIR] [--no-scaling]
        [--data /work/benchdata] [--workdir DIR] [--tables 1,2] [--samples 1000,2500] [--variants 250000,1000000]

Data (:mod:`benchmarks.vcf_data`, simulated once into ``--workdir``, or taken as they are from ``--data``, a
read-only folder of shared inputs written by :func:`benchmarks.vcf_data.simulate_vcf`; caches, plink2 outputs and
whatever is missing there go to ``--workdir``): msprime genotypes of three populations,
unphased, ~1 % missing calls, A/C/G/T alleles with a few multi-allelic sites -- GT only, and GT:DP:GQ:AD --
and the earlier benchmark's phased A/G set without missing calls. Every step is a whole process (start-up and
imports included) timed in the same run as its peers: wall time, CPU time (user + sys, from the kernel's
resource usage of the finished process: on a shared machine the steadier figure) and peak resident memory.

Tables (full run; ``--quick`` uses 1,000 x 100k and a small scaling grid):

1. 2,500 x 1M unphased GT: import (``open_genotypes`` into an empty cache vs ``plink2 --make-pgen`` and
   ``bcftools view -Ob``), sample + variant QC on the store (vs ``plink2 --sample-counts --missing --hardy midp
   --freq`` on the pgen), kinship (vs ``plink2 --make-king-table --king-table-filter 0.0442`` on the same sites:
   autosomal biallelic). Targets (issue 16): import <= 1.2x plink2 wall and CPU, QC <= 1.5x, kinship <= 1.2x,
   peak memory <= plink2's. QC is timed twice: the tables made in memory (``sample_qc``, ``variant_qc``), and
   written to Parquet batch by batch (``write_qc_tables``: like plink2, which writes its tables as it reads).
2. 1,000 x 100k unphased GT: import, import + QC in one process (vs plink2 computing the same tables straight
   from the VCF; target <= 1.5x), kinship -- where start-up counts.
3. GT:DP:GQ:AD and the phased set at 1,000 x 100k, and in a full run GT:DP:GQ:AD at 2,500 x 100k (peak memory
   grows with samples, not variants: chunks are 10,000 variants) and phased at 2,500 x 1M: import. A VCF with
   FORMAT fields is imported twice: as ``open_genotypes`` does by default (GT only; vs ``plink2 --make-pgen``,
   which keeps no FORMAT field either), and with ``format_fields=("DP", "GQ", "AD")`` (vs ``bcftools view
   -Ob``, which keeps them; the ratios of that row are to bcftools).
4. Scaling: samples 1k / 2.5k / 5k x variants 250k / 500k / 1M: import time and peak memory, ours, plink2,
   bcftools, and our CPU nanoseconds per genotype call (flat when time grows linearly).
5. Other shapes a pipeline writes (:data:`benchmarks.vcf_data.SHAPES`, 1,000 x 100k each; ``--shapes`` picks
   some): GATK/DRAGEN FORMAT with PL (Number=G), GT not first, 1000 Genomes INFO with a VEP string, 15 %
   multi-allelic sites, chr1..22 + X with haploid males, plain gzip, plain text, ``.`` as missing, a header of
   thousands of lines: import, ours vs plink2 (and bcftools); shapes with DP/GQ/AD also with them kept (vs
   bcftools), as in table 3.
6. The real VCFs of ``../shared/data`` (small: start-up dominates): import, ours vs plink2.
7. Any VCFs given with ``--files`` (e.g. a plain-text or plain-gzip copy of a table 4 file): import.

``--baseline DIR`` also times our steps with another copy of the package (e.g. ``git archive <commit>
pmo_workbench | tar -x -C DIR``), for before/after figures in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.timing import GIB, Run, env_for, load_note, measure, python, timed_work
from benchmarks.vcf_data import SHAPES, find_or_simulate, shape_name, simulate_phased_vcf, simulate_shape_vcf

OPEN = "from pmo_workbench.genotypes import open_genotypes as o"
QC = "from pmo_workbench.qc.sample_qc import sample_qc; from pmo_workbench.qc.variant_qc import variant_qc"
KIN = "from pmo_workbench.qc.kinship import kinship"
FILES = "from pmo_workbench.qc.qc_files import write_qc_tables"
WRITE = "write_qc_tables(o(v, cache_dir=c), c + '-tables')"
"""QC tables written to Parquet batch by batch (plink2 writes its tables too): the like-for-like row."""


FIELDS = '("DP", "GQ", "AD")'
"""``format_fields`` of the rows that keep the FORMAT fields (table 3, and table 5's shapes with them)."""


@dataclass
class Row:
    step: str
    tool: str
    run: Run
    peer: Run | None = None  # plink2's run of the same step (for the ratios; bcftools' where ``vs`` says so)
    target: float | None = None
    vs: str = "plink2"


class Bench:
    """Commands of one run, and the rows they give."""

    def __init__(self, work: Path, repeats: int, baseline: str | None, bcftools: bool = True) -> None:
        self.work, self.repeats, self.baseline = work, repeats, baseline
        self.plink = shutil.which("plink2")
        self.bcftools = shutil.which("bcftools") if bcftools else None
        if self.plink is None:
            raise SystemExit("plink2 is not installed (apt-get install plink2)")
        self.out = work / "out"
        self.steps = {"import", "qc", "kinship"}  # which steps the tables time (--steps)

    def cache(self, tag: str) -> Path:
        return self.work / f"cache-{tag}"

    def clear(self, tag: str):
        def run() -> None:
            shutil.rmtree(self.cache(tag), ignore_errors=True)
            shutil.rmtree(self.out, ignore_errors=True)
            self.out.mkdir(parents=True)
        return run

    def ours(self, imports: str, work: str, vcf: Path, tag: str, fresh: bool, repeats: int | None = None,
             base: bool = False) -> Run:
        """Our process (this checkout, or ``--baseline``): ``work`` with ``o`` = open_genotypes and ``v``, ``c``
        the VCF and the cache folder; ``fresh`` empties the cache first."""
        tag = f"{tag}-base" if base else tag
        code = timed_work("; ".join(filter(None, [OPEN, imports])),
                          f"v, c = {str(vcf)!r}, {str(self.cache(tag))!r}; {work}")
        return measure(python(code), repeats or self.repeats, before=self.clear(tag) if fresh else None,
                       env=env_for(self.baseline) if base else None)

    def plink2(self, args: list[str], repeats: int | None = None) -> Run:
        self.out.mkdir(parents=True, exist_ok=True)
        return measure([self.plink, *args, "--out", str(self.out / "p")], repeats or self.repeats)

    def make_pgen(self, vcf: Path, repeats: int | None = None) -> Run:
        # half calls (0/.; the 1000 Genomes chrX of males) are an error to plink2 unless told: read them as
        # haploid, as our import does (no effect on files without them)
        return self.plink2(["--vcf", str(vcf), "--vcf-half-call", "haploid", "--make-pgen"], repeats)

    def bcf(self, vcf: Path, repeats: int | None = None) -> Run | None:
        if self.bcftools is None:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        return measure([self.bcftools, "view", "-Ob", "--threads", "2", "-o", str(self.out / "x.bcf"), str(vcf)],
                       repeats or self.repeats)

    def import_rows(self, step: str, vcf: Path, tag: str, target: float | None, *, fields: bool = False
                    ) -> list[Row]:
        """Import by us (and the baseline), plink2 and bcftools; with ``fields`` also by us keeping DP, GQ and AD
        (its ratios to bcftools, which keeps them)."""
        if "import" not in self.steps:
            return []
        peer = self.make_pgen(vcf)
        name = "ours (GT only, the default)" if fields else "ours"
        rows = [Row(step, name, self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True), peer, target)]
        if self.baseline:
            self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True, repeats=1, base=True)  # numba's cache
            rows.append(Row(step, "ours (baseline)", self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True,
                                                                base=True), peer))
        rows.append(Row(step, "plink2 --make-pgen", peer))
        bcf = self.bcf(vcf)
        if bcf is not None:
            rows.append(Row(step, "bcftools view -Ob", bcf, peer))
        if fields:
            kept = self.ours("", f"o(v, cache_dir=c, format_fields={FIELDS})", vcf, tag, fresh=True)
            rows.append(Row(step, "ours, DP/GQ/AD kept", kept, bcf or peer, target,
                            vs="bcftools" if bcf is not None else "plink2"))
        return rows

    def store_rows(self, vcf: Path, tag: str, qc_target: float | None, kin_target: float) -> list[Row]:
        """QC (unless ``qc_target`` is None) and kinship on the imported store vs plink2 on its pgen (both made
        here, untimed)."""
        rows: list[Row] = []
        if qc_target is None or "qc" not in self.steps:
            qc_target = None
            if "kinship" not in self.steps:
                return rows
        self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True, repeats=1)
        self.make_pgen(vcf, repeats=1)
        for ext in ("pgen", "pvar", "psam"):
            shutil.copy(self.out / f"p.{ext}", self.work / f"p.{ext}")
        pfile = str(self.work / "p")
        if qc_target is not None:
            rows += self._qc_rows(vcf, tag, pfile, qc_target)
        if "kinship" not in self.steps:
            for ext in ("pgen", "pvar", "psam"):
                (self.work / f"p.{ext}").unlink(missing_ok=True)
            return rows
        peer = self.plink2(["--pfile", pfile, "--autosome", "--max-alleles", "2", "--make-king-table",
                            "--king-table-filter", "0.0442"])
        rows.append(Row("kinship (same sites)", "ours", self.ours(KIN, "kinship(o(v, cache_dir=c))", vcf, tag,
                                                                  fresh=False), peer, kin_target))
        if self.baseline:
            self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True, repeats=1, base=True)
            rows.append(Row("kinship (same sites)", "ours (baseline)", self.ours(
                KIN, "kinship(o(v, cache_dir=c))", vcf, tag, fresh=False, base=True), peer))
        rows.append(Row("kinship (same sites)", "plink2 --make-king-table", peer))
        for ext in ("pgen", "pvar", "psam"):
            (self.work / f"p.{ext}").unlink(missing_ok=True)
        return rows

    def _qc_rows(self, vcf: Path, tag: str, pfile: str, target: float) -> list[Row]:
        rows: list[Row] = []
        peer = self.plink2(["--pfile", pfile, "--sample-counts", "--missing", "--hardy", "midp", "--freq"])
        rows.append(Row("sample/variant QC on the store", "ours", self.ours(
            QC, "g = o(v, cache_dir=c); sample_qc(g); variant_qc(g)", vcf, tag, fresh=False), peer, target))
        if self.baseline:
            self.ours("", "o(v, cache_dir=c)", vcf, tag, fresh=True, repeats=1, base=True)
            rows.append(Row("sample/variant QC on the store", "ours (baseline)", self.ours(
                QC, "g = o(v, cache_dir=c); sample_qc(g); variant_qc(g)", vcf, tag, fresh=False, base=True), peer))
        rows.append(Row("sample/variant QC on the store", "plink2 --pfile (same tables)", peer))
        step = "QC tables written (Parquet)"
        rows.append(Row(step, "ours, write_qc_tables", self.ours(FILES, WRITE, vcf, tag, fresh=False), peer, target))
        if self.baseline and _has_qc_files(self.baseline):
            rows.append(Row(step, "ours (baseline)", self.ours(FILES, WRITE, vcf, tag, fresh=False, base=True), peer))
        rows.append(Row(step, "plink2 --pfile (same tables)", peer))
        return rows

    def import_qc_rows(self, vcf: Path, tag: str, target: float) -> list[Row]:
        """Import and QC in one process, from an empty cache, vs plink2 computing the tables from the VCF."""
        if "qc" not in self.steps:
            return []
        peer = self.plink2(["--vcf", str(vcf), "--sample-counts", "--missing", "--hardy", "midp", "--freq"])
        work = "g = o(v, cache_dir=c); sample_qc(g); variant_qc(g)"
        rows = [Row("import + QC", "ours", self.ours(QC, work, vcf, tag, fresh=True), peer, target)]
        if self.baseline:
            rows.append(Row("import + QC", "ours (baseline)", self.ours(QC, work, vcf, tag, fresh=True, base=True),
                            peer))
        rows.append(Row("import + QC", "ours, tables written (Parquet)", self.ours(FILES, WRITE, vcf, tag,
                                                                                  fresh=True), peer, target))
        rows.append(Row("import + QC", "plink2 --vcf (same tables)", peer))
        return rows


def _has_qc_files(baseline: str) -> bool:
    """Whether the ``--baseline`` checkout has :mod:`pmo_workbench.qc.qc_files` (written tables)."""
    return (Path(baseline) / "pmo_workbench" / "qc" / "qc_files.py").is_file()


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n{title}\n({load_note()})")
    head = (f"{'step':<32}{'tool':<30}{'wall s':>8}{'CPU s':>8}{'peak GiB':>9}{'wall/peer':>12}"
            f"{'CPU/peer':>11}{'target':>8}{'met?':>6}  peer")
    print(head)
    print("-" * len(head))
    last = None
    for r in rows:
        line = f"{r.step if r.step != last else '':<32}{r.tool:<30}{r.run.wall:>8.2f}{r.run.cpu:>8.2f}" \
               f"{r.run.peak / GIB:>9.2f}"
        last = r.step
        if r.peer is not None and r.peer is not r.run:
            rw, rc = r.run.wall / r.peer.wall, r.run.cpu / max(r.peer.cpu, 1e-3)
            line += f"{rw:>12.2f}{rc:>11.2f}"
            if r.target is not None:
                met = rw <= r.target and rc <= r.target and r.run.peak <= r.peer.peak
                line += f"{f'{r.target:.1f}x':>8}{'yes' if met else 'no':>6}"
            else:
                line += f"{'':>14}"
            line += f"  {r.vs}"
        print(line)
    print("peer = the tool the ratios are to (plink2 unless said); met? = wall and CPU ratios within the target and "
          "peak memory at most the peer's")


def scaling(bench: Bench, samples: list[int], variants: list[int], data: Path | None = None) -> None:
    print(f"\nScaling: import of unphased GT VCFs (one run each; {load_note()})")
    head = (f"{'samples':>8}{'variants':>10}{'MiB':>7}{'ours wall':>10}{'CPU':>7}{'peak':>6}{'plink2 wall':>12}"
            f"{'CPU':>7}{'peak':>6}{'bcftools wall':>14}{'CPU':>7}{'peak':>6}{'wall/plink2':>12}{'CPU/plink2':>11}"
            f"{'ns/call':>8}")
    print(head + "\n" + "-" * len(head))
    for n in samples:
        paths = find_or_simulate(data, bench.work, n, variants)
        for m in variants:
            vcf = paths[m]
            ours = bench.ours("", "o(v, cache_dir=c)", vcf, "scale", fresh=True, repeats=1)
            plink = bench.make_pgen(vcf, repeats=1)
            bcf = bench.bcf(vcf, repeats=1)
            b = f"{bcf.wall:>14.1f}{bcf.cpu:>7.1f}{bcf.peak / GIB:>6.2f}" if bcf else f"{'':>27}"
            print(f"{n:>8}{m:>10}{vcf.stat().st_size / 2**20:>7.0f}{ours.wall:>10.1f}{ours.cpu:>7.1f}"
                  f"{ours.peak / GIB:>6.2f}{plink.wall:>12.1f}{plink.cpu:>7.1f}{plink.peak / GIB:>6.2f}{b}"
                  f"{ours.wall / plink.wall:>12.2f}{ours.cpu / plink.cpu:>11.2f}{1e9 * ours.cpu / (n * m):>8.2f}",
                  flush=True)
        bench.clear("scale")()
    print("peak in GiB; ns/call = our CPU time per genotype call (samples x variants)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 x 100k and a small scaling grid (minutes)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per step in tables 1-3 (best is shown)")
    ap.add_argument("--small-repeats", type=int, default=None,
                    help="runs per step at 1,000 x 100k (tables 2, 3), where a run takes a second (default --repeats)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pmo-bench-import")
    ap.add_argument("--baseline", type=str, default=None,
                    help="a folder holding another pmo_workbench package to time as well (before/after)")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--data", type=Path, default=None,
                    help="read-only folder of ready VCFs (used as they are; never written to)")
    ap.add_argument("--steps", type=lambda t: set(t.split(",")), default={"import", "qc", "kinship"},
                    help="steps the tables time, of import,qc,kinship (default all)")
    ap.add_argument("--no-bcftools", action="store_true", help="skip bcftools (its runs are the longest)")
    ap.add_argument("--tables", type=_ints, default=[1, 2, 3], help="tables to run, e.g. 1,2 (default 1,2,3)")
    ap.add_argument("--fields-sizes", type=_sizes, default=[(1000, 100_000), (2500, 100_000)],
                    help="table 3's GT:DP:GQ:AD files, e.g. 1000x100000,2500x1000000 (2,500 x 1M is ~7 GB BGZF)")
    ap.add_argument("--phased-sizes", type=_sizes, default=[(1000, 100_000), (2500, 1_000_000)],
                    help="table 3's phased files")
    ap.add_argument("--files", type=lambda t: [Path(x) for x in t.split(",")], default=[],
                    help="table 7's VCFs (comma-separated paths)")
    ap.add_argument("--shapes", type=lambda t: t.split(","), default=list(SHAPES),
                    help=f"table 5's shapes (default all: {','.join(SHAPES)})")
    ap.add_argument("--shape-size", type=_ints, default=[1000, 100_000], help="table 5's samples,variants")
    ap.add_argument("--samples", type=_ints, default=None, help="scaling rows (default 1000,2500,5000)")
    ap.add_argument("--variants", type=_ints, default=None, help="scaling columns (default 250000,500000,1000000)")
    args = ap.parse_args(argv)
    data, work = args.data, args.workdir
    if data is not None and not (data / "READY").exists():
        raise SystemExit(f"{data} has no READY marker: its VCFs may still be being written")
    if data is not None and work.resolve().is_relative_to(data.resolve()):
        raise SystemExit("--workdir must lie outside --data (the shared inputs are read-only)")
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work, args.repeats, args.baseline, bcftools=not args.no_bcftools)
    bench.steps = args.steps
    big = (1000, 100_000) if args.quick else (2500, 1_000_000)
    small = (1000, 100_000)
    print(f"=== VCF import benchmark ({'quick' if args.quick else 'full'}), data from {data or work}, work in {work} ===", flush=True)

    if 1 in args.tables:
        vcf = find_or_simulate(data, work, big[0], [big[1]])[big[1]]
        print(f"table 1 from {vcf} ({load_note()})", flush=True)
        rows = bench.import_rows("import", vcf, "big", 1.2) + bench.store_rows(vcf, "big", 1.5, 1.2)
        print_rows(f"1. {big[0]:,} samples x {big[1]:,} variants, unphased GT, ~1 % missing calls, three "
                   f"populations ({vcf.stat().st_size / 2**20:.1f} MiB BGZF: {vcf})", rows)

    if args.small_repeats:
        bench.repeats = args.small_repeats
    if 2 in args.tables:
        vcf = find_or_simulate(data, work, small[0], [small[1]])[small[1]]
        rows = bench.import_rows("import", vcf, "small", 1.5) + bench.import_qc_rows(vcf, "small", 1.5)
        rows += bench.store_rows(vcf, "small", None, 1.2)
        print_rows(f"2. {small[0]:,} x {small[1]:,} unphased GT: start-up counts "
                   f"({vcf.stat().st_size / 2**20:.1f} MiB BGZF: {vcf})", rows)

    if 3 in args.tables:
        rows = []
        for n, m in ([small] if args.quick else args.fields_sizes):
            fields = find_or_simulate(data, work, n, [m], fields=True)[m]
            rows += bench.import_rows(f"GT:DP:GQ:AD {n:,} x {m:,}", fields, "fields", 1.2, fields=True)
        for n, m in ([small] if args.quick else args.phased_sizes):
            rows += bench.import_rows(f"phased GT {n:,} x {m:,}", _phased(data, work, n, m), "phased", 1.2)
        print_rows("3. FORMAT fields (GT only by default vs plink2; DP, GQ, AD kept vs bcftools) and the phased set "
                   "(0|1, no missing calls): import", rows)

    if 5 in args.tables:
        n, m = args.shape_size
        rows = []
        for shape in args.shapes:
            vcf = _shape(data, work, shape, n, m)
            has_fields = any(f in SHAPES[shape][0].split(":") for f in ("DP", "GQ", "AD"))
            rows += bench.import_rows(f"{shape} {n:,} x {m:,}", vcf, "shape", 1.2, fields=has_fields)
        print_rows(f"5. other VCF shapes ({n:,} x {m:,}; see benchmarks.vcf_data.SHAPES): import", rows)

    if 6 in args.tables:
        rows = []
        for vcf in _real_vcfs():
            rows += bench.import_rows(f"{vcf.parent.name}/{vcf.name}"[:31], vcf, "real", None)
        print_rows("6. real VCFs of ../shared/data (small files: start-up dominates): import", rows)

    if 7 in args.tables:
        rows = []
        for vcf in args.files:
            rows += bench.import_rows(vcf.name[:31], vcf, "file", 1.2)
        print_rows("7. given VCFs: import", rows)

    if not args.no_scaling:
        if args.quick:
            scaling(bench, args.samples or [500, 1000], args.variants or [50_000, 100_000], data)
        else:
            scaling(bench, args.samples or [1000, 2500, 5000], args.variants or [250_000, 500_000, 1_000_000],
                    data)
    shutil.rmtree(bench.out, ignore_errors=True)
    for tag in ("big", "small", "fields", "phased", "scale", "shape", "real", "file"):
        shutil.rmtree(bench.cache(tag), ignore_errors=True)
        shutil.rmtree(bench.cache(f"{tag}-base"), ignore_errors=True)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _sizes(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (x.split("x") for x in text.split(",") if x.strip())]


def _shape(data: Path | None, work: Path, shape: str, n: int, m: int) -> Path:
    name = shape_name(shape, n, m)
    if data is not None and (data / name).is_file():
        return data / name
    return simulate_shape_vcf(work / name, shape, n, m)


def _real_vcfs() -> list[Path]:
    """The genotype VCFs of the shared real data (next to the project checkout), one per folder."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    picks = ["1kg_phase3_subset_1126/1KG_phase3_subset_chr1.vcf.gz", "1kg_phase3_subset_1126/1KG_phase3_subset_chrX.vcf.gz",
             "1kg_nygc30x_3202_tiny/tiny1000G.vcf.gz", "hail_1kg_chr20_100/sample.vcf.gz",
             "giab_ashkenazi_trio/ashk-trio.vcf.gz"]
    return [root / p for p in picks if (root / p).is_file()]


def _phased(data: Path | None, work: Path, n: int, m: int) -> Path:
    name = f"msprime_phased_{n}x{m}.vcf.gz"
    if data is not None and (data / name).is_file():
        return data / name
    return simulate_phased_vcf(work / name, n, m)


if __name__ == "__main__":
    main()
