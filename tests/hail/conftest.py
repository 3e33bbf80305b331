"""Fixtures for the Hail backend tests: one Hail session per test run, shared data, a session cache.

Every test under tests/hail is marked ``hail`` (needs Hail and Java); the whole folder is skipped when
either is missing. Hail can be initialised only once per process, so the local session is session-scoped
and the Spark-cluster test runs its Hail in a subprocess.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def hail_session(tmp_path_factory: pytest.TempPathFactory):
    """Hail in local mode on two cores, its temporary files and log in a pytest temp folder."""
    pytest.importorskip("hail")
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    from pmo_workbench.genotypes.hail_backend import init_hail

    return init_hail("local[2]", tmp_path_factory.mktemp("hail-tmp"))


@pytest.fixture(scope="session")
def hail_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MatrixTable cache shared by the Hail tests."""
    return tmp_path_factory.mktemp("hail-cache")


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Embedded store cache for the parity comparisons."""
    return tmp_path_factory.mktemp("embedded-cache")


@pytest.fixture(scope="session")
def opened(hail_session, shared: Path, hail_cache: Path, embedded_cache: Path):
    """(hail, embedded) genotype handles per data set, opened once per session."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            from pmo_workbench.genotypes import open_genotypes
            from pmo_workbench.genotypes.hail_backend import open_hail_genotypes

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fields = ("DP", "GQ", "AD")  # both keep every FORMAT field, so dp_mean/gq_mean are compared too
                cache[name] = (open_hail_genotypes(shared / name, hail_cache, format_fields=fields),
                               open_genotypes(shared / name, cache_dir=embedded_cache, format_fields=fields))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def hail_tables(opened):
    """Hail's (sample_qc, variant_qc) per data set, computed once per session."""
    cache: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def get(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        if name not in cache:
            from pmo_workbench.qc.sample_qc import sample_qc
            from pmo_workbench.qc.variant_qc import variant_qc

            h, _ = opened(name)
            cache[name] = (sample_qc(h), variant_qc(h))
        return cache[name]

    return get
