"""Registry import in bounded memory (issue 16 item 5): ``pmo import registry`` timed as a whole process at
1 M and 3 M persons, with its peak memory (the child's own maximum resident set, from ``wait4``).

The raw extracts (CPR register, moves, LPR2 with the ICD-8 history, LPR3, LMDB, labka -- about 3.7 GB of CSV
per million persons) are written once by the synthetic generator (:func:`pmo_workbench.synth.registry.
simulate_registry`, registry only, no genomes) into ``--data DIR/raw_<N>`` and reused on later runs; above 1 M
persons the generator would need ~12 GB per million, so ``raw_<k million>`` is ``k`` copies of ``raw_1000000``,
each person with a new CPR number from the synthesiser's generator (:func:`copy_raw`). Printed per
size: wall and CPU seconds, seconds per million persons, peak memory, the rows written and the machine's load
average before and after (the machine is shared: wall times on a loaded machine are upper bounds; CPU seconds
and peak memory depend little on the load). Targets: peak <= 4 GB at 1 M and 3 M persons, <= 2 min per million
persons on 2 cores, time linear in the persons.

Run: ``python -m benchmarks registry_import [--persons 1000000,3000000] [--data DIR] [--profile] [--reference]``
(``--profile``: wall and CPU seconds per import step and per table written);
``--reference`` also times the pre-bounded importer of commit cda5b0d (checked out into a temporary worktree)
on the same extract for comparison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_COMMIT = "cda5b0d"


SIMULATED_MAX = 1_000_000
"""Larger extracts are copies of one of this size (the simulator holds a whole registry in memory: ~12 GB per
million persons)."""


def write_raw(raw: Path, persons: int, seed: int = 1) -> None:
    """The raw extracts of ``persons`` synthetic persons (registry only) into ``raw`` (skipped if present); above
    :data:`SIMULATED_MAX` persons, copies of the extract of that size (:func:`copy_raw`)."""
    import pandas as pd

    from pmo_workbench.privacy import DEMO_KEY
    from pmo_workbench.synth.persons import simulate_persons
    from pmo_workbench.synth.registry import simulate_registry

    if (raw / "labka.csv").exists():
        print(f"reusing the raw extracts in {raw}", flush=True)
        return
    if persons > SIMULATED_MAX:
        if persons % SIMULATED_MAX:
            raise SystemExit(f"above {SIMULATED_MAX:,} persons, a multiple of it")
        base = raw.parent / f"raw_{SIMULATED_MAX}"
        base.mkdir(parents=True, exist_ok=True)
        write_raw(base, SIMULATED_MAX, seed)
        copy_raw(base, raw, persons // SIMULATED_MAX, seed)
        return
    t = time.perf_counter()
    ind = pd.DataFrame(columns=["individual", "population", "sex", "family_id", "father", "mother", "role"])
    people = simulate_persons(persons, ind, seed, key=DEMO_KEY)
    with tempfile.TemporaryDirectory(dir=raw.parent) as tmp:
        sim = simulate_registry(people, pd.DataFrame(columns=["individual", "mi_score", "ldl_score"]), seed,
                                out_dir=Path(tmp) / "registry", raw_dir=raw)
    size = sum(p.stat().st_size for p in raw.glob("*.csv")) / 1e9
    print(f"wrote raw extracts of {persons:,} persons ({size:.1f} GB of CSV, {sim.counts['diagnosis']:,} "
          f"diagnoses, {sim.counts['prescription']:,} prescriptions, {sim.counts['lab']:,} lab results) in "
          f"{time.perf_counter() - t:.0f} s", flush=True)


def copy_raw(src: Path, raw: Path, copies: int, seed: int = 1) -> None:
    """``copies`` copies of the extract in ``src`` as one extract in ``raw``: every copy of a person gets a new
    CPR number from the synthesiser's generator (:func:`pmo_workbench.synth.cpr.generate_cprs`: the same birth
    date, sex and kind -- valid, non-modulus-11 or replacement --, unique over all copies), the same events, and
    LPR contact ids shifted per copy (``recnum`` by 10^8, ``dw_ek_kontakt`` by 10^11: never 10 digits long)."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    from pmo_workbench.synth.cpr import generate_cprs

    t = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=raw.parent) as tmp:
        con = duckdb.connect()
        con.execute(f"SET threads TO 2; SET memory_limit = '3GB'; SET temp_directory = '{tmp}'")

        def source(file: str) -> str:
            header = (src / file).open(encoding="utf-8-sig").readline().strip().split(",")
            cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
            return (f"read_csv('{src / file}', header = true, auto_detect = false, delim = ',', quote = '\"', "
                    f"escape = '\"', columns = {cols})")

        reg = con.sql(f"SELECT replace(pnr, '-', '') AS k, koen, foed_dag FROM {source('cpr_register.csv')}"
                      ).to_arrow_table()
        keys = np.asarray(reg["k"].to_pylist())
        digits = np.array([[int(c) for c in k] for k in keys])
        mod11 = (digits * np.array([4, 3, 2, 7, 6, 5, 4, 3, 2, 1])).sum(axis=1) % 11 == 0
        kinds = np.where(digits[:, 0] * 10 + digits[:, 1] > 60, "replacement", np.where(mod11, "valid", "nonmod11"))
        sex = np.where(np.asarray(reg["koen"].to_pylist()) == "K", "F", "M")
        birth = np.asarray(reg["foed_dag"].to_pylist(), dtype="datetime64[D]")
        new = generate_cprs(np.tile(birth, copies), np.tile(sex, copies), np.tile(kinds, copies),
                            np.random.default_rng(seed))
        con.register("_m", pa.table({"copy": np.repeat(np.arange(copies), len(keys)), "old": np.tile(keys, copies),
                                     "new": new}))
        con.execute("CREATE TABLE m AS SELECT * FROM _m")
        raw.mkdir(parents=True, exist_ok=True)

        def shift(col: str, by: int) -> str:
            return f"CAST(CAST(s.{col} AS BIGINT) + {by} AS VARCHAR) AS {col}"

        def person(file: str, col: str, k: int, *extra: str) -> str:
            return (f"SELECT s.* REPLACE (m.new AS {col}{''.join(', ' + e for e in extra)}) FROM {source(file)} s "
                    f"JOIN m ON m.copy = {k} AND m.old = replace(s.{col}, '-', '')")

        tables = {f: lambda k, f=f: person(f, "pnr", k)
                  for f in ("cpr_register.csv", "cpr_vandringer.csv", "lmdb.csv", "labka.csv")}
        tables["lpr_adm.csv"] = lambda k: person("lpr_adm.csv", "pnr", k, shift("recnum", k * 10**8))
        tables["lpr_diag.csv"] = lambda k: (f"SELECT s.* REPLACE ({shift('recnum', k * 10**8)}) "
                                            f"FROM {source('lpr_diag.csv')} s")
        tables["lpr3_kontakter.csv"] = lambda k: person("lpr3_kontakter.csv", "cpr", k,
                                                        shift("dw_ek_kontakt", k * 10**11))
        tables["lpr3_diagnoser.csv"] = lambda k: (f"SELECT s.* REPLACE ({shift('dw_ek_kontakt', k * 10**11)}) "
                                                  f"FROM {source('lpr3_diagnoser.csv')} s")
        for file, rows in tables.items():
            union = " UNION ALL ".join(f"SELECT * FROM ({rows(k)})" for k in range(copies))
            con.execute(f"COPY ({union}) TO '{raw / file}' (FORMAT csv, HEADER true, DELIMITER ',')")
        con.close()
    size = sum(p.stat().st_size for p in raw.glob("*.csv")) / 1e9
    print(f"wrote {copies} copies of the extract in {src} ({size:.1f} GB of CSV) in {time.perf_counter() - t:.0f} s",
          flush=True)


