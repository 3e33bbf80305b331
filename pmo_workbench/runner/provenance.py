"""Provenance of a run for ``run.json``: input files with checksums, output files, package and Java versions,
the workbench's git commit, the host.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"abc")
>>> compute_sha256(p)[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from pmo_workbench.catalogue import RUN_FILE
from pmo_workbench.project import PROJECT_FILE, Project

PACKAGES = ("pmo-workbench", "numpy", "pandas", "pyarrow", "duckdb", "papermill", "nbconvert", "ipykernel",
            "scikit-allel", "hail", "pyspark")
"""Distributions whose versions every run records."""


def compute_sha256(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (big genotype files never sit in memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"")
    >>> compute_sha256(p)[:8]
    'e3b0c442'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def collect_inputs(proj: Project, params_file: Path | None) -> list[dict[str, Any]]:
    """``pmo.yaml``, the parameters file, every file of the project's sources and the cohort store's
    ``store.json`` (when ``pmo ingest`` made one), with size and SHA-256."""
    files: list[tuple[str, Path]] = [("pmo.yaml", proj.root / PROJECT_FILE)]
    if params_file is not None:
        files.append(("params_file", Path(params_file)))
    for name in ("genotypes", "manifest", "pedigree", "registry", "biobank", "consent"):
        p = proj.source(name)
        if p is None:
            continue
        if p.is_dir():
            files.extend((name, f) for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            files.append((name, p))
        else:  # a PLINK prefix
            files.extend((name, p.with_suffix(s)) for s in (".bed", ".bim", ".fam") if p.with_suffix(s).is_file())
    from pmo_workbench.genotypes.gvcf_store import MANIFEST, find_cohort_store

    store = find_cohort_store(proj.root)  # `pmo ingest`'s store: WGS QC's default input (its generation)
    if store is not None:
        files.append(("cohort_store", store / MANIFEST))
    out = []
    for source, f in files:
        f = f.resolve()
        rel = f.relative_to(proj.root).as_posix() if f.is_relative_to(proj.root) else str(f)
        out.append({"source": source, "path": rel, "size": f.stat().st_size, "sha256": compute_sha256(f)})
    return out


def collect_outputs(run_dir: Path) -> list[dict[str, Any]]:
    """Every file of the run folder but ``run.json``, with size and SHA-256."""
    out = []
    for f in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(run_dir).as_posix()
        if rel == RUN_FILE:
            continue
        out.append({"path": rel, "size": f.stat().st_size, "sha256": compute_sha256(f)})
    return out


def collect_versions() -> dict[str, str | None]:
    """Python, :data:`PACKAGES` and Java versions (``None`` when absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["java"] = java_version()
    return versions


@functools.cache
def java_version() -> str | None:
    """First line of ``java -version``, or ``None`` without Java."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (res.stderr or res.stdout).strip().splitlines()
    return lines[0] if lines else None


def collect_git(root: Path) -> dict[str, Any] | None:
    """The workbench's commit and whether tracked files differ from it (``None`` outside a git checkout)."""
    if not (root / ".git").exists():
        return None
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # read-only: never refresh the index
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=20, env=env)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def collect_host() -> dict[str, Any]:
    """Host name, platform and CPU count."""
    return {"name": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count()}
