"""Fixtures shared by the whole suite: paths, and one small synthetic project per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

SMALL_PROJECT = {"persons": 800, "samples": 80, "variants": 4000, "seed": 11}
"""Size of the session's synthetic project: big enough for every injected problem, fast to build."""


FOLDER_MARKS = {"tests/oracle/": "oracle", "tests/hail/": "hail", "tests/ui/": "browser"}
"""Every test in these folders carries the folder's marker (so `-m "not hail"` etc. select by kind)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = str(item.fspath).replace("\\", "/")
        for folder, mark in FOLDER_MARKS.items():
            if folder in where:
                item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (expected ../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared(shared_data: Path) -> Path:
    """Short name of :func:`shared_data` used by the oracle and Hail tests."""
    return shared_data


@pytest.fixture(scope="session")
def small_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic project built once per session (read-only for tests: copy it before changing anything)."""
    from pmo_workbench.synth.project import synthesize_project

    out = tmp_path_factory.mktemp("synth") / "small"
    synthesize_project(out, progress=False, **SMALL_PROJECT)
    return out


@pytest.fixture
def writable_project(small_project: Path, tmp_path: Path) -> Path:
    """A private copy of the session's synthetic project (runs, cohorts and params may be written)."""
    import shutil

    dst = tmp_path / "project"
    shutil.copytree(small_project, dst, symlinks=True)
    return dst
