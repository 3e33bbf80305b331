"""Run the benchmarks: ``python -m benchmarks [NAME ...] [OPTIONS]`` (default: all ``bench_*.py`` in this folder;
the options, e.g. ``--quick``, go to each benchmark named).

Example: ``.venv/bin/python -m benchmarks import --quick``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    known = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    split = next((k for k, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or known, argv[split:]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"no benchmark {', '.join(unknown)}: choose from {', '.join(known)}")
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"\n=== {name} ===", flush=True)
        module.main(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
