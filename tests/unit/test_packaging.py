"""The environment descriptions agree, and the package list in pyproject.toml is complete."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "python-isal": "isal"}
NOT_PYTHON = {"python", "pip", "openjdk", "c-compiler"}


def _split(requirement: str) -> tuple[str, str]:
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
    return name.lower().replace("_", "-"), requirement[len(name):].replace(" ", "")


def _pyproject() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["hail"]
    return dict(_split(r) for r in reqs)


def _environment(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    found: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_req in dep.get("pip", []):
                if not pip_req.startswith("-e"):
                    name, spec = _split(pip_req)
                    found[name] = spec
            continue
        name, spec = _split(dep.split("#")[0].strip())
        name = CONDA_TO_PYPI.get(name, name)
        if name not in NOT_PYTHON:
            found[name] = spec
    return found


def test_environment_files_match_pyproject():
    expected = _pyproject()
    for path in (ROOT / "environment.yml",):
        got = _environment(path)
        assert got == expected, f"{path.name} differs from pyproject.toml: " + str(
            {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected) if got.get(k) != expected.get(k)})


def test_hail_is_pinned_for_python_311():
    assert _pyproject()["hail"] == "==0.2.139"


def test_constraints_pin_every_dependency():
    pins = dict(_split(line) for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    for name in _pyproject():
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_every_package_directory_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(("pmo_workbench", *p.parent.relative_to(ROOT / "pmo_workbench").parts))
               for p in (ROOT / "pmo_workbench").rglob("__init__.py")}
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    assert "pmo_widgets" in listed
