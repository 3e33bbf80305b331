"""Fixtures for oracle tests: shared data, a session genotype cache, and plink2/bcftools runners."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def genotype_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One genotype store cache for the whole session."""
    return tmp_path_factory.mktemp("genotype-cache")


@pytest.fixture(scope="session")
def oracle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scratch folder for plink2/bcftools outputs."""
    return tmp_path_factory.mktemp("oracle")


def require_tool(name: str) -> str:
    """Path of a command-line tool, or skip the test."""
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed")
    return exe


def run(cmd: list[str]) -> str:
    """Run a command, failing the test with its stderr when it fails; return stdout."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}\n{proc.stdout[-2000:]}")
    return proc.stdout


def bcftools_subset(src: Path, out: Path, *args: str) -> Path:
    """``bcftools view <args> src`` written as BGZF VCF to ``out`` (e.g. biallelic SNPs: -m2 -M2 -v snps)."""
    if not out.exists():
        run([require_tool("bcftools"), "view", *args, str(src), "-Oz", "-o", str(out)])
    return out


def plink2(args: list[str], out: Path) -> Path:
    """Run plink2 with one thread and ``--out out``; return ``out``."""
    run([require_tool("plink2"), *args, "--threads", "1", "--out", str(out)])
    return out


def read_plink_table(path: Path) -> pd.DataFrame:
    """Read a plink2 report (``#``-prefixed header line)."""
    df = pd.read_csv(path, sep="\t")
    df.columns = [c.lstrip("#") for c in df.columns]
    return df


@pytest.fixture(scope="session")
def tools() -> SimpleNamespace:
    """The helpers above as a fixture (test modules cannot import conftest by name)."""
    return SimpleNamespace(bcftools_subset=bcftools_subset, plink2=plink2, read_plink_table=read_plink_table,
                           require_tool=require_tool, run=run)
