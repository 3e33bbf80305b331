"""Cohort selection at registry scale, and the CohortBuilder recount at demo size.

A synthetic registry of 1 M persons and >= 50 M events is written directly as event-schema Parquet with numpy
(not through ``pmo synth``): diagnoses (1.5 % of persons with a first-MI story), prescriptions, LDL lab results,
specimens, a Tissue Use Register lookup, a genome manifest and a minimal WGS QC run (decisions and kinship).
Printed: the time to write it, to load it (:func:`open_database`), the issue's example definition cold and
warm -- its attrition (``select_cohort`` without controls) and the whole selection with 4 matched controls per
case -- and, on a demo-size project (``pmo synth`` defaults), the widget recount after a toggle and after a code
change. Targets (issue 4): example definition < 1 s warm, widget recount < 250 ms.

With ``--raw DIR`` (the raw extracts of ``pmo synth --persons 1000000``), the registry import is timed as a whole
process: ``pmo import registry --raw DIR`` (wall, CPU and peak memory; target < 2 min).

Run: ``python -m benchmarks cohort`` or ``python -m benchmarks.bench_cohort [--persons N] [--events N]
[--data DIR] [--raw DIR]``. Wall times depend on the machine's load; the CPU seconds printed beside them do less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pmo_workbench.health.schema import ROW_GROUP_ROWS

EXAMPLE = {
    "name": "mi_cases",
    "entry": {"domain": "diagnosis", "codes": ["DI21*", "DI22*"], "diag_types": ["A", "B"], "occurrence": "first",
              "date_range": ["2012-01-01", "2023-12-31"]},
    "criteria": [
        {"age_at_index": [40, 85]}, {"sex": ["F", "M"]},
        {"exclude": {"domain": "diagnosis", "codes": ["DC*"], "window": [-1825, -1]}},
        {"require": {"domain": "lab", "codes": ["NPU01567"], "window": [-365, 0], "value": {"min": 3.0}}},
        {"require": {"domain": "prescription", "codes": ["C10AA*"], "window": [0, 180], "min_count": 2}},
        {"observation": {"prior_days": 365}},
    ],
    "specimens": {"types": ["EDTA-blood", "DNA"], "min_aliquots": 1, "collected": [-3650, 30]},
    "genomes": {"qc_pass": True, "unrelated": True},
    "controls": {"ratio": 4, "match": {"sex": "exact", "birth_year": 2, "region": "exact"}, "risk_set": True,
                 "seed": 1},
}
DAY0 = np.datetime64("2000-01-01", "D")
SPAN = int((np.datetime64("2025-12-31", "D") - DAY0).astype(np.int64))
CHUNK = 5_000_000
ROW_GROUP = ROW_GROUP_ROWS
"""Rows per Parquet row group: the event-table writer's (small enough for the min/max statistics to skip finely
and for 2 threads to share a 1 M-row table)."""


def _write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, row_group_size=ROW_GROUP)


def _ids(idx: np.ndarray, prefix: str, width: int = 7) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pa.array(idx).cast(pa.string()), width, "0"), "")


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array((DAY0 + days.astype("timedelta64[D]")).astype("datetime64[D]"))


def _dict(values: list[str], codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values)).cast(pa.string())


def _write_events(path: Path, n: int, codes: list[str], p: np.ndarray, make, rng: np.random.Generator,  # noqa: ANN001
                  story: dict[str, pa.Table], layout: str) -> int:
    """Write ``n`` random events plus the ``story`` rows (code -> table); returns the rows written.

    ``layout="code"``: rows grouped by code in code order, then by date (what the import should write: the row
    groups' code and date min/max then let a code filter, and the date range of a window join, skip most of the
    file); ``"random"``: codes and dates interleaved in chunks.
    """
    counts = rng.multinomial(n, p / p.sum())
    writer = None
    rows = 0

    def put(table: pa.Table) -> None:
        nonlocal writer, rows
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
        rows += table.num_rows

    if layout == "code":
        for k in sorted(range(len(codes)), key=lambda k: codes[k]):
            if codes[k] in story:
                put(story[codes[k]])
            for start in range(0, int(counts[k]), CHUNK):
                m = min(CHUNK, int(counts[k]) - start)
                table = make(_dict([codes[k]], np.zeros(m)), m, rng)
                put(table.sort_by("datetime" if "datetime" in table.column_names else "date"))
    else:
        for table in story.values():
            put(table)
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            put(make(_dict(codes, rng.choice(len(codes), m, p=p / p.sum())), m, rng))
    assert writer is not None
    writer.close()
    return rows


def write_registry(root: Path, persons: int, events: int, seed: int = 1, layout: str = "code") -> dict[str, int]:
    """Write the synthetic registry project into ``root``; returns rows per table.

    Besides random events, 1.5 % of persons get a first-MI story: an MI (``DI219``, A-diagnosis) in 2012-2023, an
    LDL (``NPU01567``) up to 300 days before, 2-3 statin prescriptions (``C10AA05``) within 180 days after, an
    EDTA-blood specimen before the MI and a genome (the WGS programme is enriched for them), so the example
    definition ends with thousands of cases to match controls to. ``layout``: see :func:`_write_events`.
    """
    rng = np.random.default_rng(seed)
    reg, bio, con, gen = (root / "data" / d for d in ("registry", "biobank", "consent", "genotypes"))
    for d in (reg, bio, con, gen):
        d.mkdir(parents=True, exist_ok=True)
    pid = np.arange(persons)
    birth = rng.integers(-80 * 365, -20 * 365, persons)
    _write_table(pa.table({
        "person_id": _ids(pid, "P"), "sex": _dict(["F", "M"], rng.integers(0, 2, persons)),
        "birth_date": _dates(birth), "death_date": pa.nulls(persons, pa.date32()),
        "region": _dict(["Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland"],
                        rng.integers(0, 5, persons))}), reg / "person.parquet")
    start = rng.integers(0, 3 * 365, persons)
    _write_table(pa.table({"person_id": _ids(pid, "P"), "start_date": _dates(start),
                             "end_date": _dates(np.full(persons, SPAN))}), reg / "observation_period.parquet")
    n_diag, n_rx = int(events * 0.4), int(events * 0.3)
    n_lab = events - n_diag - n_rx
    sks = ["DI219", "DI210", "DI229", "DC509", "DC349", "DE119", "DI109", "DJ449", "DN189", "DZ000", "DR074",
           "DS720", "DM545", "DK359", "DJ189"]
    sks_p = np.array([0.002, 0.001, 0.0005, 0.01, 0.01, 0.06, 0.08, 0.03, 0.01, 0.3, 0.2, 0.05, 0.1, 0.05, 0.0965])
    n_mi = int(persons * 0.015)
    mi_person = rng.choice(persons, n_mi, replace=False)
    mi_day = rng.integers(int((np.datetime64("2012-01-01") - DAY0).astype(int)),
                          int((np.datetime64("2023-12-31") - DAY0).astype(int)), n_mi)

    def diag(code: pa.Array, n: int, r: np.random.Generator, who: np.ndarray | None = None,
             day: np.ndarray | None = None, dtype: np.ndarray | None = None) -> pa.Table:
        return pa.table({
            "person_id": _ids(r.integers(0, persons, n) if who is None else who, "P"),
            "contact_id": _ids(r.integers(0, 10**9, n), "C", 9),
            "date": _dates(r.integers(0, SPAN, n) if day is None else day), "code": code,
            "vocabulary": _dict(["SKS"], np.zeros(n)),
            "diag_type": _dict(["A", "B", "G"], r.choice(3, n, p=[.6, .3, .1]) if dtype is None else dtype),
            "source": _dict(["LPR2", "LPR3"], r.integers(0, 2, n))})

    atc = ["C10AA01", "C10AA05", "C10AA07", "C07AB02", "C09AA05", "A10BA02", "N02BE01", "J01CA04", "R03AC02"]

    def rx(code: pa.Array, n: int, r: np.random.Generator, who: np.ndarray | None = None,
           day: np.ndarray | None = None) -> pa.Table:
        return pa.table({"person_id": _ids(r.integers(0, persons, n) if who is None else who, "P"),
                         "date": _dates(r.integers(0, SPAN, n) if day is None else day), "code": code,
                         "vocabulary": _dict(["ATC"], np.zeros(n)), "source": _dict(["LMDB"], np.zeros(n))})

    npu = ["NPU01567", "NPU18016", "NPU02319", "NPU19748", "NPU27300"]

    def lab(code: pa.Array, n: int, r: np.random.Generator, who: np.ndarray | None = None,
            day: np.ndarray | None = None, mean: float = 3.0) -> pa.Table:
        days = r.integers(0, SPAN, n) if day is None else day
        ts = (DAY0 + days.astype("timedelta64[D]")).astype("datetime64[s]")
        return pa.table({"person_id": _ids(r.integers(0, persons, n) if who is None else who, "P"),
                         "datetime": pa.array(ts), "code": code, "vocabulary": _dict(["NPU"], np.zeros(n)),
                         "value": pa.array(np.round(r.normal(mean, 0.9, n), 1))})

    n_statin = rng.integers(2, 4, n_mi)
    statin_who = np.repeat(mi_person, n_statin)
    statin_day = np.repeat(mi_day, n_statin) + rng.integers(0, 181, len(statin_who))
    stories = {
        "diagnosis": {"DI219": diag(_dict(["DI219"], np.zeros(n_mi)), n_mi, rng, mi_person, mi_day,
                                    np.zeros(n_mi))},
        "prescription": {"C10AA05": rx(_dict(["C10AA05"], np.zeros(len(statin_who))), len(statin_who), rng,
                                       statin_who, statin_day)},
        "lab": {"NPU01567": lab(_dict(["NPU01567"], np.zeros(n_mi)), n_mi, rng, mi_person,
                                mi_day - rng.integers(0, 301, n_mi), mean=3.8)}}
    n_diag = _write_events(reg / "diagnosis.parquet", n_diag, sks, sks_p, diag, rng, stories["diagnosis"], layout)
    n_rx = _write_events(reg / "prescription.parquet", n_rx, atc, np.ones(len(atc)), rx, rng,
                         stories["prescription"], layout)
    n_lab = _write_events(reg / "lab.parquet", n_lab, npu, np.ones(len(npu)), lab, rng, stories["lab"], layout)
    n_spec = persons
    owners = np.concatenate([rng.integers(0, persons, n_spec - n_mi), mi_person])
    spec_type = np.concatenate([rng.integers(0, 4, n_spec - n_mi), np.zeros(n_mi, dtype=np.int64)])
    spec_day = np.concatenate([rng.integers(0, SPAN, n_spec - n_mi), mi_day - rng.integers(0, 3000, n_mi)])
    _write_table(pa.table({
        "specimen_id": _ids(np.arange(n_spec), "SP", 8), "person_id": _ids(owners, "P"),
        "biobank": _dict(["Regional Biobank", "Danish National Biobank"], rng.integers(0, 2, n_spec)),
        "specimen_type": _dict(["EDTA-blood", "plasma", "serum", "DNA"], spec_type),
        "collected_date": _dates(spec_day), "aliquots_left": pa.array(rng.integers(0, 6, n_spec)),
        "status": _dict(["available"], np.zeros(n_spec))}), bio / "specimen.parquet")
    _write_table(pa.table({"person_id": _ids(pid, "P"), "opt_out": pa.array(rng.random(persons) < 0.03),
                             "lookup_date": _dates(np.full(persons, SPAN))}), con / "tissue_use_register.parquet")
    n_genomes = min(persons, 50_000)
    others = np.setdiff1d(pid, mi_person)
    genome_person = np.concatenate([mi_person, rng.choice(others, max(0, n_genomes - n_mi), replace=False)])[:n_genomes]
    samples = [f"S{i:06d}" for i in range(n_genomes)]
    pd.DataFrame({"sample_id": samples, "person_id": [f"P{p:07d}" for p in genome_person]}).to_csv(
        gen / "manifest.tsv", sep="\t", index=False)
    run = root / "runs" / "wgs_qc" / "20260101T000000Z"
    run.mkdir(parents=True)
    pd.DataFrame({"sample_id": samples, "pass": rng.random(n_genomes) > 0.03}).to_parquet(run / "qc_decisions.parquet")
    pairs = rng.choice(n_genomes, (n_genomes // 50, 2), replace=False)
    pd.DataFrame({"sample_i": [samples[a] for a in pairs[:, 0]], "sample_j": [samples[b] for b in pairs[:, 1]],
                  "relationship": "first"}).to_parquet(run / "kinship.parquet")
    (root / "pmo.yaml").write_text("name: bench_registry\nsources:\n  manifest: data/genotypes/manifest.tsv\n"
                                   "privacy:\n  synthetic: true\n", encoding="utf-8")
    return {"person": persons, "diagnosis": n_diag, "prescription": n_rx, "lab": n_lab, "specimen": n_spec}


def _timed(func, repeat: int = 1):  # noqa: ANN001, ANN202
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t)
    return out, times


def bench_registry(persons: int, events: int, data: Path | None = None, layout: str = "code") -> None:
    """Time the example definition; with ``data``, reuse the registry written there (write it if missing)."""
    if data is not None:
        _bench_registry_in(data, persons, events, layout)
        return
    with tempfile.TemporaryDirectory() as tmp:
        _bench_registry_in(Path(tmp) / "registry", persons, events, layout)


def _bench_registry_in(root: Path, persons: int, events: int, layout: str) -> None:
    from pmo_workbench.cohort import parse_definition, select_cohort
    from pmo_workbench.health.database import open_database

    defn = parse_definition(EXAMPLE)
    cases_only = defn.model_copy(update={"controls": None})
    if (root / "pmo.yaml").exists():
        print(f"reusing the registry in {root}", flush=True)
    else:
        counts, (t_write,) = _timed(lambda: write_registry(root, persons, events, layout=layout))
        print(f"wrote {counts['person']:,} persons, {sum(v for k, v in counts.items() if k != 'person'):,} events "
              f"in {t_write:.1f} s", flush=True)
    db, (t_load,) = _timed(lambda: open_database(root))
    print(f"open_database (load + checks): {t_load:.1f} s", flush=True)
    cpu = time.process_time()
    r, times = _timed(lambda: select_cohort(root, cases_only, db=db), repeat=6)
    cpu = (time.process_time() - cpu) / len(times)
    print(f"example definition, attrition (no controls): cold {times[0]:.2f} s, warm median "
          f"{statistics.median(times[1:]):.2f} s (min {min(times[1:]):.2f} s; {cpu:.2f} CPU s per run) -> "
          f"{r.attrition['n_persons'].tolist()}", flush=True)
    r, times = _timed(lambda: select_cohort(root, defn, db=db), repeat=2)
    print(f"example definition with 4 matched controls: {times[0]:.2f} s, {times[1]:.2f} s "
          f"-> {r.summary()['n_cases']} cases, {r.summary()['n_controls']} controls", flush=True)
    db.close()


def bench_import(raw: Path) -> None:
    """Time ``pmo import registry`` on the raw extracts in ``raw`` as a subprocess (into a temporary project)."""
    import resource
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pmo_workbench.cli", "import", "registry", "--raw", str(raw),
                        "--out", str(Path(tmp) / "imported"), "--lookup-date", "2026-01-15"], check=True,
                       env={**os.environ, "PMO_PSEUDONYM_KEY": "benchmark-key-of-enough-length"})
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(f"pmo import registry ({raw}): {wall:.1f} s wall, {cpu:.1f} CPU s, peak {after.ru_maxrss / 1024**2:.1f} GB "
              f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)", flush=True)


def bench_widget(project: Path | None) -> None:
    from pmo_widgets import CohortBuilder
    from pmo_workbench.synth.project import synthesize_project

    with tempfile.TemporaryDirectory() as tmp:
        if project is None:
            project = Path(tmp) / "demo"
            synthesize_project(project, persons=5000, samples=500, variants=2000, seed=1)
        w = CohortBuilder(project, "statin_users")
        toggles = []
        for rule in [r["name"] for r in w.rules if not r["locked"]]:
            for enabled in (False, True):
                w.set_enabled(rule, enabled)
                toggles.append(w.elapsed_ms)
        edits = []
        for _ in range(3):
            w.add_code("DI20-DI25", target="no_prior_mi")
            edits.append(w.elapsed_ms)
            w.remove_code("DI20-DI25", target="no_prior_mi")
            edits.append(w.elapsed_ms)
        print(f"widget recount at demo size ({project.name}): toggle median {statistics.median(toggles):.0f} ms, "
              f"max {max(toggles):.0f} ms (n={len(toggles)}); code change median {statistics.median(edits):.0f} ms, "
              f"max {max(edits):.0f} ms (n={len(edits)})", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--demo", type=Path, default=None, help="an existing demo project for the widget timing")
    parser.add_argument("--skip-registry", action="store_true")
    parser.add_argument("--skip-widget", action="store_true")
    parser.add_argument("--data", type=Path, default=None,
                        help="a folder for the registry: written there if it has no pmo.yaml, else reused")
    parser.add_argument("--raw", type=Path, default=None,
                        help="raw registry extracts (pmo synth's raw/ folder): time `pmo import registry` on them")
    parser.add_argument("--layout", choices=["code", "random"], default="code",
                        help="event rows grouped by code (default) or interleaved")
    opts = parser.parse_args(argv)
    if not opts.skip_widget:
        bench_widget(opts.demo)
    if not opts.skip_registry:
        bench_registry(opts.persons, opts.events, opts.data, opts.layout)
    if opts.raw is not None:
        bench_import(opts.raw)


if __name__ == "__main__":
    main(sys.argv[1:])