def time_import(raw: Path, persons: int, python: str = sys.executable, cwd: Path = REPO, label: str = "bounded",
                profile: bool = False) -> dict[str, float]:
    """Run ``pmo import registry`` on ``raw`` as a child process; wall, CPU and peak memory of that child (with
    ``profile``, the same import through :func:`profile_child`, which prints its time per step and table)."""
    with tempfile.TemporaryDirectory(dir=raw.parent) as tmp:
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        command = ["-m", "pmo_workbench.cli", "import", "registry", "--raw", str(raw), "--out",
                   str(Path(tmp) / "imported"), "--lookup-date", "2026-01-15"]
        if profile:
            command = ["-m", "benchmarks.bench_registry_import", "--profile-child", str(raw), str(Path(tmp) / "imported")]
        proc = subprocess.Popen(
            [python, *command], cwd=cwd, stdout=subprocess.PIPE,
            env={**os.environ, "PMO_PSEUDONYM_KEY": "benchmark-key-of-enough-length", "TMPDIR": tmp,
                 "PYTHONPATH": str(cwd)})
        out = proc.stdout.read().decode() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        if profile:
            print(out, end="", flush=True)
        wall = time.perf_counter() - t
        if status != 0:
            raise SystemExit(f"import failed ({label}): {out[-2000:]}")
        res = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_gb": usage.ru_maxrss / 1024**2,
               "load0": load0, "load1": os.getloadavg()[0]}
        if profile:     # the profile resets the kernel's peak per step: its own maximum over the steps counts
            res["peak_gb"] = max(float(ln.split()[-2]) for ln in out.splitlines() if ln.startswith(PEAK_LINE))
    rows = " ".join(ln.split()[0] + "=" + ln.split()[-1] for ln in out.splitlines()
                    if ln.split() and ln.split()[0] in ("person", "diagnosis", "prescription", "lab"))
    print(f"{label:>9} import, {persons:>9,} persons: {res['wall']:7.1f} s wall ({res['wall'] / persons * 1e6:6.1f} "
          f"s per million), {res['cpu']:7.1f} CPU s, peak {res['peak_gb']:.2f} GB; {rows} "
          f"(load average {res['load0']:.1f} before, {res['load1']:.1f} after, 2 cores)", flush=True)
    return res


