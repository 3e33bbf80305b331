"""Wall time and peak memory of ``pmo synth`` per size (whole process, measured from outside).

Run: ``python -m benchmarks synth`` or ``python -m benchmarks.bench_synth [--sizes demo,large,registry]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {
    "demo": ["--persons", "5000", "--samples", "500", "--variants", "20000"],
    "large": ["--persons", "20000", "--samples", "2500", "--variants", "200000"],
    "registry": ["--persons", "1000000", "--samples", "500", "--variants", "20000"],
}


def time_synth(args: list[str], out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GB) of one ``pmo synth`` subprocess."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pmo_workbench.cli", "synth", "--out", str(out), "--quiet", *args],
                   check=True)
    seconds = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024**2


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="demo,large,registry")
    opts = parser.parse_args(argv)
    print(f"{'size':<10}{'seconds':>10}{'peak GB':>10}  arguments")
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.sizes.split(","):
            seconds, peak = time_synth(SIZES[name], Path(tmp) / name)
            print(f"{name:<10}{seconds:>10.1f}{peak:>10.2f}  {' '.join(SIZES[name])}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
