"""The documentation site builds (strict: no broken links or references), and its references are true.

The cohort-definition and pmo.yaml references are checked against the validators: every key the validator
accepts is described, and every YAML example on the page validates.
"""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel

from pmo_workbench.cohort.definition import CohortDefinition, Criterion, EventRule, parse_definition
from pmo_workbench.project import ProjectConfig

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _models_in(annotation: typing.Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        for sub in _models_in(field.annotation):
            keys |= _keys(sub, f"{prefix}{name}.")
    return keys


def _yaml_blocks(page: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", page.read_text(), flags=re.S)


def test_cohort_reference_describes_every_key():
    text = (DOCS / "reference" / "cohort_definition.md").read_text()
    leaf_names = {k.rsplit(".", 1)[-1] for k in _keys(CohortDefinition)}
    leaf_names |= set(Criterion.model_fields) | set(EventRule.model_fields)
    leaf_names -= {"codes"} if "`codes`" in text else set()
    missing = sorted(n for n in leaf_names if f"`{n}`" not in text and f"`match.{n}`" not in text)
    assert not missing, f"keys of the cohort definition not described in the reference: {missing}"


def test_cohort_reference_examples_validate():
    blocks = _yaml_blocks(DOCS / "reference" / "cohort_definition.md")
    assert len(blocks) >= 4
    for block in blocks:
        definition = parse_definition(yaml.safe_load(block), file="docs example")
        assert definition.rule_names()[0] == "entry"


def test_cohort_reference_example_equals_the_template():
    # the first worked example is the demo project's template, word for word
    template = yaml.safe_load((ROOT / "templates" / "cohorts" / "mi_cases.yaml").read_text())
    first = yaml.safe_load(_yaml_blocks(DOCS / "reference" / "cohort_definition.md")[0])
    assert first == template


def test_pmo_yaml_reference_describes_every_key():
    text = (DOCS / "reference" / "pmo_yaml.md").read_text()
    missing = sorted(k for k in _keys(ProjectConfig) if f"`{k}`" not in text
                     and not any(f"`{k}.{sub}`" in text for sub in ("env", "file")))
    assert not missing, f"pmo.yaml keys not described in the reference: {missing}"


def test_readme_points_inside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme and "shared folder" not in readme
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), f"README links to {target}, which is not in the repository"


def test_site_builds_strictly(tmp_path):
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    out = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    pages = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    for page in ("reference/cohort_definition/index.html", "reference/pmo_yaml/index.html", "api/index.html",
                 "guide/wgs_qc/index.html", "spark_cluster/index.html"):
        assert page in pages
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "run_qc" in api and "open_genotypes" in api and "select_cohort" in api


def test_nothing_points_to_the_design_file_outside_the_repository():
    # design facts the code relies on live in the repository (ARCHITECTURE.md, docs/, module docstrings)
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    hits = [f for f in files if f.endswith((".py", ".md", ".ipynb", ".yaml", ".yml", ".j2"))
            and "DESIGN.md" in (ROOT / f).read_text(encoding="utf-8", errors="replace")
            and f != "tests/unit/test_docs_site.py"]
    assert not hits, f"references to DESIGN.md outside the repository: {hits}"