PEAK_LINE = "peak resident set of the whole import"

PROFILED_STEPS = ("_load", "_check", "_check_unique", "_pseudonymise", "_scan_text", "_plausible", "_duplicates",
                  "_code_changes")


def profile_child(raw: Path, out: Path) -> None:
    """In this process: the import of ``raw`` into ``out`` with wall and CPU seconds (every thread, DuckDB's
    included) per step of :class:`~pmo_workbench.health.registry.RegistryImport` and per table written, printed
    summed per (step, file) and per table (``--profile``)."""
    import functools
    from collections import defaultdict
    from datetime import date

    from pmo_workbench.health import registry, schema
    from pmo_workbench.privacy import DEMO_KEY

    spent: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    depth = [0]

    def timed(fn, label):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            w, c = time.perf_counter(), time.process_time()
            depth[0] += 1
            if depth[0] == 1:
                reset_peak_rss()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:     # a step called by another step counts in the caller's time only
                    key = label(args)
                    spent[key][0] += time.perf_counter() - w
                    spent[key][1] += time.process_time() - c
                    spent[key][2] = max(spent[key][2], peak_rss_gb())
                    con = getattr(args[0], "con", None)
                    if con is not None:
                        spent[key][3] = max(spent[key][3], spilled_gb(con))
        return wrapper

    for step in PROFILED_STEPS:
        setattr(registry.RegistryImport, step, timed(getattr(registry.RegistryImport, step),
                                                     lambda a, s=step: (s, a[2])))
    schema._write_relation = timed(schema._write_relation, lambda a: ("write", a[1]))
    w0, c0 = time.perf_counter(), time.process_time()
    counts = registry.import_registry(raw, out, key=DEMO_KEY, lookup_date=date(2026, 1, 15))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"{'step':<15} {'file or table':<24} {'wall s':>8} {'CPU s':>8} {'peak GB':>8} {'spill GB':>8}")
    for (step, what), (w, c, rss, spill) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
        print(f"{step:<15} {what:<24} {w:8.1f} {c:8.1f} {rss:8.2f} {spill:8.2f}")
    rest_w, rest_c = wall - sum(v[0] for v in spent.values()), cpu - sum(v[1] for v in spent.values())
    print(f"{'other':<15} {'(joins, SQL of build)':<24} {rest_w:8.1f} {rest_c:8.1f}")
    print(f"{PEAK_LINE} {peak_gb_since_start():.2f} GB")
    print(f"{'total':<15} {'':<24} {wall:8.1f} {cpu:8.1f}")
    for name, n in counts.items():
        print(f"{name} rows {n}", flush=True)


