"""Doctest set-up: the package's docstring examples run, on a small simulated genotype set, as part of the suite.

pytest collects the examples of the modules under the folders listed in ``testpaths`` (pyproject.toml) with
``--doctest-modules``; to collect another package's examples, add its folder there. Every example sees, besides
its module's names:

- ``g``: the cohort of :func:`tests.vcf_files.write_doctest_cohort` opened with the embedded backend (40 samples,
  680 variants; populations, a trio, a duplicate, a low call rate and a misreported sex, as described there),
  with its FORMAT fields DP, GQ and AD;
- ``manifest``: its genome manifest (``sample_id``, ``reported_sex``, ``batch``);
- ``pedigree``: its trio (a pedigree DataFrame);
- ``project``: an empty project folder (a ``pmo.yaml`` and nothing else; examples must not write into it).

The set is written and imported once per session, and only when a doctest runs. This file sits at the root so
that it applies to the package's folders as well as to ``tests/`` (which keeps its own ``conftest.py``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def doctest_cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The names the docstring examples run with (see the module docstring)."""
    from pmo_workbench.genotypes import open_genotypes
    from pmo_workbench.project import ProjectConfig, write_project_file
    from tests.vcf_files import write_doctest_cohort

    folder: Path = tmp_path_factory.mktemp("doctest-cohort")
    vcf, manifest, pedigree = write_doctest_cohort(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cohort must open without a warning
        g = open_genotypes(vcf, cache_dir=folder / "cache", format_fields=("DP", "GQ", "AD"))
    project = folder / "project"
    project.mkdir()
    write_project_file(project, ProjectConfig(name="doctest"))
    return {"g": g, "manifest": manifest, "pedigree": pedigree, "project": project}


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    """Put the doctest cohort's names into the namespace of a doctest (other tests are left alone)."""
    if type(request.node).__name__ == "DoctestItem":
        request.getfixturevalue("doctest_namespace").update(request.getfixturevalue("doctest_cohort"))
