"""pmo.yaml validation: one-line errors naming the key and the file; typed values; `pmo new` template."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmo_workbench.errors import ConfigError
from pmo_workbench.params import parse_track_params
from pmo_workbench.project import load_project
from pmo_workbench.project_template import create_project


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pmo.yaml").write_text(text)
    return tmp_path


def test_defaults_and_typed_values(tmp_path):
    proj = load_project(_write(tmp_path, "name: t\nprivacy: {min_cell_count: 10}\nbackend: {engine: hail}\n"))
    assert proj.config.privacy.min_cell_count == 10
    assert proj.config.backend.engine == "hail"
    assert proj.config.backend.spark_master == "local[*]"
    assert proj.source("registry") == tmp_path.resolve() / "data" / "registry"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("name: t\ncolour: blue\n", "colour", "unknown key"),
        ("name: t\nprivacy: {min_cel_count: 3}\n", "privacy.min_cel_count", "unknown key"),
        ("name: t\nprivacy: {min_cell_count: zero}\n", "privacy.min_cell_count", "integer"),
        ("name: t\nbackend: {engine: spark}\n", "backend.engine", "embedded"),
        ("name: t\nsources: {genotypes: data/none.vcf.gz}\n", "sources.genotypes", "file not found"),
        ("description: no name\n", "name", "required"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, text, key, words):
    _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "pmo.yaml") in message
    assert f"field {key}" in message
    assert words.lower() in message.lower()
    assert "\n" not in message


def test_yaml_syntax_error_names_line(tmp_path):
    _write(tmp_path, "name: t\nprivacy: [unclosed\n")
    with pytest.raises(ConfigError, match=r"pmo.yaml: line \d+: not valid YAML"):
        load_project(tmp_path)


def test_missing_project_file(tmp_path):
    with pytest.raises(ConfigError, match="no project file"):
        load_project(tmp_path)


def test_new_project_from_template_validates(tmp_path):
    root = create_project(tmp_path / "study", name="mi_study")
    proj = load_project(root)
    assert proj.config.name == "mi_study"
    assert (root / "cohorts").is_dir() and (root / "data" / "registry").is_dir()


def test_new_project_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        create_project(tmp_path / "x")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_track_params_reject_unknown_and_convert():
    params = parse_track_params("overview", {"project": "p", "first_year": "2010"})
    assert params.first_year == 2010
    with pytest.raises(ConfigError, match="field frist_year: unknown parameter"):
        parse_track_params("overview", {"project": "p", "frist_year": 2010})
    with pytest.raises(ConfigError, match="field mode"):
        parse_track_params("overview", {"project": "p", "mode": "public"})
    with pytest.raises(ConfigError, match="unknown track"):
        parse_track_params("nope", {"project": "p"})