_PEAK_BEFORE_RESETS = [0.0]


def reset_peak_rss() -> None:
    """Reset this process's peak resident set (``VmHWM``), so the next :func:`peak_rss_gb` is one step's peak
    (the peak before is kept for :func:`peak_gb_since_start`)."""
    _PEAK_BEFORE_RESETS[0] = max(_PEAK_BEFORE_RESETS[0], peak_rss_gb())
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_gb() -> float:
    """This process's peak resident set since the last :func:`reset_peak_rss` (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def peak_gb_since_start() -> float:
    """The peak resident set of this process, over the resets of :func:`reset_peak_rss`."""
    return max(_PEAK_BEFORE_RESETS[0], peak_rss_gb())


def spilled_gb(con) -> float:
    """What DuckDB has in its temporary files now."""
    size = con.execute("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchall()[0][0]
    return size / 1e9


def reference_checkout(tmp: Path) -> tuple[str, Path]:
    """A worktree of the reference commit, run with this environment's Python (PYTHONPATH set by cwd)."""
    tree = tmp / "reference"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), REFERENCE_COMMIT],
                   check=True, capture_output=True)
    return sys.executable, tree


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", default="1000000,3000000", help="comma-separated sizes")
    parser.add_argument("--data", type=Path, default=None, help="folder for the raw extracts (kept and reused)")
    parser.add_argument("--reference", action="store_true", help="also time the importer of commit cda5b0d")
    parser.add_argument("--quick", action="store_true", help="20,000 persons only (a smoke run)")
    parser.add_argument("--profile", action="store_true",
                        help="print wall and CPU seconds per step and table of the timed import")
    parser.add_argument("--profile-child", nargs=2, type=Path, metavar=("RAW", "OUT"), help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.profile_child:
        profile_child(*opts.profile_child)
        return
    sizes = [20_000] if opts.quick else [int(x) for x in opts.persons.split(",")]
    data = opts.data or Path(tempfile.mkdtemp(prefix="pmo-bench-registry-"))
    results = {}
    for n in sizes:
        raw = data / f"raw_{n}"
        raw.mkdir(parents=True, exist_ok=True)
        write_raw(raw, n)
        results[n] = time_import(raw, n, profile=opts.profile)
        if opts.reference:
            with tempfile.TemporaryDirectory() as tmp:
                python, tree = reference_checkout(Path(tmp))
                try:
                    time_import(raw, n, python=python, cwd=tree, label="reference")
                finally:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                                   check=False, capture_output=True)
    if len(results) > 1:
        (a, ra), (b, rb) = sorted(results.items())[0], sorted(results.items())[-1]
        print(f"scaling {a:,} -> {b:,} persons ({b / a:.1f}x): CPU x{rb['cpu'] / ra['cpu']:.2f}, wall "
              f"x{rb['wall'] / ra['wall']:.2f}, peak memory x{rb['peak_gb'] / ra['peak_gb']:.2f}", flush=True)
    ok = all(r["peak_gb"] <= 4.0 for r in results.values())
    print(f"peak memory <= 4 GB at every size: {'yes' if ok else 'NO'}", flush=True)
    fast = all(r["wall"] / n * 1e6 <= 120 for n, r in results.items())
    print(f"wall <= 2 min per million persons at every size: {'yes' if fast else 'NO'} (wall is an upper bound "
          "on a loaded machine: see the load averages)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
