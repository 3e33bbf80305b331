"""Speed of the privacy core at registry scale: CPR generation, pseudonyms, suppression and the output scan.

The unit tests check these functions' results at the same sizes; their speed is measured here, where a loaded CI
machine cannot make a correct function fail. Targets (2 cores, quiet machine) are printed beside each time.

Run: ``python -m benchmarks privacy``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pmo_workbench.privacy import pseudonymise, scan_for_cpr, suppress_small_counts
from pmo_workbench.synth.cpr import generate_cprs

KEY = b"benchmark-key-of-sufficient-length-0123456789"


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    """Best-of-three wall and CPU seconds of ``fn()``."""
    wall, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main(argv: list[str]) -> None:
    rng = np.random.default_rng(11)
    n = 1_000_000
    births = (np.datetime64("1900-01-01") + rng.integers(0, 45000, n)).astype("datetime64[D]")
    sexes = rng.choice(np.array(["F", "M"]), n)
    kinds = rng.choice(np.array(["valid", "nonmod11", "replacement"]), n, p=[0.94, 0.05, 0.01])
    values = pd.Series([f"{i:010d}" for i in range(300_000)])
    table = pd.DataFrame(np.random.default_rng(5).choice([0, 1, 2, 3, 8, 20, 50, 300], size=(60, 15)))
    with tempfile.TemporaryDirectory() as tmp:
        m = 100_000
        r = np.random.default_rng(0)
        df = pd.DataFrame({"person_id": [f"P{x:016x}" for x in r.integers(0, 2**62, m)],
                           "value": r.random(m), "count": r.integers(0, 10**6, m),
                           "code": r.choice(["DI219", "C10AA01", "NPU01566"], m)})
        df.to_parquet(Path(tmp) / "a.parquet")
        df.to_csv(Path(tmp) / "a.csv", index=False)
        cases = [
            ("generate_cprs, 1 M persons", lambda: generate_cprs(births, sexes, kinds, np.random.default_rng(12)), 10),
            ("pseudonymise, 300k values", lambda: pseudonymise(values, KEY), 5),
            ("suppress_small_counts, 60 x 15", lambda: suppress_small_counts(table), 10),
            ("scan_for_cpr, 100k rows parquet + csv", lambda: scan_for_cpr(Path(tmp)), 5),
        ]
        print(f"{'case':<42}{'wall s':>9}{'CPU s':>9}{'target s':>10}")
        for name, fn, target in cases:
            wall, cpu = _time(fn)
            print(f"{name:<42}{wall:>9.2f}{cpu:>9.2f}{target:>10}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
